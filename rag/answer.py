"""Question to cited answer: pick supporting sentences and cite each one.

The default (extractive) composer needs no LLM and only ever writes sentences
taken verbatim from the cited paper's abstract, so every citation can be
checked by a string search. When no retrieved paper is judged to answer (see
``support``), it says so and lists the closest papers without citing them as
support. With an LLM configured, ``answer`` hands over to ``rag.llm``, which
verifies the model's citations and falls back to this composer on failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import Runnable, RunnableConfig

from .config import Settings, resolve
from .followup import Turn, resolve_followup
from .index import Index, Passage, open_index
from .lexical import terms
from .retrieve import Hit, search, validate_question
from .support import Evidence, SupportModel

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

ABSTAIN_TEXT = "I couldn't find this in the indexed papers."
MAX_PAPERS = 5
RELATIVE_SUPPORT = 0.6
_MANY_RE = re.compile(
    r"\b(papers|works|studies|articles|approaches|methods|which (?:papers?|works?))\b", re.I
)
_URL_RE = re.compile(r"https?://|www\.|github\.com", re.I)

# Questions about a paper's facets use words its abstract rarely repeats: "which
# datasets?" is answered by a sentence naming "benchmarks". Stems, both sides.
_FACETS = {
    frozenset({"dataset", "data", "benchmark"}): "dataset benchmark corpus evalu",
    frozenset({"code", "implement", "github", "sourc", "repositori"}): "code github avail releas sourc",
    frozenset(
        {"result", "perform", "outperform", "well", "good", "accuraci"}
    ): "outperform improv perform achiev better state art result",
    frozenset(
        {"experi", "evalu", "valid", "test", "empir"}
    ): "experi evalu simul empir valid demonstr benchmark",
    frozenset({"compar", "baselin", "versus", "vs"}): "compar baselin outperform than vs",
    frozenset({"limit", "drawback", "weak", "fail"}): "limit howev challeng fail lack",
}


@dataclass(frozen=True, slots=True)
class Citation:
    """One numbered source of an answer.

    Attributes:
        number: The ``[n]`` used in the answer text.
        paper_id: The cited paper.
        title: Its title.
        snippet: The sentence(s) the answer takes from the abstract, verbatim.
        score: How strongly the paper supports the answer (0-1).

    """

    number: int
    paper_id: str
    title: str
    snippet: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "number": self.number,
            "paper_id": self.paper_id,
            "title": self.title,
            "snippet": self.snippet,
            "score": round(self.score, 4),
        }


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


def wants_many(question: str) -> bool:
    """True when the question asks for a list of papers rather than one answer."""
    return bool(_MANY_RE.search(question))


def _cite(sentence: str, number: int) -> str:
    """Put ``[n]`` before the sentence's final period, or after it otherwise."""
    sentence = sentence.strip()
    if sentence.endswith(".") and not sentence.endswith(".."):
        return f"{sentence[:-1]} [{number}]."
    return f"{sentence} [{number}]"


def _short_title(title: str) -> str:
    head = title.split(":")[0].strip()
    return head if len(head) <= 60 else title[:57].rstrip() + "..."


def _facet_weights(weights: dict[str, float]) -> dict[str, float]:
    """Add the facet words a question's terms imply (each at its trigger's weight)."""
    out = dict(weights)
    for triggers, expansion in _FACETS.items():
        hit = [weights[t] for t in triggers if t in weights]
        for term in expansion.split() if hit else ():
            out[term] = max(out.get(term, 0.0), max(hit))
    return out


def _sentence_scores(passages: Sequence[Passage], weights: dict[str, float]) -> list[float]:
    """Similarity plus the IDF share of question (and facet) terms a sentence contains."""
    total = sum(weights.values()) or 1.0
    expanded = _facet_weights(weights)
    wants_code = "github" in expanded
    scores = []
    for p in passages:
        have = set(terms(p.text))
        overlap = min(1.0, sum(w for t, w in expanded.items() if t in have) / total)
        penalty = 0.3 if _URL_RE.search(p.text) and not wants_code else 0.0
        scores.append(p.similarity + 0.5 * overlap - penalty)
    return scores


def _pick_sentences(hit: Hit, weights: dict[str, float], limit: int) -> list[Passage]:
    """The paper's best chunk, plus a neighbour if nearly as good, in abstract order.

    Only neighbours are added so the snippet stays one verbatim span of the abstract.
    """
    scores = _sentence_scores(hit.passages, weights)
    best = max(range(len(scores)), key=scores.__getitem__)
    chosen = [hit.passages[best]]
    if limit > 1:
        near = [i for i, p in enumerate(hit.passages) if abs(p.number - chosen[0].number) == 1]
        near = [i for i in near if scores[i] >= 0.85 * scores[best]]
        if near:
            chosen.append(hit.passages[max(near, key=scores.__getitem__)])
    return sorted(chosen, key=lambda p: p.number)


def _margin(hits: Sequence[Hit], i: int) -> float:
    others = [h.similarity for j, h in enumerate(hits) if j != i][:5]
    return hits[i].similarity - (sum(others) / len(others) if others else 0.0)


def compose(
    question: str,
    hits: Sequence[Hit],
    model: SupportModel,
    *,
    focus: Sequence[str] = (),
) -> tuple[str, tuple[Citation, ...]]:
    """Write the extractive answer body and its citations (empty when abstaining).

    Args:
        question: The question whose terms choose the sentences.
        hits: Retrieved papers, best first.
        model: The collection's support model.
        focus: Paper ids a follow-up refers to; when given, only they are cited.

    """
    profile = model.profile(question)
    if focus:
        chosen = [(h, 1.0) for h in hits if h.paper_id in focus]
    else:
        judged: list[tuple[Hit, Evidence]] = [
            (h, model.judge(profile, h.paper_id, h.similarity, _margin(hits, i))) for i, h in enumerate(hits)
        ]
        supported = [(h, e.probability) for h, e in judged if e.supported]
        if wants_many(question) and supported:
            # A list keeps papers whose support is comparable to the best one's
            # and that share its rarest matching term: "machine unlearning"
            # lists papers on unlearning, not every paper on machine learning.
            floor = RELATIVE_SUPPORT * max(p for _, p in supported)
            best = max(supported, key=lambda hp: hp[1])[0]
            topic = model.topic_term(profile, best.paper_id)
            chosen = [
                (h, p)
                for h, p in supported
                if p >= floor and (topic is None or model.has_term(h.paper_id, topic))
            ][:MAX_PAPERS]
        else:
            chosen = supported[:1]
    if not chosen:
        return "", ()

    citations = []
    lines = []
    many = len(chosen) > 1
    for number, (hit, probability) in enumerate(chosen, start=1):
        picked = _pick_sentences(hit, profile.weights, limit=1 if many else 2)
        snippet = " ".join(p.text for p in picked)
        citations.append(Citation(number, hit.paper_id, hit.title, snippet, probability))
        cited = " ".join(_cite(p.text, number) for p in picked)
        lines.append(f"- **{_short_title(hit.title)}**: {cited}" if many else cited)
    return "\n".join(lines), tuple(citations)


def abstention(hits: Sequence[Hit]) -> str:
    """The "not in the collection" body, naming the closest papers as such."""
    body = ABSTAIN_TEXT
    if hits:
        closest = "\n".join(f"- {h.title}" for h in hits[:3])
        body += f"\n\nClosest papers (they do not answer the question):\n{closest}"
    return body


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
        and index.support.judge(
            profile, pid, hits[by_id[pid]].similarity, _margin(hits, by_id[pid])
        ).supported
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
