"""engine/notation.py directly: bars over whole symbols, the simplifier's three rewrites, names (given, a short
right-hand side, else t1, t2 ...), an op's templates filled with the graph's names, and where a rule is cited from."""
import numpy as np
import pytest

import matdiff as md
from matdiff.engine.notation import MACRON, OVERLINE, Names, bar, cite, short_ref, simplify
from matdiff.testing import leaf


@pytest.mark.parametrize("name, want", [("Q", "Q" + MACRON), ("AP", "A" + OVERLINE + "P" + OVERLINE),
                                        ("Q′", "Q" + MACRON + "′"), ("t12", "t\u0305" + "1\u0305" + "2\u0305")])
def test_a_bar_sits_over_the_whole_symbol_and_a_prime_stays_outside(name, want):
    assert bar(name) == want


@pytest.mark.parametrize("expr, want", [("Xᴴᴴ", "X"), ("Xᵀᵀ", "X"), ("(a bᴴ)ᴴ", "b aᴴ"), ("(X)ᴴ", "Xᴴ"),
                                        ("V = (Q)ᴴ Y", "V = Qᴴ Y")])
def test_simplify_rewrites_double_adjoints_products_and_parentheses(expr, want):
    assert simplify(expr) == want


def test_names_are_given_names_then_short_right_hand_sides_then_fresh_ones():
    A = leaf((3, 3), name="A")
    with md.Tape() as tape:
        Ah = A.mH                        # unnamed, made by `Ah = (A)ᴴ`: named by the short right-hand side
        C = (Ah @ A) @ A                 # unnamed products with long right-hand sides: t1, t2
        D = md.neg(C, name="D")
    names = Names(tape.nodes)
    assert [names.name(t) for t in (A, Ah, D)] == ["A", "Aᴴ", "D"]
    assert sorted(names.name(t) for t in (C, C.node.inputs[0])) == ["t1", "t2"]


def test_templates_are_filled_with_the_graphs_names_and_unneeded_adjoints_left_out():
    Q, Y = leaf((3, 3), name="Q"), md.tensor(np.ones((3, 2)), name="Y")       # Y needs no adjoint
    with md.Tape() as tape:
        md.matmul(Q.mH, Y, name="V")
    adj, mm = tape.nodes
    names = Names(tape.nodes)
    assert names.equation(mm) == "V = Qᴴ Y"
    assert names.adjoints(mm) == [f"{bar('V')} Yᴴ", f"Q {bar('V')}"]
    assert names.rule(mm) == f"V = Qᴴ Y; {bar('Qᴴ')} += {bar('V')} Yᴴ"     # Ȳ is not sent: Y needs no grad
    assert names.line(2, mm).startswith("#2 matmul(Qᴴ 3×3, Y 3×2) -> V 3×2   V = Qᴴ Y")


@pytest.mark.parametrize("ref, want", [("C = A B;  Abar = Cbar B^H  (Giles 2008 §3.2)", "Giles 2008 §3.2"),
                                       ("Eq 3 / Eq 21: Abar = ...", "Eq 3 / Eq 21"),
                                       ("[X|Y] = A;  Abar = [Xbar|Ybar]  (Figure 2)", "Figure 2"),
                                       ("C = A + B;  Abar = Cbar", "")])
def test_short_ref_names_the_source_or_nothing(ref, want):
    assert short_ref(ref) == want


def test_a_row_partition_cites_proposition_3_and_a_column_partition_figure_2():
    A = leaf((4, 4), name="A")
    with md.Tape() as tape:
        md.split(A, [2], axis=-1)
        md.split(A, [2], axis=-2)
    assert [cite(n) for n in tape.nodes] == ["Figure 2", "Prop 3"]
