"""The built-in check cases: gradcheck inputs for every registered op, and the decomposition sweep.

``CASES[op] = [(label, input shapes, function[, backends]), ...]`` -- small inputs that exercise one op
(used by ``python -m matdiff check`` and by the test-suite, which fails if an op is registered without a
case here). ``DECOMPOSITIONS`` sweeps QR and LQ over square, deep, wide and batched shapes, graph, fused
and pivoted. A case limited to some backends names them (a NumPy array on the left of ``@`` defers to
Tensor; other array libraries need not).
"""
import time

import numpy as np

import matdiff as md  # noqa: E402 - tools sit above the whole package

CASES = {
    "matmul": [("2d", [(3, 4), (4, 2)], lambda A, B: A @ B),
               ("batch-broadcast", [(2, 1, 3, 4), (3, 4, 2)], lambda A, B: A @ B),
               ("numpy-array-on-left", [(4, 2)], lambda B: np.ones((3, 4)) @ B, ("numpy",))],
    "add": [("same", [(3, 4), (3, 4)], lambda A, B: A + B),
            ("broadcast", [(2, 3, 4), (4,)], lambda A, B: A + B),
            ("scalar", [(3, 4)], lambda A: 2.0 + A)],
    "sub": [("same", [(3, 4), (3, 4)], lambda A, B: A - B),
            ("broadcast", [(3, 1), (1, 4)], lambda A, B: A - B)],
    "neg": [("batch", [(2, 3, 4)], lambda A: -A)],
    "divide": [("same", [(3, 4), (3, 4)], lambda A, B: A / (B + 4)),           # B + 4: a divisor away from 0
               ("broadcast", [(2, 3, 4), (3, 1)], lambda A, B: md.divide(A, B + 4)),
               ("scalar-over-tensor", [(2, 3)], lambda B: 2.0 / (B + 4))],
    "mul": [("same", [(3, 4), (3, 4)], lambda A, B: A * B),
            ("broadcast", [(2, 3, 4), (3, 1)], lambda A, B: A * B),
            ("self", [(3, 3)], lambda A: A * A)],
    "scale": [("real", [(3, 4)], lambda A: A * 2.5),
              ("complex-scalar", [(2, 3, 2)], lambda A: (1 - 2j) * A)],
    "sum": [("all", [(3, 4)], lambda A: md.sum(A)),
            ("axis", [(2, 3, 4)], lambda A: md.sum(A, axis=-1)),
            ("axes", [(2, 3, 4)], lambda A: A.sum(axis=(0, 2)))],
    "transpose": [("batch", [(2, 3, 4)], lambda A: A.T)],
    "adjoint": [("batch", [(2, 3, 4)], lambda A: A.mH)],
    "conj": [("2d", [(3, 4)], lambda A: A.conj())],
    "real": [("2d", [(3, 4)], lambda A: md.real(A @ A.mH))],
    "slice": [("columns", [(4, 5)], lambda A: A[:, :2]),
              ("strided-batch", [(2, 4, 5)], lambda A: A[..., 1:, ::2]),
              ("int", [(2, 4, 3)], lambda A: A[1])],
    "split": [("points", [(3, 6)], lambda A: md.split(A, [1, 4], axis=-1)),
              ("sections-rows", [(2, 4, 3)], lambda A: md.split(A, 2, axis=-2))],
    "concat": [("columns", [(3, 2), (3, 4)], lambda A, B: md.concat([A, B], axis=-1)),
               ("rows-batch", [(2, 2, 3), (2, 1, 3)], lambda A, B: md.concat([A, B], axis=-2))],
    "permute": [("columns", [(3, 4)], lambda A: md.permute(A, [2, 0, 3, 1], axis=-1)),
                ("rows", [(4, 3)], lambda A: md.permute(A, [3, 1, 0, 2], axis=-2)),
                ("batched-perm", [(2, 3, 3)], lambda A: md.permute(A, np.array([[2, 0, 1], [1, 2, 0]]), axis=-1))],
    "solve_triangular": [("upper", [(3, 3), (3, 2)], lambda T, B: md.solve_triangular(T + 3 * _eye(T), B)),
                         ("lower-batch", [(2, 3, 3), (3, 4)],
                          lambda T, B: md.solve_triangular(T + 3 * _eye(T), B, lower=True))],
    "reshape": [("matrix-to-stack", [(4, 6)], lambda A: md.registry["reshape"](A, shape=(2, 3, 4))),
                ("stack-to-matrix", [(2, 3, 4)], lambda A: md.registry["reshape"](A, shape=(6, 4)))],
    "broadcast_to": [("stretch-rows", [(1, 4)], lambda A: md.registry["broadcast_to"](A, shape=(2, 3, 4))),
                     ("stretch-batch", [(1, 3, 2)], lambda A: md.registry["broadcast_to"](A, shape=(4, 3, 2)))],
    "embed": [("block", [(2, 3)], lambda A: md.registry["embed"](A, shape=(4, 5), key=(slice(1, 3), slice(2, 5)))),
              ("batch-block", [(2, 2, 3)],
               lambda A: md.registry["embed"](A, shape=(2, 4, 5), key=(slice(None), slice(1, 3), slice(2, 5))))],
    "cast": [("to-complex", [(3, 2)], lambda A: md.registry["cast"](A * 1.0, dtype=_complex_of(A))),
             ("batch", [(2, 3, 2)], lambda A: md.registry["cast"](A * 1.0, dtype=_complex_of(A)))],
    "qr": [("square", [(4, 4)], lambda A: tuple(md.qr(A))),
           ("deep-batch", [(2, 5, 3)], lambda A: tuple(md.qr(A)))],
    "qr_wide": [("wide", [(3, 5)], lambda A: tuple(md.qr(A, fused=True))),
                ("wide-batch", [(2, 2, 4)], lambda A: tuple(md.qr(A, fused=True)))],
    "lq": [("wide", [(3, 5)], lambda A: tuple(md.lq(A))),
           ("square-batch", [(2, 3, 3)], lambda A: tuple(md.lq(A)))],
    "lq_deep": [("deep", [(5, 3)], lambda A: tuple(md.lq(A, fused=True))),
                ("deep-batch", [(2, 4, 2)], lambda A: tuple(md.lq(A, fused=True)))],
}

def _complex_of(T):
    """The complex dtype of T's precision (casting a complex tensor to it is the identity)."""
    return T.backend.complex_dtype(T.dtype)


def _eye(T):
    """A well-conditioned shift for triangular test matrices: 3 I on T's backend and dtype."""
    b = T.backend
    return b.astype(b.from_host(np.eye(T.shape[-1])), T.dtype)


SHAPES = {"square": (4, 4), "deep": (6, 3), "wide": (3, 6), "batched": (2, 3, 5, 4), "batched-wide": (2, 3, 7)}
VARIANTS = {"graph": dict(), "fused": dict(fused=True), "pivoted": dict(pivoting=True)}


def _node(kind, shape, variant):
    m, n = shape[-2:]
    if kind == "qr":
        return "qr_wide" if m < n and variant == "fused" else "qr"
    return "lq_deep" if m > n and variant == "fused" else "lq"


def decomposition_cases():
    """(node, case label, shape, function) for QR and LQ over every shape class and variant."""
    for kind, fn in (("qr", md.qr), ("lq", md.lq)):
        for sname, shape in SHAPES.items():
            for vname, kw in VARIANTS.items():
                f = (lambda fn, kw: lambda A: tuple(fn(A, **kw)[:2]))(fn, kw)
                yield _node(kind, shape, vname), f"{kind} {sname} {vname}", shape, f


HEADER = ("rel err = max |difference| / max |value| (matdiff.checks.report): 'gradcheck' compares every derivative\n"
          "with central differences (ok: |analytic - numeric| <= 1e-5 + 1e-4 |numeric|); 'jvp = vjp' is the\n"
          "trace identity of Eq 2 between forward and reverse mode on 3 random directions (ok: agreement to 1e-9).\n")
HEADER_FAST = ("--fast: 'gradcheck' does not form the Jacobian J. For 3 random directions per case, u (inputs)\n"
               "and v (outputs), it compares <v, J u> (central differences of the forward along u) with <J^H v, u>\n"
               "(one backward seeded with v); ok: |difference| <= 1e-5 + 1e-4 |<v, J u>|, and rel err = max\n"
               "|difference| / max |value| over the 3. Each projection weighs every entry of J at random instead of\n"
               "comparing each: run without --fast for every derivative. 'jvp = vjp' is the trace identity of Eq 2\n"
               "between forward and reverse mode on 3 random directions (ok: agreement to 1e-9).\n")
NO_CASE = "(no check case registered)"


def cases(backend="numpy"):
    """(node, case label, input shapes, function) for every op's cases on ``backend`` and the decomposition sweep."""
    rows = []
    for op in md.registry:
        for label, shapes, f, *only in CASES.get(op, []):
            if not only or backend in only[0]:
                rows.append((op, label, shapes, f))
    return rows + [(node, label, [shape], f) for node, label, shape, f in decomposition_cases()]


def _row(widths, node, label, dtype, grad, adj, ok):
    """One line of the table; ``widths`` (node, case) fit the longest names so the columns never shift."""
    wn, wc = widths
    return f"{node:<{wn}} {label:<{wc}} {dtype:<11} {grad:>10}  {adj:>9}  {ok}"


def run(device="cpu", dtypes=(np.float64, np.complex128), fast=False, out=print):
    """Gradcheck every registered op's cases and the decomposition sweep; print a table; return the failures.

    ``fast=True`` compares 3 random projections per case (``gradcheck(fast=True)``) instead of the full Jacobian,
    and the header says so."""
    rng = np.random.default_rng(0)

    def make(shape, dtype):
        a = rng.standard_normal(shape) + (1j * rng.standard_normal(shape) if np.dtype(dtype).kind == "c" else 0)
        return md.tensor(a.astype(dtype), requires_grad=True, device=device)

    rows = cases("cupy" if device == "gpu" else "numpy")
    missing = [op for op in md.registry if op not in CASES]
    widths = (max(len(x) for x in ["node"] + [r[0] for r in rows] + missing),
              max(len(x) for x in ["case"] + [r[1] for r in rows] + ([NO_CASE] if missing else [])))
    failures, t0 = [], time.perf_counter()
    out(HEADER_FAST if fast else HEADER)
    out(_row(widths, "node", "case", "dtype", "gradcheck", "jvp = vjp", "ok"))
    out(_row(widths, "", "", "", "rel err", "rel err", "").rstrip())
    for node, label, shapes, f in rows:
        for dtype in dtypes:
            xs = [make(s, dtype) for s in shapes]
            rep = md.gradcheck(f, xs, fast=fast)
            adj = md.check_adjoint(f, xs)
            ok = rep.ok and adj.ok
            out(_row(widths, node, label, np.dtype(dtype).name, f"{rep.max_rel_err:.2e}", f"{adj.max_rel_err:.1e}",
                     "ok" if ok else "FAIL"))
            if not ok:
                failures.append((node, label, np.dtype(dtype).name, rep if not rep.ok else adj))
    for op in missing:
        out(_row(widths, op, NO_CASE, "-", "-", "-", "FAIL"))
        failures.append((op, "no case", "-", None))
    n = len(rows) * len(dtypes) + len(missing)      # an op without a case counts as one failed check
    out(f"\n{n - len(failures)}/{n} checks passed on {device}{' (--fast)' if fast else ''} in "
        f"{time.perf_counter() - t0:.1f} s" + ("" if not failures else f"; {len(failures)} FAILED"))
    for node, label, dt, rep in failures:
        if rep is not None:
            out(f"\n--- {node} / {label} / {dt}\n{rep}")
    return failures
