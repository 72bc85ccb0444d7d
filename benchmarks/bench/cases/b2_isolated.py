"""B2-isolated: B2 with every peer alone in a fresh process."""

from __future__ import annotations

import math
from dataclasses import asdict

from bench.cases.b2 import B2_PEERS
from bench.process import spawn_worker
from bench.report import CaseReport
from bench.timing import Settings, _summary

ISOLATED_ROUNDS = 3


def case_b2_isolated(settings: Settings) -> CaseReport:
    """B2 with every peer in its own fresh process (no second library loaded).

    The peers' processes run in rounds (one process per peer per round, in turn), so
    a slow spell on the machine lands on one round of each peer; the median is over
    all the repeats of all the rounds.
    """
    rounds = 1 if settings.quick else ISOLATED_ROUNDS
    per_round = max(1, math.ceil(settings.repeats / rounds))
    report = CaseReport(
        case="B2-isolated",
        title="B2 MLP step with each peer alone in a fresh process",
        unit="ms/step",
        baselines=[f"numpy (hand-written) [batch {b}]" for b in settings.batches],
    )
    report.notes.append(
        f"{rounds} round(s) of one process per peer, {per_round} repeats each; processes for "
        "peers other than chainrule do not import chainrule."
    )
    sub = asdict(settings)
    sub["repeats"] = per_round
    for batch in settings.batches:
        samples: dict[str, list[float]] = {}
        numbers: dict[str, int] = {}
        for _ in range(rounds):
            for name, _, _ in B2_PEERS:
                peer = f"{name} [batch {batch}]"
                if peer in (r.peer for r in report.rows):
                    continue  # skipped or wrong in an earlier round
                out = spawn_worker({"kind": "b2", "peer": name, "batch": batch, "settings": sub})
                if "skip" in out:
                    report.skip(peer, out["skip"])
                elif "wrong" in out:
                    report.wrong(peer, out["wrong"])
                else:
                    samples.setdefault(peer, []).extend(out["timing"]["samples"])
                    numbers[peer] = out["timing"]["number"]
        for peer, s in samples.items():
            if peer not in (r.peer for r in report.rows):
                report.add(peer, _summary(s, numbers[peer]), 1e3, "own process")
    report.finish()
    for row in report.rows:
        tag = row.peer[row.peer.rfind("[") :]
        row.ratios = {k: v for k, v in row.ratios.items() if k.endswith(tag)}
        row.paired = {k: v for k, v in row.paired.items() if k.endswith(tag)}
    return report
