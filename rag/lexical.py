"""Lexical side of retrieval: an in-memory BM25 index that grows and shrinks, plus term statistics.

BM25 catches what the dense encoder blurs: method names ("DiffuseVAE"), rare
technical terms and numbers. The same tokenizer (English stopwords, Snowball
stems) also feeds the answerer's "does this paper contain what was asked"
check, so both agree on what a term is.

The index gives exactly the scores bm25s gave (method "lucene", k1=1.5,
b=0.75) but never precomputes them: bm25s bakes idf and avgdl into every
stored score, so one new paper would change them all. Here only the raw
postings (paper, term frequency) are stored, per term, and a query turns the
postings of its own terms into scores with the statistics of that moment.
Adding or removing a paper touches only that paper's terms.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import Stemmer

_SPLIT = r"(?u)\b\w\w+\b"

# bm25s' defaults (method "lucene"), kept so scores match the index this one replaced.
K1 = 1.5
B = 0.75

# bm25s stands this token in for a text with no terms (a paper of stopwords, a
# question of stopwords or unknown words); the paper then has length 1, counts in
# avgdl, and is what such a question scores. terms() never yields it.
_EMPTY = ""


# A Stemmer keeps internal state and must not be shared between threads, and
# queries may run on several at once, so each thread gets its own.
_local = threading.local()


def _stemmer() -> Stemmer.Stemmer:
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = Stemmer.Stemmer("english")
    return stemmer


# Words that shape a question but never identify a paper; bm25s' English list
# lacks most of them, and "What does X do?" must rank on X alone. The fillers of speech
# ("um so okay") are typed too, by dictation.
_QUESTION_WORDS = """
what which who whom whose when where why how does do did done doing can could would should
may might must will shall paper papers work works article articles study studies author authors
tell explain describe list show give find me about any there some someone something is are
was were be been being am i you we us our your it its they them their this that these those
please know want looking look kind sort way ways also using used use uses via
um uh uhm umm er erm hmm okay ok yeah gonna wanna kinda sorta whatever anyway basically
""".split()  # noqa: SIM905 - a word list reads best as words


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """Words that never identify a paper: bm25s' English list plus question words."""
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN) | frozenset(_QUESTION_WORDS)


_TOKEN_RE = re.compile(_SPLIT)
# Letters spoken one by one, as speech-to-text writes an acronym: "f i d", "m i o u".
_SPELLED = re.compile(r"(?<![\w'’.-])[A-Za-z](?: [A-Za-z])+(?![\w'’.-])")


def join_spelled(text: str) -> str:
    """``text`` with acronyms spelled letter by letter joined: "what f i d on imagenet" -> "what FID ...".

    The tokenizer drops one-letter words, so a dictated "f i d" would vanish; joined
    and in capitals it is the name the papers write ("FID", "mIoU" for "m i o u").
    """
    return _SPELLED.sub(lambda m: m[0].replace(" ", "").upper(), text)


def terms(text: str) -> list[str]:
    """Lower-case, drop stopwords and stem: the unit both BM25 and support checks count."""
    return _stemmer().stemWords(words(text))


def stems(text: str) -> list[str]:
    """Every word of ``text`` stemmed, stopwords kept: for matching phrases as typed."""
    return _stemmer().stemWords(_TOKEN_RE.findall(text.lower()))


def words(text: str) -> list[str]:
    """The words ``terms`` stems, in order (lower-cased, stopwords dropped)."""
    stop = stopwords()
    return [w for w in _TOKEN_RE.findall(text.lower()) if w not in stop]


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def one_edit_away(word: str) -> set[str]:
    """Every string one deletion, transposition, substitution or insertion (a-z) from ``word``."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    out = {a + b[1:] for a, b in splits if b}
    out |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    out |= {a + c + b[1:] for a, b in splits if b for c in _LETTERS}
    out |= {a + c + b for a, b in splits for c in _LETTERS}
    out.discard(word)
    return out


def within_one_edit(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by at most one edit (as ``one_edit_away``)."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(a))
    if len(a) < len(b):
        return a[i:] == b[i + 1 :]
    return a[i + 1 :] == b[i + 1 :] or (a[i + 2 :] == b[i + 2 :] and a[i : i + 2] == b[i : i + 2][::-1])


def _grown(array: np.ndarray, size: int, fill: int = 0) -> np.ndarray:
    """``array`` with room for ``size`` items, doubling so n appends cost O(n) copies in all."""
    if size <= len(array):
        return array
    bigger = np.full(max(size, 2 * len(array), 8), fill, dtype=array.dtype)
    bigger[: len(array)] = array
    return bigger


class LexicalIndex:
    """BM25 over one text per paper, identified by positions the caller chooses.

    Positions may have gaps, and a position may be added again once removed. The
    index lives in memory only and is rebuilt from the papers when a process starts;
    each ``add`` keeps ~20 bytes of bookkeeping until then, even after ``remove``.

    Threads: ``scores``, ``idf`` and ``known`` only read, so any number may run at
    once; ``add`` and ``remove`` must hold the caller's lock exclusively (no reader
    may run meanwhile).
    """

    def __init__(self) -> None:
        """Create an empty index; ``build`` and ``from_terms`` fill one in bulk."""
        self._vocab: dict[str, int] = {}  # term -> term id
        # Per term id: postings (slots, term frequencies) in the first _used[t] entries
        # of growable arrays. Postings of removed papers stay until the term is
        # compacted, so _used - _df of them are dead.
        self._slots: list[np.ndarray] = []
        self._tfs: list[np.ndarray] = []
        self._used = np.zeros(0, dtype=np.int64)
        self._df = np.zeros(0, dtype=np.int64)  # present papers containing the term
        # Postings name slots, not positions: every add takes a fresh slot, so a
        # reused position never meets the dead postings of the paper it replaced.
        # Per slot:
        self._position = np.zeros(0, dtype=np.int32)
        self._length = np.zeros(0, dtype=np.int64)
        self._alive = np.zeros(0, dtype=bool)
        self._terms: list[np.ndarray | None] = []  # term ids, while present
        # Per position: its slot, -1 when absent.
        self._slot_of = np.zeros(0, dtype=np.int64)
        self._size = 0
        self._capacity = 0
        self._total_length = 0  # of present papers, for avgdl

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        """Index ``texts`` (position i is paper i)."""
        return cls.from_terms([terms(text) for text in texts])

    @classmethod
    def from_terms(cls, docs: Sequence[Sequence[str]]) -> LexicalIndex:
        """Index already tokenized papers (position i holds ``docs[i]``, the output of ``terms``).

        Touches every paper, so it is for start-up; grow a live index with ``add``.

        Raises:
            TypeError: An item of ``docs`` is a string rather than a list of terms.
        """
        index = cls()
        if not docs:
            return index
        vocab = index._vocab
        term_ids: list[int] = []
        tfs: list[int] = []
        unique = np.zeros(len(docs), dtype=np.int64)
        lengths = np.zeros(len(docs), dtype=np.int64)
        for i, tokens in enumerate(docs):
            _check_terms(tokens)
            counts = _counts(tokens)
            term_ids.extend([vocab.setdefault(term, len(vocab)) for term in counts])
            tfs.extend(counts.values())
            unique[i] = len(counts)
            lengths[i] = max(1, len(tokens))
        ids = np.asarray(term_ids, dtype=np.int32)
        slots = np.repeat(np.arange(len(docs), dtype=np.int32), unique)  # slot i = position i
        # Group postings by term; a stable sort keeps each term's slots ascending.
        order = np.argsort(ids, kind="stable")
        per_term = np.bincount(ids, minlength=len(vocab))
        cuts = np.cumsum(per_term)[:-1]
        index._slots = np.split(slots[order], cuts)
        index._tfs = np.split(np.asarray(tfs, dtype=np.int32)[order], cuts)
        index._used = per_term.astype(np.int64)
        index._df = index._used.copy()
        index._position = np.arange(len(docs), dtype=np.int32)
        index._length = lengths
        index._alive = np.ones(len(docs), dtype=bool)
        index._terms = list(np.split(ids, np.cumsum(unique)[:-1]))
        index._slot_of = np.arange(len(docs), dtype=np.int64)
        index._size = index._capacity = len(docs)
        index._total_length = int(lengths.sum())
        return index

    @property
    def size(self) -> int:
        """Number of papers present."""
        return self._size

    @property
    def capacity(self) -> int:
        """Length of ``scores``: highest position ever added + 1 (never shrinks)."""
        return self._capacity

    def add(self, doc: int, tokens: Sequence[str]) -> None:
        """Index paper ``doc`` with ``tokens`` (``terms(title + " " + abstract)``); O(distinct tokens).

        Raises:
            ValueError: ``doc`` is negative or already present.
            TypeError: ``tokens`` is a string rather than a list of terms.
        """
        _check_terms(tokens)
        if doc < 0:
            raise ValueError(f"doc must be a position >= 0, got {doc}")
        if self._slot(doc) >= 0:
            raise ValueError(f"paper position {doc} is already indexed; remove it first")
        counts = _counts(tokens)
        vocab = self._vocab
        ids = np.fromiter((vocab.setdefault(t, len(vocab)) for t in counts), np.int32, len(counts))
        slot = len(self._terms)
        self._make_room(doc, slot, len(vocab))
        used = self._used
        for term, tf in zip(ids.tolist(), counts.values(), strict=True):
            n = int(used[term])
            if n == len(self._slots[term]):
                self._slots[term] = _grown(self._slots[term], n + 1)
                self._tfs[term] = _grown(self._tfs[term], n + 1)
            self._slots[term][n] = slot
            self._tfs[term][n] = tf
            used[term] = n + 1
        self._df[ids] += 1
        length = max(1, len(tokens))
        self._position[slot] = doc
        self._length[slot] = length
        self._alive[slot] = True
        self._terms.append(ids)
        self._slot_of[doc] = slot
        self._size += 1
        self._capacity = max(self._capacity, doc + 1)
        self._total_length += length

    def remove(self, doc: int) -> None:
        """Drop paper ``doc`` from scores, document frequencies and avgdl at once.

        A position that is not present (never added, or already removed) is a
        no-op, so replaying a removal is harmless. Costs O(distinct terms of the
        paper); a term whose postings become mostly dead is compacted on the spot,
        which is amortized O(1) per removed posting and keeps a query's work within
        twice its live postings.
        """
        slot = self._slot(doc)
        if slot < 0:
            return
        ids = self._terms[slot]
        assert ids is not None  # present papers always have their terms
        self._terms[slot] = None
        self._alive[slot] = False
        self._slot_of[doc] = -1
        self._size -= 1
        self._total_length -= int(self._length[slot])
        self._df[ids] -= 1
        used = self._used[ids]
        self._compact(ids[2 * (used - self._df[ids]) > used])

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every position for ``query``; 0 for absent papers and unknown terms.

        Matches bm25s: each occurrence of a repeated query term counts again, terms
        no present paper contains are dropped, and a query left with no terms
        scores the papers that have none.

        Returns:
            float32 array of length ``capacity``.
        """
        out = np.zeros(self._capacity, dtype=np.float32)
        if not self._size:
            return out
        words = [t for t in terms(query) if self._present_df(t)] or [_EMPTY]
        avgdl = self._total_length / self._size
        done: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for word in words:
            if word not in done:
                done[word] = self._contributions(word, avgdl)
            positions, values = done[word]
            out[positions] += values
        return out

    def idf(self, term: str) -> float:
        """Smoothed inverse document frequency; unknown terms get the highest value."""
        df = self._present_df(term) if term != _EMPTY else 0
        return math.log(1.0 + (self._size + 1) / (df + 0.5))

    def known(self, term: str) -> bool:
        """True when some present paper contains ``term``."""
        return term != _EMPTY and self._present_df(term) > 0

    def nearest_known(self, term: str) -> str | None:
        """The most common present term one edit from ``term`` ("serach" -> "search"), if any."""
        return self._most_common(one_edit_away(term))

    def nearest_known_word(self, word: str) -> str | None:
        """The most common present term of a word one edit from ``word``, if any.

        A misspelling can stem differently from its word ("modalites" -> "modalit",
        "modalities" -> "modal"); correcting the word before stemming finds it.
        """
        return self._most_common(set(_stemmer().stemWords(sorted(one_edit_away(word)))))

    def _most_common(self, candidates: set[str]) -> str | None:
        found = [(self._present_df(t), t) for t in candidates if t in self._vocab]
        found = [(df, t) for df, t in found if df > 0]
        return max(found)[1] if found else None

    def _slot(self, doc: int) -> int:
        return int(self._slot_of[doc]) if 0 <= doc < len(self._slot_of) else -1

    def _present_df(self, term: str) -> int:
        tid = self._vocab.get(term)
        return 0 if tid is None else int(self._df[tid])

    def _contributions(self, word: str, avgdl: float) -> tuple[np.ndarray, np.ndarray]:
        """Positions and float32 BM25 terms of ``word``, computed in bm25s' order of operations.

        bm25s stores float32(float64(float32 idf) * tf / (k1 * (1 - b + b * len / avgdl) + tf)),
        so doing the same here keeps scores bit-for-bit equal, not merely close.
        """
        tid = self._vocab.get(word)
        df = 0 if tid is None else int(self._df[tid])
        if not df:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
        n = int(self._used[tid])
        slots, tf = self._slots[tid][:n], self._tfs[tid][:n]
        if n > df:
            keep = self._alive[slots]
            slots, tf = slots[keep], tf[keep]
        idf = float(np.float32(math.log(1 + (self._size - df + 0.5) / (df + 0.5))))
        norm = K1 * ((1 - B) + B * self._length[slots] / avgdl)
        tf = tf.astype(np.float64)
        return self._position[slots], (idf * (tf / (norm + tf))).astype(np.float32)

    def _make_room(self, doc: int, slot: int, n_terms: int) -> None:
        if n_terms > len(self._used):
            self._used = _grown(self._used, n_terms)
            self._df = _grown(self._df, n_terms)
        empty_slots, empty_tfs = np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32)
        while len(self._slots) < n_terms:
            self._slots.append(empty_slots)
            self._tfs.append(empty_tfs)
        self._position = _grown(self._position, slot + 1)
        self._length = _grown(self._length, slot + 1)
        self._alive = _grown(self._alive, slot + 1)
        self._slot_of = _grown(self._slot_of, doc + 1, fill=-1)

    def _compact(self, ids: np.ndarray) -> None:
        """Drop the postings of removed papers from terms ``ids``; O(their postings)."""
        for term in ids.tolist():
            n = int(self._used[term])
            keep = self._alive[self._slots[term][:n]]
            self._slots[term] = self._slots[term][:n][keep]
            self._tfs[term] = self._tfs[term][:n][keep]
            self._used[term] = len(self._slots[term])


def _check_terms(tokens: Sequence[str]) -> None:
    if isinstance(tokens, str):
        raise TypeError("tokens must be a list of terms (from terms(text)), not a string")


def _counts(tokens: Sequence[str]) -> Counter[str]:
    """Term frequencies of one paper; a paper with no terms holds bm25s' empty token once."""
    return Counter(tokens) if tokens else Counter({_EMPTY: 1})
