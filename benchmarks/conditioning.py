"""Conditioning sweep: how accurate are matdiff's QR/LQ gradients as cond(A) grows from 1 to 1e12?

    python benchmarks/conditioning.py [--conds 13] [--dps 60] [--out benchmarks/conditioning.json] [--plot FILE]

For deep, square and wide QR and deep and wide LQ (graph form, float64 and complex128) it builds
``A = matdiff.testing.conditioned((), m, n, cond)`` -- for wide QR / deep LQ the partition's leading / top block
has exactly that condition number -- and a real loss ``L = Re<Qbar, Q> + Re<Rbar, R>`` (LQ: ``Lbar, Qbar``) with
fixed random seeds. matdiff's gradient of L is compared with a reference computed *without the paper's
formulas*: central differences of L at ``dps`` significant digits (mpmath), with a step of 1e-25, on a
Gram-Schmidt QR (reorthogonalised) done in that precision and gauged the same way (real, positive diagonal).
Step and precision make the reference good to ~1e-26 relative even at cond 1e12, so what is printed is
matdiff's own error: ``||g - g_ref|| / ||g_ref||``, against the target ``10 cond(A) eps``.

Needs mpmath (``pip install -e '.[sweep]'``); draws a log-log plot when matplotlib is installed.
"""
import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import matdiff as md
from matdiff.testing import conditioned, svd_conditioned

# (kind, shape class, shape, pivoting, generator): "svd" = U diag(s) V^H, cond(A) = the requested cond exactly;
# "block" = matdiff.testing.conditioned with the *partition block* X at that cond but A itself at cond < 7 --
# the case where the Figure 2 / Proposition 3 partition, not A, decides the accuracy.
CASES = [("qr", "deep", (6, 4), False, "svd"), ("qr", "square", (5, 5), False, "svd"),
         ("qr", "wide", (4, 7), False, "svd"), ("qr", "wide", (4, 7), True, "svd"),
         ("lq", "deep", (7, 4), False, "svd"), ("lq", "deep", (7, 4), True, "svd"),
         ("lq", "wide", (4, 6), False, "svd"),
         ("qr", "wide", (4, 7), False, "block"), ("qr", "wide", (4, 7), True, "block"),
         ("lq", "deep", (7, 4), False, "block"), ("lq", "deep", (7, 4), True, "block")]
EPS = np.finfo(np.float64).eps


# -- the high-precision reference (no matdiff, no paper formulas) --------------------------------------------
def _mp_qr(mp, cols, m):
    """Thin QR of the matrix with columns ``cols`` (lists of mp numbers, m rows) by Gram-Schmidt, twice per column:
    returns Q's columns and R (k x n, k = min(m, n)) with a real positive diagonal. Wide: the first m columns
    span the space (A = [X|Y], X = QU, V = Q^H Y), exactly how the reduced QR of a wide matrix is defined."""
    n = len(cols)
    k = min(m, n)
    Q, R = [], [[mp.mpf(0)] * n for _ in range(k)]
    for j in range(n):
        v = list(cols[j])
        for _ in range(2):                                  # classical Gram-Schmidt, reorthogonalised
            for i, q in enumerate(Q):
                r = mp.fsum(mp.conj(q[t]) * v[t] for t in range(m))
                R[i][j] += r
                v = [v[t] - r * q[t] for t in range(m)]
        if j < k:
            nv = mp.sqrt(mp.fsum(abs(x) ** 2 for x in v))
            R[j][j] = nv
            Q.append([x / nv for x in v])
    return Q, R


def _mp_loss(mp, a, kind, bars, perm=None):
    """``Re<Qbar, Q> + Re<Rbar, R>`` (QR) or ``Re<Lbar, L> + Re<Qbar, Q>`` (LQ) at mp precision for the matrix ``a``
    (nested lists of mp numbers). LQ(A) = QR(A^H)^H, so L = R^H and Q_LQ = Q_QR^H."""
    if perm is not None:                                    # pivoted: the loss of AP (QR) or PA (LQ), P fixed
        a = [[row[p] for p in perm] for row in a] if kind == "qr" else [a[p] for p in perm]
    m, n = len(a), len(a[0])
    if kind == "qr":
        Qc, R = _mp_qr(mp, [[a[i][j] for i in range(m)] for j in range(n)], m)
        Qbar, Rbar = bars
        s = mp.fsum(mp.re(mp.conj(Qbar[i][j]) * Qc[j][i]) for i in range(m) for j in range(len(Qc)))
        return s + mp.fsum(mp.re(mp.conj(Rbar[i][j]) * R[i][j]) for i in range(len(R)) for j in range(n))
    Qc, R = _mp_qr(mp, [[mp.conj(a[i][j]) for j in range(n)] for i in range(m)], n)    # QR of A^H: columns = rows of A
    Lbar, Qbar = bars                                       # L[i][j] = conj(R[j][i]), Q_LQ[i][j] = conj(Qc[i][j])
    s = mp.fsum(mp.re(mp.conj(Lbar[i][j]) * mp.conj(R[j][i])) for i in range(m) for j in range(len(R)))
    return s + mp.fsum(mp.re(mp.conj(Qbar[i][j]) * mp.conj(Qc[i][j])) for i in range(len(Qc)) for j in range(n))


def reference_gradient(a, kind, bars, perm=None, dps=60, h="1e-25"):
    """dL/dRe a + i dL/dIm a by central differences at ``dps`` digits (PyTorch's convention for complex a)."""
    import mpmath

    mp = mpmath.mp
    mp.dps = dps
    cplx = np.iscomplexobj(a)
    conv = (lambda z: mp.mpc(float(z.real), float(z.imag))) if cplx else (lambda z: mp.mpf(float(z)))
    A = [[conv(z) for z in row] for row in a]
    B = [[[conv(z) for z in row] for row in bar] for bar in bars]
    step = mp.mpf(h)
    g = np.zeros(a.shape, dtype=a.dtype)
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            for part, unit in ((0, 1), (1, 1j)) if cplx else ((0, 1),):
                d = step * (mp.mpc(0, 1) if part else 1)
                A[i][j] += d
                plus = _mp_loss(mp, A, kind, B, perm)
                A[i][j] -= 2 * d
                minus = _mp_loss(mp, A, kind, B, perm)
                A[i][j] += d
                g[i, j] += complex((plus - minus) / (2 * step)) * unit if cplx else float((plus - minus) / (2 * step))
    return g


# -- matdiff --------------------------------------------------------------------------------------------------
def matdiff_gradient(a, kind, bars, pivoting):
    """matdiff's gradient of the loss, and the pivots it used (None without pivoting)."""
    A = md.tensor(a, requires_grad=True)
    out = (md.qr if kind == "qr" else md.lq)(A, pivoting=pivoting)
    md.backward(list(out[:2]), list(bars))
    return A.grad, (np.asarray(out[2]) if pivoting else None)


def _block_cond(a, kind, perm):
    """cond of the block the partition inverts: wide QR's leading m x m X, deep LQ's top n x n X (else A's)."""
    m, n = a.shape
    if perm is not None:
        a = a[:, perm] if kind == "qr" else a[perm, :]
    if kind == "qr" and m < n:
        return float(np.linalg.cond(a[:, :m]))
    if kind == "lq" and m > n:
        return float(np.linalg.cond(a[:n, :]))
    return float(np.linalg.cond(a))


def label(case):
    kind, where, _, pivoting, gen = case
    return f"{kind} {where}" + (" piv" if pivoting else "") + (" [X bad]" if gen == "block" else "")


def sweep(conds, dps=60, dtypes=(np.float64, np.complex128), cases=CASES, out=print):
    rows = []
    out(f"{'case':<20} {'dtype':<10} {'cond(A)':>9} {'cond(X)':>9} {'rel err':>9} {'10 cond(A) eps':>14} "
        f"{'err/(cond(A) eps)':>17}")
    for case in cases:
        kind, where, shape, pivoting, gen = case
        for dtype in dtypes:
            rng = np.random.default_rng(7)
            cplx = np.dtype(dtype).kind == "c"
            k = min(shape)
            shapes = [(shape[0], k), (k, shape[1])]
            bars = [(rng.standard_normal(s) + (1j * rng.standard_normal(s) if cplx else 0)).astype(dtype)
                    for s in shapes]
            for c in conds:
                make = svd_conditioned if gen == "svd" else conditioned
                a = make((), *shape, cond=c, dtype=dtype, seed=3)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", md.IllConditionedWarning)
                    g, perm = matdiff_gradient(a, kind, bars, pivoting)
                ref = reference_gradient(a, kind, bars, None if perm is None else list(map(int, perm)), dps)
                err = float(np.linalg.norm(g - ref) / np.linalg.norm(ref))
                cond_a, cond_x = float(np.linalg.cond(a)), _block_cond(a, kind, perm)
                row = dict(case=label(case), kind=kind, where=where, pivoting=pivoting, generator=gen,
                           shape=list(shape),
                           dtype=np.dtype(dtype).name, cond=c, cond_A=cond_a, cond_X=cond_x, rel_err=err,
                           target=10 * cond_a * EPS, ratio=err / (cond_a * EPS), ratio_X=err / (cond_x * EPS))
                rows.append(row)
                flag = "" if err <= row["target"] else "  > target"
                out(f"{row['case']:<20} {row['dtype']:<10} {cond_a:>9.2e} {cond_x:>9.2e} {err:>9.2e} "
                    f"{row['target']:>14.2e} {row['ratio']:>17.2f}{flag}")
    return rows


def plot(rows, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed: no plot)")
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, dtype in zip(axes, ("float64", "complex128")):
        for case in CASES:
            sel = [r for r in rows if r["case"] == label(case) and r["dtype"] == dtype]
            x = [r["cond_A"] if case[4] == "svd" else r["cond"] for r in sel]
            ax.loglog(x, [r["rel_err"] for r in sel], "o-" if case[4] == "svd" else "s:", ms=3, label=label(case))
        c = np.logspace(0, 12.2, 50)
        ax.loglog(c, 10 * c * EPS, "k--", lw=1, label="10 cond eps")
        ax.set_title(dtype)
        ax.set_xlabel("cond(A)   (dotted [X bad]: cond of the unpivoted block X; cond(A) < 7)")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("relative gradient error")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--conds", type=int, default=13, help="condition numbers 1 .. 1e12, log-spaced (default 13)")
    p.add_argument("--max-cond", type=float, default=1e12)
    p.add_argument("--dps", type=int, default=60, help="mpmath digits of the reference (default 60)")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "conditioning.json"))
    p.add_argument("--plot", default=None, help="PNG path for the plot (default: next to --out)")
    args = p.parse_args(argv)
    conds = list(np.logspace(0, np.log10(args.max_cond), args.conds))
    t0 = time.perf_counter()
    rows = sweep(conds, args.dps)
    over = [r for r in rows if r["rel_err"] > r["target"]]
    print(f"\n{len(rows) - len(over)}/{len(rows)} points within 10 cond(A) eps ({time.perf_counter() - t0:.0f} s); "
          "worst err / (cond eps) per case:")
    for case in CASES:
        sel = [r for r in rows if r["case"] == label(case)]
        print(f"  {label(case):<20} cond(A): {max(r['ratio'] for r in sel):8.2f}   cond(X): "
              f"{max(r['ratio_X'] for r in sel):6.2f}")
    Path(args.out).write_text(json.dumps(dict(rows=rows, dps=args.dps), indent=1))
    png = plot(rows, args.plot or str(Path(args.out).with_suffix(".png")))
    if png:
        print(f"plot: {png}")
    return 0 if not over else 1


if __name__ == "__main__":
    sys.exit(main())
