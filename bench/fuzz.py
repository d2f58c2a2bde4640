"""Fuzz the log readers and the SSE reasoning transformers: ``--cases`` cases (a million by default).

The targets are those of ``tests/fuzzing/engine.py`` (which CI runs briefly under hypothesis). Case ``i``
of a run with ``--seed s`` is drawn from ``random.Random(f"{s}:{i}")``, so any finding replays alone
with ``--replay TARGET:i``. Prints cases and findings per target; exits 1 if anything was found.

    nice -n 19 .venv/bin/python bench/fuzz.py --cases 1000000
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "gateway")]

from fuzzing.engine import TARGETS  # noqa: E402


def _case(seed: int, name: str, i: int, tmp: Path) -> tuple[str, str] | None:
    """Run case ``i`` of ``name``; the finding's traceback and where it arose (file:line error), or None."""
    try:
        TARGETS[name][0](random.Random(f"{seed}:{name}:{i}"), tmp)
    except Exception as e:
        cause = e.__cause__ or e
        frames = [f for f in traceback.extract_tb(cause.__traceback__) if "/src/distillguard/" in f.filename]
        at = f"{frames[-1].filename.split('/src/')[-1]}:{frames[-1].lineno}" if frames else name
        return traceback.format_exc(limit=6), f"{at} {type(cause).__name__}: {str(cause)[:60]}"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000, help="cases in all, shared by the targets' weights")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=sorted(TARGETS), nargs="+", help="these targets only (their shares of --cases)")
    parser.add_argument("--replay", metavar="TARGET:I", help="run one case and print its finding")
    parser.add_argument("--progress", type=int, default=10_000, metavar="N", help="a progress line every N cases")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dg-fuzz-") as tmp_dir:
        tmp = Path(tmp_dir)
        if args.replay:
            name, i = args.replay.split(":")
            finding = _case(args.seed, name, int(i), tmp)
            print(finding[0] if finding else "no finding")
            return 1 if finding else 0
        names = sorted(args.only or TARGETS)
        total_weight = sum(TARGETS[n][1] for n in names)
        plan = {n: max(1, round(args.cases * TARGETS[n][1] / total_weight)) for n in names}
        print(f"{'target':<12} {'cases':>10} {'findings':>9} {'cases/s':>9}", flush=True)
        found = 0
        where: collections.Counter[str] = collections.Counter()
        first: dict[str, str] = {}
        for name in names:
            start, hits = time.perf_counter(), 0
            for i in range(plan[name]):
                if i and i % args.progress == 0:
                    print(f"  {name}: {i:,} cases, {hits:,} findings, {time.perf_counter() - start:,.0f} s", flush=True)
                finding = _case(args.seed, name, i, tmp)
                if finding is not None:
                    hits += 1
                    where[finding[1]] += 1
                    if finding[1] not in first:
                        first[finding[1]] = f"{name}:{i}"
                        print(f"--- finding {name}:{i}\n{finding[0]}", file=sys.stderr, flush=True)
            seconds = time.perf_counter() - start
            found += hits
            print(f"{name:<12} {plan[name]:>10,} {hits:>9,} {plan[name] / seconds:>9,.0f}", flush=True)
        print(f"{'all':<12} {sum(plan.values()):>10,} {found:>9,}", flush=True)
        for at, n in where.most_common():
            print(f"{n:>9,}  {at}  (replay: --replay {first[at]})")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
