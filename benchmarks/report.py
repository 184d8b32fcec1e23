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


def _script(command: str) -> str:
    """The script a command line runs ("python benchmarks/batch.py --batches 20" → "batch.py")."""
    return next((Path(w).name for w in command.split() if w.endswith(".py")), command)


def _earlier(text: str) -> tuple[str, list[str], list[str]]:
    """The date, commands and table lines of the section the last run wrote."""
    if START not in text or END not in text:
        return "", [], []
    section = text.split(START, 1)[1].split(END, 1)[0]
    date, commands, lines = "", [], []
    for line in section.splitlines():
        if line.startswith("- Date: "):
            # After a partial run, the oldest rows' date is the one to keep.
            date = line.removeprefix("- Date: ").split(" (", 1)[0]
            date = line.partition("the oldest ")[2].rstrip(")") or date
        elif line.startswith("- Commands: "):
            commands = [c.strip("` ") for c in line.removeprefix("- Commands: ").split("; ")]
        elif line.startswith("| ") and not line.startswith("| benchmark |"):
            lines.append(line)
    return date, commands, lines


def write_doc(rows: list[dict[str, Any]], commands: list[str], partial: bool = False) -> None:
    """Replace the generated section; with ``partial`` (``--only``), the rows and commands of
    the benchmarks that were not run stay as the last run wrote them."""
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    rows_table = table(rows)
    date = f"- Date: {today}"
    if partial:
        earlier_date, earlier_commands, earlier_lines = _earlier(text)
        names = {r["benchmark"] for r in rows}
        new_lines = rows_table.splitlines()[2:]
        kept: list[str] = []
        for line in earlier_lines:
            if line.split("|")[1].strip() not in names:
                kept.append(line)
            elif new_lines:  # the new rows take the place of the old ones
                kept += new_lines
                new_lines = []
        rows_table = "\n".join(rows_table.splitlines()[:2] + kept + new_lines)
        scripts = [_script(c) for c in commands]
        order = [command[0] for command in BENCHMARKS.values()]
        commands = sorted(
            [c for c in earlier_commands if _script(c) not in scripts] + commands,
            key=lambda c: order.index(_script(c)) if _script(c) in order else len(order),
        )
        if earlier_date and kept:
            date += (
                f" ({', '.join(scripts)}; other rows from earlier runs, the oldest {earlier_date})"
            )
    section = "\n".join(
        [
            START,
            "## Latest run (written by `make bench`)",
            "",
            date,
            f"- Machine: {machine()}",
            "- Commands: " + "; ".join(f"`{c}`" for c in commands),
            "",
            rows_table,
            END,
        ]
    )
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
    "email": ["send_email.py"],
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
    write_doc(rows, commands, partial=bool(args.only))
    print(f"\nwrote {DOC.relative_to(HERE.parent)}")
    print(table(rows))


if __name__ == "__main__":
    main()
