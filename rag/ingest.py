"""Inputs to index: diff papers against the store, embed only what changed, commit once.

Inputs are streamed twice: once to validate every record (a malformed line
anywhere stops the ingest before the model loads or anything is written),
then in batches of ``_BATCH`` papers, each looked up in the store by id and
normalized title, so the work follows the number of papers read, not the
size of the index. Everything an ingest writes becomes visible in one commit
(see ``store``); unchanged inputs embed and write nothing.
"""

from __future__ import annotations

import itertools
import logging
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .chunking import chunk_paper
from .config import Settings, resolve
from .corpus import Paper, input_files, normalize_title, read_papers
from .embeddings import get_embedder
from .errors import IngestError
from .store import FORMAT, PaperRecord, Writer, open_writer, paper_version, remove_legacy, text_version

log = logging.getLogger(__name__)

_BATCH = 256  # papers looked up, embedded and written together


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
        transaction: The committed transaction's number, or None when nothing changed.
        seconds: Wall time of the ingest.

    """

    papers: int
    added: int
    updated: int
    relabeled: int
    removed: int
    unchanged: int
    chunks_embedded: int
    transaction: int | None
    seconds: float

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return asdict(self)


def index_config(settings: Settings) -> dict[str, object]:
    """What must match for stored vectors to be reused."""
    return {
        "format": FORMAT,
        "embed_model": settings.embed_model,
        "chunk_sentences": settings.chunk_sentences,
        "chunk_overlap": settings.chunk_overlap,
    }


def _batches(papers: Iterable[Paper], size: int) -> Iterator[list[Paper]]:
    it = iter(papers)
    while batch := list(itertools.islice(it, size)):
        yield batch


class _Run:
    """One ingest's bookkeeping: what was seen, what changed, what was embedded."""

    def __init__(self, writer: Writer, settings: Settings, bar) -> None:
        self.writer = writer
        self.settings = settings
        self.bar = bar
        self.seen: set[str] = set()
        self.counts = dict.fromkeys(("added", "updated", "relabeled", "unchanged", "removed"), 0)
        self.embedded = 0

    def batch(self, papers: list[Paper]) -> None:
        """Diff one batch against the store and stage what changed."""
        known = self.writer.lookup([p.paper_id for p in papers], [normalize_title(p.title) for p in papers])
        by_id = {r.paper.paper_id: r for r in known}
        by_title = {normalize_title(r.paper.title): r for r in known}
        fresh: list[Paper] = []
        relabel: list[PaperRecord] = []
        retire: list[PaperRecord] = []
        for paper in papers:
            prev = by_id.get(paper.paper_id)
            if prev is None and (same := by_title.get(normalize_title(paper.title))) is not None:
                prev = same  # the same paper under another id: keep the indexed id
                paper = Paper(prev.paper.paper_id, paper.title, paper.abstract, paper.metadata, paper.source)
            if paper.paper_id in self.seen:
                continue
            self.seen.add(paper.paper_id)
            if prev is None:
                self.counts["added"] += 1
                fresh.append(paper)
            elif prev.text != text_version(paper):
                self.counts["updated"] += 1
                fresh.append(paper)
                retire.append(prev)
            elif prev.version != paper_version(paper):
                self.counts["relabeled"] += 1
                relabel.append(
                    PaperRecord(paper, paper_version(paper), prev.text, prev.chunks, 0, prev.centroid)
                )
                retire.append(prev)
            else:
                self.counts["unchanged"] += 1
        items = self._embed(fresh)
        items += [(r, None, None) for r in relabel]
        self.writer.retire(retire)
        self.writer.put_many(items)
        self.bar.update(len(papers))

    def _embed(self, papers: list[Paper]) -> list[tuple[PaperRecord, list[str], np.ndarray]]:
        if not papers:
            return []
        s = self.settings
        chunks = [chunk_paper(p, sentences=s.chunk_sentences, overlap=s.chunk_overlap) for p in papers]
        embedder = get_embedder(s)
        vectors = embedder.encode([c.embed_text for cs in chunks for c in cs])
        self.embedded += len(vectors)
        out, start = [], 0
        for paper, cs in zip(papers, chunks, strict=True):
            out.append(
                (PaperRecord.of(paper, len(cs)), [c.text for c in cs], vectors[start : start + len(cs)])
            )
            start += len(cs)
        return out

    def prune(self) -> None:
        """Retire every indexed paper the inputs did not name."""
        gone = [r for r in self.writer.live() if r.paper.paper_id not in self.seen]
        self.counts["removed"] = len(gone)
        self.writer.retire(gone)

    @property
    def changed(self) -> bool:
        c = self.counts
        return bool(c["added"] or c["updated"] or c["relabeled"] or c["removed"])


def validate(paths: list[str | Path]) -> int:
    """Read every input once without keeping it; return how many papers there are.

    Raises:
        IngestError: An input is missing, malformed or holds no papers.

    """
    count = sum(1 for _ in read_papers(paths))
    if not count:
        shown = ", ".join(str(p) for p in paths)
        raise IngestError(
            f"No papers found in {shown} — expected .txt page dumps, .jsonl or .csv "
            "files with title and abstract"
        )
    return count


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
        rebuild: Ignore the existing index and build a fresh one from ``paths``
            (published in one step; the old one stays live until then).
        settings: Settings; ``None`` reads ``RAG_*`` variables.
        progress: Show a progress bar on stderr (default: when it is a terminal).

    Returns:
        What changed.

    Raises:
        IngestError: An input is missing, malformed or holds no papers; the index is untouched.
        IndexBusyError: Another process is writing the index.
        StoreUnavailableError: The Chroma server cannot be reached.

    """
    from tqdm.auto import tqdm

    started = time.perf_counter()
    settings = resolve(settings)
    paths = [settings.seeds_dir] if paths is None else list(paths)
    if not paths:
        raise IngestError("No inputs given — pass files or folders, e.g. rag ingest seeds/")
    input_files(paths)  # a missing path fails before anything else
    total = validate(paths)
    show = sys.stderr.isatty() if progress is None else progress
    with (
        open_writer(settings, index_config(settings), rebuild=rebuild) as writer,
        tqdm(total=total, unit="paper", desc="indexing", disable=not show) as bar,
    ):
        run = _Run(writer, settings, bar)
        for batch in _batches(read_papers(paths), _BATCH):
            run.batch(batch)
        if prune:
            run.prune()
        if not run.changed and not writer.fresh:
            return IngestReport(
                writer.papers, **run.counts, chunks_embedded=0, transaction=None,
                seconds=time.perf_counter() - started,
            )  # fmt: skip
        head = writer.commit()
    log.info("committed transaction %d with %d papers", head.txn, head.papers)
    remove_legacy(settings)
    if run.embedded:
        get_embedder(settings).prepare_query_encoder()
    return IngestReport(
        head.papers, **run.counts, chunks_embedded=run.embedded, transaction=head.txn,
        seconds=time.perf_counter() - started,
    )  # fmt: skip


def remove(paper_ids: Iterable[str], *, settings: Settings | None = None) -> IngestReport:
    """Remove papers by id in one commit; unknown ids are ignored (and counted as unchanged).

    Raises:
        ValueError: No ids were given.
        IndexNotFoundError: There is no index.
        IndexBusyError: Another process is writing the index.

    """
    from .store import shared_store

    started = time.perf_counter()
    settings = resolve(settings)
    ids = list(dict.fromkeys(str(i) for i in paper_ids))
    if not ids:
        raise ValueError("No paper ids given — pass the ids shown by rag search --json")
    shared_store(settings).require_head()
    with open_writer(settings, index_config(settings)) as writer:
        if writer.fresh:
            raise IngestError('The index was built with other settings — run "rag ingest --rebuild" first')
        found = [r for r in writer.lookup(ids, []) if r.paper.paper_id in set(ids)]
        writer.retire(found)
        counts = dict.fromkeys(("added", "updated", "relabeled"), 0)
        if not found:
            return IngestReport(
                writer.papers, **counts, removed=0, unchanged=len(ids), chunks_embedded=0,
                transaction=None, seconds=time.perf_counter() - started,
            )  # fmt: skip
        head = writer.commit()
    return IngestReport(
        head.papers, **counts, removed=len(found), unchanged=len(ids) - len(found), chunks_embedded=0,
        transaction=head.txn, seconds=time.perf_counter() - started,
    )  # fmt: skip
