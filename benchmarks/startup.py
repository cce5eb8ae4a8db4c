"""``make bench``: how long the commands a user runs most take to start and finish, beside ``python -c pass``.

Each contender runs as a fresh process (``python -m pydcap ...`` and ``python -c pass`` from the same
interpreter); the contenders alternate, one run each per round, so that the machine's other load falls on all of
them alike. Wall time and CPU time (user + system of the child) are reported as min-max ranges with the median.
The quote and collateral come from the simulated Intel (no shared test data needed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pydcap.sim import SimulatedIntel


def contenders(directory: Path) -> dict[str, list[str]]:
    intel = SimulatedIntel(0)
    platform = intel.sgx_platform()
    quote, collateral, root = directory / "quote.bin", directory / "collateral", directory / "root.pem"
    quote.write_bytes(platform.quote(b""))
    intel.collateral_for(platform).write_directory(collateral)
    root.write_bytes(intel.root_pem)
    pydcap = [sys.executable, "-m", "pydcap"]
    checked = [str(collateral), "--root-ca", str(root)]
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "pydcap --help": [*pydcap, "--help"],
        "pydcap verify QUOTE --collateral DIR": [*pydcap, "verify", str(quote), "--collateral", *checked],
        "pydcap quote show QUOTE": [*pydcap, "quote", "show", str(quote)],
    }


def run_once(command: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of ``command``, which must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(commands: dict[str, list[str]], rounds: int) -> dict[str, dict[str, list[float]]]:
    times: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in commands}
    for command in commands.values():  # one unmeasured run each: files into the page cache
        run_once(command)
    for _ in range(rounds):
        for name, command in commands.items():
            wall, cpu = run_once(command)
            times[name]["wall"].append(wall)
            times[name]["cpu"].append(cpu)
    return times


def _range(values: list[float]) -> str:
    return f"{min(values) * 1000:.0f}-{max(values) * 1000:.0f} ms (median {statistics.median(values) * 1000:.0f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10, help="runs of each command (default 10)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pydcap-startup-") as tmp:
        times = measure(contenders(Path(tmp)), args.rounds)
    if args.json:
        json.dump(times, sys.stdout, indent=2)
        print()
        return 0
    console = Console(width=None if sys.stdout.isatty() else 160)
    baseline = statistics.median(times["python -c pass"]["cpu"])
    table = Table(title=f"Start-up and run time, {args.rounds} runs each, alternated ({os.cpu_count()} CPUs)")
    for column in ("command", "wall", "CPU (user+sys)", "CPU beyond python -c pass"):
        table.add_column(column, justify="left" if column == "command" else "right")
    for name, t in times.items():
        extra = statistics.median(t["cpu"]) - baseline
        table.add_row(
            name, _range(t["wall"]), _range(t["cpu"]), "-" if name.startswith("python") else f"+{extra * 1000:.0f} ms"
        )
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
