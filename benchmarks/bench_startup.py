"""CLI start-up: each command in a fresh process, next to ``python -c "import torch"`` (the floor a command that
needs torch pays) and ``python -c pass``, interleaved, medians of N runs.

    python benchmarks/bench_startup.py [--repeats N]

Listing commands (``--help``, ``models``, ``data list``, ``score --list``) import no torch; ``score`` on a CSV imports
torch, numpy and pandas and nothing else (``python -X importtime -m gazekit score ...`` shows the tree). The last
column is each command's time over the ``import torch`` floor.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GAZEKIT_PROGRESS": "0"}
    tmp = Path(tempfile.mkdtemp(prefix="gazekit-startup-"))
    table = tmp / "osie_sample.csv"
    subprocess.run([sys.executable, "-m", "gazekit", "data", "convert", "osie-sample", "--out", str(table)],
                   check=True, capture_output=True, env=env)
    py = [sys.executable]
    commands = {
        "python -c pass": py + ["-c", "pass"],
        "python -c 'import torch'": py + ["-c", "import torch"],
        "gazekit --help": py + ["-m", "gazekit", "--help"],
        "gazekit models": py + ["-m", "gazekit", "models"],
        "gazekit data list": py + ["-m", "gazekit", "data", "list"],
        "gazekit score --list": py + ["-m", "gazekit", "score", "--list"],
        "gazekit score (CSV, dtw)": py + ["-m", "gazekit", "score", "--human", str(table), "--pred", str(table),
                                          "--metrics", "dtw"],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeats):
        for name, cmd in commands.items():
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, env=env, cwd=tmp)
            times[name].append(time.perf_counter() - t)
    torch_floor = statistics.median(times["python -c 'import torch'"])
    print(f"{'command':28s} {'median s':>9s} {'/ import torch':>15s}   ({args.repeats} fresh processes each)")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:28s} {med:9.2f} {med / torch_floor:15.2f}")


if __name__ == "__main__":
    main()
