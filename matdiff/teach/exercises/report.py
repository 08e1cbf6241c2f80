"""``str(Grade)``: the short report -- verdict, one line per case (probes ✓/✗ with the errors against the true
derivative and the reference), the trace identity, where the error lives, the heat map and hint 1.
"""


def _case_lines(checks):
    by_case = {}
    for c in checks:
        by_case.setdefault(c.case, []).append(c)
    width = max(map(len, by_case), default=0)
    lines = [f"  {'case':<{width}}  {'probes':<{12 * max(map(len, by_case.values()), default=1)}}"
             " vs true  vs reference   (max relative error)"]
    for case, cs in by_case.items():
        marks = "".join(f"{('✓ ' if c.ok else '✗ ') + c.probe:<12}" for c in cs)
        worst = max(cs, key=lambda c: c.err_true)
        lines.append(f"  {case:<{width}}  {marks} {worst.err_true:8.1e}  {worst.err_ref:8.1e}")
    return lines


def render(g, level=1, picture=True):
    """The report for Grade ``g``, showing hints up to ``level`` (and the solution if the Grade carries it);
    ``picture=False`` leaves out the block-character heat map (Jupyter draws it as SVG)."""
    ex = g.ex
    n_ok = sum(c.ok for c in g.checks)
    head = f"matdiff exercise {ex.name!r}: {ex.title} -- {ex.equation}"
    if g.problem:
        verdict = ("· not implemented yet" if "not implemented yet" in g.problem
                   else "✗ could not grade your function")
        lines = [head, verdict, "  " + g.problem.replace("\n", "\n  ")]
        if g.checks:
            lines += [f"  ({n_ok} checks passed before that)"]
        if g.problem and "not implemented yet" not in g.problem:
            lines += ["hint: " + ex.signature_help()]
    elif g.ok:
        lines = [head, f"✓ all {len(g.checks)} checks pass: your {', '.join(ex.outputs)} matches central differences "
                       "of the forward (the true derivative) and matdiff's reference rule"]
        lines += _case_lines(g.checks) + g.notes
    else:
        lines = [head, f"✗ {len(g.checks) - n_ok} of {len(g.checks)} checks fail"]
        lines += _case_lines(g.checks) + g.notes
        if g.where:
            lines.append("where: " + g.where)
        if g.maps and picture:
            lines.append(g.heatmap())
        lines += [f"hint {i}: {g.hint(i)}" for i in range(1, level + 1)]
        if level < 3:
            lines.append(f"  (more: grade.hint({level + 1}) or --hint {level + 1})")
    if g.solution:
        lines += ["solution:", g.solution.rstrip()]
    return "\n".join(lines)
