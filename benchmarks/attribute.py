"""Attribute py-spy samples of a run to where the time goes: generation, HTTP, checks, pytest, emulator.

Usage: py-spy record -r 250 -i -t --full-filenames -f raw -o run.raw -- python -c '...run...'
       python benchmarks/attribute.py run.raw
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

# (category, substrings of a frame): the first rule any frame of the stack matches wins (order matters)
MAIN_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("imports and start-up", ("_find_and_load",)),
    ("emulator start/stop", ("conformance/emulator/server.py",)),
    ("HTTP: waiting for the answer", ("@wait",)),  # synthetic marker, see _main_category
    ("HTTP: client (requests/urllib3/http.client)", ("/requests/", "/urllib3/", "/http/client.py",
                                                     "conformance/targets/", "conformance/targets/auth.py")),
    ("checks", ("conformance/checks/", "conformance/checks/sdk.py")),
    ("oracle", ("conformance/oracle.py",)),
    ("spec-driven layer (Schemathesis generation and checks)", ("/schemathesis/", "conformance/run/spec_driven.py")),
    ("generation (strategy draws)", ("conformance/strategies.py", "hypothesis/strategies/")),
    ("Hypothesis engine (bookkeeping, mutation, shrinking)", ("/hypothesis/",)),
    ("failure description and reports", ("conformance/reporting/failures.py", "conformance/report", "pytest_html",
                                         "conformance/reporting/results.py", "conformance/reporting/har.py")),
    ("pytest and pluggy", ("/_pytest/", "/pluggy/")),
)
WAIT_LEAVES = ("readinto (/", "recv_into", "_safe_read", "readline (", "select (")


def _frames(stack: str) -> list[str]:
    return stack.split(";")[1:]  # first element is the thread label


def _main_category(frames: list[str]) -> str:
    leaf = frames[-1] if frames else ""
    waiting = any(w in leaf for w in WAIT_LEAVES) or leaf.startswith(("readinto", "_readinto"))
    for category, needles in MAIN_RULES:
        if category.startswith("HTTP: waiting"):
            if waiting and any(n in f for f in frames for n in ("/http/client.py", "/urllib3/")):
                return category
            continue
        if any(n in f for f in frames for n in needles):
            return category
    return "other"


def _emulator_category(frames: list[str]) -> str:
    leaf = frames[-1] if frames else ""
    if "select (" in leaf or "poll (" in leaf or ("_run_once" in leaf and "select" in leaf):
        return "idle (waiting for a request)"
    if any("conformance/emulator/" in f for f in frames):
        return "emulator app (state, checks, reply)"
    if any(n in f for f in frames for n in ("/uvicorn/", "/httptools/")):
        return "uvicorn/httptools (HTTP parsing and writing)"
    return "asyncio loop and sockets"


def attribute(raw: Path) -> dict[str, dict[str, float]]:
    """Seconds per category for the main thread and the emulator thread (sample counts / rate)."""
    threads: dict[str, Counter[str]] = {}
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        label = stack.split(";", 1)[0].split(":", 1)[0]  # "thread (id)": its name appears only once it is set
        threads.setdefault(label, Counter())[stack] += int(count)
    # the main thread has the most samples; the emulator thread is the one running uvicorn
    main_label = max(threads, key=lambda t: sum(threads[t].values()))
    out: dict[str, dict[str, float]] = {"main": {}, "emulator": {}}
    for label, stacks in threads.items():
        for stack, n in stacks.items():
            frames = _frames(stack)
            if label == main_label:
                cat, side = _main_category(frames), "main"
            elif any("/uvicorn/" in f or "conformance/emulator/" in f for f in frames):
                cat, side = _emulator_category(frames), "emulator"
            else:
                continue
            out[side][cat] = out[side].get(cat, 0) + n
    return out


def main(argv: list[str] | None = None) -> int:
    """Print each thread's samples per category, as a share of its total."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path)
    parser.add_argument("--rate", type=float, default=250.0, help="py-spy sampling rate (-r)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    shares = attribute(args.raw)
    if args.json:
        print(json.dumps(shares, indent=2))
        return 0
    for side, cats in shares.items():
        total = sum(cats.values()) or 1
        print(f"{side} thread: {total / args.rate:.1f} s sampled")
        for cat, n in sorted(cats.items(), key=lambda kv: -kv[1]):
            print(f"  {cat:<58} {n / args.rate:6.2f} s  {100 * n / total:5.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
