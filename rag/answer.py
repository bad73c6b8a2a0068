"""Question to cited answer: the orchestrator, and the ``Answer`` it returns.

Data flows one way, from here down: ``answer`` resolves follow-ups
(``followup``), retrieves (``retrieve``), then either quotes the supporting
papers (``compose``, no LLM) or has the LLM write from them (``llm``) and keeps
only what the cited papers support (``verify``). Any LLM failure gives the
extractive answer with a note saying why. None of those modules calls back up.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .compose import Citation, abstention, compose, margin
from .config import Settings
from .embeddings import get_embedder
from .errors import LLMError
from .followup import Turn, content_of, resolve_followup
from .index import Index, open_index
from .llm import Budget, chosen_llm, rewrite_question, without_reasoning, write_answer, writer
from .retrieve import Hit, search, validate_request
from .verify import DECLINED, UNCITED, Removal, Verified, verify

if TYPE_CHECKING:
    import numpy as np
    from langchain_core.language_models import BaseChatModel

logger = logging.getLogger(__name__)
_PIECE = re.compile(r".+?(?:[.?!](?:\s+|$)|\n+|$)", re.S)  # a sentence, a line, or the rest


@dataclass(frozen=True, slots=True)
class Answer:
    """A cited answer, or an explicit "not in the collection".

    Attributes:
        question: The question as asked.
        body: The answer in Markdown, with ``[n]`` after every cited sentence.
        citations: The cited papers, numbered from 1, in order of first use.
        abstained: True when the collection does not answer the question.
        hits: The papers retrieved for the question, best first.
        standalone: The question used for retrieval (follow-ups resolved).
        mode: ``extractive`` or ``llm``.
        notes: Things the user should know (e.g. why an LLM answer fell back).
        removed: What citation verification took out of the LLM's answer (also
            kept when the answer fell back to the extractive one); empty otherwise.

    """

    question: str
    body: str
    citations: tuple[Citation, ...]
    abstained: bool
    hits: tuple[Hit, ...]
    standalone: str = ""
    mode: str = "extractive"
    notes: tuple[str, ...] = field(default=())
    removed: tuple[Removal, ...] = field(default=())

    @property
    def references(self) -> str:
        """The numbered reference list in Markdown (empty when nothing is cited)."""
        return "\n".join(f"[{c.number}] {c.title}" for c in self.citations)

    @property
    def text(self) -> str:
        """The full Markdown answer: body, then the references."""
        parts = [self.body]
        if self.citations:
            parts.append("References:\n" + self.references)
        if self.notes:
            parts.append("\n".join(f"Note: {n}" for n in self.notes))
        return "\n\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "question": self.question,
            "text": self.text,
            "body": self.body,
            "citations": [c.to_dict() for c in self.citations],
            "abstained": self.abstained,
            "standalone": self.standalone,
            "mode": self.mode,
            "notes": list(self.notes),
            "removed": [r.to_dict() for r in self.removed],
            "hits": [h.to_dict() for h in self.hits],
        }


def answer(
    question: str,
    *,
    history: Sequence[Turn] | None = None,
    k: int | None = None,
    settings: Settings | None = None,
    llm: BaseChatModel | str | None = None,
) -> Answer:
    """Answer a question from the indexed papers, citing every sentence.

    Args:
        question: The question.
        history: Earlier chat turns, oldest first: ``{"role": "user"|"assistant",
            "content": str}`` dicts (Gradio's messages format) or plain strings
            (earlier user questions). Used to resolve follow-ups like
            "what datasets did they use?".
        k: Papers to consider (default ``settings.top_k``).
        settings: Settings; ``None`` reads ``RAG_*`` variables.
        llm: A LangChain chat model, or ``provider:model`` (``openai:gpt-4o-mini``,
            ``ollama:llama3.1``) built from ``settings.llm_*``; ``None`` uses
            ``settings.llm``; empty or ``"extractive"`` means no LLM. An LLM answer
            has its citations verified, and falls back to the extractive answer
            (with a note saying why) when the LLM fails.

    Returns:
        The answer; ``abstained`` is True when the papers do not answer it.

    Raises:
        ValueError: The question is empty, or ``llm`` names no known provider.
        IndexNotFoundError: No index has been built yet.

    """
    question, settings, k = validate_request(question, k, settings)
    chosen = chosen_llm(llm, settings)
    if chosen is None:
        return extractive_answer(question, history=history, k=k, settings=settings)
    *_, result = _llm_answer(question, chosen, history or (), k, settings, stream=False)
    return result


def extractive_answer(
    question: str,
    *,
    history: Sequence[Turn] | None = None,
    k: int | None = None,
    settings: Settings | None = None,
) -> Answer:
    """The extractive answer (no LLM): quoted sentences of the supporting papers.

    Arguments as for ``answer``.
    """
    question, settings, k = validate_request(question, k, settings)
    # Encode the question while open_index reads the store's head (over HTTP in
    # server mode): both wait on something other than Python, so they overlap.
    encoding = _ENCODER.submit(get_embedder(settings).query_vector, question)
    index = open_index(settings)
    with index.reading():
        return _extractive(index, question, history, k, encoding)


# One thread is enough: it only overlaps a question's encoding with its head read.
_ENCODER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="paperchat-encode")


def _extractive(
    index: Index, question: str, history: Sequence[Turn] | None, k: int, encoding: Future | None = None
) -> Answer:
    model = index.support
    standalone, focus = resolve_followup(question, history or (), index)
    vectors = {question: encoding.result()} if encoding is not None else {}

    def vector(text: str) -> np.ndarray:
        """Each text encoded once: retrieval and the support model need the same vector."""
        if text not in vectors:
            vectors[text] = index.embedder.query_vector(text)
        return vectors[text]

    if not focus:
        hits = _hits(index, question, standalone, focus, k, vector)
        body, citations = compose(standalone, hits, model, vector=vector(standalone))
        if not citations and history:
            # "What are the two stages?" names nothing and has no pronoun, yet
            # may be about the last paper: accept that reading only if the
            # paper supports the question together with the earlier one.
            standalone, focus = resolve_followup(question, history, index, force=True)
            if not (focus and supports(index, standalone, focus, vector(standalone))):
                standalone, focus = question, []
    if focus:
        hits = _hits(index, question, standalone, focus, k, vector)
        body, citations = compose(question, hits, model, focus=focus)
    if not citations:
        return Answer(question, abstention(hits), (), True, tuple(hits), standalone)
    return Answer(question, body, citations, False, tuple(hits), standalone)


def _hits(
    index: Index,
    question: str,
    standalone: str,
    focus: Sequence[str],
    k: int,
    vector: Callable[[str], np.ndarray],
) -> list[Hit]:
    """Retrieve for the standalone question; a follow-up's papers first (``with_focus``)."""
    hits = search(index, standalone, vector(standalone), k)
    if focus:
        hits = with_focus(index, hits, focus, vector(question))
    return hits


def supports(index: Index, question: str, paper_ids: Sequence[str], vector: np.ndarray) -> bool:
    """True when the support model judges every paper to answer ``question`` (``vector``: its embedding)."""
    hits = search(index, question, vector, max(6, len(paper_ids)))
    by_id = {h.paper_id: i for i, h in enumerate(hits)}
    profile = index.support.profile(question, vector)
    return all(
        pid in by_id
        and index.support.judge(profile, pid, hits[by_id[pid]].similarity, margin(hits, by_id[pid])).supported
        for pid in paper_ids
    )


def with_focus(index: Index, hits: list[Hit], focus: Sequence[str], vector) -> list[Hit]:
    """Put the papers a follow-up refers to first, their sentences scored by ``vector``.

    ``vector`` is the follow-up alone: "which datasets?" should pick the
    sentence about datasets, not the one closest to the paper's title.
    """
    by_id = {h.paper_id: h for h in hits}
    front = []
    for pid in focus:
        old = by_id.get(pid)
        passages = sorted(index.passages(pid, vector), key=lambda p: -p.similarity)
        score, lexical = (old.score, old.lexical) if old else (0.0, 0.0)
        front.append(Hit(index.paper(pid), score, 0, passages[0].similarity, lexical, tuple(passages)))
    rest = [h for h in hits if h.paper_id not in focus]
    return [
        Hit(h.paper, h.score, rank, h.similarity, h.lexical, h.passages)
        for rank, h in enumerate(front + rest, start=1)
    ]


def answer_stream(
    question: str,
    *,
    history: Sequence[Turn] | None = None,
    k: int | None = None,
    settings: Settings | None = None,
    llm: BaseChatModel | str | None = None,
) -> Iterator[str | Answer]:
    """Yield the answer in pieces as it is produced, then the final ``Answer``.

    Extractive: the answer is ready at once and is yielded sentence by
    sentence; the pieces concatenate to ``Answer.text``.

    LLM: the pieces are the model's tokens as they arrive. Citations are
    verified only once the model has finished, so the final ``Answer`` is
    authoritative and may differ from the streamed text (sentences or
    citations removed, numbers changed, or the extractive answer when the LLM
    failed mid-way): show the pieces while they arrive, then replace them with
    ``Answer.text``.

    Args:
        question: The question.
        history: Earlier chat turns (see ``answer``).
        k: Papers to consider.
        settings: Settings; ``None`` reads ``RAG_*`` variables.
        llm: The LLM (see ``answer``).

    Yields:
        ``str`` pieces, then the final ``Answer``.
    """
    question, settings, k = validate_request(question, k, settings)
    chosen = chosen_llm(llm, settings)
    if chosen is not None:
        yield from _llm_answer(question, chosen, history or (), k, settings, stream=True)
        return
    result = extractive_answer(question, history=history, k=k, settings=settings)
    yield from (piece for piece in _PIECE.findall(result.text) if piece)
    yield result


def _llm_answer(
    question: str,
    llm: BaseChatModel | str,
    history: Sequence[Turn],
    k: int,
    settings: Settings,
    *,
    stream: bool,
) -> Iterator[str | Answer]:
    """Have the LLM write from the retrieved papers; yield its tokens (when ``stream``), then the Answer.

    The read lock is held for each step that reads the index, never while
    waiting for the model, so an ingest is not held up by a slow LLM.
    """
    index = open_index(settings)
    budget = Budget(settings.llm_timeout)
    removed: tuple[Removal, ...] = ()
    try:
        chat = writer(llm, settings)
        with index.reading():
            standalone, focus = resolve_followup(question, history, index)
        if any(content_of(t)[1].strip() for t in history):
            standalone = rewrite_question(chat, question, history, budget) or standalone
        with index.reading():
            hits = _hits(index, question, standalone, focus, k, index.embedder.query_vector)
        if not hits:
            yield Answer(question, abstention(hits), (), True, (), standalone, "llm")
            return
        parts = []
        for piece in write_answer(chat, standalone, hits, budget, stream=stream):
            parts.append(piece)
            if stream:
                yield piece
        text = "".join(parts)
        if not text.strip():
            raise LLMError("LLM answer not usable (empty reply)")
        with index.reading():
            checked = verify(without_reasoning(text), hits, index, index.support)
        removed = checked.removed
        result = _checked_answer(question, standalone, hits, checked)
    except LLMError as exc:
        logger.warning("%s; falling back to the extractive answer", exc)
        result = extractive_answer(question, history=history, k=k, settings=settings)
        note = f"{exc}; showing the extractive answer."
        result = dataclasses.replace(result, notes=(*result.notes, note), removed=removed)
    yield result


def _checked_answer(question: str, standalone: str, hits: Sequence[Hit], checked: Verified) -> Answer:
    """The LLM's answer as the citation check left it; ``LLMError`` when nothing usable is left."""
    hits = tuple(hits)
    if not checked.citations:
        if checked.declined:
            return Answer(question, abstention(hits), (), True, hits, standalone, "llm", (), checked.removed)
        uncited = all(r.reason == UNCITED for r in checked.removed)
        why = "it cited no source" if uncited else "no sentence is supported by the papers it cites"
        raise LLMError(f"LLM answer not usable ({why})")
    notes = []
    dropped = sum(r.citation is None for r in checked.removed if r.reason != DECLINED)
    cut = sum(r.citation is not None for r in checked.removed)
    if dropped or cut:
        counts = [
            f"{n} {word}{'s' if n > 1 else ''}" for n, word in ((dropped, "sentence"), (cut, "citation")) if n
        ]
        notes.append(f"Citation check removed {' and '.join(counts)} that the papers do not support.")
    if checked.declined:
        notes.append("The LLM said the indexed papers do not answer all of the question.")
    return Answer(
        question,
        checked.body,
        checked.citations,
        False,
        hits,
        standalone,
        "llm",
        tuple(notes),
        checked.removed,
    )
