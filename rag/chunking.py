"""Papers to chunks: sentence windows that carry their paper's title.

Chunks are built from whole sentences (split by blingfire, which handles
"e.g.", "et al.", decimals and URLs) so that a retrieved chunk can be quoted
verbatim as a citation snippet. The embedded text starts with the title, which
tells the encoder what the sentence is about ("we propose X" means little alone).
"""

from __future__ import annotations

from dataclasses import dataclass

import blingfire

from .corpus import Paper


@dataclass(frozen=True, slots=True)
class Chunk:
    """A window of consecutive sentences from one abstract.

    Attributes:
        chunk_id: ``{paper_id}#{number}``; stable while the abstract is unchanged.
        paper_id: The paper the chunk belongs to.
        number: Position of the chunk in its paper, from 0.
        text: The sentences, verbatim from the abstract.
        embed_text: What the encoder sees: the title, then the text.

    """

    chunk_id: str
    paper_id: str
    number: int
    text: str
    embed_text: str


def split_sentences(text: str) -> list[str]:
    """Split text into sentences that are exact substrings of it."""
    if not text.strip():
        return []
    _, offsets = blingfire.text_to_sentences_and_offsets(text)
    sentences = [text[start:end].strip() for start, end in offsets]
    return [s for s in sentences if s]


def chunk_id(paper_id: str, number: int) -> str:
    """Return the stable id of a paper's chunk."""
    return f"{paper_id}#{number}"


def chunk_paper(paper: Paper, *, sentences: int = 1, overlap: int = 0) -> list[Chunk]:
    """Cut a paper's abstract into windows of ``sentences`` sentences.

    Args:
        paper: The paper to cut.
        sentences: Sentences per chunk (>= 1).
        overlap: Sentences shared by neighbouring windows (0 <= overlap < sentences).

    Returns:
        At least one chunk; every chunk's text is a verbatim span of the abstract.

    """
    if sentences < 1 or not 0 <= overlap < sentences:
        raise ValueError(f"need sentences >= 1 and 0 <= overlap < sentences, got {sentences}, {overlap}")
    parts = split_sentences(paper.abstract) or [paper.abstract]
    step = sentences - overlap
    windows = []
    for start in range(0, len(parts), step):
        windows.append(" ".join(parts[start : start + sentences]))
        if start + sentences >= len(parts):
            break
    return [
        Chunk(
            chunk_id=chunk_id(paper.paper_id, n),
            paper_id=paper.paper_id,
            number=n,
            text=text,
            embed_text=f"{paper.title}. {text}",
        )
        for n, text in enumerate(windows)
    ]
