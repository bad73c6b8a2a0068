"""How PaperChat grows: 44, 5,800 and 20,000 papers, embedded and on a Chroma server.

    .venv/bin/python bench/scale.py [--sizes seed 5.8k 20k] [--modes embedded server]

Collections (inputs deduplicated by normalized title; seed papers keep their ids):
- seed: the 44 seed papers;
- 5.8k: seed + ICLR 2021 + NeurIPS 2022 (OpenReview, ../shared/data);
- 20k: 5.8k + the first arXiv daily ML papers (2025-26) up to 20,000 papers.

Per size and mode: build time (20k: the 5.8k build plus one ingest that adds the
rest, which is what a growing collection does), a 20-paper update in a warm
process and the first answer after it in a process that held the index before,
the same as a `rag ingest` command, removing those 20 again, warm answer p50/p95
(over the held-out questions), a cold `rag ask`, the RSS of a serving
process after 40 questions (and its peak, the load), the index's size on disk and
held-out retrieval quality (MRR@10, R@5; from 50k chunks also with the exact scan).
Server mode serves a copy of the embedded index with `chroma run`. Indexes are
kept in bench/out/scale-*/ and reused (delete a folder to rebuild and re-time).
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import rag  # noqa: E402
from rag.embeddings import get_embedder  # noqa: E402
from rag.evaluate import load_questions  # noqa: E402
from rag.index import forget, open_index  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench" / "out"
BIN = Path(sys.executable).parent
DAILY = DATA / "arxiv_daily_ml_2025_2026.jsonl.gz"
QUESTIONS = ROOT / "tests" / "data" / "questions.jsonl"
OPENREVIEW = [DATA / "openreview_iclr2021.jsonl", DATA / "openreview_neurips2022.jsonl"]
UPDATE_AT = 60000  # the update papers come from far beyond any collection's daily slice


def daily_slice(start: int, count: int, name: str) -> Path:
    """Lines ``start .. start+count`` of the arXiv daily file as a JSONL file (made once)."""
    path = OUT / "data" / f"{name}.jsonl"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(DAILY, "rt", encoding="utf-8") as src:
            lines = [line for i, line in enumerate(src) if start <= i < start + count]
        path.write_text("".join(lines))
    return path


def inputs_for(size: str) -> list[Path]:
    if size == "seed":
        return [ROOT / "seeds"]
    if size == "5.8k":
        return [ROOT / "seeds", *OPENREVIEW]
    if size == "20k":
        return [*inputs_for("5.8k"), daily_slice(0, 14250, "daily-first-14250")]
    raise SystemExit(f"unknown size {size!r}; use seed, 5.8k or 20k")


def build(size: str) -> tuple[Path, float, str]:
    """Build (or reuse) the embedded index of one size; return its folder, seconds and how."""
    folder = OUT / f"scale-{size}"
    timing = folder / "build.json"
    store = folder / "vectorstore"
    if not timing.exists():
        shutil.rmtree(store, ignore_errors=True)
        how = "fresh"
        base_seconds = 0.0
        if size == "20k":
            base_folder, base_seconds, _ = build("5.8k")
            shutil.copytree(base_folder, store)
            how = "5.8k build + one ingest of the rest"
        settings = rag.Settings.from_env(vectorstore_dir=store)
        get_embedder(settings).load()
        started = time.perf_counter()
        report = rag.ingest(inputs_for(size), settings=settings, progress=True)
        seconds = time.perf_counter() - started + base_seconds
        folder.mkdir(parents=True, exist_ok=True)
        timing.write_text(
            json.dumps(
                {"seconds": seconds, "chunks": report.chunks_embedded, "papers": report.papers, "how": how}
            )
        )
    data = json.loads(timing.read_text())
    return store, data["seconds"], data.get("how", "fresh")


def du(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                str(BIN / "chroma"),
                "run",
                "--path",
                str(folder),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit(f"chroma run did not start on {self.url}")

    def rss_mb(self) -> float:
        return _status(self.process.pid, "VmRSS") / 1024

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def _status(pid: int | str, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


SERVE = """
import sys, time, rag
from pathlib import Path
from rag.evaluate import load_questions
qs = load_questions(sys.argv[1])[:40]
for q in qs:
    rag.answer(q.question)
status = Path('/proc/self/status').read_text().splitlines()
print(*(int(l.split()[1]) for l in status if l.startswith(('VmHWM:', 'VmRSS:'))))
"""


def measure(size: str, mode: str, settings: rag.Settings, env: dict[str, str]) -> dict[str, object]:
    """Everything but the build, for one index (embedded folder or server)."""
    row: dict[str, object] = {}
    questions = load_questions(QUESTIONS)
    forget(settings)
    started = time.perf_counter()
    index = open_index(settings)
    row["load_s"] = time.perf_counter() - started
    row["papers"] = len(index.position)
    row["chunks"] = index.size
    report = rag.evaluate(questions, settings=settings)
    row["mrr"] = report.retrieval["all"]["MRR@10"]
    row["r5"] = report.retrieval["all"]["R@5"]
    times = []
    for q in questions:
        t = time.perf_counter()
        rag.answer(q.question, history=list(q.history), settings=settings)
        times.append((time.perf_counter() - t) * 1000)
    row["p50_ms"], row["p95_ms"] = percentile(times, 0.5), percentile(times, 0.95)

    # A 20-paper update in this warm process, then the first answer after it.
    update_a = daily_slice(UPDATE_AT, 20, "update-a")
    update_b = daily_slice(UPDATE_AT + 20, 20, "update-b")
    ids = [p.paper_id for p in rag.corpus.read_papers([update_a, update_b])]
    rag.remove(ids, settings=settings)  # left over from an interrupted run
    get_embedder(settings).load()
    t = time.perf_counter()
    report = rag.ingest([update_a], settings=settings, progress=False)
    row["update_s"] = time.perf_counter() - t
    assert report.added == 20, report
    new_title = next(iter(rag.corpus.read_papers([update_a]))).title
    t = time.perf_counter()
    answer = rag.answer(new_title, settings=settings)
    row["first_answer_s"] = time.perf_counter() - t
    row["first_answer_cites_new"] = any(c.title == new_title for c in answer.citations)

    # The same as a command, cold: `rag ingest` of 20 other papers.
    t = time.perf_counter()
    subprocess.run([str(BIN / "rag"), "ingest", str(update_b)], env=env, check=True, capture_output=True)
    row["cli_update_s"] = time.perf_counter() - t

    # Removing the 40 again (one commit), so a rerun measures the same thing.
    t = time.perf_counter()
    rag.remove(ids, settings=settings)
    row["remove_s"] = time.perf_counter() - t
    rag.ingest([update_a], settings=settings, progress=False)  # a commit later the tombstones go
    rag.remove(ids, settings=settings)

    t = time.perf_counter()
    subprocess.run(
        [str(BIN / "rag"), "ask", "What does DiffuseVAE do?"], env=env, check=True, capture_output=True
    )
    row["cold_ask_s"] = time.perf_counter() - t
    out = subprocess.run(
        [sys.executable, "-c", SERVE, str(QUESTIONS)], env=env, check=True, capture_output=True, text=True
    )
    peak, steady = (int(v) / 1024 for v in out.stdout.split())
    row["serve_rss_mb"], row["serve_peak_mb"] = steady, peak

    if index._basis is not None:  # large: the same questions with the exact scan, for comparison
        import rag.index as index_module

        saved, index_module.EXACT_ROWS = index_module.EXACT_ROWS, 10**12
        forget(settings)
        exact = rag.evaluate(questions, settings=settings)
        row["mrr_exact"] = exact.retrieval["all"]["MRR@10"]
        index_module.EXACT_ROWS = saved
    forget(settings)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["seed", "5.8k", "20k"])
    parser.add_argument("--modes", nargs="+", default=["embedded", "server"])
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        store, build_s, how = build(size)
        for mode in args.modes:
            env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_CHROMA")}
            server = None
            if mode == "server":
                copy = OUT / f"scale-{size}" / "server-copy"
                shutil.rmtree(copy, ignore_errors=True)
                shutil.copytree(store / "chroma", copy)
                server = Server(copy)
                settings = rag.Settings.from_env(chroma_url=server.url)
                env["RAG_CHROMA_URL"] = server.url
                disk = du(copy)
            else:
                settings = rag.Settings.from_env(vectorstore_dir=store)
                env["RAG_VECTORSTORE_DIR"] = str(store)
                disk = du(store)
            try:
                row = measure(size, mode, settings, env)
                if server:
                    row["server_rss_mb"] = server.rss_mb()
            finally:
                if server:
                    server.stop()
            row.update(size=size, mode=mode, build_s=build_s, how=how, disk_mb=disk / 2**20)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    # Keep the rows of sizes and modes measured in earlier runs.
    saved = OUT / "scale.json"
    done = {(r["size"], r["mode"]) for r in rows}
    earlier = json.loads(saved.read_text()) if saved.exists() else []
    order = {size: i for i, size in enumerate(["seed", "5.8k", "20k"])}
    rows = sorted(
        [r for r in earlier if (r["size"], r["mode"]) not in done] + rows,
        key=lambda r: (order.get(r["size"], 9), r["mode"]),
    )
    saved.write_text(json.dumps(rows, indent=1))
    print(
        "| papers | chunks | mode | build | 20-paper update (warm) | first answer after | `rag ingest` 20 "
        "| remove 40 | warm p50 / p95 | cold `rag ask` | serving RSS (peak) | disk | MRR@10 | R@5 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        server_rss = f" + server {r['server_rss_mb']:.0f} MB" if "server_rss_mb" in r else ""
        exact = f" (exact scan {r['mrr_exact']:.3f})" if "mrr_exact" in r else ""
        print(
            f"| {r['papers']:,} | {r['chunks']:,} | {r['mode']} | {r['build_s'] / 60:.1f} min "
            f"| {r['update_s']:.2f} s | {r['first_answer_s']:.2f} s | {r['cli_update_s']:.1f} s "
            f"| {r['remove_s']:.2f} s | {r['p50_ms']:.0f} / {r['p95_ms']:.0f} ms | {r['cold_ask_s']:.1f} s "
            f"| {r['serve_rss_mb']:.0f} MB ({r['serve_peak_mb']:.0f}){server_rss} | {r['disk_mb']:.0f} MB "
            f"| {r['mrr']:.3f}{exact} | {r['r5']:.3f} |"
        )


if __name__ == "__main__":
    main()
