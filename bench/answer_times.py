"""Per-question answer time, best of several tries, to compare two versions of the code.

    .venv/bin/python bench/answer_times.py --out /tmp/after.json [--against /tmp/before.json]

bench/latency.py's p50 and p95 move by several milliseconds between runs on a
shared machine; the best of ``--tries`` per question is steadier, and the same
questions timed under two checkouts (run the other one with
``PYTHONPATH=<its checkout>``) can be compared question by question. Uses the
index the settings point at (``RAG_VECTORSTORE_DIR``, default ``vectorstore``)
and every question of tests/data/questions.jsonl.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import rag  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tries", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True, help="where to write {question: ms}")
    parser.add_argument("--against", type=Path, help="an earlier --out to compare with")
    args = parser.parse_args()
    questions = [q.question for q in rag.load_questions(ROOT / "tests/data/questions.jsonl")]
    for question in questions:  # warm-up: model, index and caches loaded
        rag.answer(question)
    times = {}
    for question in questions:
        best = float("inf")
        for _ in range(args.tries):
            start = time.perf_counter()
            rag.answer(question)
            best = min(best, time.perf_counter() - start)
        times[question] = 1000 * best
    args.out.write_text(json.dumps(times))
    ms = sorted(times.values())
    print(
        f"{len(ms)} questions, best of {args.tries}: p50 {ms[len(ms) // 2]:.1f} ms  p95 {ms[int(0.95 * len(ms))]:.1f} ms"
    )
    if args.against:
        before = json.loads(args.against.read_text())
        diffs = [times[q] - before[q] for q in times if q in before]
        print(
            f"against {args.against}: mean difference {statistics.mean(diffs):+.2f} ms over {len(diffs)} questions"
        )


if __name__ == "__main__":
    main()
