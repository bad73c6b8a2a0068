"""The index in Chroma: versioned records, one commit record, and a writer lock.

Chroma keeps every chunk, its vector and every paper, in an embedded folder
(``vectorstore/chroma``) or on a Chroma server (``RAG_CHROMA_URL``); nothing
else needs to reach an app process. An update must cost the change, not the
collection, and a writer killed at any moment must leave the index as before
or as after. So records are never changed in place:

- ``{prefix}-g{G}-chunks``: one record per sentence, id ``{paper}@{text}#{n}``
  where ``text`` hashes the title and abstract, so an unchanged paper keeps its
  vectors and a changed one gets new records beside the old ones;
- ``{prefix}-g{G}-papers``: one record per paper *version*, id
  ``{paper}@{version}`` (the version also hashes metadata and source), with
  the abstract, the mean sentence vector, and two numbers: ``added``, the
  transaction that wrote it, and ``removed``, the one that retired it (``LIVE``
  until then);
- ``{prefix}-state``: the ``head`` record, naming the last committed
  transaction and generation ``G``, and the ``lock`` lease in server mode.

A writer takes transaction ``T = head.txn + 1``: it upserts new versions with
``added = T``, marks retired ones ``removed = T``, and commits by rewriting
``head`` (one record, written atomically). Readers see exactly the versions
with ``added <= head.txn < removed``; a killed writer's records lie beyond
``head.txn`` and are invisible, and the next writer deletes or restores them.
Retired versions are deleted one commit later, so a reader one transaction
behind can still catch up from the tombstones (``head.gc`` says how far back
they go; a reader further behind reloads everything). ``--rebuild`` writes a
new generation's collections and flips ``head.generation``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from .config import Settings
from .corpus import Paper, normalize_title
from .errors import (
    IndexBusyError,
    IndexIncompatibleError,
    IndexNotFoundError,
    IndexWriteError,
    RagError,
    StoreUnavailableError,
)

log = logging.getLogger(__name__)

FORMAT = 2
LIVE = 2**62  # ``removed`` of a version no transaction has retired
LEASE_SECONDS = 120.0  # a server-mode writer renews its lease well before this
_PAGE = 2000  # records per Chroma read or write call


def _hash(*parts: object) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def text_version(paper: Paper) -> str:
    """Hash of what is embedded: a paper whose title and abstract stay keeps its vectors."""
    return _hash(paper.title, paper.abstract)


def paper_version(paper: Paper) -> str:
    """Hash of everything recorded about a paper."""
    return _hash(paper.title, paper.abstract, dict(paper.metadata), paper.source)


def chunk_record_id(paper_id: str, text: str, number: int) -> str:
    """The Chroma id of one chunk of one text version."""
    return f"{paper_id}@{text}#{number}"


@dataclass(frozen=True, slots=True)
class Head:
    """The last committed state of the index.

    Attributes:
        txn: The last committed transaction (0: nothing yet).
        generation: Which collections hold the index (changes on rebuild).
        config: Model and chunking the vectors were made with.
        papers: Papers in the index.
        chunks: Chunks in the index.
        gc: Retired versions with ``removed < gc`` have been deleted.
        updated: When the transaction was committed (ISO 8601).

    """

    txn: int
    generation: int
    config: Mapping[str, object]
    papers: int
    chunks: int
    gc: int
    updated: str

    def to_metadata(self) -> dict[str, object]:
        """Encode as a Chroma metadata record."""
        return {
            "txn": self.txn,
            "generation": self.generation,
            "config": json.dumps(dict(self.config), sort_keys=True),
            "papers": self.papers,
            "chunks": self.chunks,
            "gc": self.gc,
            "updated": self.updated,
            "format": FORMAT,
        }

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any]) -> Head:
        """Decode a Chroma metadata record."""
        return cls(
            txn=int(meta["txn"]),
            generation=int(meta["generation"]),
            config=json.loads(str(meta["config"])),
            papers=int(meta["papers"]),
            chunks=int(meta["chunks"]),
            gc=int(meta["gc"]),
            updated=str(meta["updated"]),
        )


@dataclass(frozen=True, slots=True)
class PaperRecord:
    """One version of a paper as stored.

    Attributes:
        paper: The paper.
        version: Hash of title, abstract, metadata and source.
        text: Hash of title and abstract (names its chunks).
        chunks: How many chunks the text has.
        added: The transaction that wrote this version.
        centroid: The normalized mean of its chunk vectors (None when not read).

    """

    paper: Paper
    version: str
    text: str
    chunks: int
    added: int = 0
    centroid: np.ndarray | None = field(default=None, compare=False)

    @property
    def record_id(self) -> str:
        """The Chroma id of this version."""
        return f"{self.paper.paper_id}@{self.version}"

    def chunk_ids(self) -> list[str]:
        """The Chroma ids of this version's chunks, in abstract order."""
        return [chunk_record_id(self.paper.paper_id, self.text, n) for n in range(self.chunks)]

    def metadata(self, added: int) -> dict[str, object]:
        """The Chroma metadata of this version, written by transaction ``added``."""
        p = self.paper
        return {
            "paper_id": p.paper_id,
            "title": p.title,
            "title_key": normalize_title(p.title),
            "source": p.source,
            "meta": json.dumps(dict(p.metadata), ensure_ascii=False, sort_keys=True),
            "version": self.version,
            "text": self.text,
            "chunks": self.chunks,
            "added": added,
            "removed": LIVE,
        }

    @classmethod
    def from_chroma(cls, meta: Mapping[str, Any], abstract: str, embedding: Any = None) -> PaperRecord:
        """Decode a record read from Chroma."""
        paper = Paper(
            str(meta["paper_id"]),
            str(meta["title"]),
            abstract,
            json.loads(str(meta["meta"])),
            str(meta["source"]),
        )
        centroid = None if embedding is None else np.asarray(embedding, dtype=np.float32)
        return cls(
            paper, str(meta["version"]), str(meta["text"]), int(meta["chunks"]), int(meta["added"]), centroid
        )

    @classmethod
    def of(cls, paper: Paper, chunks: int) -> PaperRecord:
        """A new version record for ``paper`` cut into ``chunks`` chunks."""
        return cls(paper, paper_version(paper), text_version(paper), chunks)


def _parse_headers(raw: str) -> dict[str, str]:
    raw = raw.strip()
    if not raw:
        return {}
    if raw.startswith("{"):
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ValueError('RAG_CHROMA_HEADERS is not a JSON object — use {"Name": "value"} or Name: value')
        return {str(k): str(v) for k, v in data.items()}
    headers = {}
    for part in raw.split(";"):
        name, sep, value = part.partition(":")
        if not sep or not name.strip():
            raise ValueError(
                f"RAG_CHROMA_HEADERS has {part.strip()!r}; write Name: value pairs separated by ;"
            )
        headers[name.strip()] = value.strip()
    return headers


def describe_location(settings: Settings) -> str:
    """Where the index lives, for messages: the server URL or the folder."""
    return settings.chroma_url or f"{settings.vectorstore_dir}/"


def _unreachable(settings: Settings) -> StoreUnavailableError:
    return StoreUnavailableError(
        f"Cannot reach the Chroma server at {settings.chroma_url} — start it "
        "(chroma run --path DIR --host 127.0.0.1 --port N) or fix RAG_CHROMA_URL"
    )


def _is_connection_error(exc: BaseException) -> bool:
    try:
        import httpx

        if isinstance(exc, httpx.TransportError):
            return True
    except ImportError:  # pragma: no cover - chromadb depends on httpx
        pass
    text = str(exc)
    return isinstance(exc, ConnectionError) or "Could not connect to a Chroma server" in text


# How SQLite (through Chroma) reports a full disk, a file-size limit or a failing disk.
_WRITE_FAILURES = ("database or disk is full", "disk i/o error", "no space left", "file too large", "quota")
_WRITE_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO}


def _write_failure(exc: BaseException, settings: Settings) -> IndexWriteError | None:
    """The typed error for a write that failed for lack of space (or a failing disk), else None."""
    if isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS:
        why = exc.strerror or str(exc)
    else:
        text = str(exc).lower()
        why = next((phrase for phrase in _WRITE_FAILURES if phrase in text), "")
        if not why:
            return None
    if settings.chroma_url:
        where, fix = f"on the Chroma server at {settings.chroma_url}", "free disk space on the server"
    else:
        where = f"in {settings.vectorstore_dir}/"
        fix = "free disk space there (or set RAG_VECTORSTORE_DIR to a disk with room)"
    return IndexWriteError(
        f"Could not write the index {where} ({why}) — {fix}, then run the ingest again; "
        "nothing of this one was published"
    )


@contextmanager
def guarded(settings: Settings) -> Iterator[None]:
    """Turn a lost connection to the Chroma server into ``StoreUnavailableError``."""
    try:
        yield
    except StoreUnavailableError:
        raise
    except Exception as exc:
        if settings.chroma_url and _is_connection_error(exc):
            raise _unreachable(settings) from None
        raise


def connect(settings: Settings) -> Any:
    """Open a Chroma client: the embedded folder, or the server at ``settings.chroma_url``.

    Raises:
        StoreUnavailableError: The server cannot be reached.

    """
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if not settings.chroma_url:
        folder = settings.vectorstore_dir / "chroma"
        folder.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(folder), settings=chroma_settings)
    url = urlparse(settings.chroma_url)
    headers = _parse_headers(settings.chroma_headers)
    if settings.chroma_token:
        headers["Authorization"] = f"Bearer {settings.chroma_token}"
    ssl = url.scheme == "https"
    with guarded(settings):
        return chromadb.HttpClient(
            host=url.hostname or "localhost",
            port=url.port or (443 if ssl else 8000),
            ssl=ssl,
            headers=headers or None,
            settings=chroma_settings,
        )


class Store:
    """The index's collections in one Chroma client, read side.

    Every method reads committed state only; ``Writer`` changes it.
    """

    def __init__(self, settings: Settings, client: Any | None = None) -> None:
        """Connect (or use ``client``); nothing is created until a writer needs it."""
        self.settings = settings
        self.client = client if client is not None else connect(settings)
        self.prefix = settings.collection
        self._collections: dict[str, Any] = {}
        self.guard = threading.RLock()  # held while reading a batch of changes, and to reopen
        # Embedded mode: the transaction up to which this client is known to see every
        # record (it reopened at it, or committed it itself); None when unknown.
        self.synced: int | None = None
        self.writers = 0  # open writers of this process; the client must not be swapped under them

    def reopen(self) -> None:
        """Embedded mode: start a fresh Chroma system on the folder, to see other processes' writes.

        A Chroma system keeps segments in memory and does not notice records
        another process added to the same folder (a ``get`` of their vectors
        fails with "Error finding id"). Reopening reads the folder anew; it
        takes effect only when no other client of this process holds the folder,
        which is why each process shares one ``Store`` per folder (``shared_store``).
        """
        if self.settings.chroma_url or self.writers:
            return  # a writer of this process reopened when it started and sees all since
        with self.guard:
            self._collections.clear()
            self.client.close()
            self.client = connect(self.settings)
            self.synced = None

    def current(self) -> Head:
        """The committed head, reopening first only if another process committed since this client looked.

        Reopening an embedded folder reloads Chroma's segments (about a second
        at 150k chunks), so a process that made the last commit itself, or that
        already reopened at this transaction, skips it.

        Raises:
            IndexNotFoundError: Nothing was ever committed.
        """
        with self.guard:
            head = self.require_head()
            if not self.settings.chroma_url and self.synced != head.txn:
                self.reopen()
                head = self.require_head()
                self.synced = head.txn
            return head

    def _collection(self, name: str, *, create: bool = False) -> Any:
        if name not in self._collections:
            from chromadb.errors import NotFoundError

            with guarded(self.settings):
                if create:
                    self._collections[name] = self.client.get_or_create_collection(
                        name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
                    )
                else:
                    try:
                        self._collections[name] = self.client.get_collection(name, embedding_function=None)
                    except (NotFoundError, ValueError) as exc:
                        if self.settings.chroma_url and _is_connection_error(exc):
                            raise _unreachable(self.settings) from None
                        raise IndexNotFoundError(self._missing()) from None
        return self._collections[name]

    def _missing(self) -> str:
        return (
            f'No index in {describe_location(self.settings)} — run "rag ingest seeds/" '
            "(or make run) to build it"
        )

    def state(self, *, create: bool = False) -> Any:
        """The collection holding ``head`` and the writer lease."""
        return self._collection(f"{self.prefix}-state", create=create)

    def papers(self, generation: int, *, create: bool = False) -> Any:
        """The paper-version collection of one generation."""
        return self._collection(f"{self.prefix}-g{generation}-papers", create=create)

    def chunks(self, generation: int, *, create: bool = False) -> Any:
        """The chunk collection of one generation."""
        return self._collection(f"{self.prefix}-g{generation}-chunks", create=create)

    def head(self) -> Head | None:
        """The committed head, or None when nothing was ever committed."""
        from chromadb.errors import NotFoundError

        try:
            state = self.state()
        except IndexNotFoundError:
            return None
        with guarded(self.settings):
            try:
                got = state.get(ids=["head"], include=["metadatas"])
            except NotFoundError:  # deleted under us
                self._collections.clear()
                return None
        if not got["ids"]:
            return None
        meta = got["metadatas"][0]
        if meta.get("format") != FORMAT:
            raise IndexIncompatibleError(
                f"The index in {describe_location(self.settings)} has format {meta.get('format')}, "
                f'this version reads {FORMAT} — rebuild it with "rag ingest --rebuild"'
            )
        return Head.from_metadata(meta)

    def require_head(self) -> Head:
        """The committed head, or an error that says how to build an index."""
        head = self.head()
        if head is None:
            raise IndexNotFoundError(self._missing())
        return head

    def _get_papers(self, head: Head, where: dict[str, Any], *, vectors: bool = True) -> list[PaperRecord]:
        collection = self.papers(head.generation)
        include = ["metadatas", "documents", *(["embeddings"] if vectors else [])]
        out: list[PaperRecord] = []
        with guarded(self.settings):
            offset = 0
            while True:
                got = collection.get(where=where, include=include, limit=_PAGE, offset=offset)
                embeddings = got["embeddings"] if vectors else [None] * len(got["ids"])
                for meta, doc, emb in zip(got["metadatas"], got["documents"], embeddings, strict=True):
                    out.append(PaperRecord.from_chroma(meta, doc, emb))
                if len(got["ids"]) < _PAGE:
                    return out
                offset += _PAGE

    def live_papers(self, head: Head, *, vectors: bool = True) -> list[PaperRecord]:
        """Every paper version live at ``head``."""
        return self._get_papers(head, _live_at(head.txn), vectors=vectors)

    def find(
        self, head: Head, field_name: str, values: Iterable[str], *, vectors: bool = False
    ) -> list[PaperRecord]:
        """Live versions whose metadata ``field_name`` is one of ``values``."""
        values = sorted(set(values))
        out: list[PaperRecord] = []
        for start in range(0, len(values), 500):
            where = {"$and": [_live_at(head.txn), {field_name: {"$in": values[start : start + 500]}}]}
            out.extend(self._get_papers(head, where, vectors=vectors))
        return out

    def changes(self, since: int, head: Head) -> tuple[list[PaperRecord], list[tuple[str, str]]]:
        """What transactions ``since+1 .. head.txn`` did: versions added (live now), versions retired.

        Retired versions come as ``(paper_id, version)``; only those that were
        live at ``since`` matter to a reader, which drops what it holds.
        """
        added = self._get_papers(
            head, {"$and": [{"added": {"$gt": since}}, _live_at(head.txn)]}, vectors=True
        )
        retired = self._get_papers(
            head,
            {
                "$and": [
                    {"removed": {"$gt": since}},
                    {"removed": {"$lte": head.txn}},
                    {"added": {"$lte": since}},
                ]
            },
            vectors=False,
        )
        return added, [(r.paper.paper_id, r.version) for r in retired]

    def chunk_data(self, head: Head, records: list[PaperRecord]) -> dict[str, tuple[list[str], np.ndarray]]:
        """Each record's chunk texts and vectors, by ``record_id``, in abstract order.

        Raises:
            IndexIncompatibleError: A committed chunk is missing (the store was changed by hand).

        """
        collection = self.chunks(head.generation)
        wanted = {cid: (r.record_id, n) for r in records for n, cid in enumerate(r.chunk_ids())}
        ids = list(wanted)
        texts: dict[str, list[str]] = {r.record_id: [""] * r.chunks for r in records}
        vectors: dict[str, np.ndarray] = {}
        dims = 0
        with guarded(self.settings):
            for start in range(0, len(ids), _PAGE):
                got = collection.get(ids=ids[start : start + _PAGE], include=["documents", "embeddings"])
                embs = np.asarray(got["embeddings"], dtype=np.float32)
                if len(embs):
                    dims = embs.shape[1]
                for cid, doc, emb in zip(got["ids"], got["documents"], embs, strict=True):
                    rid, n = wanted.pop(cid)
                    texts[rid][n] = doc
                    if rid not in vectors:
                        vectors[rid] = np.zeros((len(texts[rid]), len(emb)), dtype=np.float32)
                    vectors[rid][n] = emb
        if wanted:
            raise IndexIncompatibleError(
                f"The index in {describe_location(self.settings)} lacks {len(wanted)} committed chunks "
                f'(e.g. {next(iter(wanted))}) — rebuild it with "rag ingest --rebuild"'
            )
        return {
            r.record_id: (texts[r.record_id], vectors.get(r.record_id, np.zeros((0, dims)))) for r in records
        }

    def close(self) -> None:
        """Release the client (embedded mode frees the folder's files)."""
        self._collections.clear()
        close = getattr(self.client, "close", None)
        if close is not None:
            try:
                close()
            except Exception:  # closing a dead HTTP client must not mask the real error
                log.debug("closing the Chroma client failed", exc_info=True)


_SHARED: dict[tuple[str, ...], Store] = {}
_SHARED_LOCK = threading.Lock()


def location_key(settings: Settings) -> tuple[str, ...]:
    """Where an index lives, as a cache key: the server (with its credentials) or the folder."""
    where = settings.chroma_url or _resolved(str(settings.vectorstore_dir), os.getcwd())
    return (where, settings.chroma_headers, settings.chroma_token)


@lru_cache(maxsize=64)
def _resolved(folder: str, cwd: str) -> str:
    # Resolving walks the path with a system call per part: ~0.5 ms, twice per question.
    return str((Path(cwd) / folder).resolve())


def shared_store(settings: Settings) -> Store:
    """This process's one ``Store`` for the location in ``settings`` (connecting on first use)."""
    key = location_key(settings)
    with _SHARED_LOCK:
        store = _SHARED.get(key)
        if store is None:
            store = _SHARED[key] = Store(settings)
        return store


def drop_shared(settings: Settings) -> None:
    """Close and forget this process's ``Store`` for a location (it reconnects on next use)."""
    with _SHARED_LOCK:
        store = _SHARED.pop(location_key(settings), None)
    if store is not None:
        store.close()


def _live_at(txn: int) -> dict[str, Any]:
    return {"$and": [{"added": {"$lte": txn}}, {"removed": {"$gt": txn}}]}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class Writer:
    """One transaction: new versions in, old ones retired, then one commit.

    Use ``open_writer``; it holds the writer lock and recovers what a killed
    writer left before this one starts.
    """

    def __init__(self, store: Store, head: Head | None, config: Mapping[str, object], rebuild: bool) -> None:
        """Start transaction ``head.txn + 1`` (or a new generation when rebuilding)."""
        self.store = store
        self.base = head
        self.txn = (head.txn if head else 0) + 1
        self.fresh = rebuild or head is None or dict(head.config) != dict(config)
        self.generation = (head.generation + 1) if (head and self.fresh) else (head.generation if head else 1)
        self.config = dict(config)
        self.papers = 0 if self.fresh or head is None else head.papers
        self.chunks = 0 if self.fresh or head is None else head.chunks
        self.renew: Any = lambda: None  # set by open_writer in server mode
        self._papers = store.papers(self.generation, create=True)
        self._chunks = store.chunks(self.generation, create=True)

    @property
    def view(self) -> Head | None:
        """The committed state this transaction builds on (None when it starts afresh)."""
        return None if self.fresh else self.base

    def lookup(self, paper_ids: Iterable[str], title_keys: Iterable[str]) -> list[PaperRecord]:
        """Live versions with one of these ids or normalized titles (for diffing inputs)."""
        head = self.view
        if head is None:
            return []
        # Centroids come along: a relabeled version reuses its predecessor's.
        found = {r.record_id: r for r in self.store.find(head, "paper_id", paper_ids, vectors=True)}
        found.update((r.record_id, r) for r in self.store.find(head, "title_key", title_keys, vectors=True))
        return list(found.values())

    def live(self) -> list[PaperRecord]:
        """Every live version (for ``--prune``)."""
        return [] if self.view is None else self.store.live_papers(self.view, vectors=False)

    def put(self, record: PaperRecord, texts: list[str] | None, vectors: np.ndarray | None) -> None:
        """Stage one version; chunk ``texts``/``vectors`` may be None when its text is already stored."""
        self.put_many([(record, texts, vectors)])

    def put_many(self, items: list[tuple[PaperRecord, list[str] | None, np.ndarray | None]]) -> None:
        """Stage versions and their new chunks (upserts: a retried write is harmless)."""
        if not items:
            return
        self.renew()
        ids, embs, docs, metas = [], [], [], []
        for record, texts, vectors in items:
            if texts is None or vectors is None:
                continue
            for n, (text, vec) in enumerate(zip(texts, vectors, strict=True)):
                ids.append(chunk_record_id(record.paper.paper_id, record.text, n))
                embs.append(vec)
                docs.append(text)
                metas.append(
                    {
                        "paper_id": record.paper.paper_id,
                        "text": record.text,
                        "chunk": n,
                        "title": record.paper.title,
                        "added": self.txn,
                    }
                )
        with guarded(self.store.settings):
            for start in range(0, len(ids), _PAGE):
                self._chunks.upsert(
                    ids=ids[start : start + _PAGE],
                    embeddings=np.asarray(embs[start : start + _PAGE], dtype=np.float32),
                    documents=docs[start : start + _PAGE],
                    metadatas=metas[start : start + _PAGE],
                )
            self._papers.upsert(
                ids=[r.record_id for r, _, _ in items],
                embeddings=np.stack([_centroid(r, v) for r, _, v in items]).astype(np.float32),
                documents=[r.paper.abstract for r, _, _ in items],
                metadatas=[r.metadata(self.txn) for r, _, _ in items],
            )
        self.papers += len(items)
        self.chunks += sum(r.chunks for r, _, _ in items)

    def retire(self, records: list[PaperRecord]) -> None:
        """Mark live versions as removed by this transaction (visible at commit)."""
        if not records or self.view is None:
            return
        self.renew()
        with guarded(self.store.settings):
            for start in range(0, len(records), _PAGE):
                part = records[start : start + _PAGE]
                self._papers.update(
                    ids=[r.record_id for r in part], metadatas=[{"removed": self.txn} for _ in part]
                )
        self.papers -= len(records)
        self.chunks -= sum(r.chunks for r in records)

    def commit(self) -> Head:
        """Publish the transaction: one write of ``head``."""
        self.renew()
        head = Head(
            txn=self.txn,
            generation=self.generation,
            config=self.config,
            papers=self.papers,
            chunks=self.chunks,
            gc=self.base.gc if self.base and not self.fresh else self.txn,
            updated=_now(),
        )
        _write_head(self.store, head)
        if self.store.synced == (self.base.txn if self.base else 0):
            self.store.synced = self.txn  # this client wrote everything since it last looked
        return head


def _centroid(record: PaperRecord, vectors: np.ndarray | None) -> np.ndarray:
    if vectors is None:
        if record.centroid is None:
            raise ValueError(f"{record.record_id}: a version without new chunks needs its old centroid")
        return record.centroid
    mean = np.asarray(vectors, dtype=np.float32).mean(axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-12)


def _write_head(store: Store, head: Head) -> None:
    with guarded(store.settings):
        store.state(create=True).upsert(ids=["head"], embeddings=[[1.0]], metadatas=[head.to_metadata()])


def _recover(store: Store, head: Head | None) -> Head | None:
    """Undo what killed writers left and delete versions retired before the last commit.

    Anything with ``added > head.txn`` was never committed; ``removed`` marks
    beyond ``head.txn`` are reset. Versions retired before ``head.txn`` go for
    good, after ``head.gc`` says so (a reader that sees the new ``gc`` reloads
    rather than trusting tombstones that may be gone).
    """
    settings = store.settings
    live = f"{store.prefix}-g{head.generation}-" if head else None
    with guarded(settings):
        for c in store.client.list_collections():
            name = c if isinstance(c, str) else c.name
            if name.startswith(f"{store.prefix}-g") and (live is None or not name.startswith(live)):
                log.info("deleting %s (not the live generation)", name)
                store.client.delete_collection(name)
                store._collections.pop(name, None)
        if head is None:
            return None
        papers, chunks = store.papers(head.generation), store.chunks(head.generation)
        papers.delete(where={"added": {"$gt": head.txn}})
        chunks.delete(where={"added": {"$gt": head.txn}})
        marked = papers.get(
            where={"$and": [{"removed": {"$gt": head.txn}}, {"removed": {"$lt": LIVE}}]}, include=[]
        )["ids"]
        for start in range(0, len(marked), _PAGE):
            part = marked[start : start + _PAGE]
            papers.update(ids=part, metadatas=[{"removed": LIVE} for _ in part])
        if head.gc < head.txn:
            old = store._get_papers(head, {"removed": {"$lt": head.txn}}, vectors=False)
            head = replace(head, gc=head.txn)
            _write_head(store, head)
            _delete_versions(store, head, old)
    return head


def _delete_versions(store: Store, head: Head, records: list[PaperRecord]) -> None:
    """Delete retired versions and every chunk no live version still uses."""
    if not records:
        return
    keep = {
        (r.paper.paper_id, r.text) for r in store.find(head, "paper_id", {r.paper.paper_id for r in records})
    }
    chunk_ids = [cid for r in records if (r.paper.paper_id, r.text) not in keep for cid in r.chunk_ids()]
    ids = [r.record_id for r in records]
    papers, chunks = store.papers(head.generation), store.chunks(head.generation)
    for start in range(0, len(chunk_ids), _PAGE):
        chunks.delete(ids=chunk_ids[start : start + _PAGE])
    for start in range(0, len(ids), _PAGE):
        papers.delete(ids=ids[start : start + _PAGE])


@contextmanager
def open_writer(
    settings: Settings, config: Mapping[str, object], *, rebuild: bool = False
) -> Iterator[Writer]:
    """Hold the writer lock, recover from killed writers, and start a transaction.

    Nothing is visible to readers until ``Writer.commit``; leaving the block
    without committing leaves the index as it was.

    Raises:
        IndexBusyError: Another writer holds the lock.
        StoreUnavailableError: The Chroma server cannot be reached.

    """
    with writer_lock(settings) as lease:
        store = shared_store(settings)
        try:
            store.reopen()  # what other processes wrote (or left) before we took the lock
            head = store.head()
            store.synced = head.txn if head else 0
            head = _recover(store, head)
            writer = Writer(store, head, config, rebuild)
            writer.renew = lease
            store.writers += 1
            try:
                yield writer
            finally:
                store.writers -= 1
        except StoreUnavailableError:
            drop_shared(settings)
            raise
        except Exception as exc:
            failure = None if isinstance(exc, RagError) else _write_failure(exc, settings)
            if failure is None:
                raise
            drop_shared(settings)  # the client may be wedged mid-write: reconnect next time
            raise failure from None


@contextmanager
def writer_lock(settings: Settings) -> Iterator[Any]:
    """The embedded folder's OS file lock, or a lease record on the Chroma server."""
    if not settings.chroma_url:
        from filelock import FileLock, Timeout

        root = settings.vectorstore_dir
        root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(root / ".lock"), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise IndexBusyError(
                f"The index in {root}/ is busy: another ingest is writing it — "
                "wait for that one to finish, then run this again"
            ) from None
        try:
            yield lambda: None
        finally:
            lock.release()
        return
    lease = _Lease(settings)
    lease.acquire()
    try:
        yield lease.renew
    finally:
        lease.release()


class _Lease:
    """A writer lease kept as a record on the Chroma server.

    Chroma has no compare-and-set, so taking the lease is write-then-read-back:
    two writers that race both read back one owner and only that one goes on.
    A lease expires unless renewed, and a lease held by a dead process on this
    same machine is taken over at once.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.owner = uuid.uuid4().hex
        self.store = Store(settings)
        self.expires = 0.0

    def _read(self) -> dict[str, Any] | None:
        with guarded(self.settings):
            got = self.store.state(create=True).get(ids=["lock"], include=["metadatas"])
        return got["metadatas"][0] if got["ids"] else None

    def _write(self) -> None:
        self.expires = time.time() + LEASE_SECONDS
        meta = {
            "owner": self.owner,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "expires": self.expires,
        }
        with guarded(self.settings):
            self.store.state(create=True).upsert(ids=["lock"], embeddings=[[1.0]], metadatas=[meta])

    def _busy(self, held: Mapping[str, Any]) -> IndexBusyError:
        until = time.strftime("%H:%M:%S", time.localtime(float(held["expires"])))
        return IndexBusyError(
            f"The index on {self.settings.chroma_url} is busy: an ingest on {held['host']} "
            f"(pid {held['pid']}) is writing it — wait for it to finish (its lease ends at {until} "
            "if it died), then run this again"
        )

    def _stale(self, held: Mapping[str, Any]) -> bool:
        if float(held["expires"]) < time.time():
            return True
        if held.get("host") == socket.gethostname():
            try:
                os.kill(int(held["pid"]), 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
        return False

    def acquire(self) -> None:
        held = self._read()
        if held is not None and held["owner"] != self.owner and not self._stale(held):
            raise self._busy(held)
        self._write()
        time.sleep(0.3)  # let a racing writer's write land, then see who won
        held = self._read()
        if held is None or held["owner"] != self.owner:
            raise self._busy(held or {"host": "?", "pid": "?", "expires": time.time()})

    def renew(self) -> None:
        if self.expires - time.time() > LEASE_SECONDS / 2:
            return
        held = self._read()
        if held is None or held["owner"] != self.owner:
            raise IndexBusyError(
                f"Lost the writer lease on {self.settings.chroma_url} to another ingest — "
                "nothing of this run was published; run it again when that one is done"
            )
        self._write()

    def release(self) -> None:
        try:
            held = self._read()
            if held is not None and held["owner"] == self.owner:
                with guarded(self.settings):
                    self.store.state().delete(ids=["lock"])
        except Exception:  # the lease expires by itself
            log.debug("releasing the writer lease failed", exc_info=True)
        finally:
            self.store.close()


def remove_legacy(settings: Settings) -> None:
    """Delete what PaperChat's first index format left in the folder (after a commit replaced it).

    That format kept whole copies per update (``gen-NNNNNN/`` and ``CURRENT``);
    they are derived data, and the papers are in the new index by then.
    """
    import re
    import shutil

    root = settings.vectorstore_dir
    if settings.chroma_url or not (root / "CURRENT").exists():
        return
    for gen in root.iterdir():
        if gen.is_dir() and re.fullmatch(r"gen-\d{6}", gen.name):
            shutil.rmtree(gen, ignore_errors=True)
    (root / "CURRENT").unlink(missing_ok=True)
    log.info("removed the old-format index files from %s", root)
