"""Regenerate the screenshots in docs/: the seed's HTML page and its SVG graph, the
interactive page part way through the backward pass, and a network's page,
rendered by headless Chromium (Debian: apt-get install chromium fonts-lmodern).

    python examples/explain_screenshots.py [DOCS_DIR]
"""

import sys
import tempfile
from pathlib import Path

import chainrule as cr

# The browser driver lives with the tests, its other user; the library never needs it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _chromium import Chromium  # noqa: E402


def main(docs: str = "docs") -> None:
    out = Path(docs)
    out.mkdir(parents=True, exist_ok=True)
    ex = cr.explain("1/(1+exp(-z))", z=0.5)
    multi = cr.explain("x*x + sin(x)", x=0.7)
    with tempfile.TemporaryDirectory() as tmp, Chromium() as browser:
        pages = {
            "explain_sigmoid_html.png": ex.to_html(),
            "explain_sigmoid_html_ko.png": ex.to_html("ko"),
            "explain_multivariate_html.png": multi.to_html(),
        }
        for name, html in pages.items():
            page = Path(tmp) / (name + ".html")
            page.write_text(html, encoding="utf-8")
            browser.open(page, width=1000)
            browser.screenshot(out / name, width=1000)
            print("wrote", out / name)
        # the SVG, centred on a white page
        for name, explanation in (
            ("explain_sigmoid_svg.png", ex),
            ("explain_multivariate_svg.png", multi),
        ):
            svg = explanation.to_svg()
            (out / name.replace(".png", ".svg")).write_text(svg, encoding="utf-8")
            page = Path(tmp) / (name + ".html")
            page.write_text(
                '<!DOCTYPE html><html><body style="margin:0;background:#fff">'
                f'<div style="padding:16px;display:inline-block">{svg[svg.find("<svg") :]}</div>'
                "</body></html>",
                encoding="utf-8",
            )
            browser.open(page, width=1000)
            width = int(browser.evaluate("document.querySelector('div').offsetWidth"))
            browser.screenshot(out / name, width=max(width, 200), scale=1.5)
            print("wrote", out / name)
        # the interactive pages, driven as a reader would: a click, then the stepper
        page = Path(tmp) / "live.html"
        page.write_text(ex.to_html(), encoding="utf-8")
        browser.open(page, width=1000)
        browser.click('.gnode[data-name="f"]')
        for _ in range(8):  # the forward pass (5 steps), then backward to g
            browser.click("#cr-next")
        browser.evaluate("window.scrollTo(0, 0)")
        browser.screenshot(out / "explain_sigmoid_stepper.png", width=1000)
        print("wrote", out / "explain_sigmoid_stepper.png")
        page.write_text(_sigmoid_network().to_html(drill=False), encoding="utf-8")
        browser.open(page, width=1100)
        browser.click('.gnode[data-node="l3"]')
        for _ in range(18):  # forward through the 8 layers, then back to layer 5
            browser.click("#cr-next")
        browser.evaluate("window.scrollTo(0, 0)")
        browser.screenshot(out / "explain_network_page.png", width=1100)
        print("wrote", out / "explain_network_page.png")
        if browser.console_errors():
            raise SystemExit(f"console errors: {browser.console_errors()}")


def _sigmoid_network() -> cr.NetworkExplanation:
    """Four sigmoid layers on a fixed batch: the vanishing gradient of the README."""
    import numpy as np

    cr.nn.manual_seed(0)
    layers: list[cr.nn.Module] = []
    for _ in range(4):
        layers += [cr.nn.Linear(16, 16), cr.nn.Sigmoid()]
    model = cr.nn.Sequential(*layers, cr.nn.Linear(16, 3))
    x = cr.tensor(np.random.default_rng(0).normal(size=(8, 16)).astype("float32"))
    return cr.explain(model, x, target=cr.tensor(np.arange(8) % 3))


if __name__ == "__main__":
    main(*sys.argv[1:2])
