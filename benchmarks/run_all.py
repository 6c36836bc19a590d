"""Run every benchmark script in benchmarks/ one after the other and print their output.

Run from the repository root (one command for the figures in docs/benchmarks.md):

    python benchmarks/run_all.py                       # every benchmarks/*.py, in name order
    python benchmarks/run_all.py --only decode,store   # a subset, by script name
    python benchmarks/run_all.py --list                # which scripts would run

Each script runs in its own process with this interpreter (``sys.executable``) and the repository root as its
working directory, so the scripts find ``../shared/data`` the way they do when run alone. Scripts run one at a
time (the figures are ratios against a reference measured in the same process; running them in parallel would
only add noise). The machine (cores, CPU model, memory, Python and the versions of numpy, polars, TA-Lib,
kiteconnect, duckdb) is printed first. Exit status: 0 when every script exited 0, else 1 (a summary line names the
failures); a script that runs past ``--timeout`` seconds is stopped and counted as failed.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PACKAGES = ("numpy", "polars", "TA-Lib", "kiteconnect", "duckdb", "pandas")


def scripts() -> list[Path]:
    """Every benchmark script (benchmarks/*.py except this runner and private modules), sorted by name."""
    me = Path(__file__).resolve()
    return sorted(p for p in HERE.glob("*.py") if p.resolve() != me and not p.name.startswith("_"))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return "unknown"


def machine() -> list[str]:
    """Lines describing the machine and the installed versions of the packages the benchmarks compare."""
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    return [
        f"cores: {os.cpu_count()}  cpu: {_cpu_model()}  memory: {_memory_gib()}  ({platform.machine()}, "
        f"{platform.system()} {platform.release()})",
        f"python: {platform.python_version()} ({sys.executable})",
        "packages: " + ", ".join(versions),
        "load average (1/5/15 min): " + " ".join(f"{x:.2f}" for x in os.getloadavg()),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", metavar="NAMES", help="comma-separated script names (without .py) to run")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="stop a script after this many seconds (default: no limit)")
    parser.add_argument("--list", action="store_true", help="print the scripts that would run, then exit")
    args = parser.parse_args(argv)

    selected = scripts()
    if args.only:
        wanted = {name.strip().removesuffix(".py") for name in args.only.split(",") if name.strip()}
        unknown = wanted - {p.stem for p in selected}
        if unknown:
            parser.error(f"no such benchmark: {', '.join(sorted(unknown))} "
                         f"(have: {', '.join(p.stem for p in selected)})")
        selected = [p for p in selected if p.stem in wanted]
    if args.list:
        for path in selected:
            print(path.relative_to(ROOT))
        return 0

    print("# machine")
    for line in machine():
        print(line)
    failed: list[str] = []
    for path in selected:
        print(f"\n# {path.relative_to(ROOT)}", flush=True)
        started = time.monotonic()
        try:
            code = subprocess.run([sys.executable, str(path)], cwd=ROOT, timeout=args.timeout).returncode
        except subprocess.TimeoutExpired:
            code = None
        elapsed = time.monotonic() - started
        if code == 0:
            print(f"# {path.stem}: ok in {elapsed:.1f} s", flush=True)
        else:
            why = f"timed out after {args.timeout:g} s" if code is None else f"exit {code}"
            print(f"# {path.stem}: FAILED ({why}) after {elapsed:.1f} s", flush=True)
            failed.append(path.stem)
    print(f"\n# {len(selected) - len(failed)}/{len(selected)} benchmarks ok"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
