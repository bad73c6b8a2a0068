"""The persisted index: immutable generations, an atomic pointer and a writer lock.

Chroma is not safe against a writer killed mid-update, nor for two writer
processes on one directory. So the index folder holds *generations*::

    vectorstore/
      CURRENT             name of the live generation, replaced atomically
      .lock               held by the one process allowed to write
      gen-000007/         a complete, never-modified snapshot
        chroma/           Chroma PersistentClient folder (cosine space)
        bm25/             lexical index
        papers.jsonl      the papers, with content hashes and chunk texts
        vectors.npy       every chunk's vector, in papers.jsonl order
        manifest.json     model, chunking and counts

A writer copies the live generation, changes the copy, verifies it, and only
then points CURRENT at it. A writer killed at any moment leaves CURRENT on a
complete generation, so readers see the index as it was before or as it is
after, never half of each. Stray generations are deleted by the next writer.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .corpus import Paper
from .errors import IndexBusyError, IndexIncompatibleError, IndexNotFoundError

log = logging.getLogger(__name__)

FORMAT = 1
COLLECTION = "papers"
_GEN_RE = re.compile(r"^gen-(\d{6})$")


@dataclass(frozen=True, slots=True)
class StoredPaper:
    """A paper as recorded in a generation: hashes to diff it, chunk texts to quote."""

    paper: Paper
    text_hash: str
    meta_hash: str
    chunks: tuple[str, ...] = ()

    def to_json(self) -> str:
        """Serialize for ``papers.jsonl``."""
        return json.dumps(
            {
                **self.paper.to_dict(),
                "text_hash": self.text_hash,
                "meta_hash": self.meta_hash,
                "chunks": list(self.chunks),
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, line: str) -> StoredPaper:
        """Parse one ``papers.jsonl`` line."""
        d = json.loads(line)
        paper = Paper(d["paper_id"], d["title"], d["abstract"], d["metadata"], d["source"])
        return cls(paper, d["text_hash"], d["meta_hash"], tuple(d["chunks"]))


def current_generation(root: Path) -> Path | None:
    """Return the live generation folder, or None when there is no index."""
    try:
        name = (root / "CURRENT").read_text().strip()
    except FileNotFoundError:
        return None
    gen = root / name
    return gen if _GEN_RE.match(name) and (gen / "manifest.json").exists() else None


def require_generation(root: Path) -> Path:
    """Return the live generation or raise a message that says how to make one."""
    gen = current_generation(root)
    if gen is None:
        raise IndexNotFoundError(f'No index in {root}/ — run "rag ingest seeds/" (or make run) to build it')
    return gen


def read_manifest(gen: Path) -> dict[str, Any]:
    """Read a generation's manifest."""
    manifest = json.loads((gen / "manifest.json").read_text())
    if manifest.get("format") != FORMAT:
        raise IndexIncompatibleError(
            f"The index in {gen.parent}/ has format {manifest.get('format')}, this version "
            f'reads {FORMAT} — rebuild it with "rag ingest --rebuild"'
        )
    return manifest


def read_papers(gen: Path) -> list[StoredPaper]:
    """Read a generation's papers in index order."""
    with (gen / "papers.jsonl").open(encoding="utf-8") as fh:
        return [StoredPaper.from_json(line) for line in fh if line.strip()]


@contextmanager
def writer_lock(root: Path) -> Iterator[None]:
    """Hold the index's writer lock, or fail at once with ``IndexBusyError``.

    The lock is an OS file lock, so a killed writer releases it automatically.
    """
    from filelock import FileLock, Timeout

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
        yield
    finally:
        lock.release()


def _generations(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and _GEN_RE.match(p.name))


def new_generation(root: Path, base: Path | None) -> Path:
    """Create the next generation folder, starting as a copy of ``base`` if given.

    Call only while holding ``writer_lock``.
    """
    gens = _generations(root)
    number = int(_GEN_RE.match(gens[-1].name).group(1)) + 1 if gens else 1
    gen = root / f"gen-{number:06d}"
    if base is not None:
        shutil.copytree(base / "chroma", gen / "chroma")
    else:
        gen.mkdir()
    return gen


def _fsync_tree(folder: Path) -> None:
    for dirpath, _, files in os.walk(folder):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def write_json_atomic(path: Path, data: str) -> None:
    """Write a small file so that readers see the old or the new content, never a mix."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def publish(root: Path, gen: Path) -> None:
    """Make ``gen`` the live generation and delete ones no reader should need.

    The generation before ``gen`` is kept so that a reader that has just read
    the old pointer can still open it.
    """
    _fsync_tree(gen)
    write_json_atomic(root / "CURRENT", gen.name + "\n")
    dir_fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    discard_stale(root, keep_previous=True)


def discard_stale(root: Path, *, keep_previous: bool) -> None:
    """Delete generations that are neither live nor (optionally) the one before it.

    Call only while holding ``writer_lock``; this also removes what a killed
    writer left behind.
    """
    live = current_generation(root)
    gens = _generations(root)
    keep = {live} if live else set()
    if keep_previous and live is not None:
        older = [g for g in gens if g.name < live.name]
        if older:
            keep.add(older[-1])
    for gen in gens:
        if gen not in keep:
            shutil.rmtree(gen, ignore_errors=True)
    for tmp in root.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def chroma_client(folder: Path) -> Any:
    """Open a Chroma PersistentClient on ``folder`` with telemetry off."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb.PersistentClient(path=str(folder), settings=ChromaSettings(anonymized_telemetry=False))


def chroma_store(client: Any, embedder: Any) -> Any:
    """Return the LangChain ``Chroma`` vector store over the papers collection."""
    from langchain_chroma import Chroma

    return Chroma(
        collection_name=COLLECTION,
        embedding_function=embedder,
        client=client,
        collection_configuration={"hnsw": {"space": "cosine"}},
    )
