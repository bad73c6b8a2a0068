"""PaperChat against the usual pipelines on the same labeled questions, in one run.

    .venv/bin/python bench/baselines.py [--questions tests/data/questions.jsonl] [--inputs seeds]

Systems:
- BM25 over title + abstract (bm25s, English stopwords, Snowball stems);
- dense over title + abstract (the same all-MiniLM-L6-v2, one vector per paper);
- the LangChain tutorial pipeline: RecursiveCharacterTextSplitter(1000, 200), the same
  embedding model, Chroma, similarity_search top-k chunks, papers in order of first
  appearance;
- PaperChat (rag.evaluate), which also answers and may abstain.

Prints a Markdown table (paper-level metrics, answerable questions) for the README.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import rag  # noqa: E402
from rag.corpus import Paper, read_papers  # noqa: E402
from rag.evaluate import load_questions, mean_by_type, rank_metrics, relevant_ids  # noqa: E402

CACHE = ROOT / "bench" / "out" / "cache"


def encode_cached(embedder, texts: list[str], tag: str) -> np.ndarray:
    """Encode texts once per content; scale runs reuse the vectors."""
    key = hashlib.sha1(("\x00".join(texts) + embedder.name).encode()).hexdigest()[:16]
    path = CACHE / f"{tag}-{key}.npy"
    if path.exists():
        return np.load(path)
    vectors = embedder.encode(texts)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


class BM25Baseline:
    name = "BM25 (title + abstract)"

    def __init__(self, papers: list[Paper], embedder) -> None:
        import bm25s
        import Stemmer

        self.ids = [p.paper_id for p in papers]
        self.stemmer = Stemmer.Stemmer("english")
        tokens = bm25s.tokenize([f"{p.title} {p.abstract}" for p in papers], stopwords="en",
                                stemmer=self.stemmer, show_progress=False)  # fmt: skip
        self.bm25 = bm25s.BM25()
        self.bm25.index(tokens, show_progress=False)

    def rank(self, question: str, k: int = 10) -> list[str]:
        import bm25s

        tokens = bm25s.tokenize([question], stopwords="en", stemmer=self.stemmer, show_progress=False)
        docs, _ = self.bm25.retrieve(tokens, k=min(k, len(self.ids)), show_progress=False)
        return [self.ids[i] for i in docs[0]]


class DenseBaseline:
    name = "Dense (title + abstract, MiniLM)"

    def __init__(self, papers: list[Paper], embedder) -> None:
        self.ids = [p.paper_id for p in papers]
        self.embedder = embedder
        self.vectors = encode_cached(embedder, [f"{p.title}. {p.abstract}" for p in papers], "dense")

    def rank(self, question: str, k: int = 10) -> list[str]:
        scores = self.vectors @ self.embedder.query_vector(question)
        return [self.ids[i] for i in np.argsort(-scores)[:k]]


class LangChainTutorial:
    name = "LangChain tutorial (1000/200 splitter, Chroma top-k)"

    def __init__(self, papers: list[Paper], embedder) -> None:
        import chromadb
        from langchain_chroma import Chroma
        from langchain_core.documents import Document
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        docs = [Document(f"{p.title}\n\n{p.abstract}", metadata={"paper_id": p.paper_id}) for p in papers]
        splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
        self.folder = tempfile.mkdtemp(prefix="lc-tutorial-")
        client = chromadb.PersistentClient(path=self.folder)
        self.store = Chroma(collection_name="tutorial", embedding_function=embedder, client=client)
        vectors = encode_cached(embedder, [d.page_content for d in splits], "langchain")
        limit = client.get_max_batch_size()
        for start in range(0, len(splits), limit):
            batch = splits[start : start + limit]
            self.store._collection.add(  # precomputed vectors: the same ones add_documents would make
                ids=[str(start + i) for i in range(len(batch))],
                embeddings=vectors[start : start + len(batch)].tolist(),
                documents=[d.page_content for d in batch],
                metadatas=[d.metadata for d in batch],
            )
        self.chunks = len(splits)

    def rank(self, question: str, k: int = 10) -> list[str]:
        docs = self.store.similarity_search(question, k=k)
        return list(dict.fromkeys(d.metadata["paper_id"] for d in docs))


def score(questions, qrels, rank_fn) -> dict[str, dict[str, float]]:
    answerable = [q for q in questions if q.answerable]
    rankings = {}
    for q in answerable:
        text = " ".join([*q.history, q.question])  # baselines have no chat memory: prepend it
        rankings[q.id] = rank_fn(text)
    return mean_by_type(answerable, rank_metrics(qrels, rankings))


def row(name: str, by_type: dict, abstain: float | None, false_rate: float | None) -> str:
    a = by_type["all"]
    cells = [a["MRR@10"], a["nDCG@10"], a["R@1"], a["R@5"], a["R@10"],
             by_type["paraphrase"]["R@5"], by_type["multi"]["R@5"]]  # fmt: skip
    tail = "n/a (never abstains)" if abstain is None else f"{abstain:.2f} ({false_rate:.1%} false)"
    return f"| {name} | " + " | ".join(f"{c:.3f}" for c in cells) + f" | {tail} |"


HEADER = (
    "| system | MRR@10 | nDCG@10 | R@1 | R@5 | R@10 | paraphrase R@5 | multi R@5 | abstains on unanswerable |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def run(inputs: list[Path], questions_path: Path, store: Path | None = None) -> list[str]:
    questions = load_questions(questions_path)
    papers = list(read_papers(inputs))
    qrels = relevant_ids(questions, papers)
    folder = store or Path(tempfile.mkdtemp(prefix="paperchat-bench-")) / "vectorstore"
    settings = rag.Settings.from_env(vectorstore_dir=folder)
    started = time.perf_counter()
    rag.ingest(inputs, settings=settings, progress=True)
    print(f"PaperChat index ready in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    embedder = rag.embeddings.get_embedder(settings)
    rows = []
    for cls in (BM25Baseline, DenseBaseline, LangChainTutorial):
        system = cls(papers, embedder)
        rows.append(row(system.name, score(questions, qrels, system.rank), None, None))
    report = rag.evaluate(questions, settings=settings)
    a = report.abstention
    rows.append(row("**PaperChat** (hybrid + support model)", report.retrieval, a["recall"], a["false_rate"]))
    return [HEADER, *rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=Path, default=ROOT / "tests/data/questions.jsonl")
    parser.add_argument("--inputs", type=Path, nargs="+", default=[ROOT / "seeds"])
    args = parser.parse_args()
    print("\n".join(run(args.inputs, args.questions)))


if __name__ == "__main__":
    main()
