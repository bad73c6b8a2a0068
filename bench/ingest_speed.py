"""Ingest throughput against raw encoding, re-ingest cost, and ingest memory, on the seeds.

    .venv/bin/python bench/ingest_speed.py [--runs 3]

- raw: SentenceTransformer.encode of exactly the texts ingest embeds (batch 32,
  normalized), the model already loaded;
- ingest: rag.ingest of the seeds into an empty folder, the model already loaded
  (chunking, Chroma writes, BM25, verification and publishing included);
- re-ingest: rag.ingest of the unchanged seeds into that index;
- peak RSS of a fresh `rag ingest seeds/` process.
Each figure is the median over --runs.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import rag  # noqa: E402
from rag.chunking import chunk_paper  # noqa: E402
from rag.corpus import read_papers  # noqa: E402
from rag.embeddings import get_embedder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    settings = rag.Settings.from_env()
    texts = [c.embed_text for p in read_papers([ROOT / "seeds"]) for c in chunk_paper(p)]
    embedder = get_embedder(settings)
    model = embedder._sentence_transformer()
    model.encode(texts[:64], batch_size=32)  # warm the kernels

    raw, first, again = [], [], []
    for _ in range(args.runs):
        start = time.perf_counter()
        model.encode(texts, batch_size=settings.embed_batch_size, normalize_embeddings=True)
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
    subprocess.run([str(Path(sys.executable).parent / "rag"), "ingest", str(ROOT / "seeds")],
                   env=env, check=True, capture_output=True)  # fmt: skip
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    raw_s, ingest_s, again_s = (statistics.median(x) for x in (raw, first, again))
    print(json.dumps({
        "texts": len(texts),
        "raw_encode_s": round(raw_s, 2),
        "ingest_s": round(ingest_s, 2),
        "ingest_overhead": f"{ingest_s / raw_s - 1:.1%}",
        "chunks_per_s": round(len(texts) / ingest_s, 1),
        "reingest_unchanged_s": round(again_s, 3),
        "reingest_share_of_first": f"{again_s / ingest_s:.2%}",
        "ingest_peak_rss_mb": round(peak_mb),
        "runs": args.runs,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
