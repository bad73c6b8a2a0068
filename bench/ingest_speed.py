"""Document encoding speed (ONNX vs torch, by batch size), ingest throughput, re-ingest cost and memory.

    .venv/bin/python bench/ingest_speed.py [--runs 3] [--chunks 1000]

- encoders: --chunks real chunks (sentences of ICLR 2021 abstracts from
  ../shared/data, "Title. " first, as ingest embeds them) encoded by
  Embedder.encode on ONNX (length-sorted batches, what ingest uses on a CPU)
  and by SentenceTransformer.encode on torch (normalized), at batch sizes
  8/16/32, each model already loaded, the best of --runs (the two alternate, so
  other work on the machine skews them alike), with the CPU seconds that run
  took; plus the largest difference between their vectors (batches of 32 pad most);
- raw: Embedder.encode of exactly the texts ingest embeds from the seeds, at
  the configured RAG_EMBED_BATCH_SIZE, the encoder already loaded;
- ingest: rag.ingest of the seeds into an empty folder, the encoder already loaded
  (chunking, Chroma writes, BM25, verification and publishing included);
- re-ingest: rag.ingest of the unchanged seeds into that index;
- peak RSS of a fresh `rag ingest seeds/` process, and whether one imports torch.
The other times are medians over --runs. The default RAG_EMBED_BATCH_SIZE (16)
comes from the encoders figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import rag  # noqa: E402
from rag.chunking import chunk_paper  # noqa: E402
from rag.corpus import read_papers  # noqa: E402
from rag.embeddings import Embedder, _usable_cpus, get_embedder  # noqa: E402

CORPUS = ROOT.parent / "shared" / "data" / "openreview_iclr2021.jsonl"
BATCH_SIZES = (8, 16, 32)
# A child's peak RSS counts from its parent's RSS when spawned, so a small
# wrapper process, not this large one, starts the measured `rag ingest`.
PEAK_RSS = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")  # fmt: skip
IMPORTS_TORCH = "import sys, rag; rag.ingest(sys.argv[1:], progress=False); print('torch' in sys.modules)"


def real_chunks(n: int) -> list[str]:
    texts: list[str] = []
    for paper in read_papers([CORPUS]):
        texts += [c.embed_text for c in chunk_paper(paper)]
        if len(texts) >= n:
            return texts[:n]
    return texts


def seconds(fn) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one call (CPU counts every thread of this process)."""
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - start, time.process_time() - cpu


def compare_encoders(settings: rag.Settings, texts: list[str], runs: int) -> dict:
    """Chunks/s of ONNX and of sentence-transformers on torch, per batch size.

    The two alternate within each run and the best run counts, so a machine
    busy with something else skews the comparison as little as it can.
    """
    model = Embedder(settings.replace(query_encoder="torch"))._sentence_transformer()
    model.encode(texts[:64], batch_size=32)  # warm the kernels
    onnx = {size: Embedder(settings.replace(embed_batch_size=size)) for size in BATCH_SIZES}
    for embedder in onnx.values():
        embedder.encode(texts[:64])
    times: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for _ in range(runs):
        for size, embedder in onnx.items():
            times.setdefault(("onnx", size), []).append(seconds(lambda e=embedder: e.encode(texts)))
            times.setdefault(("torch", size), []).append(
                seconds(lambda b=size: model.encode(texts, batch_size=b, normalize_embeddings=True))
            )
    rows = {}
    for size in BATCH_SIZES:
        (onnx_s, onnx_cpu), (torch_s, torch_cpu) = min(times["onnx", size]), min(times["torch", size])
        rows[size] = {"onnx_chunks_per_s": round(len(texts) / onnx_s, 1),
                      "torch_chunks_per_s": round(len(texts) / torch_s, 1),
                      "speedup": round(torch_s / onnx_s, 2),
                      "onnx_cpu_s": round(onnx_cpu, 1), "torch_cpu_s": round(torch_cpu, 1)}  # fmt: skip
    diff = np.abs(onnx[BATCH_SIZES[-1]].encode(texts) - model.encode(texts, normalize_embeddings=True)).max()
    return {"chunks": len(texts), "onnx_threads": _usable_cpus(), "by_batch_size": rows,
            "max_abs_diff_onnx_vs_torch": float(f"{diff:.1e}")}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chunks", type=int, default=1000)
    args = parser.parse_args()
    settings = rag.Settings.from_env()
    encoders = compare_encoders(settings, real_chunks(args.chunks), args.runs)

    texts = [c.embed_text for p in read_papers([ROOT / "seeds"]) for c in chunk_paper(p)]
    embedder = get_embedder(settings)
    embedder.load()  # exports the ONNX encoder if missing, so the subprocesses below find it
    embedder.encode(texts[:64])  # warm the kernels

    raw, first, again = [], [], []
    for _ in range(args.runs):
        start = time.perf_counter()
        embedder.encode(texts)
        raw.append(time.perf_counter() - start)
        folder = Path(tempfile.mkdtemp(prefix="paperchat-ingest-")) / "vectorstore"
        run_settings = settings.replace(vectorstore_dir=folder)
        start = time.perf_counter()
        report = rag.ingest([ROOT / "seeds"], settings=run_settings, progress=False)
        first.append(time.perf_counter() - start)
        assert report.chunks_embedded == len(texts)
        start = time.perf_counter()
        rag.ingest([ROOT / "seeds"], settings=run_settings, progress=False)
        again.append(time.perf_counter() - start)

    folder = Path(tempfile.mkdtemp(prefix="paperchat-rss-")) / "vectorstore"
    env = {**os.environ, "RAG_VECTORSTORE_DIR": str(folder)}
    rss = subprocess.run([sys.executable, "-c", PEAK_RSS, str(Path(sys.executable).parent / "rag"), "ingest",
                          str(ROOT / "seeds")], env=env, check=True, capture_output=True, text=True)  # fmt: skip
    peak_mb = int(rss.stdout) / 1024
    env["RAG_VECTORSTORE_DIR"] = str(folder.parent / "torch-check")
    torch_check = subprocess.run([sys.executable, "-c", IMPORTS_TORCH, str(ROOT / "seeds")],
                                 env=env, check=True, capture_output=True, text=True, cwd=ROOT)  # fmt: skip

    raw_s, ingest_s, again_s = (statistics.median(x) for x in (raw, first, again))
    print(json.dumps({
        "encoders": encoders,
        "texts": len(texts),
        "embed_batch_size": settings.embed_batch_size,
        "device": settings.device,
        "raw_encode_s": round(raw_s, 2),
        "ingest_s": round(ingest_s, 2),
        "ingest_overhead": f"{ingest_s / raw_s - 1:.1%}",
        "chunks_per_s": round(len(texts) / ingest_s, 1),
        "reingest_unchanged_s": round(again_s, 3),
        "reingest_share_of_first": f"{again_s / ingest_s:.2%}",
        "ingest_peak_rss_mb": round(peak_mb),
        "ingest_imports_torch": torch_check.stdout.strip() == "True",
        "runs": args.runs,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
