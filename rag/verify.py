"""Check an LLM answer's citations against the papers they point to.

An LLM writes fluent sentences and puts ``[n]`` after them, but nothing makes
``[n]`` true. Every sentence is checked against each paper it cites:

- ``[n]`` must be one of the numbered sources the prompt gave;
- the cited paper must contain most of the sentence's content: at least
  ``COVERAGE_MIN`` of its IDF-weighted terms (the stems BM25 uses) occur in the
  paper's title or abstract;
- every number and every name (``ImageNet``, ``GPT-4``, ``TPUs``) in the sentence
  must occur in the cited papers.

A citation that fails is removed; a sentence left with no citation is dropped.
Every removal is recorded as a ``Removal``. Each kept citation quotes, verbatim,
the sentence of the paper closest to the LLM's sentence (by the query encoder).

Why these signals: on hand-labeled LLM-style sentences about seed papers
(paraphrases that keep the source's wording vs. invented facts and claims cited
to the wrong paper), supported sentences cover 0.73-1.0 of their terms and
fabricated ones 0.04-0.52; invented numbers and dataset names are caught by the
name check even when coverage is high. Embedding similarity did not separate
them (0.21-0.93 supported vs. 0.08-0.76 fabricated: a false claim about the
right paper is as close as a true one), so it only picks the quoted sentence.
What this cannot catch: a claim that reuses the paper's own words to say
something else (a negation, a swapped relation). Heavy paraphrases fail the
check, so the prompt asks the model to keep the sources' wording.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .chunking import split_sentences
from .compose import Citation
from .corpus import normalize_title
from .lexical import terms
from .support import entity_key, question_entities

if TYPE_CHECKING:
    from .index import Index, Passage
    from .retrieve import Hit
    from .support import QuestionProfile, SupportModel

# Fitted by bench/calibrate_citations.py on the labeled sentences in
# tests/data/citation_sentences.jsonl (see the module docstring).
COVERAGE_MIN = 0.6
DECLINE_PHRASE = "The indexed papers do not answer this."
DECLINED = "says the papers do not answer"  # Removal reasons that callers count
UNCITED = "cites no source"
_DECLINE_CORE = "indexed papers do not answer"

_GROUP = r"\d{1,3}(?:\s*(?:[,;]|-|–|and)\s*(?:(?:sources?|papers?)\s*)?\d{1,3})*"
_CITE = re.compile(rf"\[\s*(?:(?:sources?|papers?|refs?|references?)\s*)?({_GROUP})\s*\]", re.I)
_CITES = rf"{_CITE.pattern}(?:[ \t]*[,;]?[ \t]*{_CITE.pattern})*"  # "[1][2]", "[1], [2]"
_CITE_AFTER_STOP = re.compile(rf"(?<=[^\s.!?])([.!?])[ \t]*({_CITES})", re.I)
_CITE_IN_PARENS = re.compile(rf"\s*\(\s*(?:see\s+)?({_CITES})\s*\)", re.I)
_BULLET = re.compile(r"^\s*(?:[-*•+]|\d{1,2}[.)])\s+")
_HEADER = re.compile(
    r"^\s*#*\s*\**\s*(?:references|sources|bibliography|citations)\s*:?\s*\**\s*:?\s*$", re.I
)
_MARKUP = re.compile(r"\*\*|__|`|^#+\s*")
# "source 2" and enumerations "(1) ... (2) ..." are not claims about numbers.
_NOT_NAMES = re.compile(
    r"\b(?:sources?|papers?|refs?|references?)\s+\d+\b|\(\d{1,2}\)|(?<!\S)\d{1,2}\)", re.I
)
_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")
_WORDS = "zero one two three four five six seven eight nine ten eleven twelve"
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(_WORDS.split())}


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
class Verified:
    """The checked answer: body with final ``[n]``, its citations, what was removed."""

    body: str
    citations: tuple[Citation, ...]
    removed: tuple[Removal, ...]
    declined: bool


@dataclass(frozen=True, slots=True)
class _Facts:
    """What a paper's text contains, for the name and number checks (terms are the support model's)."""

    paper_id: str
    squashed: str
    names: frozenset[str]
    numbers: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Check:
    coverage: float
    passage: Passage
    unknown: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.coverage >= COVERAGE_MIN and not self.unknown

    def why(self) -> str:
        if self.unknown:
            return "not in the paper: " + ", ".join(self.unknown)
        return f"only {self.coverage:.0%} of its terms are in the paper"


@dataclass
class _Sentence:
    raw: str
    segments: list[tuple[str, list[int]]]
    checks: dict[int, _Check] = field(default_factory=dict)


_Line = tuple[str, list[_Sentence]]  # bullet prefix, kept sentences


def declines(text: str) -> bool:
    """True when ``text`` contains the fixed "cannot answer" phrase (case, punctuation, n't-insensitive)."""
    flat = re.sub(r"[^a-z0-9]+", " ", text.lower().replace("n't", " not"))
    return _DECLINE_CORE in " ".join(flat.split())


def cited_numbers(group: str) -> list[int]:
    """``"1, 3-5"`` -> ``[1, 3, 4, 5]`` (ranges capped at 20 numbers)."""
    out: list[int] = []
    for part in re.split(r"\s*(?:[,;]|and)\s*", group):
        ends = [int(n) for n in re.findall(r"\d+", part)]
        if len(ends) == 2 and 0 < ends[1] - ends[0] < 20:
            out.extend(range(ends[0], ends[1] + 1))
        else:
            out.extend(ends)
    return list(dict.fromkeys(out))


def _segments(sentence: str) -> list[tuple[str, list[int]]]:
    """Text pieces, each followed by the citation numbers right after it."""
    out: list[tuple[str, list[int]]] = []
    pos = 0
    for m in _CITE.finditer(sentence):
        text = sentence[pos : m.start()]
        if out and not text.strip(" \t,;"):  # "[1][2]" and "[1], [2]" are one group
            out[-1][1].extend(cited_numbers(m.group(1)))
        else:
            out.append((text, cited_numbers(m.group(1))))
        pos = m.end()
    out.append((sentence[pos:], []))
    return out


def _plain(text: str) -> str:
    text = _MARKUP.sub("", _CITE.sub("", text))
    return re.sub(r"\s+([.,;:!?])", r"\1", " ".join(text.split()))


def _facts(paper_id: str, title: str, abstract: str) -> _Facts:
    text = f"{title} {abstract}"
    words = re.findall(r"[A-Za-z]+", text.lower())
    numbers = {n.replace(",", "") for n in _NUMBER.findall(text)}
    numbers |= {_NUMBER_WORDS[w] for w in words if w in _NUMBER_WORDS}
    return _Facts(
        paper_id=paper_id,
        squashed=re.sub(r"[^a-z0-9]", "", text.lower()),
        names=frozenset(entity_key(t) for t in re.findall(r"[A-Za-z0-9]+", text)),
        numbers=frozenset(numbers),
    )


def unknown_names(text: str, facts: Sequence[_Facts], model: SupportModel) -> tuple[str, ...]:
    """Names and numbers in ``text`` that none of the papers mentions.

    An acronym counts as mentioned by a paper that spells out its long form
    (the support model's acronym map and term sets).
    """
    text = _NOT_NAMES.sub("", text)
    out = []
    for name in question_entities(text):
        if len(re.sub(r"\d", "", name)) < 2:
            continue  # "10.6x", "1024x1024": checked as numbers below
        # Short names must match a whole word ("RL" is inside "world"); long ones may be joined.
        if any(name in f.names or (len(name) >= 4 and name in f.squashed) for f in facts):
            continue
        long_form = model.long_forms.get(name)
        if long_form and any(all(model.has_term(f.paper_id, t) for t in long_form) for f in facts):
            continue
        out.append(name)
    for number in _NUMBER.findall(text):
        if not any(number.replace(",", "") in f.numbers for f in facts):
            out.append(number)
    return tuple(dict.fromkeys(out))


class _Checker:
    """Checks for one answer; vectors, profiles and paper facts are computed once per answer."""

    def __init__(self, index: Index, model: SupportModel) -> None:
        self.index = index
        self.model = model
        self._vectors: dict[str, np.ndarray] = {}
        self._profiles: dict[str, QuestionProfile] = {}
        self._facts: dict[str, _Facts] = {}

    def facts(self, paper_id: str) -> _Facts:
        if paper_id not in self._facts:
            paper = self.index.paper(paper_id)
            self._facts[paper_id] = _facts(paper_id, paper.title, paper.abstract)
        return self._facts[paper_id]

    def check(self, text: str, paper_id: str, union: Sequence[str]) -> _Check:
        if text not in self._vectors:
            self._vectors[text] = self.index.embedder.query_vector(text)
            self._profiles[text] = self.model.profile(text)
        best = max(self.index.passages(paper_id, self._vectors[text]), key=lambda p: p.similarity)
        coverage = self.model.judge(self._profiles[text], paper_id, best.similarity, 0.0).coverage
        facts = [self.facts(pid) for pid in union]
        return _Check(coverage, best, unknown_names(text, facts, self.model))


def sentence_support(
    text: str, paper_id: str, index: Index, model: SupportModel
) -> tuple[float, tuple[str, ...]]:
    """How well one paper supports a sentence: term coverage, and the names and numbers it lacks.

    The two signals ``verify`` keeps a citation by (``COVERAGE_MIN``, no unknown
    names); ``bench/calibrate_citations.py`` fits the minimum with it.
    """
    check = _Checker(index, model).check(_plain(text), paper_id, [paper_id])
    return check.coverage, check.unknown


def _lines(text: str) -> list[str]:
    """The answer's lines without a trailing reference list."""
    text = _CITE_IN_PARENS.sub(lambda m: f" {m.group(1).strip()}", text)
    text = _CITE_AFTER_STOP.sub(lambda m: f" {m.group(2).strip()}{m.group(1)}", text)
    lines = []
    for line in text.splitlines():
        if _HEADER.match(line):
            break
        if line.strip():
            lines.append(line.rstrip())
    return lines


def _is_reference_entry(line: str, sources: Sequence[Hit]) -> bool:
    """A line like ``[2] Adapt then Unlearn: ...``: the model's own reference list."""
    m = re.match(r"^\s*(?:[-*]\s*)?\[(\d+)\]\s*(.+)$", line)
    if not m or not 1 <= int(m.group(1)) <= len(sources):
        return False
    title = normalize_title(sources[int(m.group(1)) - 1].title)
    given = normalize_title(_MARKUP.sub("", m.group(2)))
    return bool(given) and (title.startswith(given) or given.startswith(title[:25]))


def verify(text: str, sources: Sequence[Hit], index: Index, model: SupportModel) -> Verified:
    """Check every sentence of an LLM answer against the papers it cites.

    Args:
        text: The LLM's answer without hidden reasoning (``llm.without_reasoning``);
            ``[n]`` refers to ``sources[n - 1]``.
        sources: The papers the prompt numbered, in order.
        index: The opened index the papers come from.
        model: Its support model (coverage of a sentence's terms by a paper).

    Returns:
        The body with only supported sentences and citations, renumbered 1..m in
        order of first use; the citations; what was removed (numbers as the LLM
        wrote them); whether the LLM said the papers do not answer.

    """
    checker = _Checker(index, model)
    removed: list[Removal] = []
    kept_lines: list[_Line] = []
    declined = False
    for line in _lines(text):
        if _is_reference_entry(line, sources):
            continue
        bullet = _BULLET.match(line)
        prefix = bullet.group(0).lstrip() if bullet else ""
        kept: list[_Sentence] = []
        for raw in split_sentences(line[bullet.end() :] if bullet else line):
            sentence = _Sentence(raw, _segments(raw))
            if declines(raw):
                declined = True
                removed.append(Removal(raw, None, DECLINED))
            elif _check_sentence(sentence, sources, checker, removed):
                kept.append(sentence)
        if kept:
            kept_lines.append((prefix, kept))
    body, citations = _render(kept_lines, sources)
    return Verified(body, citations, tuple(removed), declined)


def _check_sentence(s: _Sentence, sources: Sequence[Hit], checker: _Checker, removed: list[Removal]) -> bool:
    """Keep the citations that support the sentence; False when none is left."""
    numbers = list(dict.fromkeys(n for _, group in s.segments for n in group))
    valid = [n for n in numbers if 1 <= n <= len(sources)]
    removed.extend(Removal(s.raw, n, "not a source") for n in numbers if n not in valid)
    if not valid:
        removed.append(Removal(s.raw, None, UNCITED))
        return False
    plain = _plain(s.raw)
    union = list(dict.fromkeys(sources[n - 1].paper_id for n in valid))
    failed: dict[int, _Check] = {}
    for text, group in s.segments:
        # A clause ("A [1] and B [2]") may be supported where the whole sentence is not.
        clause = _plain(text)
        for n in (n for n in group if n in valid and n not in s.checks):
            check = checker.check(plain, sources[n - 1].paper_id, union)
            if not check.ok and clause != plain and len(terms(clause)) >= 3:
                check = max(check, checker.check(clause, sources[n - 1].paper_id, union), key=lambda c: c.ok)
            (s.checks if check.ok else failed)[n] = check
    if not s.checks:
        why = "; ".join(f"[{n}]: {c.why()}" for n, c in failed.items())
        removed.append(Removal(s.raw, None, f"not supported by the papers it cites ({why})"))
        return False
    removed.extend(Removal(s.raw, n, f"does not support it ({c.why()})") for n, c in failed.items())
    return True


def _render(
    lines: list[tuple[str, list[_Sentence]]], sources: Sequence[Hit]
) -> tuple[str, tuple[Citation, ...]]:
    """Write the kept sentences with final numbers; quote each cited paper."""
    new: dict[int, int] = {}
    for _, sentences in lines:
        for s in sentences:
            for _, group in s.segments:
                for n in group:
                    if n in s.checks:
                        new.setdefault(n, len(new) + 1)
    out = []
    for prefix, sentences in lines:
        out.append(prefix + " ".join(_render_sentence(s, new) for s in sentences))
    citations = []
    for old, number in new.items():
        checks = [s.checks[old] for _, ss in lines for s in ss if old in s.checks]
        hit = sources[old - 1]
        citations.append(
            Citation(
                number,
                hit.paper_id,
                hit.title,
                _snippet(hit, [c.passage for c in checks]),
                sum(c.coverage for c in checks) / len(checks),
            )
        )
    return "\n".join(out), tuple(citations)


def _render_sentence(s: _Sentence, new: dict[int, int]) -> str:
    parts = []
    used: list[int] = []
    for text, group in s.segments:
        marks = [new[n] for n in dict.fromkeys(group) if n in s.checks]
        used.extend(m for m in marks if m not in used)
        parts.append(text.rstrip() + (" " + "".join(f"[{m}]" for m in marks) if marks else ""))
        if marks and text != text.rstrip():
            parts.append(" ")
    sentence = re.sub(r"\s+([.,;:!?])", r"\1", re.sub(r"\s{2,}", " ", "".join(parts))).strip()
    tail = re.search(r"\[\d+\][.!?]?$", sentence)
    if not tail:  # every sentence ends with its citations
        stop = sentence[-1] if sentence[-1] in ".!?" else ""
        body = sentence[:-1] if stop else sentence
        sentence = f"{body.rstrip()} {''.join(f'[{m}]' for m in used)}{stop}"
    return sentence


def _snippet(hit: Hit, passages: Sequence[Passage]) -> str:
    """The paper's sentence closest to the LLM's, joined with an adjacent one if also used."""
    best = max(passages, key=lambda p: p.similarity)
    near = [p for p in passages if abs(p.number - best.number) == 1]
    if near:
        pair = sorted([best, max(near, key=lambda p: p.similarity)], key=lambda p: p.number)
        joined = " ".join(p.text for p in pair)
        if joined in hit.paper.abstract:
            return joined
    return best.text
