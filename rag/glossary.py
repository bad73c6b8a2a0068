"""Everyday words for the field's terms: "pictures taken from orbit" are "satellite imagery".

A journalist's or a newcomer's question shares few words with the abstract that
answers it, and the support model counts every rare word of the question the paper
lacks against the paper (``support.coverage``). The glossary (``data/glossary.tsv``,
everyday word or phrase, then the technical words it stands for) lets a paper that has
the technical word cover the everyday one. It was written from general knowledge of the
field, without the seed collection or any question set in view, so that it says what
words mean, not what one collection's questions need (README, "Held-out results of the
seventh round").
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import RagError
from .lexical import stems, terms

if TYPE_CHECKING:
    from .config import Settings

GLOSSARY = Path(__file__).parent / "data" / "glossary.tsv"


@dataclass(frozen=True)
class Entry:
    """One everyday word or phrase and the technical terms it stands for."""

    everyday: tuple[str, ...]  # as terms: what a paper's coverage counts (``lexical.terms``)
    technical: tuple[tuple[str, ...], ...]  # each a word or phrase, as its terms
    # Every word as typed, stemmed, stopwords kept: what a question must hold in a row.
    # "fill in" is not "filling", nor "you might like" every "like" (``lexical.stems``).
    words: tuple[str, ...] = ()

    def covered_by(self, have: Container[str]) -> bool:
        """True when a text with the terms ``have`` holds one of the technical words (all its terms)."""
        return any(all(t in have for t in phrase) for phrase in self.technical)


class Glossary:
    """Entries looked up by the words of a question (stemmed, stopwords kept: ``lexical.stems``)."""

    def __init__(self, entries: Sequence[Entry]) -> None:
        self._by_first: dict[str, list[Entry]] = {}
        for entry in entries:
            self._by_first.setdefault(entry.words[0], []).append(entry)

    def matches(self, question: str, fixed: Mapping[str, str] | None = None) -> tuple[Entry, ...]:
        """The entries whose everyday words occur in a row in ``question``.

        ``fixed``: spelling corrections, stem to stem ("sugest" -> "suggest").
        """
        words = [fixed.get(w, w) for w in stems(question)] if fixed else stems(question)
        found: dict[Entry, None] = {}  # in order, each once
        for i, word in enumerate(words):
            for entry in self._by_first.get(word, ()):
                if tuple(words[i : i + len(entry.words)]) == entry.words:
                    found[entry] = None
        return tuple(found)


def parse(lines: Sequence[str]) -> list[Entry]:
    """Entries from ``everyday<TAB>technical ; technical`` lines (blank and ``#`` lines skipped).

    An everyday side that is all stopwords, or a technical word that is the everyday
    word itself after stemming, says nothing and is dropped.

    Raises:
        ValueError: A line has no tab (its number in the message).
    """
    out = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        everyday, tab, technical = line.partition("\t")
        if not tab:
            raise ValueError(f"line {number} has no tab")
        lay = tuple(terms(everyday))
        phrases = tuple(
            dict.fromkeys(p for p in (tuple(terms(t)) for t in technical.split(";")) if p and p != lay)
        )
        if lay and phrases:
            out.append(Entry(lay, phrases, tuple(stems(everyday))))
    return out


def glossary_for(settings: Settings) -> Glossary | None:
    """The glossary for ``settings.glossary``: "bundled", a TSV path, or "" / "none" for none."""
    choice = settings.glossary.strip()
    if choice.lower() in ("", "none", "off"):
        return None
    return _load(str(GLOSSARY if choice.lower() == "bundled" else Path(choice).expanduser()))


@lru_cache(maxsize=4)
def _load(path: str) -> Glossary:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise RagError(
            f"RAG_GLOSSARY={path} cannot be read ({exc}) — give a UTF-8 file of "
            "'everyday<TAB>technical ; technical' lines, or set RAG_GLOSSARY=bundled"
        ) from None
    try:
        return Glossary(parse(lines))
    except ValueError as exc:
        raise RagError(
            f"RAG_GLOSSARY={path}: {exc} — each line is 'everyday<TAB>technical ; technical'"
        ) from None
