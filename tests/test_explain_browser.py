"""The HTML page, loaded in headless Chromium: what it rendered, its MathML, no errors.

Skipped, with the reason shown, where Chromium is missing (Debian: apt-get install
chromium; CI installs it).
"""

import math

import pytest
from _chromium import find_chromium, load_page

import chainrule as cr
from chainrule.explain import SEED_EXPRESSION
from chainrule.explain.render_dot import find_dot

pytestmark = pytest.mark.skipif(
    find_chromium() is None or not hasattr(__import__("os"), "fork"),
    reason="headless Chromium not found (Debian: apt-get install chromium)",
)


def _load(browser, tmp_path, html, name="page.html"):
    return load_page(browser, tmp_path, html, name)


def test_seed_page_renders_table_and_mathml(browser, tmp_path):
    ex = cr.explain(SEED_EXPRESSION, z=0.5)
    _load(browser, tmp_path, ex.to_html())
    rows = browser.evaluate(
        "Array.from(document.querySelectorAll('table.nodes tr')).map("
        "r => Array.from(r.cells).map(c => c.innerText.trim()))"
    )
    assert rows[0][:3] == ["node", "definition", "value"]
    by_name = {r[0]: r for r in rows[1:]}
    assert set(by_name) == {"z", "f", "g", "h", "i"}
    assert by_name["z"][-2] == "0.2350037122"  # d i / d z, upstream column
    assert by_name["i"][2] == "0.6224593312"
    # each definition and local derivative is MathML, with its text as alttext
    alts = browser.evaluate(
        "Array.from(document.querySelectorAll('table.nodes math'))"
        ".map(m => m.getAttribute('alttext'))"
    )
    for expected in ("f = -z", "g = exp(f)", "h = 1 + g", "i = 1/h", "∂i/∂h = -1/h^2"):
        assert expected in alts
    # MathML is laid out as math (not as unknown inline text) and has a size
    maths = browser.evaluate(
        "Array.from(document.querySelectorAll('math')).map(m => {"
        " const r = m.getBoundingClientRect();"
        " return [getComputedStyle(m).display, r.width, r.height]; })"
    )
    assert len(maths) > 10
    assert all(d in ("math", "block math") for d, _, _ in maths)
    assert all(w > 0 and h > 0 for _, w, h in maths)
    # a fraction is drawn as one: numerator above denominator
    above = browser.evaluate(
        "(() => { const f = document.querySelector('table.nodes mfrac');"
        " const [n, d] = f.children;"
        " return n.getBoundingClientRect().bottom <= d.getBoundingClientRect().top + 1; })()"
    )
    assert above is True
    text = browser.evaluate("document.body.innerText")
    assert "backpropagation agrees with central finite differences" in text
    assert browser.console_errors() == []


def test_korean_page(browser, tmp_path):
    ex = cr.explain(SEED_EXPRESSION, z=0.5)
    _load(browser, tmp_path, ex.to_html("ko", graph=False))
    assert browser.evaluate("document.documentElement.lang") == "ko"
    text = browser.evaluate("document.body.innerText")
    assert "연쇄 법칙" in text and "국소 미분" in text
    assert browser.console_errors() == []


@pytest.mark.skipif(find_dot() is None, reason="no Graphviz renderer (dot or graphviz-pure)")
def test_svg_graph_renders(browser, tmp_path):
    ex = cr.explain("x*x + sin(x)", x=0.7)
    svg = ex.to_svg()
    _load(browser, tmp_path, svg, "graph.svg")
    size = browser.evaluate(
        "(() => { const b = document.documentElement.getBBox(); return [b.width, b.height]; })()"
    )
    assert size[0] > 100 and size[1] > 50
    texts = browser.evaluate(
        "Array.from(document.querySelectorAll('text')).map(t => t.textContent)"
    )
    joined = " ".join(texts)
    assert "h = f + g" in joined and "cos(x)" in joined
    assert browser.console_errors() == []


def test_console_errors_are_seen(browser, tmp_path):
    # the check itself works: a page that logs an error is caught
    _load(browser, tmp_path, "<html><body><script>console.error('boom')</script></body></html>")
    assert any("boom" in e for e in browser.console_errors())
    assert math.isfinite(browser.evaluate("1.5"))
