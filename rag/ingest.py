"""Inputs to index: diff papers against the live generation, embed only what changed.

Ingesting unchanged inputs reads and hashes them, finds nothing to do and
returns without loading the model. Everything else builds a new generation
(see ``store``) and publishes it atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .chunking import chunk_id, chunk_paper
from .config import Settings, resolve
from .corpus import Paper, normalize_title, read_papers
from .embeddings import get_embedder
from .errors import IngestError
from .lexical import LexicalIndex
from .store import (
    COLLECTION,
    FORMAT,
    StoredPaper,
    chroma_client,
    chroma_store,
    current_generation,
    discard_stale,
    new_generation,
    publish,
    read_manifest,
    writer_lock,
)
from .store import read_papers as read_stored

log = logging.getLogger(__name__)

_RESERVED = {"paper_id", "title", "chunk", "source"}
_ADD_BATCH = 512  # chunks per Chroma write; also the progress bar's step


@dataclass(frozen=True, slots=True)
class IngestReport:
    """What an ingest changed.

    Attributes:
        papers: Papers in the index afterwards.
        added: New papers.
        updated: Papers whose title or abstract changed (re-embedded).
        relabeled: Papers whose metadata or source changed (no embedding needed).
        removed: Papers pruned because they were no longer in the inputs.
        unchanged: Papers that needed nothing.
        chunks_embedded: Chunks sent through the encoder.
        generation: The new generation's name, or None when nothing changed.
        seconds: Wall time of the ingest.

    """

    papers: int
    added: int
    updated: int
    relabeled: int
    removed: int
    unchanged: int
    chunks_embedded: int
    generation: str | None
    seconds: float

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return asdict(self)


def _hash(*parts: object) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _stored(paper: Paper, chunks: tuple[str, ...] = ()) -> StoredPaper:
    return StoredPaper(
        paper,
        text_hash=_hash(paper.title, paper.abstract),
        meta_hash=_hash(dict(paper.metadata), paper.source),
        chunks=chunks,
    )


def _index_config(settings: Settings) -> dict[str, object]:
    """What must match for old vectors to be reused."""
    return {
        "format": FORMAT,
        "embed_model": settings.embed_model,
        "chunk_sentences": settings.chunk_sentences,
        "chunk_overlap": settings.chunk_overlap,
    }


def _chunk_metadata(paper: Paper, number: int) -> dict[str, object]:
    meta: dict[str, object] = {k: v for k, v in paper.metadata.items() if k not in _RESERVED}
    meta.update(paper_id=paper.paper_id, title=paper.title, chunk=number, source=paper.source)
    return meta


def ingest(
    paths: Iterable[str | Path] | None = None,
    *,
    prune: bool = False,
    rebuild: bool = False,
    settings: Settings | None = None,
    progress: bool | None = None,
) -> IngestReport:
    """Add, update and (with ``prune``) remove papers so the index matches the inputs.

    Args:
        paths: Files or folders to read; defaults to ``settings.seeds_dir``.
        prune: Remove indexed papers that are not in ``paths``.
        rebuild: Ignore the existing index and build a fresh one from ``paths``.
        settings: Settings; ``None`` reads ``RAG_*`` variables.
        progress: Show an embedding progress bar on stderr (default: when it is a terminal).

    Returns:
        What changed.

    Raises:
        IngestError: An input is missing, malformed or holds no papers; the index is untouched.
        IndexBusyError: Another process is writing the index.

    """
    started = time.perf_counter()
    settings = resolve(settings)
    paths = [settings.seeds_dir] if paths is None else list(paths)
    if not paths:
        raise IngestError("No inputs given — pass files or folders, e.g. rag ingest seeds/")
    incoming = list(read_papers(paths))
    if not incoming:
        shown = ", ".join(str(p) for p in paths)
        raise IngestError(
            f"No papers found in {shown} — expected .txt page dumps, .jsonl or .csv "
            "files with title and abstract"
        )
    root = settings.vectorstore_dir
    with writer_lock(root):
        discard_stale(root, keep_previous=True)  # clear what a killed writer left
        base = None if rebuild else current_generation(root)
        if base is not None and read_manifest(base).get("config") != _index_config(settings):
            log.info("index settings changed; re-embedding every paper")
            base = None
        old = {sp.paper.paper_id: sp for sp in read_stored(base)} if base else {}
        by_title = {normalize_title(sp.paper.title): pid for pid, sp in old.items()}

        final: dict[str, StoredPaper] = {}
        to_embed: list[Paper] = []
        relabel: list[StoredPaper] = []
        counts = dict.fromkeys(("added", "updated", "relabeled", "unchanged"), 0)
        for paper in incoming:
            pid = paper.paper_id
            if pid not in old and by_title.get(normalize_title(paper.title)) in old:
                pid = by_title[normalize_title(paper.title)]  # same paper, another id
                if pid in final:
                    continue
                paper = Paper(pid, paper.title, paper.abstract, paper.metadata, paper.source)
            new = _stored(paper)
            prev = old.get(pid)
            if prev is None or prev.text_hash != new.text_hash:
                counts["added" if prev is None else "updated"] += 1
                to_embed.append(paper)
                final[pid] = new
            elif prev.meta_hash != new.meta_hash:
                counts["relabeled"] += 1
                final[pid] = _stored(paper, prev.chunks)
                relabel.append(final[pid])
            else:
                counts["unchanged"] += 1
                final[pid] = prev
        removed = [pid for pid in old if pid not in final] if prune else []
        for pid in old:
            if pid not in final and pid not in removed:
                final[pid] = old[pid]
        if not (to_embed or relabel or removed):
            return IngestReport(
                len(final), **counts, removed=0, chunks_embedded=0, generation=None,
                seconds=time.perf_counter() - started,
            )  # fmt: skip

        # Keep the old order so unchanged papers keep their BM25 row; new ones go last.
        order = [pid for pid in old if pid in final] + [pid for pid in final if pid not in old]
        chunks = {
            p.paper_id: chunk_paper(p, sentences=settings.chunk_sentences, overlap=settings.chunk_overlap)
            for p in to_embed
        }
        for pid, cs in chunks.items():
            final[pid] = _stored(final[pid].paper, tuple(c.text for c in cs))
        stale_ids = [
            chunk_id(pid, n)
            for pid in [*removed, *(p.paper_id for p in to_embed)]
            if pid in old
            for n in range(len(old[pid].chunks))
        ]

        embedder = get_embedder(settings)
        gen = new_generation(root, base)
        try:
            _write_generation(gen, settings, embedder, final, order, chunks, stale_ids, relabel, progress)
        except BaseException:
            shutil.rmtree(gen, ignore_errors=True)
            raise
        if to_embed:
            embedder.prepare_query_encoder()
        publish(root, gen)
        log.info("published %s with %d papers", gen.name, len(order))
        return IngestReport(
            len(order), **counts, removed=len(removed),
            chunks_embedded=sum(len(c) for c in chunks.values()),
            generation=gen.name, seconds=time.perf_counter() - started,
        )  # fmt: skip


def _write_generation(
    gen: Path,
    settings: Settings,
    embedder,
    final: dict[str, StoredPaper],
    order: list[str],
    chunks: dict,
    stale_ids: list[str],
    relabel: list[StoredPaper],
    progress: bool | None,
) -> None:
    """Apply one ingest's changes to the copied generation ``gen`` and verify it."""
    from tqdm.auto import tqdm

    client = chroma_client(gen / "chroma")
    try:
        store = chroma_store(client, embedder)
        collection = client.get_collection(COLLECTION)
        limit = client.get_max_batch_size()
        for start in range(0, len(stale_ids), limit):
            collection.delete(ids=stale_ids[start : start + limit])
        todo = [c for cs in chunks.values() for c in cs]
        if todo:
            embedder.load()
        step = max(1, min(limit, _ADD_BATCH))
        show = sys.stderr.isatty() if progress is None else progress
        with tqdm(total=len(todo), unit="chunk", desc="embedding", disable=not show) as bar:
            for start in range(0, len(todo), step):
                batch = todo[start : start + step]
                store.add_texts(
                    texts=[c.embed_text for c in batch],
                    metadatas=[_chunk_metadata(final[c.paper_id].paper, c.number) for c in batch],
                    ids=[c.chunk_id for c in batch],
                )
                bar.update(len(batch))
        for sp in relabel:
            numbers = range(len(sp.chunks))
            collection.update(
                ids=[chunk_id(sp.paper.paper_id, n) for n in numbers],
                metadatas=[_chunk_metadata(sp.paper, n) for n in numbers],
            )
        papers = [final[pid] for pid in order]
        vectors = _read_back(collection, papers, limit)
    finally:
        client.close()

    np.save(gen / "vectors.npy", vectors)
    with (gen / "papers.jsonl").open("w", encoding="utf-8") as fh:
        for sp in papers:
            fh.write(sp.to_json() + "\n")
    LexicalIndex.build([f"{sp.paper.title} {sp.paper.abstract}" for sp in papers]).save(gen / "bm25")
    manifest = {
        "format": FORMAT,
        "config": _index_config(settings),
        "papers": len(papers),
        "chunks": len(vectors),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (gen / "manifest.json").write_text(json.dumps(manifest, indent=2))


def _read_back(collection, papers: list[StoredPaper], limit: int) -> np.ndarray:
    """Fetch every chunk's stored vector in paper order; fail if any is missing.

    Reading back what Chroma holds both verifies the write (nothing is
    published unless every expected chunk is there, once) and gives the
    answerer an in-memory copy of the vectors it scores sentences with.
    """
    ids = [chunk_id(sp.paper.paper_id, n) for sp in papers for n in range(len(sp.chunks))]
    found: dict[str, np.ndarray] = {}
    for start in range(0, len(ids), limit):
        got = collection.get(ids=ids[start : start + limit], include=["embeddings"])
        found.update(zip(got["ids"], np.asarray(got["embeddings"], dtype=np.float32), strict=True))
    total = collection.count()
    if len(found) != len(ids) or total != len(ids):
        raise IngestError(
            f"Index check failed: {total} chunks stored, {len(ids)} expected — "
            'nothing was published; run "rag ingest --rebuild"'
        )
    return np.stack([found[i] for i in ids]) if ids else np.zeros((0, 0), dtype=np.float32)
