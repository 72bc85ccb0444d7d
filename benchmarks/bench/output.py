"""A report as a text table, and a results file as Markdown tables."""

from __future__ import annotations

from typing import Any

from bench.report import CaseReport


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if value < 1 else f"{value:.2f}"


def _ratio(value: float) -> str:
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if value >= 0.1 else f"{value:.3f}"


def print_report(report: CaseReport) -> None:
    print(f"\n{report.case}  {report.title}")
    ratio_names = {name: f"x {name.split(' [')[0]}" for name in report.baselines}
    header = ["peer", f"median {report.unit}", "q1-q3", "calls x repeats"]
    ratio_columns = sorted(set(ratio_names.values()), key=list(ratio_names.values()).index)
    has_paired = any(row.paired for row in report.rows)
    paired_columns = [f"paired {c}" for c in ratio_columns] if has_paired else []
    header += ratio_columns + paired_columns + report.columns
    table = [header]
    for row in report.rows:
        if row.median is None:
            table.append([row.peer, row.status.upper(), "", "", *[""] * (len(header) - 4)])
            continue
        line = [
            row.peer,
            _fmt(row.median),
            f"{_fmt(row.q1)}-{_fmt(row.q3)}",
            f"{row.calls_per_repeat or '-'} x {row.repeats}",
        ]
        by_column = {ratio_names[k]: v for k, v in row.ratios.items()}
        line += [_ratio(by_column[c]) if c in by_column else "" for c in ratio_columns]
        if has_paired:
            paired = {ratio_names[k]: v for k, v in row.paired.items()}
            line += [_ratio(paired[c]) if c in paired else "" for c in ratio_columns]
        line += [_fmt(row.extra.get(c)) for c in report.columns]
        table.append(line)
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for k, r in enumerate(table):
        cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
        print("  " + "  ".join(cells))
        if k == 0:
            print("  " + "  ".join("-" * w for w in widths))
    for row in report.rows:
        if row.status in ("skipped", "wrong"):
            print(f"  {row.status}: {row.peer}: {row.note}")
    for note in report.notes:
        print(f"  note: {note}")
    profile = report.checks.get("profile")
    if profile:
        unit = profile["unit"]
        print(f"  cProfile of chainrule ({profile['total_us']:.2f} {unit} under the profiler):")
        for group, us in profile["groups_us"].items():
            print(f"    {us:9.3f} {unit}  {group}")
        print("  top functions by own time:")
        for entry in profile["top_functions"][:12]:
            print(
                f"    {entry['tottime_us']:9.3f} {unit}  "
                f"{entry['calls_per_unit']:7.2f} calls  {entry['function']}"
            )


def markdown_tables(result: dict[str, Any]) -> str:
    """The tables of a results file in Markdown (for BENCHMARKS.md)."""
    out = []
    for case in result["cases"]:
        names = case["baselines"]
        labels = list(dict.fromkeys(f"x {n.split(' [')[0]}" for n in names))
        columns = case.get("columns", [])
        has_paired = any(row.get("paired") for row in case["rows"])
        paired_labels = [f"paired {c}" for c in labels] if has_paired else []
        heads = labels + paired_labels + columns
        out.append(f"**{case['case']}** {case['title']}\n")
        out.append("| peer | median " + case["unit"] + " | q1-q3 | " + " | ".join(heads) + " |")
        out.append("|---|---:|---:|" + "---:|" * len(heads))
        for row in case["rows"]:
            if row["median"] is None:
                out.append(f"| {row['peer']} | {row['status']} | | " + "| " * len(heads))
                continue
            by_label = {f"x {k.split(' [')[0]}": v for k, v in row["ratios"].items()}
            cells = [_ratio(by_label[c]) if c in by_label else "" for c in labels]
            paired = {f"x {k.split(' [')[0]}": v for k, v in row.get("paired", {}).items()}
            cells += [_ratio(paired[c]) if c in paired else "" for c in paired_labels and labels]
            cells += [_fmt(row.get("extra", {}).get(c)) for c in columns]
            spread = f"{_fmt(row['q1'])}-{_fmt(row['q3'])}"
            out.append(
                f"| {row['peer']} | {_fmt(row['median'])} | {spread} | {' | '.join(cells)} |"
            )
        out.append("")
    return "\n".join(out)
