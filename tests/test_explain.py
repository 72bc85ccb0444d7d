"""cr.explain: the seed's table in every format, the schema, the multivariate rule, arrays."""

import builtins
import json
import math
import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.explain import SEED_EXPRESSION
from chainrule.explain.render_dot import find_dot

Z = 0.5
SIG = 1 / (1 + math.exp(-Z))
DSIG = SIG * (1 - SIG)
H = 1 + math.exp(-Z)


@pytest.fixture(scope="module")
def seed():
    return cr.explain(SEED_EXPRESSION, z=Z)


# ---------------------------------------------------------------- the seed's table
def test_seed_has_four_nodes_named_as_the_seed_does(seed):
    d = seed.to_dict()
    assert [(n["name"], n["op"]) for n in d["nodes"]] == [
        ("f", "neg"),
        ("g", "exp"),
        ("h", "add"),
        ("i", "div"),
    ]
    assert [n["inputs"] for n in d["nodes"]] == [["z"], ["f"], [1.0, "g"], [1.0, "h"]]
    assert d["output"] == "i"


def test_seed_local_derivatives_and_their_product(seed):
    nodes = seed.to_dict()["nodes"]
    formulas = [n["local"][0]["formula"] for n in nodes]
    assert formulas == ["-1", "exp(f)", "1", "-1/h^2"]
    values = [n["local"][0]["value"] for n in nodes]
    assert values == pytest.approx([-1.0, math.exp(-Z), 1.0, -1 / H**2], rel=1e-14)
    assert math.prod(values) == pytest.approx(DSIG, rel=1e-14)
    assert seed.gradients["z"] == pytest.approx(DSIG, rel=1e-14)
    assert seed.value == pytest.approx(SIG, rel=1e-15)


def test_seed_upstream_gradients_are_products_of_the_local_derivatives_above(seed):
    grads = {n["name"]: n["grad"] for n in seed.to_dict()["nodes"]}
    assert grads["i"] == 1.0
    assert grads["h"] == pytest.approx(-1 / H**2)
    assert grads["g"] == pytest.approx(-1 / H**2)
    assert grads["f"] == pytest.approx(-1 / H**2 * math.exp(-Z))


def test_seed_text(seed):
    text = str(seed)
    for row in ("f = -z", "g = e^f", "h = 1 + g", "i = 1/h"):
        assert row in text
    for local in ("∂f/∂z = -1", "∂g/∂f = e^f", "∂h/∂g = 1", "∂i/∂h = -1/h^2"):
        assert local in text
    assert "i(h(g(f(z))))" in text
    assert "∂i/∂z = ∂i/∂h · ∂h/∂g · ∂g/∂f · ∂f/∂z" in text
    assert "= f'(z) · g'(f) · h'(g) · i'(h)" in text
    assert "= (-1) · e^f · 1 · (-1/h^2)" in text
    assert "= e^f/h^2" in text
    assert "= e^-z/(1 + e^-z)^2" in text
    assert "= σ(z)(1 - σ(z))" in text
    assert "= 0.2350037122" in text
    assert "✓ backpropagation agrees with central finite differences" in text


def test_seed_table_is_aligned(seed):
    lines = str(seed).splitlines()
    head = next(i for i, line in enumerate(lines) if line.strip().startswith("node"))
    rows = lines[head + 2 : head + 7]
    assert [r.split()[0] for r in rows] == ["z", "f", "g", "h", "i"]
    # the value column starts at the same place on every row
    col = lines[head].index("value")
    for r in rows:
        assert r[col - 1] == " " and r[col] != " "


def test_seed_markdown(seed):
    md = seed.to_markdown()
    assert "| f | `f = -z` | -0.5 | `∂f/∂z = -1` |" in md
    assert "| i | `i = 1/h` |" in md and "`∂i/∂h = -1/h^2`" in md
    assert md.count("$$") % 2 == 0
    assert "\\begin{cases}" in md
    assert seed._repr_markdown_() == md


def test_seed_latex_is_the_seeds_form(seed):
    tex = seed.to_latex()
    decomposition = (
        "\\begin{cases}\nf(z) = -z \\\\\ng(f) = e^{f} \\\\\nh(g) = 1 + g \\\\\n"
        "i(h) = \\frac{1}{h}\n\\end{cases}"
    )
    derivatives = (
        "\\begin{cases}\nf^\\prime(z) = -1 \\\\\ng^\\prime(f) = e^{f} \\\\\n"
        "h^\\prime(g) = 1 \\\\\ni^\\prime(h) = -\\frac{1}{h^{2}}\n\\end{cases}"
    )
    assert decomposition in tex
    assert derivatives in tex
    assert tex.index(decomposition) < tex.index(derivatives)
    assert "&= (-1) \\cdot e^{f} \\cdot 1 \\cdot \\left(-\\frac{1}{h^{2}}\\right)" in tex
    assert "&= \\frac{e^{f}}{h^{2}}" in tex
    assert "&= \\frac{e^{-z}}{\\left(1 + e^{-z}\\right)^{2}}" in tex
    assert "&= \\sigma(z)\\,\\left(1 - \\sigma(z)\\right)" in tex
    assert "&= 0.2350037122" in tex
    standalone = seed.to_latex(standalone=True)
    assert standalone.startswith("\\documentclass") and standalone.rstrip().endswith(
        "\\end{document}"
    )
    # balanced environments
    for env in ("cases", "aligned", "array"):
        assert tex.count(f"\\begin{{{env}}}") == tex.count(f"\\end{{{env}}}")


def test_seed_html_is_self_contained_with_mathml(seed):
    page = seed.to_html(graph=False)
    assert page.startswith("<!DOCTYPE html>")
    assert "<math" in page and "<mfrac>" in page and "<mtable" in page
    assert "0.2350037122" in page
    # nothing is fetched: the one script is inline, no external sources or links
    assert page.count("<script>") == 1 and "<script src" not in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)
    assert "<svg" not in page  # graph=False: no drawing (the stepper stays)
    assert 'id="cr-next"' in page
    # the notebook fragment: no script (notebooks may not run one), a still graph
    fragment = seed._repr_html_()
    assert fragment.startswith('<div class="chainrule-explain">')
    assert "<html" not in fragment and "<script" not in fragment
    assert '<svg class="cr-graph"' in fragment


def test_seed_dot(seed):
    dot = seed.to_dot()
    assert dot.startswith("digraph chainrule {") and dot.rstrip().endswith("}")
    for edge in ('"z" -> "f"', '"f" -> "g"', '"g" -> "h"', '"h" -> "i"'):
        assert edge in dot
    assert "∂i/∂h = -1/h^2" in dot
    assert "∂g/∂f = e^f" in dot
    assert "0.235004" in dot  # the gradient at z


@pytest.mark.skipif(find_dot() is None, reason="no Graphviz renderer (dot or graphviz-pure)")
def test_seed_svg(seed):
    svg = seed.to_svg()
    assert "<svg" in svg and "</svg>" in svg
    assert "i = 1/h" in svg


def test_svg_without_a_renderer_says_what_to_install(seed, monkeypatch):
    from chainrule.explain import render_dot

    monkeypatch.setattr(render_dot, "find_dot", lambda: None)
    with pytest.raises(cr.ExplainError, match=r"chainrule\[explain\]"):
        seed.to_svg()
    # the page draws its own graph: no Graphviz needed
    assert '<svg class="cr-graph"' in seed.to_html()


def test_seed_json_round_trips(seed):
    d = json.loads(seed.to_json())
    assert d["gradients"]["z"] == pytest.approx(DSIG)
    assert d["symbolic"]["derivatives"]["z"]["closed_form"] == "sigmoid(z)*(1 - sigmoid(z))"
    assert d["check"]["ok"] is True


def test_the_fused_sigmoid_and_a_function_give_the_same_gradient():
    ex = cr.explain(lambda z: cr.sigmoid(z), z=Z)
    assert [n["op"] for n in ex.to_dict()["nodes"]] == ["sigmoid"]
    assert ex.gradients["z"] == pytest.approx(DSIG)
    assert "∂f/∂z = σ(z)(1 - σ(z))" in str(ex)


# ------------------------------------------------------------------------ schema
SCHEMA_KEYS = {"inputs", "output", "value", "gradients", "nodes"}
NODE_KEYS = {"name", "op", "inputs", "value", "local", "grad"}


def _check_schema(d):
    assert set(d) >= SCHEMA_KEYS
    names = set(d["inputs"])
    for node in d["nodes"]:
        assert set(node) == NODE_KEYS
        assert isinstance(node["name"], str) and isinstance(node["op"], str)
        for a in node["inputs"]:
            # an earlier node or input, or a constant
            assert a in names if isinstance(a, str) else isinstance(a, (float, list, type(None)))
        for loc in node["local"]:
            assert set(loc) == {"wrt", "formula", "value"}
            assert loc["wrt"] in names and isinstance(loc["formula"], str)
        names.add(node["name"])
    assert d["output"] in names
    json.dumps(d)


@pytest.mark.parametrize(
    "expression, inputs",
    [
        (SEED_EXPRESSION, {"z": 0.5}),
        ("x*x + sin(x)", {"x": 0.7}),
        ("x^y + log(y)/x", {"x": 1.3, "y": 2.0}),
        ("tanh(w*x + b)", {"w": 0.3, "x": [1.0, 2.0, 3.0], "b": -0.1}),
        ("max(relu(x), abs(y)) - min(x, y)", {"x": -0.5, "y": 0.25}),
        ("sqrt(sum(x*x))", {"x": [[1.0, 2.0], [3.0, 4.0]]}),
        ("mean(sigmoid(x))", {"x": [0.1, 0.2]}),
        ("tan(x)", {"x": 0.4}),
    ],
)
def test_schema_and_gradients_agree_with_finite_differences(expression, inputs):
    ex = cr.explain(expression, **inputs)
    d = ex.to_dict()
    _check_schema(d)
    assert ex.check.ok, str(ex)
    assert d["value"] == pytest.approx(np.asarray(ex.value).tolist())
    for name, g in ex.gradients.items():
        assert np.shape(g) == np.shape(inputs[name])
    # every format renders
    for out in (str(ex), ex.to_markdown(), ex.to_latex(), ex.to_html(graph=False), ex.to_dot()):
        assert out


def test_nodes_are_in_evaluation_order():
    d = cr.explain("exp(a*b) + a", a=1.0, b=2.0).to_dict()
    seen = set(d["inputs"])
    for node in d["nodes"]:
        assert all(a in seen for a in node["inputs"] if isinstance(a, str))
        seen.add(node["name"])


def test_generated_names_skip_the_inputs_names():
    d = cr.explain("f*g*h", f=1.0, g=2.0, h=3.0).to_dict()
    assert [n["name"] for n in d["nodes"]] == ["i", "j"]


def test_a_user_can_name_a_node():
    def fn(z):
        hidden = cr.name(1 + cr.exp(-z), "denominator")
        return 1 / hidden

    d = cr.explain(fn, z=Z).to_dict()
    assert [n["name"] for n in d["nodes"]] == ["f", "g", "denominator", "h"]
    assert d["nodes"][-1]["local"][0]["formula"] == "-1/denominator^2"


# --------------------------------------------------------------- the multivariate rule
def test_a_value_feeding_several_nodes_sums_its_paths():
    x = 0.7
    ex = cr.explain("x*x + sin(x)", x=x)
    assert ex.gradients["x"] == pytest.approx(2 * x + math.cos(x))
    count, found = ex.paths("x")
    assert count == 3 and len(found) == 3
    xin = ex.step("x").vertex
    contributions = sorted(float(v) for _, _, v in xin.received)
    assert contributions == pytest.approx(sorted([x, x, math.cos(x)]))
    text = str(ex)
    assert "∂h/∂x = ∂h/∂f · ∂f/∂x[1] + ∂h/∂f · ∂f/∂x[2] + ∂h/∂g · ∂g/∂x" in text
    assert "= 1 · x + 1 · x + 1 · cos(x)" in text
    assert "Where a value feeds several nodes" in text
    assert "∂h/∂x = (via f) 0.7 + (via f) 0.7 + (via g) 0.7648421873 = 2.164842187" in text
    assert "2x + cos(x)" in text  # SymPy, in the inputs
    latex = ex.to_latex()
    assert "\\frac{\\partial f}{\\partial x_{[2]}}" in latex


def test_two_inputs_each_get_their_chain():
    ex = cr.explain("x*y + y", x=2.0, y=3.0)
    assert ex.gradients == {"x": 3.0, "y": 3.0}
    text = str(ex)
    assert "∂g/∂x = ∂g/∂f · ∂f/∂x" in text
    assert "∂g/∂y = ∂g/∂f · ∂f/∂y + ∂g/∂y" in text


def test_many_paths_are_counted_not_listed():
    # each doubling x <- x + x doubles the paths: 2^6 = 64 of them
    def fn(x):
        for _ in range(6):
            x = x + x
        return x

    ex = cr.explain(fn, x=1.0)
    count, found = ex.paths("x")
    assert count == 64 and len(found) == 12
    assert ex.gradients["x"] == 64.0
    assert "64 paths in all" in str(ex)


# ----------------------------------------------------------------------------- arrays
def test_arrays_are_summarized_and_every_node_listed():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 3))
    w = rng.normal(size=3)

    def loss(x, w):
        return cr.mean(cr.sigmoid(x @ w) ** 2)

    ex = cr.explain(loss, x=x, w=w)
    d = ex.to_dict()
    assert [n["op"] for n in d["nodes"]] == ["matmul", "sigmoid", "pow", "sum", "div"]
    assert np.asarray(d["gradients"]["x"]).shape == (20, 3)
    assert ex.check.ok and ex.check.checked == 63
    text = str(ex)
    assert "20×3: mean" in text  # a summary, not the whole array
    assert "f = x @ w" in text
    assert text.count("\n") < 60
    assert "the values are arrays" in text
    # the gradient matches a hand-written one
    s = 1 / (1 + np.exp(-(x @ w)))
    dz = 2 * s * s * (1 - s) / len(x)
    np.testing.assert_allclose(ex.gradients["w"], x.T @ dz, rtol=1e-12)


def test_an_array_output_explains_the_sum():
    ex = cr.explain("x*x", x=[1.0, 2.0, 3.0])
    np.testing.assert_allclose(ex.gradients["x"], [2.0, 4.0, 6.0])
    assert "gradients are those of the sum" in str(ex)


def test_array_inputs_with_a_large_size_check_a_sample():
    x = np.linspace(-1, 1, 1000)
    ex = cr.explain("sum(tanh(x))", x=x)
    assert ex.check.ok and ex.check.checked == 200 and ex.check.total == 1000


# -------------------------------------------------------------------------- Korean
def test_korean_labels(seed):
    text = seed.to_text("ko")
    for label in ("노드", "정의", "값", "국소 미분", "상류 기울기", "연쇄 법칙", "검증"):
        assert label in text
    assert "f = -z" in text and "0.2350037122" in text
    assert "역전파가 중앙 차분과 일치한다" in text
    assert '<html lang="ko">' in seed.to_html("ko", graph=False)
    assert "잘게 쪼개기" in seed.to_markdown("ko")
    assert "% 각 함수의 미분" in seed.to_latex("ko")
    assert "값" in seed.to_dot("ko")
    ex = cr.explain(SEED_EXPRESSION, z=Z)
    ex.lang = "ko"
    assert "연쇄 법칙" in str(ex)


def test_korean_table_is_aligned_by_display_width(seed):
    from chainrule.explain.render_common import width

    lines = seed.to_text("ko").splitlines()
    head = next(i for i, line in enumerate(lines) if "노드" in line)
    col = width(lines[head][: lines[head].index("값")])
    row = lines[head + 3]  # f
    assert width(row[: row.index("-0.5")]) == col


def test_unknown_language():
    with pytest.raises(cr.ExplainError, match="unknown language"):
        cr.explain("x", x=1.0).to_text("fr")


# -------------------------------------------------------------------------- symbolic
def test_symbolic_forms_and_closed_form(seed):
    sym = seed.symbolic
    assert sym.ok and not sym.mismatches
    d = sym.derivatives["z"]
    from chainrule.explain.expr import to_text

    assert to_text(d.in_names) == "exp(f)/h^2"
    assert to_text(d.in_inputs) == "exp(-z)/(1 + exp(-z))^2"
    assert to_text(d.closed_form) == "sigmoid(z)*(1 - sigmoid(z))"
    assert d.value == pytest.approx(DSIG)


@pytest.mark.parametrize(
    "expression, closed",
    [("tanh(z)", "1 - tanh(z)^2"), ("log(1 + exp(z))", "sigmoid(z)"), ("z*z", None)],
)
def test_known_closed_forms(expression, closed):
    from chainrule.explain.expr import to_text

    d = cr.explain(expression, z=0.3).symbolic.derivatives["z"]
    assert (None if d.closed_form is None else to_text(d.closed_form)) == closed


def test_every_primitive_formula_agrees_with_sympy():
    ex = cr.explain(
        "exp(a)*log(b) + sqrt(a)/b - a^b + sin(a)*cos(b) + tanh(a) + sigmoid(b) + abs(a)",
        a=0.7,
        b=1.9,
    )
    assert ex.symbolic.ok and ex.symbolic.mismatches == []
    assert ex.check.ok


def test_max_at_a_tie_reads_as_the_half_the_engine_gives():
    # The table's [a>b] alone would read as 0 at a tie, where the engine splits the
    # gradient evenly; the table and SymPy's Heaviside (1/2 at 0) both say so.
    ex = cr.explain("max(a, b)*2", a=1.0, b=1.0)
    text = str(ex)
    assert "∂f/∂a = [a>b] + ½[a=b]" in text and "∂f/∂b = [b>a] + ½[a=b]" in text
    assert "2([a - b>0] + ½[a - b=0])" in text
    assert ex.gradients == {"a": 1.0, "b": 1.0}
    assert ex.symbolic.ok and ex.symbolic.mismatches == [] and ex.check.ok
    text = str(cr.explain("min(a, b)", a=1.0, b=2.0))
    assert "[a<b] + ½[a=b]" in text


def test_without_sympy_the_report_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def no_sympy(name, *args, **kwargs):
        if name == "sympy" or name.startswith("sympy."):
            raise ImportError("no sympy here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sympy)
    ex = cr.explain(SEED_EXPRESSION, z=Z)
    text = str(ex)
    assert 'pip install "chainrule[explain]"' in text
    # the closed form is still recognised, numerically
    assert "∂i/∂z = σ(z)(1 - σ(z)) = 0.2350037122" in text
    assert "0.2350037122" in text and "∂i/∂h = -1/h^2" in text
    assert ex.to_dict()["symbolic"] is None


# ------------------------------------------------------------------- functions, graph
def test_explain_a_function_with_constants_and_other_leaves():
    w = cr.name(cr.tensor(2.0, requires_grad=True), "w")

    def fn(x):
        return w * x + 3.0

    ex = cr.explain(fn, x=1.5)
    assert ex.gradients == {"x": 2.0}
    assert ex.step("w").vertex.kind == "leaf"
    assert float(ex.step("w").vertex.grad) == 1.5


def test_output_that_is_an_input_or_a_constant():
    ex = cr.explain(lambda x: x, x=2.0)
    assert ex.gradients["x"] == 1.0 and ex.nodes == []
    str(ex)
    ex = cr.explain(lambda x: 3.0, x=2.0)
    assert ex.gradients["x"] == 0.0
    str(ex)


def test_explain_checks_its_arguments():
    with pytest.raises(cr.ExplainError, match="no value for 'y'"):
        cr.explain("x + y", x=1.0)
    with pytest.raises(cr.ExplainError, match="'q' does not appear"):
        cr.explain("x", x=1.0, q=2.0)
    with pytest.raises(cr.ExplainError, match="do not fit the parameters"):
        cr.explain(lambda a: a, b=1.0)
    with pytest.raises(cr.ExplainError, match="must be a number or an array"):
        cr.explain("x", x="seven")
    with pytest.raises(cr.ExplainError, match="function or an expression"):
        cr.explain(42, x=1.0)


def test_non_finite_values_are_reported_not_raised():
    ex = cr.explain("log(x)", x=-1.0)
    assert math.isnan(ex.value)
    assert "not finite" in str(ex)
    assert json.loads(ex.to_json())["value"] == "nan"


def test_graph_of_any_tensor():
    x = cr.name(cr.tensor(2.0, requires_grad=True), "x")
    y = x * x + cr.sin(x)
    dot = cr.graph(y)
    assert dot.startswith("digraph chainrule {")
    assert '"x" -> "f"' in dot and '"x" -> "g"' in dot and '"f" -> "h"' in dot
    assert "∂g/∂x = cos(x)" in dot
    # after a backward pass that released the graph it still draws the structure
    y.backward()
    dot = cr.graph(y)
    assert '"x" -> "f"' in dot
    # a leaf alone
    assert "digraph" in cr.graph(x)
    with pytest.raises(cr.ExplainError):
        cr.graph(3.0)


def test_graph_of_a_network_with_arrays():
    rng = np.random.default_rng(0)
    w = cr.tensor(rng.normal(size=(3, 2)), requires_grad=True)
    x = cr.tensor(rng.normal(size=(4, 3)))
    loss = cr.log_softmax(x @ w, axis=1)[np.arange(4), [0, 1, 1, 0]].mean()
    dot = cr.graph(loss)
    assert "f = [4×3] @ a" in dot  # the constant x, the leaf w named a
    assert "g = log_softmax(f, axis=1)" in dot
    assert "h = g[[0, 1, 2, 3], [0, 1, 1, 0]]" in dot
    assert "∂f/∂a = [4×3]^T" in dot
    assert "3×2" in dot


def test_repr_is_one_line(seed):
    assert "\n" not in repr(seed) and "0.235004" in repr(seed)


def test_deep_graphs_do_not_recurse():
    def fn(x):
        for _ in range(3000):
            x = x * 1.0001
        return x

    ex = cr.explain(fn, x=1.0)
    assert len(ex.nodes) == 3000
    assert ex.gradients["x"] == pytest.approx(1.0001**3000)
    assert ex.symbolic.ok is False
    assert len(ex.to_dot()) > 0


@pytest.mark.parametrize(
    "module",
    [
        "chainrule.explain",
        "chainrule.explain.core",
        "chainrule.explain.build",
        "chainrule.explain.explanation",
        "chainrule.explain.errors",
        "chainrule.explain.expr",
    ],
)
def test_docstring_examples(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


def test_readme_shows_the_current_text_output():
    pytest.importorskip("sympy")
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Explain", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    assert block.rstrip("\n") == str(cr.explain(SEED_EXPRESSION, z=0.5))
