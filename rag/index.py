"""An opened, read-only view of the live index generation, cached per process.

Opening costs a Chroma client, the BM25 arrays and the paper list; a server
does it once and then only checks (one ``stat``) whether an ingest has
published a newer generation, which it then opens instead.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .chunking import chunk_id
from .config import Settings
from .corpus import Paper, normalize_title
from .embeddings import Embedder, get_embedder
from .errors import IndexIncompatibleError, IndexNotFoundError
from .lexical import LexicalIndex
from .store import COLLECTION, chroma_client, chroma_store, read_manifest, read_papers, require_generation
from .support import SupportModel


@dataclass(frozen=True, slots=True)
class Passage:
    """A chunk of an abstract and its cosine similarity to a question."""

    chunk_id: str
    paper_id: str
    number: int
    text: str
    similarity: float

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return {"chunk_id": self.chunk_id, "text": self.text, "similarity": round(self.similarity, 4)}


class Index:
    """One generation opened for questions."""

    def __init__(self, settings: Settings, gen: Path) -> None:
        """Open generation ``gen``; use ``open_index`` to get the cached one."""
        self.settings = settings
        self.generation = gen
        self.manifest = read_manifest(gen)
        built_with = self.manifest["config"]["embed_model"]
        if built_with != settings.embed_model:
            raise IndexIncompatibleError(
                f"The index in {gen.parent}/ was built with embedding model {built_with!r}, "
                f"not {settings.embed_model!r} — set RAG_EMBED_MODEL={built_with} or run "
                '"rag ingest --rebuild"'
            )
        stored = read_papers(gen)
        self.papers: list[Paper] = [sp.paper for sp in stored]
        self.chunk_texts: dict[str, tuple[str, ...]] = {sp.paper.paper_id: sp.chunks for sp in stored}
        self.position = {p.paper_id: i for i, p in enumerate(self.papers)}
        offsets = np.cumsum([0] + [len(sp.chunks) for sp in stored])
        self._rows = {sp.paper.paper_id: int(offsets[i]) for i, sp in enumerate(stored)}
        # Memory-mapped: a large collection's vectors are paged in only as papers are scored.
        self.vectors = np.load(gen / "vectors.npy", mmap_mode="r")
        self.lexical = LexicalIndex.load(gen / "bm25")
        self.embedder: Embedder = get_embedder(settings)
        self._client = chroma_client(gen / "chroma")
        self.store: Any = chroma_store(self._client, self.embedder)
        self._collection = self._client.get_collection(COLLECTION)
        self.size = len(self.vectors)
        self._support: SupportModel | None = None
        self._centroids: np.ndarray | None = None
        self._by_title: dict[str, str] | None = None

    @property
    def name(self) -> str:
        """A label for the collection: the input folder or file names."""
        sources = sorted({Path(p.source).parent.name or p.source for p in self.papers})
        return ", ".join(sources[:3]) or "papers"

    def paper(self, paper_id: str) -> Paper:
        """Return an indexed paper by id."""
        return self.papers[self.position[paper_id]]

    def paper_id_for_title(self, title: str) -> str | None:
        """The id of the paper with this title (compared normalized), if indexed."""
        if self._by_title is None:
            self._by_title = {normalize_title(p.title): p.paper_id for p in self.papers}
        return self._by_title.get(normalize_title(title))

    def dense(self, vector: np.ndarray, n: int) -> list[tuple[str, int, float]]:
        """Return ``(paper_id, chunk number, cosine)`` of the ``n`` nearest chunks.

        Queries Chroma for ids and distances only: chunk ids encode the paper
        and position, and fetching documents and metadata would triple the cost.
        """
        n = min(n, self.size)
        if n == 0:
            return []
        found = self._collection.query(query_embeddings=[vector.tolist()], n_results=n, include=["distances"])
        out = []
        for cid, dist in zip(found["ids"][0], found["distances"][0], strict=True):
            pid, _, number = cid.rpartition("#")
            out.append((pid, int(number), 1.0 - float(dist)))
        return out

    def similarities(self, paper_id: str, vector: np.ndarray) -> np.ndarray:
        """Cosine of each of a paper's chunks to ``vector``, in abstract order."""
        row = self._rows[paper_id]
        return np.asarray(self.vectors[row : row + len(self.chunk_texts[paper_id])]) @ vector

    def passages(self, paper_id: str, vector: np.ndarray, sims: np.ndarray | None = None) -> list[Passage]:
        """Every chunk of a paper scored against ``vector``, most similar first."""
        sims = self.similarities(paper_id, vector) if sims is None else sims
        texts = self.chunk_texts[paper_id]
        return [
            Passage(chunk_id(paper_id, n), paper_id, n, texts[n], float(sims[n]))
            for n in np.argsort(-sims, kind="stable")
        ]

    @property
    def centroids(self) -> np.ndarray:
        """Each paper's mean sentence vector, normalized (computed on first use)."""
        if self._centroids is None:
            vectors = np.asarray(self.vectors, dtype=np.float32)
            counts = np.asarray([len(self.chunk_texts[p.paper_id]) for p in self.papers])
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
            sums = np.add.reduceat(vectors, starts, axis=0) if len(vectors) else vectors
            norms = np.linalg.norm(sums, axis=1, keepdims=True)
            self._centroids = sums / np.maximum(norms, 1e-12)
        return self._centroids

    @property
    def support(self) -> SupportModel:
        """The collection's support model (built on first use, then kept)."""
        if self._support is None:
            self._support = SupportModel(self.papers, self.lexical)
        return self._support

    def close(self) -> None:
        """Release the Chroma client."""
        self._client.close()


@dataclass(frozen=True, slots=True)
class Collection:
    """What is indexed: for headers, ``rag info`` and scripts.

    Attributes:
        name: A label: the input folder (or file) names.
        papers: Number of papers.
        chunks: Number of chunks (sentences) embedded.
        embed_model: The embedding model the index was built with.
        generation: The live generation's folder.
        created: When that generation was published.
    """

    name: str
    papers: int
    chunks: int
    embed_model: str
    generation: str
    created: str

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return {f: getattr(self, f) for f in self.__slots__}


def describe(settings: Settings | None = None) -> Collection:
    """Describe the live index (opening it if needed).

    Raises:
        IndexNotFoundError: No index has been built yet.
    """
    from .config import resolve

    index = open_index(resolve(settings))
    return Collection(
        name=index.name,
        papers=len(index.papers),
        chunks=index.size,
        embed_model=index.manifest["config"]["embed_model"],
        generation=str(index.generation),
        created=index.manifest["created"],
    )


_OPEN: dict[tuple[str, str], Index] = {}
_OPEN_LOCK = threading.Lock()


def open_index(settings: Settings) -> Index:
    """Return the live generation opened for questions, reopening after an ingest.

    Raises:
        IndexNotFoundError: No index has been built yet.
        IndexIncompatibleError: The index needs other settings or a rebuild.

    """
    root = settings.vectorstore_dir
    key = (str(root.resolve()), settings.embed_model)
    with _OPEN_LOCK:
        for attempt in range(2):
            gen = require_generation(root)
            cached = _OPEN.get(key)
            if cached is not None and cached.generation == gen:
                return cached
            try:
                index = Index(settings, gen)
            except (FileNotFoundError, IndexNotFoundError):
                if attempt:  # the generation vanished twice: something else is wrong
                    raise
                continue  # a writer replaced it while we opened it; read CURRENT again
            _OPEN[key] = index
            return index
    raise AssertionError("unreachable")
