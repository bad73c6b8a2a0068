"""Papers outside the collection: does the field have a better fit for the question?

A question on a neighbouring topic ("neural video compression", when the
collection has image compression) shares most of its words and much of its
meaning with some paper of the collection, so similarity and word coverage
alone take it for answerable. What gives it away is that papers outside the
collection fit it better: closer in meaning, and covering more of its words
(a video compression paper has "video"; the image compression paper lacks it).
The bundled background is a sample of 4,000 machine-learning abstracts (arXiv
2025-2026), one mean sentence vector and the set of distinct terms each (no
text), built by ``bench/build_background.py``; the support model compares the
question's best matches there with its best match in the collection.

Vectors only make sense for the model that made them, so a background built
with another embedding model is not used (the support model then falls back
to the weights fitted without it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .config import Settings
from .errors import RagError

# int8 vectors are float vectors times SCALE, rounded.
SCALE = 127.0
BUNDLED = Path(__file__).resolve().parent / "data" / "background.npz"
# How many of the closest background papers are checked for the question's words.
NEIGHBOURS = 10
# A term in this share of the field's papers or more ("dataset", "evaluate",
# "neural") says what is asked, not what it is about; only rarer ones are compared.
COMMON = 0.05
# A term in this share of the field's papers or more ("post", "social") is a word of its
# own, not an abbreviation of a longer one ("post" is not "posterior"; "dim" may be "dimension").
FAMILIAR = 0.025


@dataclass(frozen=True, slots=True)
class Background:
    """Papers outside the collection: unit vectors (float32, one row each) and their terms.

    ``term_ptr[i]:term_ptr[i + 1]`` slices ``term_ids``, ids into ``vocab``, to
    paper ``i``'s distinct terms (``rag.lexical.terms`` of title and abstract).
    ``common``: the terms in at least ``COMMON`` of the papers, ``familiar`` in at least
    ``FAMILIAR``; ``words``: all of them.
    """

    vectors: np.ndarray
    vocab: np.ndarray
    term_ptr: np.ndarray
    term_ids: np.ndarray
    common: frozenset[str] = frozenset()
    words: frozenset[str] = frozenset()
    familiar: frozenset[str] = frozenset()

    def nearest(self, vector: np.ndarray, k: int = NEIGHBOURS) -> tuple[float, list[frozenset[str]]]:
        """The closest background paper's cosine, and the term sets of the ``k`` closest."""
        if not len(self.vectors):
            return -1.0, []
        sims = self.vectors @ vector
        k = min(k, len(sims))
        rows = np.argpartition(-sims, k - 1)[:k]
        ptr = self.term_ptr
        found = [frozenset(self.vocab[self.term_ids[ptr[i] : ptr[i + 1]]].tolist()) for i in rows]
        return float(sims[rows].max()), found


def background_for(settings: Settings) -> Background | None:
    """The background for ``settings.background`` ("bundled", a .npz path, or "" for none)."""
    choice = settings.background.strip()
    if choice.lower() in ("", "none", "off"):
        return None
    path = BUNDLED if choice.lower() == "bundled" else Path(choice).expanduser()
    return _load(str(path), settings.embed_model)


@lru_cache(maxsize=4)
def _load(path: str, embed_model: str) -> Background | None:
    try:
        with np.load(path) as data:
            if str(data["embed_model"]) != embed_model:
                return None
            vectors = data["vectors"].astype(np.float32) / SCALE
            vocab, ptr, ids = data["vocab"], data["term_ptr"], data["term_ids"]
    except (OSError, KeyError, ValueError) as exc:
        raise RagError(
            f"RAG_BACKGROUND={path} is not a background file ({exc}) — "
            "build one with bench/build_background.py, or set RAG_BACKGROUND=bundled"
        ) from None
    if len(ptr) != len(vectors) + 1 or (len(ids) and (ids.min() < 0 or ids.max() >= len(vocab))):
        raise RagError(
            f"RAG_BACKGROUND={path} is damaged (its terms do not match its vectors) — "
            "rebuild it with bench/build_background.py, or set RAG_BACKGROUND=bundled"
        )
    counts = np.bincount(ids, minlength=len(vocab))
    common = frozenset(vocab[counts >= COMMON * len(vectors)].tolist())
    familiar = frozenset(vocab[counts >= FAMILIAR * len(vectors)].tolist())
    return Background(vectors, vocab, ptr, ids, common, frozenset(vocab.tolist()), familiar)
