"""Question to papers: dense and BM25 rankings fused by reciprocal rank, per paper.

Dense search runs over sentence chunks (title-prefixed), so a paper is as close
as its closest sentence; BM25 runs over whole papers and catches method names
and rare terms. Reciprocal rank fusion needs no score calibration between the
two, which matters because cosine and BM25 scales drift with collection size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from .config import Settings, resolve
from .corpus import Paper
from .index import Index, Passage, open_index

RRF_K = 60  # the usual constant; it damps the gap between rank 1 and rank 2
DENSE_WEIGHT = 1.0
LEXICAL_WEIGHT = 1.0
TITLE_WEIGHT = 1.0


@dataclass(frozen=True, slots=True)
class Hit:
    """One retrieved paper.

    Attributes:
        paper: The paper.
        score: Fused relevance score; only the order is meaningful.
        rank: Position in the results, from 1.
        similarity: Cosine similarity of the paper's closest chunk to the question.
        lexical: BM25 score of the paper for the question.
        passages: The paper's chunks, most similar to the question first.

    """

    paper: Paper
    score: float
    rank: int
    similarity: float
    lexical: float
    passages: tuple[Passage, ...] = field(default=())

    @property
    def paper_id(self) -> str:
        """The paper's id."""
        return self.paper.paper_id

    @property
    def title(self) -> str:
        """The paper's title."""
        return self.paper.title

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (best three passages)."""
        return {
            "paper_id": self.paper_id,
            "title": self.title,
            "score": round(self.score, 6),
            "rank": self.rank,
            "similarity": round(self.similarity, 4),
            "lexical": round(self.lexical, 4),
            "passages": [p.to_dict() for p in self.passages[:3]],
        }


def _ranks(scores: dict[int, float]) -> dict[int, int]:
    order = sorted(scores, key=lambda i: -scores[i])
    return {i: r for r, i in enumerate(order, start=1)}


def search(index: Index, question: str, vector: np.ndarray, k: int) -> list[Hit]:
    """Rank papers in an opened index for a question whose vector is known."""
    # Enough chunks that the top-k papers' best chunks are almost surely among them.
    dense = index.dense(vector, n=max(50, 8 * k))
    best: dict[int, float] = {}
    for paper_id, _, similarity in dense:
        pos = index.position[paper_id]
        best[pos] = max(best.get(pos, -1.0), similarity)
    lexical = index.lexical.scores(question)
    lex = {int(i): float(lexical[i]) for i in np.flatnonzero(lexical > 0)}

    fused: dict[int, float] = {}
    for weight, ranks in ((DENSE_WEIGHT, _ranks(best)), (LEXICAL_WEIGHT, _ranks(lex))):
        for pos, r in ranks.items():
            fused[pos] = fused.get(pos, 0.0) + weight / (RRF_K + r)
    top = sorted(fused, key=lambda i: (-fused[i], -best.get(i, -1.0)))[:k]

    hits = []
    for rank, pos in enumerate(top, start=1):
        paper = index.papers[pos]
        passages = sorted(index.passages(paper.paper_id, vector), key=lambda m: -m.similarity)
        hits.append(
            Hit(paper, fused[pos], rank, passages[0].similarity, float(lexical[pos]), tuple(passages))
        )
    return hits


def validate_question(question: str) -> str:
    """Return the question stripped, or raise a message that says what to ask."""
    if not isinstance(question, str):
        raise TypeError(f"question must be a string, got {type(question).__name__}")
    question = question.strip()
    if not question:
        raise ValueError("The question is empty — type a question about the indexed papers")
    return question


def retrieve(question: str, *, k: int | None = None, settings: Settings | None = None) -> list[Hit]:
    """Find the papers that best answer a question.

    Args:
        question: Plain-English question or keywords.
        k: How many papers to return (default ``settings.top_k``).
        settings: Settings; ``None`` reads ``RAG_*`` variables.

    Returns:
        One ``Hit`` per paper, best first.

    Raises:
        ValueError: The question is empty or ``k`` < 1.
        IndexNotFoundError: No index has been built yet.

    """
    question = validate_question(question)
    settings = resolve(settings)
    k = settings.top_k if k is None else k
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    index = open_index(settings)
    return search(index, question, index.embedder.query_vector(question), k)


class PaperRetriever(BaseRetriever):
    """PaperChat's hybrid retriever as a LangChain ``BaseRetriever``.

    Each document is one paper (title and abstract) with its id, rank, score and
    best passage in the metadata.
    """

    k: int = 10
    settings: Settings | None = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        hits = retrieve(query, k=self.k, settings=self.settings)
        return [
            Document(
                page_content=f"{h.title}\n\n{h.paper.abstract}",
                id=h.paper_id,
                metadata={
                    "paper_id": h.paper_id,
                    "title": h.title,
                    "rank": h.rank,
                    "score": h.score,
                    "best_passage": h.passages[0].text if h.passages else "",
                    **h.paper.metadata,
                },
            )
            for h in hits
        ]
