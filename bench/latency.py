"""Answer latency (warm and cold) and the serving process's memory, on the seed collection.

    .venv/bin/python bench/latency.py [--runs 5]

- warm: rag.answer over every labeled question, in-process, after one warm-up call;
  p50 and p95 per run, median over runs (no answer or vector caching exists, so
  repeated runs do the full work);
- cold: wall time of a fresh `rag ask "..."` process vs `python -c "import
  sentence_transformers"` (the target is <= 1.5x), median over runs;
- serve: peak RSS (VmHWM) of `rag serve` after answering a question.
Uses a temporary copy of the seed index, built first if needed.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent

import rag  # noqa: E402
from rag.evaluate import load_questions  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def warm(settings: rag.Settings, runs: int) -> tuple[float, float]:
    questions = load_questions(ROOT / "tests/data/questions.jsonl")
    rag.answer("warm-up question about diffusion models", settings=settings)
    p50s, p95s = [], []
    for _ in range(runs):
        times = []
        for q in questions:
            start = time.perf_counter()
            rag.answer(q.question, history=list(q.history), settings=settings)
            times.append((time.perf_counter() - start) * 1000)
        p50s.append(percentile(times, 0.5))
        p95s.append(percentile(times, 0.95))
    return statistics.median(p50s), statistics.median(p95s)


def wall(cmd: list[str], env: dict, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def serve_rss(env: dict) -> float:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(BIN / "rag"), "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        from gradio_client import Client

        for _ in range(240):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        Client(f"http://127.0.0.1:{port}/", verbose=False).predict(
            "What does DiffuseVAE do?", api_name="/chat"
        )
        status = Path(f"/proc/{proc.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))) / 1024
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="paperchat-latency-")) / "vectorstore"
    settings = rag.Settings.from_env(vectorstore_dir=folder)
    rag.ingest([ROOT / "seeds"], settings=settings, progress=False)
    env = {**os.environ, "RAG_VECTORSTORE_DIR": str(folder)}

    p50, p95 = warm(settings, args.runs)
    ask = wall([str(BIN / "rag"), "ask", "What does DiffuseVAE do?"], env, args.runs)
    imp = wall([sys.executable, "-c", "import sentence_transformers"], env, args.runs)
    rss = serve_rss(env)
    result = {
        "warm_answer_p50_ms": round(p50, 1),
        "warm_answer_p95_ms": round(p95, 1),
        "cold_ask_s": round(ask, 2),
        "import_sentence_transformers_s": round(imp, 2),
        "cold_ratio": round(ask / imp, 2),
        "serve_peak_rss_mb": round(rss),
        "runs": args.runs,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
