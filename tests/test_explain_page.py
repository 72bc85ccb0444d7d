"""The interactive page, driven in headless Chromium: real clicks on the graph and the
table, and the stepper walked through the seed's sigmoid, forward then backward,
checking the values shown at every step.

Skipped, with the reason shown, where Chromium is missing (Debian: apt-get install
chromium; CI installs it).
"""

import os

import pytest
from _chromium import find_chromium, load_page

import chainrule as cr
from chainrule.explain import SEED_EXPRESSION

pytestmark = pytest.mark.skipif(
    find_chromium() is None or not hasattr(os, "fork"),
    reason="headless Chromium not found (Debian: apt-get install chromium)",
)


def _load(browser, tmp_path, html, name="page.html"):
    return load_page(browser, tmp_path, html, name)


def _classes(browser, selector):
    return browser.evaluate(
        f"Array.from(document.querySelectorAll({selector!r})).map(e => e.getAttribute('class'))"
    )


def _names_with(browser, cls):
    return sorted(
        browser.evaluate(
            f"Array.from(document.querySelectorAll('.gnode.{cls}')).map(g => g.dataset.name)"
        )
    )


def _step(browser):
    return browser.evaluate(
        "({title: document.getElementById('cr-step-title').textContent,"
        " phase: document.getElementById('cr-step-title').dataset.phase,"
        " rows: Array.from(document.querySelectorAll('#cr-step-rows tr')).map("
        "   r => [r.cells[0].textContent, r.cells[1].textContent]),"
        " current: Array.from(document.querySelectorAll('.gnode.current'))"
        "   .map(g => g.dataset.name),"
        " count: document.getElementById('cr-step-count').textContent})"
    )


@pytest.fixture
def seed_page(browser, tmp_path):
    ex = cr.explain(SEED_EXPRESSION, z=0.5)
    _load(browser, tmp_path, ex.to_html())
    return ex


def test_the_page_is_offline_and_runs_its_script_without_errors(browser, seed_page):
    # the script ran (it filled the chain box and the step counter) ...
    assert browser.evaluate("document.getElementById('cr-step-count').textContent") == "10 steps"
    # ... under a policy that allows no other script and nothing from the network
    policy = browser.evaluate(
        "document.querySelector('meta[http-equiv=\"Content-Security-Policy\"]').content"
    )
    assert "default-src 'none'" in policy and "script-src 'sha256-" in policy
    assert browser.evaluate("performance.getEntriesByType('resource').length") == 0
    assert browser.evaluate("document.querySelectorAll('script[src], link[href]').length") == 0
    assert browser.console_errors() == []


def test_clicking_a_node_highlights_its_row_and_its_chain(browser, seed_page):
    browser.click('.gnode[data-name="f"]')
    assert _names_with(browser, "sel") == ["f"]
    assert _names_with(browser, "chain") == ["f", "g", "h", "i"]  # f up to the output
    rows = browser.evaluate(
        "Array.from(document.querySelectorAll('table.nodes tr.sel'))"
        ".map(r => r.cells[0].textContent)"
    )
    assert rows == ["f"]
    edges = browser.evaluate(
        "Array.from(document.querySelectorAll('.gedge.chain'))"
        ".map(e => [e.dataset.from, e.dataset.to])"
    )
    assert len(edges) == 3  # f→g, g→h, h→i; not z→f
    chain = browser.evaluate("document.getElementById('cr-chain').textContent")
    assert chain.splitlines()[0] == "∂i/∂f = ∂i/∂h · ∂h/∂g · ∂g/∂f"
    assert chain.splitlines()[1].strip() == "= (-0.387455619) · 1 · 0.6065306597"
    assert chain.splitlines()[2].strip() == "= -0.2350037122"

    # a click on a name in the table selects that node instead
    browser.click("table.nodes tr.leaf td.name")
    assert _names_with(browser, "sel") == ["z"]
    assert _names_with(browser, "chain") == ["f", "g", "h", "i", "z"]
    assert browser.evaluate("document.getElementById('cr-chain').textContent").endswith(
        "= 0.2350037122"
    )
    # clicking the selected node again clears the selection
    browser.click('.gnode[data-name="z"]')
    assert _names_with(browser, "sel") == [] and _names_with(browser, "chain") == []
    assert browser.console_errors() == []


def test_the_stepper_walks_forward_then_backward_through_the_sigmoid(browser, seed_page):
    expected = [
        # (phase, node, rows shown)
        ("forward", "z", [("value", "z = 0.5")]),
        ("forward", "f", [("definition", "f = -z"), ("value", "f = -0.5")]),
        ("forward", "g", [("definition", "g = exp(f)"), ("value", "g = 0.6065306597")]),
        ("forward", "h", [("definition", "h = 1 + g"), ("value", "h = 1.60653066")]),
        ("forward", "i", [("definition", "i = 1/h"), ("value", "i = 0.6224593312")]),
        (
            "backward",
            "i",
            [
                ("gradient arriving", "∂i/∂i = 1 (the output: the chain starts with 1)"),
                ("local derivative", "∂i/∂h = -1/h^2 = -0.387455619"),
                ("passed down to h", "1 · (-0.387455619) = -0.387455619"),
            ],
        ),
        (
            "backward",
            "h",
            [
                ("gradient arriving", "∂i/∂h = -0.387455619"),
                ("local derivative", "∂h/∂g = 1"),
                ("passed down to g", "(-0.387455619) · 1 = -0.387455619"),
            ],
        ),
        (
            "backward",
            "g",
            [
                ("gradient arriving", "∂i/∂g = -0.387455619"),
                ("local derivative", "∂g/∂f = exp(f) = 0.6065306597"),
                ("passed down to f", "(-0.387455619) · 0.6065306597 = -0.2350037122"),
            ],
        ),
        (
            "backward",
            "f",
            [
                ("gradient arriving", "∂i/∂f = -0.2350037122"),
                ("local derivative", "∂f/∂z = -1"),
                ("passed down to z", "(-0.2350037122) · (-1) = 0.2350037122"),
            ],
        ),
        (
            "backward",
            "z",
            [
                ("gradient arriving", "∂i/∂z = 0.2350037122"),
                ("result", "all paths have arrived: this is ∂i/∂z"),
            ],
        ),
    ]
    start = _step(browser)
    assert start["phase"] == "" and start["rows"] == [] and start["current"] == []
    assert browser.evaluate("document.getElementById('cr-prev').disabled") is True
    for k, (phase, node, rows) in enumerate(expected):
        browser.click("#cr-next")
        shown = _step(browser)
        assert shown["phase"] == phase, k
        assert shown["title"].startswith(f"{phase} · {node}"), shown["title"]
        assert shown["current"] == [node]
        assert [tuple(r) for r in shown["rows"]] == rows, k
        assert shown["count"] == f"step {k + 1} of {len(expected)}"
        # values appear as the forward pass reaches them, gradients as the backward does
        computed = _names_with(browser, "computed")
        assert computed == sorted(n for p, n, _ in expected[: k + 1] if p == "forward")
        with_grad = _names_with(browser, "has-grad")
        assert with_grad == sorted(n for p, n, _ in expected[: k + 1] if p == "backward")
        hidden = browser.evaluate(
            "Array.from(document.querySelectorAll('.gnode')).filter(g =>"
            " getComputedStyle(g.querySelector('.ggrad')).visibility === 'hidden')"
            ".map(g => g.dataset.name)"
        )
        assert sorted(hidden) == sorted(set("zfghi") - set(with_grad))
        if phase == "backward" and node != "z":
            # the edge the gradient flows down is marked
            flowing = browser.evaluate("document.querySelectorAll('.gedge.flow').length")
            assert flowing == 1
    assert browser.evaluate("document.getElementById('cr-next').disabled") is True
    # back one step, by the keyboard
    browser.press("ArrowLeft")
    assert _step(browser)["current"] == ["f"]
    browser.click("#cr-reset")
    assert _step(browser)["current"] == [] and _names_with(browser, "computed") == []
    assert browser.console_errors() == []


def test_a_value_used_twice_shows_the_sum_arriving(browser, tmp_path):
    ex = cr.explain("x*x + sin(x)", x=0.7)
    _load(browser, tmp_path, ex.to_html())
    for _ in range(8):
        browser.click("#cr-next")
    last = _step(browser)
    assert last["current"] == ["x"]
    arriving = dict(map(tuple, last["rows"]))["gradient arriving"]
    assert arriving.startswith("∂h/∂x = 0.7648421873 + 0.7 + 0.7 = 2.164842187")
    browser.click('.gnode[data-name="x"]')
    chain = browser.evaluate("document.getElementById('cr-chain').textContent")
    assert "(the sum over 3 paths)" in chain and chain.endswith("= 2.164842187")
    assert browser.console_errors() == []


def test_korean_page_steps_in_korean(browser, tmp_path):
    ex = cr.explain(SEED_EXPRESSION, z=0.5)
    _load(browser, tmp_path, ex.to_html("ko"))
    for _ in range(6):
        browser.click("#cr-next")
    shown = _step(browser)
    assert shown["title"].startswith("역전파 · i")
    assert shown["rows"][0][0] == "도착한 기울기"
    assert browser.console_errors() == []


def test_network_page_clicks_steps_and_drills_down(browser, tmp_path):
    import numpy as np

    cr.nn.manual_seed(0)
    layers = []
    for _ in range(4):
        layers += [cr.nn.Linear(6, 6), cr.nn.Sigmoid()]
    model = cr.nn.Sequential(*layers, cr.nn.Linear(6, 3))
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.normal(size=(5, 6)).astype("float32"))
    ex = cr.explain(model, x, target=cr.tensor(np.array([0, 1, 2, 0, 1])))
    d = ex.to_dict()
    _load(browser, tmp_path, ex.to_html())
    n = len(d["layers"])
    assert n == 9
    # a click on layer 3 highlights its row and its chain: layers 3..8 and the loss
    browser.click('.gnode[data-node="l3"]')
    assert browser.evaluate(
        "Array.from(document.querySelectorAll('table.layers tr.sel')).map(r => r.dataset.node)"
    ) == ["l3"]
    chain = browser.evaluate(
        "Array.from(document.querySelectorAll('.gnode.chain')).map(g => g.dataset.node)"
    )
    assert sorted(chain) == sorted([f"l{k}" for k in range(3, n)] + ["loss"])
    text = browser.evaluate("document.getElementById('cr-chain').textContent")
    assert f"= {d['product'][3]:.3g}" in text
    # forward: the input, every layer, the loss; then backward from the loss down
    for _ in range(n + 2):
        browser.click("#cr-next")
    assert _step(browser)["title"] == "forward · the loss (cross_entropy)"
    browser.click("#cr-next")
    assert _step(browser)["title"] == "backward · the loss"
    for k in range(n - 1, -1, -1):
        browser.click("#cr-next")
        shown = _step(browser)
        lay = d["layers"][k]
        assert shown["title"] == f"backward · layer {lay['name']} ({lay['type']})"
        rows = dict(map(tuple, shown["rows"]))
        assert rows["gradient arriving"] == f"‖∂loss/∂out‖ = {lay['grad_output_norm']:.4g}"
        assert rows["local derivative (gain, in norm)"] == f"{lay['gain']:.4g}"
        assert rows["running product from the output"] == f"{d['product'][k]:.4g}"
    browser.click("#cr-next")
    assert _step(browser)["title"] == "backward · the input"
    assert browser.evaluate("document.getElementById('cr-next').disabled") is True
    # a layer's row links to its own node-by-node explanation, which opens
    assert browser.evaluate("document.getElementById('drill-2').open") is False
    browser.click('tr[data-node="l2"] td.name a')
    assert browser.evaluate("document.getElementById('drill-2').open") is True
    inside = browser.evaluate("document.getElementById('drill-2').innerText")
    assert "Explain layer '2' (Linear)" in inside
    assert browser.console_errors() == []


def test_a_chain_with_more_paths_than_are_written_is_highlighted_whole(browser, tmp_path):
    q = "((x*x)*(x*x))*((x*x)*(x*x))"
    ex = cr.explain(f"({q})*({q})", x=1.01)
    _load(browser, tmp_path, ex.to_html())
    browser.click('.gnode[data-name="x"]')
    # every node lies between x and the output, however many paths there are
    total = browser.evaluate("document.querySelectorAll('.gnode').length")
    assert len(_names_with(browser, "chain")) == total == len(ex.steps)
    chain = browser.evaluate("document.getElementById('cr-chain').textContent")
    first, *rest = chain.splitlines()
    assert first.endswith("+ …   (the sum over 16 paths)")  # 12 written, then "…"
    assert first.count("+") == 12
    assert rest[-1].strip() == f"= {ex.gradients['x']:.10g}"
    assert browser.console_errors() == []
