"""Index build time: PaperChat's ``rag ingest`` against the LangChain tutorial pipeline, same papers, one run.

    .venv/bin/python bench/build_speed.py [--sizes 1k 5.8k]

- 1k: the first 1,000 ICLR 2021 abstracts (../shared/data);
- 5.8k: the seed papers + ICLR 2021 + NeurIPS 2022 (the collection of bench/scale.py).

PaperChat: ``rag.ingest`` into a fresh folder (sentence chunks with the title,
the ONNX encoder, Chroma, BM25 and the commit). LangChain tutorial: the same
papers as ``Document(title + abstract)``, ``RecursiveCharacterTextSplitter(1000, 200)``,
all-MiniLM-L6-v2 through sentence-transformers (the usual ``HuggingFaceEmbeddings``
path, batch 32 on torch) and ``Chroma.add_documents``. Both load the model
before the clock starts. PaperChat's indexes are left in bench/out/build-*/.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import rag  # noqa: E402
from rag.corpus import read_papers  # noqa: E402
from rag.embeddings import get_embedder, model_path  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench" / "out"


def inputs(size: str) -> list[Path]:
    if size == "1k":
        path = OUT / "data" / "iclr2021_first1000.jsonl"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with (DATA / "openreview_iclr2021.jsonl").open() as src:
                path.write_text("".join(islice(src, 1000)))
        return [path]
    if size == "5.8k":
        return [ROOT / "seeds", DATA / "openreview_iclr2021.jsonl", DATA / "openreview_neurips2022.jsonl"]
    raise SystemExit(f"unknown size {size!r}; use 1k or 5.8k")


class TutorialEmbeddings:
    """What the LangChain tutorial uses: sentence-transformers ``encode`` on torch."""

    def __init__(self) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(model_path(rag.Settings().embed_model)), device="cpu")

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.model.encode(texts, batch_size=32, normalize_embeddings=True).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def langchain_build(size: str, embeddings: TutorialEmbeddings) -> tuple[float, int]:
    import chromadb
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    started = time.perf_counter()
    docs = [
        Document(f"{p.title}\n\n{p.abstract}", metadata={"paper_id": p.paper_id})
        for p in read_papers(inputs(size))
    ]
    splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
    folder = tempfile.mkdtemp(prefix="lc-tutorial-")
    client = chromadb.PersistentClient(path=folder)
    store = Chroma(collection_name="tutorial", embedding_function=embeddings, client=client)
    limit = client.get_max_batch_size()
    for start in range(0, len(splits), limit):
        store.add_documents(splits[start : start + limit])
    seconds = time.perf_counter() - started
    client.close()
    shutil.rmtree(folder, ignore_errors=True)
    return seconds, len(splits)


def paperchat_build(size: str) -> tuple[float, int, int]:
    folder = OUT / f"build-{size}"  # always built afresh here, so both pipelines are timed in one run
    timing = folder / "build.json"
    shutil.rmtree(folder, ignore_errors=True)
    settings = rag.Settings.from_env(vectorstore_dir=folder / "vectorstore")
    get_embedder(settings).load()
    started = time.perf_counter()
    report = rag.ingest(inputs(size), settings=settings, progress=True)
    seconds = time.perf_counter() - started
    folder.mkdir(parents=True, exist_ok=True)
    data = {"seconds": seconds, "chunks": report.chunks_embedded, "papers": report.papers}
    timing.write_text(json.dumps(data))
    return seconds, report.chunks_embedded, report.papers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["1k", "5.8k"])
    args = parser.parse_args()
    rows = ["| papers | pipeline | chunks | build | chunks/s |", "|---|---|---|---|---|"]
    embeddings = TutorialEmbeddings()
    for size in args.sizes:
        seconds, chunks, papers = paperchat_build(size)
        rows.append(
            f"| {papers:,} | PaperChat `rag ingest` | {chunks:,} | {seconds:.0f} s | {chunks / seconds:.0f} |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
        seconds, chunks = langchain_build(size, embeddings)
        rows.append(
            f"| {papers:,} | LangChain tutorial | {chunks:,} | {seconds:.0f} s | {chunks / seconds:.0f} |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
