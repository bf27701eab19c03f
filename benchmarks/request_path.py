"""Time the whole request path on `slices-bi up`: POST -> task finished, DELETE -> finished.

Starts `slices-bi up` (devcloud with a 3 s boot delay, SQLite, a local Prefect server) on
free ports in a temporary folder, then:
  1. N sequential one-VM requests: API answer time, POST -> finished, DELETE -> finished;
  2. a burst of B one-VM requests sent at once: time until all are finished;
and prints the figures and the cloud API calls per VM (devcloud counters).
`benchmarks/floor.py` compares bursts with openstacksdk alone.

    .venv/bin/python benchmarks/request_path.py [--sequential 5] [--burst 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Api, start_stack


def line(label: str, values: list[float], unit: str = "s") -> None:
    median, low, high = statistics.median(values), min(values), max(values)
    print(f"{label:<32} median {median:6.2f} {unit}  min {low:6.2f}  max {high:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sequential", type=int, default=5)
    parser.add_argument("--burst", type=int, default=10)
    args = parser.parse_args()
    stack = start_stack(boot_delay=3.0)
    try:
        api = Api(stack)
        stack.reset_counters()
        answers, provisions, deletions = [], [], []
        for index in range(args.sequential):
            start = time.monotonic()
            task = api.post([f"seq{index}"])
            answers.append(time.monotonic() - start)
            provisions.append(api.wait_all([task["id"]]) - start)
            start = time.monotonic()
            deletion = api.delete(task["resource_ids"][0])
            deletions.append(api.wait_all([deletion["id"]]) - start)
        calls = stack.counters()

        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=args.burst) as pool:
            tasks = list(pool.map(lambda i: api.post([f"burst{i}"]), range(args.burst)))
        burst_total = api.wait_all([t["id"] for t in tasks]) - start
    finally:
        stack.stop()

    print(f"\nslices-bi up, boot delay 3 s, SQLite, {args.sequential} sequential one-VM requests")
    line("POST answered", [a * 1000 for a in answers], "ms")
    line("POST -> task finished", provisions)
    line("DELETE -> task finished", deletions)
    print(f"{'cloud API calls per VM':<32} {calls / args.sequential:.1f} (provision + delete)")
    print(
        f"\nburst of {args.burst} one-VM requests sent at once: all finished after "
        f"{burst_total:.2f} s"
    )


if __name__ == "__main__":
    main()
