"""The seed's worked example, explained by chainrule in every format.

    python examples/explain_sigmoid.py [OUTDIR]

prints the text table of the sigmoid 1/(1+e^-z) at z = 0.5, split into
f = -z, g = e^f, h = 1 + g, i = 1/h, and writes the other formats to OUTDIR
(default: explain_out/): Markdown, LaTeX, HTML, DOT, SVG (when Graphviz or the
graphviz-pure wheel is there) and JSON. It then explains a function written in
Python, where one value feeds two nodes, to show the multivariate chain rule.
"""

import sys
from pathlib import Path

import chainrule as cr


def main(outdir: str = "explain_out") -> None:
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)

    ex = cr.explain("1/(1+exp(-z))", z=0.5)
    print(ex)
    (out / "sigmoid.md").write_text(ex.to_markdown(), encoding="utf-8")
    (out / "sigmoid.tex").write_text(ex.to_latex(standalone=True), encoding="utf-8")
    (out / "sigmoid.html").write_text(ex.to_html(), encoding="utf-8")
    (out / "sigmoid.ko.html").write_text(ex.to_html("ko"), encoding="utf-8")
    (out / "sigmoid.dot").write_text(ex.to_dot(), encoding="utf-8")
    (out / "sigmoid.json").write_text(ex.to_json(), encoding="utf-8")
    try:
        (out / "sigmoid.svg").write_text(ex.to_svg(), encoding="utf-8")
    except cr.ExplainError as err:
        print(f"(no SVG: {err})")

    # A Python function: x feeds both x*x and sin(x), so its gradient is a sum.
    def f(x):
        return x * x + cr.sin(x)

    print()
    print(cr.explain(f, x=0.7))

    # cr.graph draws any computation, not only inside explain.
    w = cr.name(cr.tensor([0.5, -1.0], requires_grad=True), "w")
    loss = cr.sum(cr.tanh(w * 2.0))
    (out / "tanh_graph.dot").write_text(cr.graph(loss), encoding="utf-8")
    print(f"\nwrote {', '.join(sorted(p.name for p in out.iterdir()))} to {out}/")


if __name__ == "__main__":
    main(*sys.argv[1:2])
