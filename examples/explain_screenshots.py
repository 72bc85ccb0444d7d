"""Regenerate the screenshots in docs/: the seed's HTML page and its SVG graph,
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
            "explain_sigmoid_html.png": ex.to_html(graph=False),
            "explain_sigmoid_html_ko.png": ex.to_html("ko", graph=False),
            "explain_multivariate_html.png": multi.to_html(graph=False),
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
        if browser.console_errors():
            raise SystemExit(f"console errors: {browser.console_errors()}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
