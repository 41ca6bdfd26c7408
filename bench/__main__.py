"""``python -m bench [latency|busy|submit|fanout|affinity ...]``: run benchmarks, print figures."""

from __future__ import annotations

import sys

from bench import affinity, busy, fanout, latency, submit_rate

SUITES = {
    "latency": latency.run,
    "busy": busy.run,
    "submit": submit_rate.run,
    "fanout": fanout.run,
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
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
