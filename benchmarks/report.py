"""Run every benchmark in one go and write the figures into docs/benchmarks.md.

Each benchmark script takes ``--json PATH`` and writes its figures there: a list of rows
``{"benchmark", "run", "value", "unit", "floor", "ratio", "target"}`` where ``floor`` is the
baseline measured in the same run. This script runs them all (``make bench``) and replaces
the generated section at the top of docs/benchmarks.md with the machine, the date and a table
of every figure and ratio; the hand-written method notes below it stay.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DOC = HERE.parent / "docs" / "benchmarks.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def emit(path: str | None, rows: list[dict[str, Any]]) -> None:
    """Write a benchmark's rows for the report (no-op without ``--json``)."""
    if path:
        Path(path).write_text(json.dumps(rows, indent=1))


def row(
    benchmark: str,
    run: str,
    value: float,
    unit: str,
    floor: float | None = None,
    target: str = "",
) -> dict[str, Any]:
    """One figure, with its ratio to ``floor`` when there is one."""
    ratio = None if not floor else value / floor
    return {
        "benchmark": benchmark,
        "run": run,
        "value": value,
        "unit": unit,
        "floor": floor,
        "ratio": ratio,
        "target": target,
    }


def machine() -> str:
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kb = int(meminfo.read_text().split()[1])
        memory = f", {kb / 1024 / 1024:.1f} GB RAM"
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({model}){memory}, "
        f"Python {platform.python_version()}"
    )


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| benchmark | run | figure | floor (same run) | ratio | target |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['benchmark']} | {r['run']} | {_fmt(r['value'])} {r['unit']} | "
            f"{_fmt(r['floor'])} | {_fmt(r['ratio'])} | {r['target']} |"
        )
    return "\n".join(lines)


def write_doc(rows: list[dict[str, Any]], commands: list[str]) -> None:
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = "\n".join(
        [
            START,
            "## Latest run (written by `make bench`)",
            "",
            f"- Date: {today}",
            f"- Machine: {machine()}",
            "- Commands: " + "; ".join(f"`{c}`" for c in commands),
            "",
            table(rows),
            END,
        ]
    )
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if START in text and END in text:
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1]
        text = before + section + after
    else:
        head, _, body = text.partition("\n")
        text = f"{head}\n\n{section}\n{body}"
    DOC.write_text(text)


BENCHMARKS = {
    "identify": ["identify.py", "--duration", "10", "--rounds", "3"],
    "batch": ["batch.py", "--batches", "20"],
    "pipelines": ["pipelines.py", "--batches", "100"],
    "segments": ["segments.py"],
    "sync": ["sync.py"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    commands = []
    for name in args.only or list(BENCHMARKS):
        command = BENCHMARKS[name]
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            print(f"== {' '.join(command)}", flush=True)
            subprocess.run(
                [sys.executable, str(HERE / command[0]), *command[1:], "--json", out.name],
                cwd=HERE,
                check=True,
            )
            rows.extend(json.loads(Path(out.name).read_text()))
        commands.append("python benchmarks/" + " ".join(command))
    write_doc(rows, commands)
    print(f"\nwrote {DOC.relative_to(HERE.parent)}")
    print(table(rows))


if __name__ == "__main__":
    main()
