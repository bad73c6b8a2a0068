"""The index as an app process holds it: loaded once, then kept current by deltas.

Questions need every chunk vector (to score sentences), BM25 and the support
model's term sets in memory; Chroma (``store``) is where they come from. A
process loads the live papers once, then before each question reads the
store's ``head`` (one small record) and, when a writer has committed since,
fetches only what those transactions added and retired and applies it: the
first question after a 20-paper update costs those 20 papers, not the
collection. A process that fell too far behind (or sees a rebuild) loads
everything again.

Dense search scans the in-memory vectors rather than querying Chroma: the
results are the same in embedded and server mode, and no app process needs
Chroma's HNSW index in memory. From ``EXACT_ROWS`` chunks it scans a
128-dimensional projection first and rescores a shortlist exactly (10 ms of
CPU at 154k chunks instead of 24 ms, the same MRR).

Updates happen under a write lock; questions hold a read lock
(``Index.reading``) so no answer mixes two versions of the collection.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import numpy as np

from .background import background_for
from .chunking import chunk_id
from .config import Settings, resolve
from .corpus import Paper, normalize_title
from .embeddings import Embedder, get_embedder
from .errors import IndexIncompatibleError, StoreUnavailableError
from .glossary import glossary_for
from .lexical import LexicalIndex, terms
from .store import Head, PaperRecord, Store, describe_location, drop_shared, location_key, shared_store
from .support import SupportModel

log = logging.getLogger(__name__)

# Reload everything once removed papers leave more holes than there are papers.
_HOLES_BEFORE_RELOAD = 1.0

# Dense search scans every chunk vector while the index is small; from EXACT_ROWS
# chunks on it first scans a REDUCED_DIMS-dimensional projection (the top principal
# directions of the vectors), then rescores the best SHORTLIST rows exactly. The
# scan reads a third of the memory (at 150k chunks: 7 ms instead of 22 ms), and at
# 20,000 papers the 200 chunks it returns are the exact scan's (bench/scale.py
# reports MRR both ways).
EXACT_ROWS = 50_000
REDUCED_DIMS = 128
SHORTLIST = 4_000
_FIT_SAMPLE = 20_000


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


class _Rows:
    """A float or int matrix that grows by appending rows (amortized O(rows added))."""

    def __init__(self, width: int, dtype: type) -> None:
        shape = (64, width) if width else (64,)
        self._data = np.zeros(shape, dtype=dtype)
        self.n = 0

    def reserve(self, rows: int) -> None:
        """Make room for ``rows`` more rows at once, and a quarter more for later updates.

        A full load then never copies, and neither do the updates after it until
        they add a quarter of the index (growing by a quarter keeps appends
        amortized O(1)); the spare rows are zeros that the OS maps only when
        written, so they cost no memory until used.
        """
        need = self.n + rows + rows // 4 + 1024
        if self.n + rows > len(self._data):
            grown = np.zeros((need, *self._data.shape[1:]), dtype=self._data.dtype)
            grown[: self.n] = self._data[: self.n]
            self._data = grown

    def append(self, block: np.ndarray) -> int:
        """Append rows; return the index of the first."""
        start, need = self.n, self.n + len(block)
        if need > len(self._data):
            grown = np.zeros((max(need, 2 * len(self._data)), *self._data.shape[1:]), dtype=self._data.dtype)
            grown[: self.n] = self._data[: self.n]
            self._data = grown
        self._data[start:need] = block
        self.n = need
        return start

    @property
    def data(self) -> np.ndarray:
        """The rows appended so far (a view)."""
        return self._data[: self.n]


class _ReadWriteLock:
    """Many readers or one writer; re-entrant for readers, writers wait for readers to leave."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._local = threading.local()

    @contextmanager
    def read(self) -> Iterator[None]:
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            with self._cond:
                self._cond.wait_for(lambda: not self._writing)
                self._readers += 1
        self._local.depth = depth + 1
        try:
            yield
        finally:
            self._local.depth = depth
            if depth == 0:
                with self._cond:
                    self._readers -= 1
                    self._cond.notify_all()

    def held(self) -> bool:
        """True when this thread holds the lock for reading."""
        return getattr(self._local, "depth", 0) > 0

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing)
            self._writing = True
            self._cond.wait_for(lambda: self._readers == 0)
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


class Index:
    """The live papers of one store, held in memory for questions."""

    def __init__(self, settings: Settings, store: Store, head: Head) -> None:
        """Load every live paper at ``head``; use ``open_index`` to get the shared one."""
        built_with = head.config.get("embed_model")
        if built_with != settings.embed_model:
            raise IndexIncompatibleError(
                f"The index in {describe_location(settings)} was built with embedding model {built_with!r}, "
                f"not {settings.embed_model!r} — set RAG_EMBED_MODEL={built_with} or run "
                '"rag ingest --rebuild"'
            )
        self.settings = settings
        self.store = store
        self.head = head
        self.embedder: Embedder = get_embedder(settings)
        self.lexical = LexicalIndex()
        self.support = SupportModel(self.lexical, background_for(settings), glossary_for(settings))
        self._lock = _ReadWriteLock()
        self._papers: list[Paper | None] = []  # by position; None where a paper was removed
        self._versions: list[str] = []  # the live version id of each position
        self.position: dict[str, int] = {}
        self.chunk_texts: dict[str, tuple[str, ...]] = {}
        self._rows: dict[str, tuple[int, int]] = {}
        self._by_title: dict[str, str] = {}
        self._vectors: _Rows | None = None
        self._row_pos = _Rows(0, np.int32)
        self._row_num = _Rows(0, np.int32)
        self._row_alive = _Rows(0, np.bool_)
        self._centroids: _Rows | None = None
        self._basis: np.ndarray | None = None  # (dims, REDUCED_DIMS), once the index is large
        self._basis_rows = 0  # live rows when the basis was fitted
        self._reduced: _Rows | None = None
        records = store.live_papers(head)
        self._add(records, store.chunk_data(head, records))
        del records
        _release(store, head)

    # --- reading ---------------------------------------------------------------------------------

    def reading(self) -> AbstractContextManager[None]:
        """Hold the index still while a question is answered (nestable)."""
        return self._lock.read()

    @property
    def papers(self) -> list[Paper]:
        """The live papers, in the order they were indexed."""
        return [p for p in self._papers if p is not None]

    @property
    def size(self) -> int:
        """Chunks in the index."""
        return sum(len(t) for t in self.chunk_texts.values())

    @property
    def name(self) -> str:
        """A label for the collection: the input folder or file names."""
        from pathlib import Path

        sources = sorted({Path(p.source).parent.name or p.source for p in self.papers})
        return ", ".join(sources[:3]) or "papers"

    def paper(self, paper_id: str) -> Paper:
        """Return an indexed paper by id."""
        return self.paper_at(self.position[paper_id])

    def paper_at(self, position: int) -> Paper:
        """Return the paper at a position (as used by ``lexical`` and ``centroids``)."""
        paper = self._papers[position]
        if paper is None:
            raise KeyError(position)
        return paper

    def paper_id_for_title(self, title: str) -> str | None:
        """The id of the paper with this title (compared normalized), if indexed."""
        return self._by_title.get(normalize_title(title))

    @property
    def centroids(self) -> np.ndarray:
        """Each position's mean sentence vector, normalized (zeros for removed papers)."""
        return self._centroids.data if self._centroids is not None else np.zeros((0, 0), np.float32)

    def dense(self, vector: np.ndarray, n: int) -> list[tuple[str, int, float]]:
        """Return ``(paper_id, chunk number, cosine)`` of the ``n`` nearest chunks (exact)."""
        if self._vectors is None or self._vectors.n == 0:
            return []
        alive = self._row_alive.data
        n = min(n, int(alive.sum()))
        if n <= 0:
            return []
        if self._basis is not None and self._reduced is not None:
            rough = self._reduced.data @ (vector @ self._basis)
            rough[~alive] = -np.inf
            shortlist = min(SHORTLIST, len(rough))
            rows = np.argpartition(-rough, shortlist - 1)[:shortlist]
            rows = rows[alive[rows]]
            sims = self._vectors.data[rows] @ vector  # exact, for the shortlist only
        else:
            rows = np.arange(len(alive))
            sims = self._vectors.data @ vector
            sims[~alive] = -np.inf
        n = min(n, len(sims))
        top = np.argpartition(-sims, n - 1)[:n] if n < len(sims) else np.arange(len(sims))
        top = top[np.argsort(-sims[top], kind="stable")]
        sims, top = sims[top], rows[top]
        pos, num = self._row_pos.data, self._row_num.data
        ids = [self.paper_at(int(pos[r])).paper_id for r in top]
        return [(pid, int(num[r]), float(v)) for pid, r, v in zip(ids, top, sims, strict=True)]

    def similarities(self, paper_id: str, vector: np.ndarray) -> np.ndarray:
        """Cosine of each of a paper's chunks to ``vector``, in abstract order."""
        start, stop = self._rows[paper_id]
        assert self._vectors is not None
        return self._vectors.data[start:stop] @ vector

    def passages(self, paper_id: str, vector: np.ndarray, sims: np.ndarray | None = None) -> list[Passage]:
        """Every chunk of a paper scored against ``vector``, most similar first."""
        sims = self.similarities(paper_id, vector) if sims is None else sims
        texts = self.chunk_texts[paper_id]
        return [
            Passage(chunk_id(paper_id, n), paper_id, n, texts[n], float(sims[n]))
            for n in np.argsort(-sims, kind="stable")
        ]

    # --- keeping current -------------------------------------------------------------------------

    def _add(self, records: list[PaperRecord], data: dict[str, tuple[list[str], np.ndarray]]) -> None:
        """Index ``records``, consuming ``data`` as it goes (a full load then holds the vectors once)."""
        if not records:
            return
        if self._vectors is None or self._centroids is None:
            dims = max(vectors.shape[1] for _, vectors in data.values())
            self._vectors, self._centroids = _Rows(dims, np.float32), _Rows(dims, np.float32)
        rows = sum(len(texts) for texts, _ in data.values())
        for table in (self._vectors, self._row_pos, self._row_num, self._row_alive):
            table.reserve(rows)
        self._centroids.reserve(len(records))
        for record in records:
            texts, vectors = data.pop(record.record_id)
            paper = record.paper
            pid = paper.paper_id
            if pid in self.position:
                self._remove(pid)
            pos = len(self._papers)
            self._papers.append(paper)
            self._versions.append(record.version)
            self.position[pid] = pos
            self.chunk_texts[pid] = tuple(texts)
            start = self._vectors.append(vectors)
            self._rows[pid] = (start, start + len(vectors))
            self._row_pos.append(np.full(len(vectors), pos, dtype=np.int32))
            self._row_num.append(np.arange(len(vectors), dtype=np.int32))
            self._row_alive.append(np.ones(len(vectors), dtype=np.bool_))
            centroid = record.centroid if record.centroid is not None else _normalized(vectors.mean(axis=0))
            self._centroids.append(centroid[None, :])
            tokens = terms(f"{paper.title} {paper.abstract}")
            self.lexical.add(pos, tokens)
            self.support.add(paper, tokens)
            self._by_title[normalize_title(paper.title)] = pid
        self._project()

    def _project(self) -> None:
        """Keep the reduced copy of the vectors current.

        The basis is fitted when the index first passes ``EXACT_ROWS`` and again
        whenever it has doubled since (so refits cost O(1) per row added);
        otherwise only the new rows are projected.
        """
        assert self._vectors is not None
        live = int(self._row_alive.data.sum())
        if live < EXACT_ROWS and self._basis is None:
            return
        if self._basis is None or live >= 2 * self._basis_rows:
            self._fit_basis()
            return
        assert self._reduced is not None
        new = self._vectors.data[self._reduced.n :]
        if len(new):
            self._reduced.append(new @ self._basis)

    def _fit_basis(self) -> None:
        assert self._vectors is not None
        vectors, alive = self._vectors.data, np.flatnonzero(self._row_alive.data)
        sample = vectors[np.random.default_rng(0).choice(alive, min(_FIT_SAMPLE, len(alive)), replace=False)]
        # Uncentered: the directions that carry most of the inner products, mean included.
        _, eigenvectors = np.linalg.eigh(sample.T.astype(np.float64) @ sample)
        basis = np.ascontiguousarray(eigenvectors[:, ::-1][:, :REDUCED_DIMS], dtype=np.float32)
        reduced = _Rows(REDUCED_DIMS, np.float32)
        reduced.reserve(len(vectors))
        for start in range(0, len(vectors), 65_536):
            reduced.append(vectors[start : start + 65_536] @ basis)
        self._basis, self._reduced, self._basis_rows = basis, reduced, len(alive)

    def _remove(self, paper_id: str) -> None:
        pos = self.position.pop(paper_id)
        paper = self._papers[pos]
        assert paper is not None and self._centroids is not None
        self._papers[pos] = None
        start, stop = self._rows.pop(paper_id)
        self._row_alive.data[start:stop] = False
        self._centroids.data[pos] = 0.0
        del self.chunk_texts[paper_id]
        self.lexical.remove(pos)
        self.support.remove(paper)
        if self._by_title.get(normalize_title(paper.title)) == paper_id:
            del self._by_title[normalize_title(paper.title)]

    def stale(self, head: Head) -> bool:
        """True when this copy cannot catch up with ``head`` by deltas and must be reloaded."""
        holes = len(self._papers) - len(self.position)
        return (
            head.generation != self.head.generation
            or head.txn < self.head.txn
            or self.head.txn < head.gc - 1
            or dict(head.config) != dict(self.head.config)
            or holes > _HOLES_BEFORE_RELOAD * max(1000, len(self.position))
        )

    def catch_up(self, head: Head) -> bool:
        """Apply the transactions after ``self.head`` up to ``head``; False when a reload is needed.

        Fetching happens outside the lock (questions go on meanwhile); applying
        the changes takes the write lock for as long as the change needs.
        """
        if head.txn == self.head.txn and head.generation == self.head.generation:
            return True
        if self._lock.held():
            return True  # this thread is mid-answer: finish it on the version it started with
        if self.stale(head):
            return False
        added, retired = self.store.changes(self.head.txn, head)
        data = self.store.chunk_data(head, added)
        again = self.store.require_head()
        if self.head.txn < again.gc - 1 or again.generation != head.generation:
            return False  # tombstones we relied on may have been deleted meanwhile
        with self._lock.write():
            for pid, version in retired:
                pos = self.position.get(pid)
                if pos is not None and self._versions[pos] == version:
                    self._remove(pid)
            self._add(added, data)
            self.head = head
        log.info("caught up to transaction %d: %d added, %d retired", head.txn, len(added), len(retired))
        return True


def _release(store: Store, head: Head) -> None:
    """After a full load, give back what reading the whole collection took.

    An embedded Chroma client keeps the segments a full read pulled in (about
    as much again as the index itself), and glibc keeps freed heap for reuse:
    a serving process would carry both for its lifetime. A fresh client sees
    every commit up to ``head``, so it needs no reopen before the next question.
    """
    if not store.settings.chroma_url and not store.writers:
        store.reopen()
        store.synced = head.txn
    with contextlib.suppress(OSError, AttributeError):  # not glibc: the allocator keeps what it keeps
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _normalized(v: np.ndarray) -> np.ndarray:
    return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)


@dataclass(frozen=True, slots=True)
class Collection:
    """What is indexed: for headers, ``rag info`` and scripts.

    Attributes:
        name: A label: the input folder (or file) names.
        papers: Number of papers.
        chunks: Number of chunks (sentences) embedded.
        embed_model: The embedding model the index was built with.
        location: The index folder or the Chroma server URL.
        transaction: The last committed transaction.
        created: When that transaction was committed.
    """

    name: str
    papers: int
    chunks: int
    embed_model: str
    location: str
    transaction: int
    created: str

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return {f: getattr(self, f) for f in self.__slots__}


def describe(settings: Settings | None = None) -> Collection:
    """Describe the live index (opening it if needed).

    Raises:
        IndexNotFoundError: No index has been built yet.
    """
    settings = resolve(settings)
    index = open_index(settings)
    with index.reading():
        return Collection(
            name=index.name,
            papers=len(index.position),
            chunks=index.size,
            embed_model=str(index.head.config.get("embed_model")),
            location=describe_location(settings),
            transaction=index.head.txn,
            created=index.head.updated,
        )


_OPEN: dict[tuple[str, ...], Index] = {}
_OPEN_LOCK = threading.Lock()


def _key(settings: Settings) -> tuple[str, ...]:
    return (*location_key(settings), settings.collection, settings.embed_model, settings.background)


def open_index(settings: Settings) -> Index:
    """Return the live index of these settings, caught up with the store's last commit.

    Raises:
        IndexNotFoundError: No index has been built yet.
        IndexIncompatibleError: The index needs other settings or a rebuild.
        StoreUnavailableError: The Chroma server cannot be reached.

    """
    key = _key(settings)
    cached = _OPEN.get(key)
    if cached is not None and cached._lock.held():
        return cached  # mid-answer on this thread: keep its version (and never wait on a catch-up)
    with _OPEN_LOCK:
        store = shared_store(settings)
        try:
            head = store.require_head()
            cached = _OPEN.get(key)
            if cached is not None and (head.txn, head.generation) == (
                cached.head.txn,
                cached.head.generation,
            ):
                return cached
            with store.guard:
                head = store.current()  # embedded: see what another process wrote
                if cached is not None:
                    cached.store = store
                    if cached.catch_up(head):
                        return cached
                index = Index(settings, store, head)
        except StoreUnavailableError:
            drop_shared(settings)  # reconnect next time (the server may come back)
            raise
        _OPEN[key] = index
        return index


def forget(settings: Settings) -> None:
    """Drop this process's copy of an index (after a rebuild or in tests)."""
    with _OPEN_LOCK:
        _OPEN.pop(_key(settings), None)
    drop_shared(settings)
