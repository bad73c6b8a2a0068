"""Question to cited answer, with no LLM: pick supporting sentences, cite each one.

The extractive composer only ever writes sentences taken verbatim from the
cited paper's abstract, so every citation can be checked by a string search.
When no retrieved paper is judged to answer (see ``support``), it says so and
lists the closest papers without citing them as support.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig

from .config import Settings, resolve
from .followup import Turn, resolve_followup
from .index import Index, Passage, open_index
from .lexical import terms
from .retrieve import Hit, search, validate_question
from .support import Evidence, SupportModel

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

    """

    question: str
    body: str
    citations: tuple[Citation, ...]
    abstained: bool
    hits: tuple[Hit, ...]
    standalone: str = ""
    mode: str = "extractive"
    notes: tuple[str, ...] = field(default=())

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
            # A list keeps papers whose support is comparable to the best one's.
            floor = RELATIVE_SUPPORT * max(p for _, p in supported)
            chosen = [(h, p) for h, p in supported if p >= floor][:MAX_PAPERS]
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


def _support_model(index: Index) -> SupportModel:
    model = getattr(index, "_support", None)
    if model is None:
        model = SupportModel(index.papers, index.lexical)
        index._support = model  # built once per opened generation
    return model


def answer(
    question: str,
    *,
    history: Sequence[Turn] | None = None,
    k: int | None = None,
    settings: Settings | None = None,
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

    Returns:
        The answer; ``abstained`` is True when the papers do not answer it.

    Raises:
        ValueError: The question is empty.
        IndexNotFoundError: No index has been built yet.

    """
    question = validate_question(question)
    settings = resolve(settings)
    k = settings.top_k if k is None else k
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    index = open_index(settings)
    model = _support_model(index)
    standalone, focus = resolve_followup(question, history or (), index, model)
    hits = search(index, standalone, index.embedder.query_vector(standalone), k)
    if focus:
        hits = _with_focus(index, hits, focus, index.embedder.query_vector(question))
    body, citations = compose(question if focus else standalone, hits, model, focus=focus)
    if not citations:
        return Answer(question, abstention(hits), (), True, tuple(hits), standalone)
    return Answer(question, body, citations, False, tuple(hits), standalone)


def _with_focus(index: Index, hits: list[Hit], focus: Sequence[str], vector) -> list[Hit]:
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
) -> Iterator[str | Answer]:
    """Yield the answer's Markdown in pieces as it is produced, then the ``Answer``.

    The pieces concatenate to ``Answer.text``. The extractive answer is ready
    at once and is yielded sentence by sentence so a chat can show it growing
    the same way it shows an LLM's tokens.

    Args:
        question: The question.
        history: Earlier chat turns (see ``answer``).
        k: Papers to consider.
        settings: Settings; ``None`` reads ``RAG_*`` variables.

    Yields:
        ``str`` pieces of ``Answer.text``, then the final ``Answer``.
    """
    result = answer(question, history=history, k=k, settings=settings)
    text = result.text
    for piece in re.findall(r".+?(?:[.?!](?:\s+|$)|\n+|$)", text, flags=re.S):
        if piece:
            yield piece
    yield result


class AnswerChain(Runnable[Any, Answer]):
    """``answer`` as a LangChain Runnable: ``invoke``, ``batch`` and ``stream``.

    Input is a question string or ``{"question": str, "history": [...]}``.
    """

    def __init__(self, *, k: int | None = None, settings: Settings | None = None) -> None:
        """Bind retrieval depth and settings for every call."""
        self.k = k
        self.settings = settings

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Answer:
        """Answer one question."""
        if isinstance(input, dict):
            return answer(input["question"], history=input.get("history"), k=self.k, settings=self.settings)
        return answer(input, k=self.k, settings=self.settings)
