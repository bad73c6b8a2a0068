"""Question to cited answer: the public ``answer`` API and its result types.

``answer`` resolves follow-ups (``followup``), retrieves (``retrieve``) and
hands the hits to the extractive composer (``compose``), which needs no LLM and
quotes the supporting papers verbatim; when none supports the question it says
so. With an LLM configured, it hands over to ``rag.llm`` instead, which
verifies the model's citations and falls back to the extractive answer on any
failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import Runnable, RunnableConfig

from .compose import Citation, abstention, compose, margin
from .config import Settings, resolve
from .followup import Turn, resolve_followup
from .index import Index, open_index
from .retrieve import Hit, search, validate_question

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel


@dataclass(frozen=True, slots=True)
class Removal:
    """Something citation verification took out of an LLM's answer.

    Attributes:
        sentence: The LLM's sentence (with citations it put after the full stop moved before it).
        citation: The ``[n]`` removed from it, numbered as in the LLM's prompt;
            ``None`` when the whole sentence was dropped.
        reason: Why, in words (e.g. ``not a source``, ``does not support it (...)``).

    """

    sentence: str
    citation: int | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"sentence": self.sentence, "citation": self.citation, "reason": self.reason}


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
    question, settings, k = _validated(question, k, settings)
    from .llm import chosen_llm, llm_answer

    chosen = chosen_llm(llm, settings)
    if chosen is None:
        return extractive_answer(question, history=history, k=k, settings=settings)
    *_, result = llm_answer(question, chosen, history=history or (), k=k, settings=settings, stream=False)
    return result


def _validated(question: str, k: int | None, settings: Settings | None) -> tuple[str, Settings, int]:
    question = validate_question(question)
    settings = resolve(settings)
    k = settings.top_k if k is None else k
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return question, settings, k


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
    question, settings, k = _validated(question, k, settings)
    index = open_index(settings)
    with index.reading():
        return _extractive(index, question, history, k)


def _extractive(index: Index, question: str, history: Sequence[Turn] | None, k: int) -> Answer:
    model = index.support
    standalone, focus = resolve_followup(question, history or (), index)
    hits = search(index, standalone, index.embedder.query_vector(standalone), k)
    if not focus:
        body, citations = compose(standalone, hits, model)
        if not citations and history:
            # "What are the two stages?" names nothing and has no pronoun, yet
            # may be about the last paper: accept that reading only if the
            # paper supports the question together with the earlier one.
            standalone, focus = resolve_followup(question, history, index, force=True)
            if focus and supports(index, standalone, focus):
                hits = search(index, standalone, index.embedder.query_vector(standalone), k)
            else:
                standalone, focus = question, []
    if focus:
        hits = with_focus(index, hits, focus, index.embedder.query_vector(question))
        body, citations = compose(question, hits, model, focus=focus)
    if not citations:
        return Answer(question, abstention(hits), (), True, tuple(hits), standalone)
    return Answer(question, body, citations, False, tuple(hits), standalone)


def supports(index: Index, question: str, paper_ids: Sequence[str]) -> bool:
    """True when the support model judges every paper to answer ``question``."""
    hits = search(index, question, index.embedder.query_vector(question), max(6, len(paper_ids)))
    by_id = {h.paper_id: i for i, h in enumerate(hits)}
    profile = index.support.profile(question)
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
    question, settings, k = _validated(question, k, settings)
    from .llm import chosen_llm, llm_answer

    chosen = chosen_llm(llm, settings)
    if chosen is not None:
        yield from llm_answer(question, chosen, history=history or (), k=k, settings=settings, stream=True)
        return
    result = extractive_answer(question, history=history, k=k, settings=settings)
    text = result.text
    for piece in re.findall(r".+?(?:[.?!](?:\s+|$)|\n+|$)", text, flags=re.S):
        if piece:
            yield piece
    yield result


class AnswerChain(Runnable[Any, Answer]):
    """``answer`` as a LangChain Runnable: ``invoke``, ``batch`` and ``stream``.

    Input is a question string or ``{"question": str, "history": [...]}``.
    """

    def __init__(
        self,
        *,
        k: int | None = None,
        settings: Settings | None = None,
        llm: BaseChatModel | str | None = None,
    ) -> None:
        """Bind retrieval depth, settings and the LLM (see ``answer``) for every call."""
        self.k = k
        self.settings = settings
        self.llm = llm

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Answer:
        """Answer one question."""
        question, history = (
            (input["question"], input.get("history")) if isinstance(input, dict) else (input, None)
        )
        return answer(question, history=history, k=self.k, settings=self.settings, llm=self.llm)
