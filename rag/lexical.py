"""Lexical side of retrieval: BM25 over papers with bm25s, plus term statistics.

BM25 catches what the dense encoder blurs: method names ("DiffuseVAE"), rare
technical terms and numbers. The same tokenizer (English stopwords, Snowball
stems) also feeds the answerer's "does this paper contain what was asked"
check, so both agree on what a term is.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import bm25s
import numpy as np
import Stemmer
from bm25s.tokenization import Tokenizer

_SPLIT = r"(?u)\b\w\w+\b"


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


# Words that shape a question but never identify a paper; bm25s' English list
# lacks most of them, and "What does X do?" must rank on X alone.
_QUESTION_WORDS = """
what which who whom whose when where why how does do did done doing can could would should
may might must will shall paper papers work works article articles study studies author authors
tell explain describe list show give find me about any there some someone something is are
was were be been being am i you we us our your it its they them their this that these those
please know want looking look kind sort way ways also using used use uses via
""".split()  # noqa: SIM905 - a word list reads best as words


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN) | frozenset(_QUESTION_WORDS)


_TOKEN_RE = re.compile(_SPLIT)


def terms(text: str) -> list[str]:
    """Lower-case, drop stopwords and stem: the unit both BM25 and support checks count."""
    stop = _stopwords()
    words = [w for w in _TOKEN_RE.findall(text.lower()) if w not in stop]
    return _stemmer().stemWords(words)


def _tokenizer() -> Tokenizer:
    return Tokenizer(lower=True, splitter=_SPLIT, stopwords=sorted(_stopwords()), stemmer=_stemmer())


class LexicalIndex:
    """BM25 over one text per paper, with document frequencies for support checks."""

    def __init__(self, bm25: bm25s.BM25, tokenizer: Tokenizer, df: dict[str, int], size: int) -> None:
        """Wrap a built or loaded index; use ``build`` or ``load`` instead."""
        self._bm25 = bm25
        self._tokenizer = tokenizer
        self._df = df
        self.size = size

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        """Index ``texts`` (position i is paper i)."""
        tokenizer = _tokenizer()
        ids = tokenizer.tokenize(list(texts), show_progress=False, return_as="ids")
        bm25 = bm25s.BM25()
        bm25.index(tokenizer.to_tokenized_tuple(ids), show_progress=False)
        df: dict[str, int] = {}
        for text in texts:
            for term in set(terms(text)):
                df[term] = df.get(term, 0) + 1
        return cls(bm25, tokenizer, df, len(texts))

    def save(self, folder: Path) -> None:
        """Write the index into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        self._bm25.save(str(folder))
        self._tokenizer.save_vocab(str(folder))
        (folder / "df.json").write_text(json.dumps({"size": self.size, "df": self._df}))

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        """Read an index written by ``save``."""
        bm25 = bm25s.BM25.load(str(folder))
        tokenizer = _tokenizer()
        tokenizer.load_vocab(str(folder))
        data = json.loads((folder / "df.json").read_text())
        return cls(bm25, tokenizer, data["df"], data["size"])

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every paper for ``query`` (zeros when no term is known)."""
        ids = self._tokenizer.tokenize([query], update_vocab=False, show_progress=False, return_as="ids")[0]
        if not ids:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(list(ids)), dtype=np.float32)

    def idf(self, term: str) -> float:
        """Smoothed inverse document frequency; unknown terms get the highest value."""
        df = self._df.get(term, 0)
        return math.log(1.0 + (self.size + 1) / (df + 0.5))

    def known(self, term: str) -> bool:
        """True when some paper contains ``term``."""
        return term in self._df
