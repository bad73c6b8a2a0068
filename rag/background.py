"""Papers outside the collection: does the field have a better fit for the question?

A question on a neighbouring topic ("neural video compression", when the
collection has image compression) shares most of its words and much of its
meaning with some paper of the collection, so similarity and word coverage
alone take it for answerable. What gives it away is that papers outside the
collection fit it better. The bundled background is a sample of 4,000
machine-learning abstracts (arXiv 2025-2026), one mean sentence vector each,
built by ``bench/build_background.py``; the support model compares the
question's best match there with its best match in the collection.

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


@dataclass(frozen=True, slots=True)
class Background:
    """Unit vectors of papers outside the collection (float32, one row per paper)."""

    vectors: np.ndarray

    def best(self, vector: np.ndarray) -> float:
        """Cosine of the background paper closest to ``vector``."""
        return float(np.max(self.vectors @ vector)) if len(self.vectors) else -1.0


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
    except (OSError, KeyError, ValueError) as exc:
        raise RagError(
            f"RAG_BACKGROUND={path} is not a background file ({exc}) — "
            "build one with bench/build_background.py, or set RAG_BACKGROUND=bundled"
        ) from None
    return Background(vectors)
