"""explain(..., element=...) through convolutions and pooling, and in every format.

The element section is checked against the engine's own backward pass of the one
entry (``y[index].backward()``), and the convolution's terms against the
definition of a cross-correlation written here index by index, so neither the
im2col geometry nor the section's reading of it is trusted.
"""

import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.explain import ExplainError
from chainrule.explain.expr import format_number
from chainrule.explain.render_element_html import element_html

F = cr.nn.functional


def _conv_fn(stride=1, padding=0, dilation=1, act=cr.tanh):
    def fn(x, w, b):
        return act(F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation))

    return fn


def _backprop(fn, index, **arrays):
    """d y[index] / d each input, by the engine's backward pass."""
    ts = {n: cr.tensor(a, requires_grad=True) for n, a in arrays.items()}
    y = fn(**ts)
    y[index].backward()
    return float(y.data[index]), {n: t.grad.data for n, t in ts.items()}


def _conv_step(ex):
    steps = [s for s in ex.element_steps if s.op == "conv2d"]
    assert len(steps) == 1, [s.op for s in ex.element_steps]
    return steps[0]


def _shares_as_arrays(step, shapes):
    """The products the step passes down, added into arrays of the inputs' shapes."""
    out = {n: np.zeros(s) for n, s in shapes.items()}
    for sh in step.shares:
        out[sh.wrt][sh.index] += sh.product
    return out


def _check_conv(x, w, b, index, stride, padding, dilation):
    fn = _conv_fn(stride, padding, dilation)
    ex = cr.explain(fn, x=x, w=w, b=b, element=index)
    step = _conv_step(ex)
    value, grads = _backprop(fn, index, x=x, w=w, b=b)
    # the chain's numbers are the backward pass's
    assert ex.value == pytest.approx(value, rel=1e-12)
    got = _shares_as_arrays(step, {"x": x.shape, "w": w.shape, "b": b.shape})
    for name in ("x", "w", "b"):
        np.testing.assert_allclose(got[name], grads[name], rtol=1e-10, atol=1e-14)
    # each term is w[o, c, p, q] · x[n, c, i·s - pad + p·d, j·s - pad + q·d]
    n, o, i, j = index
    (s, pad, d) = (stride, padding, dilation)
    inside = 0
    for _c in range(w.shape[1]):
        for p in range(w.shape[2]):
            for q in range(w.shape[3]):
                r, col = i * s - pad + p * d, j * s - pad + q * d
                inside += 0 <= r < x.shape[2] and 0 <= col < x.shape[3]
    assert len(step.terms) == inside
    assert step.padded == w.shape[1] * w.shape[2] * w.shape[3] - inside
    for t in step.terms:
        wf, xf = t.factors
        assert (wf.node, xf.node) == ("w", "x")
        _, c, p, q = wf.index
        assert wf.index[0] == o
        assert xf.index == (n, c, i * s - pad + p * d, j * s - pad + q * d)
        assert wf.value == w[wf.index] and xf.value == x[xf.index]
        assert t.value == pytest.approx(wf.value * xf.value, rel=1e-15)
    # the sum of the terms and the bias is the convolution's entry
    conv = F.conv2d(cr.tensor(x), cr.tensor(w), cr.tensor(b), stride, padding, dilation)
    assert step.value == pytest.approx(float(conv.data[index]), rel=1e-12, abs=1e-12)
    assert sum(t.value for t in step.terms) + b[o] == pytest.approx(step.value, abs=1e-12)
    # each x and w entry gets one share per term: upstream times the other factor
    assert len([sh for sh in step.shares if sh.wrt == "x"]) == len(step.terms)
    return ex


def test_conv2d_element_chain_equals_backprop():
    rng = np.random.default_rng(1)
    x, w, b = rng.normal(size=(2, 2, 5, 5)), rng.normal(size=(3, 2, 2, 2)), rng.normal(size=3)
    ex = _check_conv(x, w, b, (1, 2, 3, 1), 1, 0, 1)
    text = str(ex)
    assert "f[1, 2, 3, 1] = Σ_{c, p, q} w[2, c, p, q]·x[1, c, 3 + p, 1 + q] + b[2]" in text
    assert "(c = 0 … 1, p = 0 … 1, q = 0 … 1)" in text
    # 8 terms: written out, one line each with the single entry each factor receives
    up = _conv_step(ex).upstream
    line = next(
        s for s in text.splitlines() if s.strip().startswith("w[2, 1, 0, 1] · x[1, 1, 3, 2]")
    )
    assert f"→ x[1, 1, 3, 2]: {format_number(up, 6)} · {format_number(w[2, 1, 0, 1], 6)}" in line
    assert f"→ w[2, 1, 0, 1]: {format_number(up, 6)} · {format_number(x[1, 1, 3, 2], 6)}" in line
    assert "∂f[1, 2, 3, 1]/∂b[2] = 1" in text
    assert ex.check.ok


def test_conv2d_element_with_stride_padding_and_dilation():
    rng = np.random.default_rng(2)
    x, w, b = rng.normal(size=(1, 3, 6, 7)), rng.normal(size=(2, 3, 3, 3)), rng.normal(size=2)
    ex = _check_conv(x, w, b, (0, 1, 0, 2), 2, 1, 2)
    step = _conv_step(ex)
    assert step.padded > 0
    assert "x[0, c, 2·p - 1, 3 + 2·q]" in str(ex)
    # 27 terms is past MAX_TERMS: the sum is summarised with its count and value
    assert f"(a sum of {len(step.terms)} terms)" in str(ex)


@settings(max_examples=12, deadline=None)
@given(
    st.integers(1, 2),
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(1, 2),
    st.integers(0, 1),
    st.integers(1, 2),
    st.integers(0, 2**31 - 1),
)
def test_conv2d_element_property(cin, cout, k, stride, padding, dilation, seed):
    rng = np.random.default_rng(seed)
    span = dilation * (k - 1) + 1
    h = int(rng.integers(max(span - 2 * padding, 1), span + 3))
    width = int(rng.integers(max(span - 2 * padding, 1), span + 3))
    x = rng.normal(size=(2, cin, h, width))
    w, b = rng.normal(size=(cout, cin, k, k)), rng.normal(size=cout)
    out = F.conv2d(cr.tensor(x), cr.tensor(w), cr.tensor(b), stride, padding, dilation).shape
    index = tuple(int(rng.integers(0, m)) for m in out)
    _check_conv(x, w, b, index, stride, padding, dilation)


def test_unbatched_conv2d_without_bias():
    rng = np.random.default_rng(3)
    x, w = rng.normal(size=(2, 4, 4)), rng.normal(size=(1, 2, 2, 2))

    def fn(x, w):
        return F.conv2d(x, w)

    ex = cr.explain(fn, x=x, w=w, element=(0, 1, 2))
    step = _conv_step(ex)
    assert "x[c, 1 + p, 2 + q]" in step.formula and not step.extra
    _, grads = _backprop(fn, (0, 1, 2), x=x, w=w)
    got = _shares_as_arrays(step, {"x": x.shape, "w": w.shape})
    np.testing.assert_allclose(got["x"], grads["x"], rtol=1e-12)
    np.testing.assert_allclose(got["w"], grads["w"], rtol=1e-12)


def test_conv2d_layer_element():
    cr.manual_seed(0)
    conv = cr.nn.Conv2d(2, 3, 3, padding=1)
    x = np.random.default_rng(4).normal(size=(1, 2, 4, 4))
    ex = cr.explain(lambda x: cr.tanh(conv(x)), x=x, element=(0, 2, 0, 0))
    step = _conv_step(ex)
    assert len(step.terms) == 2 * 2 * 2 and step.padded == 18 - 8
    conv.zero_grad()
    xt = cr.tensor(x, requires_grad=True)
    y = cr.tanh(conv(xt))
    y[0, 2, 0, 0].backward()
    np.testing.assert_allclose(ex.gradients["x"], xt.grad.data, rtol=1e-10, atol=1e-15)


def test_second_layer_spreads_and_says_so():
    rng = np.random.default_rng(5)
    w1, w2 = rng.normal(size=(2, 1, 2, 2)), rng.normal(size=(1, 2, 2, 2))

    def fn(x, w1, w2):
        return F.conv2d(cr.tanh(F.conv2d(x, w1)), w2)

    ex = cr.explain(fn, x=rng.normal(size=(1, 1, 4, 4)), w1=w1, w2=w2, element=(0, 0, 1, 1))
    kinds = [s.kind for s in ex.element_steps]
    assert kinds[:2] == ["local", "sum"] and "spread" in kinds
    assert "the gradient reaches 8 entries (see the table)" in str(ex)


def test_max_pool_entry_goes_to_the_window_maximum():
    x = np.array([[[[1.0, 5.0, 2.0, 0.0], [3.0, 4.0, 9.0, 1.0], [0.0, 2.0, 1.0, 1.0]]]])
    ex = cr.explain(lambda x: F.max_pool2d(x, 2), x=x, element=(0, 0, 0, 1))
    step = next(s for s in ex.element_steps if s.op == "max_pool2d")
    assert [(sh.wrt, sh.index, sh.local) for sh in step.shares] == [("x", (0, 0, 1, 2), 1.0)]
    assert "∂f[0, 0, 0, 1]/∂x[0, 0, 1, 2] = 1[x = window max] = 1" in str(ex)


def test_avg_pool_entry_is_read_back_to_the_input_window():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    ex = cr.explain(lambda x: F.avg_pool2d(x, 2), x=x, element=(0, 0, 1, 0))
    (step,) = [s for s in ex.element_steps if s.op == "sum"]
    assert sorted(sh.index for sh in step.shares) == [
        (0, 0, 2, 0),
        (0, 0, 2, 1),
        (0, 0, 3, 0),
        (0, 0, 3, 1),
    ]
    total = np.zeros(x.shape)
    for s in ex.element_steps:
        for sh in s.shares:
            if sh.wrt == "x":
                total[sh.index] += sh.product
    np.testing.assert_allclose(total, ex.gradients["x"])


def test_entry_through_a_transpose_is_the_moved_one():
    # before: a transpose whose output had its input's shape was read as elementwise,
    # naming the same index on both sides
    x = np.arange(9.0).reshape(3, 3)
    ex = cr.explain(lambda x: cr.exp(x.T), x=x, element=(0, 2))
    step = next(s for s in ex.element_steps if s.op == "exp")
    assert [(sh.wrt, sh.index) for sh in step.shares] == [("x", (2, 0))]
    assert step.value == pytest.approx(np.exp(x[2, 0]))


def test_linear_node_is_a_sum_with_its_bias():
    cr.manual_seed(0)
    layer = cr.nn.Linear(3, 2)
    x = np.array([[1.0, -2.0, 0.5]])
    ex = cr.explain(lambda x: layer(x), x=x, element=(0, 1))
    (step,) = [s for s in ex.element_steps if s.kind == "sum"]
    w, b = layer.weight.data, layer.bias.data
    assert [t.value for t in step.terms] == pytest.approx(list(x[0] * w[1]))
    assert step.value == pytest.approx(float(x[0] @ w[1] + b[1]))
    assert [e.value for e in step.extra] == [pytest.approx(float(b[1]))]
    assert "Σ_k x[0, k]·" in str(ex)


# ---------------------------------------------------------------- every format
def _conv_explanation():
    rng = np.random.default_rng(6)
    x, w, b = rng.normal(size=(1, 2, 3, 3)), rng.normal(size=(2, 2, 2, 2)), rng.normal(size=2)
    return cr.explain(_conv_fn(), x=x, w=w, b=b, element=(0, 1, 1, 0))


def test_every_format_has_the_element_section():
    ex = _conv_explanation()
    head = "One output entry, through each matmul or convolution"
    assert head in str(ex)
    md = ex.to_markdown()
    assert head in md and "Σ_{c, p, q} w[1, c, p, q]·x[0, c, 1 + p, q]" in md
    tex = ex.to_latex()
    assert f"% {head}" in tex
    assert r"\sum_{c,p,q} w[1, c, p, q] \, x[0, c, 1 + p, q] + b[1]" in tex
    assert r"\frac{\partial h}{\partial x[0, c, 1 + p, q]} &=" in tex
    assert ex.to_dict()["element"]["index"] == [0, 1, 1, 0]
    assert '"element"' in ex.to_json()
    page = element_html(ex)
    assert page.startswith('<section class="element"') and page.endswith("</section>")
    assert page in ex.to_html() and page in ex.to_html(full_page=False)  # the page shows it


def test_no_element_no_section():
    ex = cr.explain(lambda x: cr.tanh(x), x=np.ones(2))
    assert ex.to_dict()["element"] is None
    assert element_html(ex) == ""
    assert "One output entry" not in str(ex) + ex.to_latex() + ex.to_markdown()


def test_json_element_structure():
    ex = _conv_explanation()
    d = json.loads(ex.to_json())["element"]
    assert d["output"] == "h"
    steps = d["steps"]
    assert [s["node"] for s in steps] == ["h", "g", "f"]
    for s in steps:
        assert {"node", "op", "kind", "index", "value", "upstream", "local"} <= set(s)
        for loc in s["local"]:
            assert set(loc) == {"wrt", "index", "formula", "local", "product"}
            assert loc["product"] == pytest.approx(s["upstream"] * loc["local"])
    tanh = steps[1]
    assert tanh["local"][0]["formula"] == "1 - tanh(f)^2"
    conv = steps[2]
    assert conv["kind"] == "sum" and conv["op"] == "conv2d" and conv["index"] == [0, 1, 1, 0]
    assert conv["sum_over"] == "c, p, q" and len(conv["terms"]) == 8
    term = conv["terms"][0]
    assert [f["node"] for f in term["factors"]] == ["w", "x"]
    assert term["value"] == pytest.approx(term["factors"][0]["value"] * term["factors"][1]["value"])
    assert conv["extra"][0]["node"] == "b"
    total = sum(t["value"] for t in conv["terms"]) + conv["extra"][0]["value"]
    assert total == pytest.approx(conv["value"])
    # the gradient x gets, entry by entry, is the explanation's gradient
    x_grad = np.zeros((1, 2, 3, 3))
    for loc in conv["local"]:
        if loc["wrt"] == "x":
            x_grad[tuple(loc["index"])] += loc["product"]
    np.testing.assert_allclose(x_grad, ex.gradients["x"], rtol=1e-12)


def test_html_fragment_has_one_row_per_step():
    ex = _conv_explanation()
    page = element_html(ex)
    rows = re.findall(r'<tr data-node="([^"]+)" data-index="([^"]*)" data-kind="(\w+)"', page)
    assert rows == [("h", "", "local"), ("g", "0,1,1,0", "local"), ("f", "0,1,1,0", "sum")]
    assert page.count("<li data-term=") == 8
    assert page.count('class="share" data-wrt="x"') == 8
    assert 'data-op="conv2d"' in page


def test_html_fragment_escapes_names():
    ex = cr.explain(lambda x: cr.name(x * 2, "<b>"), x=np.ones((1, 2)), element=(0, 1))
    page = element_html(ex)
    assert "<b>" not in page and "&lt;b&gt;" in page


@pytest.mark.parametrize("element", [(0, 2, 0, 0), (0, 0, 0), (0, 0, 0, 0, 0), (True, 0, 0, 0)])
def test_bad_element_index_for_a_convolution_is_one_clear_line(element):
    rng = np.random.default_rng(7)
    x, w, b = rng.normal(size=(1, 1, 3, 3)), rng.normal(size=(2, 1, 2, 2)), np.zeros(2)
    with pytest.raises(ExplainError) as err:
        cr.explain(_conv_fn(), x=x, w=w, b=b, element=element)
    message = str(err.value)
    assert "\n" not in message and "element" in message
    if element != (True, 0, 0, 0):
        assert "(1, 2, 2, 2)" in message
