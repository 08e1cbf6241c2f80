"""Paper notation for a recorded graph: names for every tensor, each node's rule written in those names.

An op may declare (class attributes, read by ``register``) its formal symbols ``symbols = "A, B -> C"``, its
forward ``equation = "{C} = {A} {B}"`` and, per input, the adjoint it sends back ``adjoints = ("{C_} {B}ᴴ",
"{A}ᴴ {C_}")`` (``{X_}`` is X̄). Either may be a function of the call's keyword arguments (``split`` along rows
reads ``[X; Y] = A``). A printed tape or a drawing substitutes the user's names for the formal ones, so a rule
never shows a letter that means something else in the user's graph: ``matmul(Qᴴ, Y) -> V`` reads
``V = Qᴴ Y;  (Qᴴ)̄ = V̄ Yᴴ, Ȳ = Q V̄``.

Unnamed tensors get readable names: the right-hand side of the equation that made them when it is short
(``Qᴴ``), else ``t1``, ``t2`` ... in graph order. Bars sit over whole symbols (a combining overline on every
character of a longer name).
"""
import re

MACRON, OVERLINE = "\u0304", "\u0305"


def bar(name):
    """``Q`` -> ``Q̄``; ``AP`` -> ``A̅P̅`` (the line over the whole symbol)."""
    base = name[:-1] if name.endswith("′") else name
    prime = name[len(base):]
    if len(base) == 1:
        return base + MACRON + prime
    return "".join(c + OVERLINE for c in base) + prime


def simplify(expr):
    """Tidy what templates produce: ``Xᴴᴴ`` -> ``X``, ``(a bᴴ)ᴴ`` -> ``b aᴴ``, ``(X)ᴴ`` -> ``Xᴴ``."""
    for _ in range(4):
        new = re.sub(r"\((\S+) (\S+)ᴴ\)ᴴ", r"\2 \1ᴴ", expr)
        new = re.sub("\\(([^()\\s]*[^()\\sᴴᵀ\u0305])\\)([ᴴᵀ])", r"\1\2", new)    # (X)ᴴ -> Xᴴ, not (Q̅ᴴ̅)ᴴ
        new = new.replace("ᴴᴴ", "").replace("ᵀᵀ", "")
        if new == expr:
            break
        expr = new
    return expr


def _formals(op):
    """``(inputs, outputs)`` formal symbols of an op, or None if it declares none."""
    sym = getattr(op, "symbols", None)
    if not sym:
        return None
    ins, outs = sym.split("->")
    return [s.strip() for s in ins.split(",") if s.strip()], [s.strip() for s in outs.split(",") if s.strip()]


def _template(t, params):
    return t(params) if callable(t) else t


class Names:
    """Display names for the tensors of a node list (the Wengert list), and the rules written in them."""

    def __init__(self, nodes):
        self.names, self.bars, self.count = {}, {}, 0
        self.nodes = list(nodes)
        for node in self.nodes:
            for t in node.inputs:
                self.name(t)
            for k, o in enumerate(node.outputs):
                if id(o) not in self.names:
                    self.names[id(o)] = o.name or self._auto(node, k)

    def name(self, t):
        if id(t) not in self.names:
            self.names[id(t)] = t.name or self._fresh()
        return self.names[id(t)]

    def _fresh(self):
        self.count += 1
        return f"t{self.count}"

    def _auto(self, node, k):
        """A short right-hand side (``Qᴴ``, ``Xᵀ``, ``−A``) names an unnamed single output; else ``t1`` ..."""
        eq = self.equation(node)
        if eq and len(node.outputs) == 1 and " = " in eq:
            rhs = eq.split(" = ", 1)[1]
            if len(rhs) <= 6 and " " not in rhs:
                return rhs
        return self._fresh()

    def mapping(self, node, bars=None):
        """Formal symbol -> display name (and ``X_`` -> X̄, or the expression standing for it)."""
        formals = _formals(node.op)
        if formals is None or len(formals[0]) != len(node.inputs) or len(formals[1]) != len(node.outputs):
            return None
        m = {}
        for f, t in zip(formals[0] + formals[1], list(node.inputs) + list(node.outputs)):
            n = self.names.get(id(t), "?")          # "?" only while an unnamed output is being named
            m[f] = n
            m[f + "_"] = (bars or {}).get(id(t), bar(n))
        return m

    def equation(self, node):
        """The forward equation in the graph's names (``V = Qᴴ Y``), or None for an op without notation."""
        m = self.mapping(node)
        tpl = getattr(node.op, "equation", None)
        if m is None or not tpl:
            return None
        raw = _template(tpl, node.params).format_map(m)
        lhs, _, rhs = simplify(raw).partition(" = ")
        return raw if lhs == rhs else simplify(raw)          # "Qᴴ = (Q)ᴴ", not "Qᴴ = Qᴴ"

    def adjoints(self, node, bars=None):
        """Per input, the adjoint contribution this node sends back, in the graph's names (None if unknown)."""
        m = self.mapping(node, bars)
        tpls = getattr(node.op, "adjoints", None)
        if m is None or not tpls:
            return [None] * len(node.inputs)
        tpls = _template(tpls, node.params)
        return [simplify(t.format_map(m)) if t else None for t in tpls]

    def rule(self, node, bars=None):
        """``V = Qᴴ Y;  (Qᴴ)̄ = V̄ Yᴴ, Ȳ = Q V̄`` -- the forward and the adjoints, or the op's reference. ``bars``:
        what to show for some adjoints (a drawing shows an unnamed tensor's adjoint as the expression it is)."""
        eq = self.equation(node)
        if eq is None:
            return node.op.ref
        parts = [f"{bar(self.names[id(t)])} += {a}" for t, a, need in
                 zip(node.inputs, self.adjoints(node, bars), node.needs_grad) if a and need]
        return eq + ("; " + ", ".join(parts) if parts else "")

    def line(self, number, node):
        """One tape line: ``#3 matmul(Qᴴ 3×3, Y 3×2) -> V 3×2   V = Qᴴ Y; ...   [Giles 2008 §3.2]``."""
        def show(t):
            return f"{self.names[id(t)]} {'×'.join(map(str, t.shape)) or 'scalar'}"
        ins, outs = ", ".join(map(show, node.inputs)), ", ".join(map(show, node.outputs))
        where = cite(node)
        return f"#{number} {node.op.name}({ins}) -> {outs}   {self.rule(node)}" + (f"   [{where}]" if where else "")


def short_ref(ref):
    """Where an op's rule comes from -- ``Eq 3 / Eq 21``, ``Giles 2008 §3.2``, ``Figure 2`` -- or "" if its reference
    names no source (then nothing is printed: a bare formula would reuse letters the graph may use otherwise)."""
    m = re.findall(r"\((Giles[^)]*|Section[^)]*|Figure[^)]*)\)", ref)
    if m:
        return m[-1]
    head = ref.split(":")[0].strip()
    return head if re.match(r"(Eq|Prop|Lemma|Figure|Section)\b", head) else ""


def cite(node):
    """Where this node's rule comes from (``short_ref`` of its op's reference), or "" when it names no source.

    The paper's Figure 2 partitions *columns* (wide QR: ``A = [X|Y]``, ``R = [U|V]``); a split or concat along
    rows (deep LQ: ``A = [X; Y]``, ``L = [U; V]``) is Proposition 3's partition, so such a node cites ``Prop 3``."""
    where = short_ref(node.op.ref)
    tpl = getattr(node.op, "equation", None)
    if where == "Figure 2" and tpl and re.search(r"\[[^\]|]*;", _template(tpl, node.params)):
        return "Prop 3"
    return where
