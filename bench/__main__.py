"""``python -m bench [waterfall|cpu|latency|submit|fanout|busy|memory|affinity ...]``: run
benchmarks, print every figure beside its same-run baseline and target, then one closing table."""

from __future__ import annotations

import sys
from collections.abc import Callable

from bench import affinity, busy, cpu, fanout, latency, memory, submit_rate, waterfall
from bench.common import FIGURES, heading

SUITES: dict[str, Callable[[], None]] = {
    "waterfall": waterfall.run,
    "cpu": cpu.run,
    "latency": latency.run,
    "submit": submit_rate.run,
    "fanout": fanout.run,
    "busy": busy.run,
    "memory": memory.run,
    "affinity": affinity.run,
}


def main(argv: list[str]) -> int:
    chosen = argv or list(SUITES)
    unknown = [name for name in chosen if name not in SUITES]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(SUITES)}")
        return 2
    for name in chosen:
        SUITES[name]()
    heading("summary (figure | same-run baseline | ratio | issue 13 target)")
    for figure in FIGURES:
        print(figure.line())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
