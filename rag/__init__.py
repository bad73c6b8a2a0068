"""PaperChat: cited, offline question answering over research-paper abstracts.

The public surface is small: ``ingest`` builds the index, ``retrieve`` finds
papers, ``answer`` writes a cited answer, ``evaluate`` measures quality.
Everything else may change between versions.
"""

from .answer import Answer, AnswerChain, Citation, answer, answer_stream
from .config import Settings
from .corpus import Paper
from .errors import (
    IndexBusyError,
    IndexIncompatibleError,
    IndexNotFoundError,
    IngestError,
    LLMError,
    ModelNotFoundError,
    RagError,
)
from .index import Passage
from .ingest import IngestReport, ingest
from .retrieve import Hit, PaperRetriever, retrieve

__all__ = [
    "Answer",
    "AnswerChain",
    "Citation",
    "Hit",
    "IndexBusyError",
    "IndexIncompatibleError",
    "IndexNotFoundError",
    "IngestError",
    "IngestReport",
    "LLMError",
    "ModelNotFoundError",
    "Paper",
    "PaperRetriever",
    "Passage",
    "RagError",
    "Settings",
    "answer",
    "answer_stream",
    "ingest",
    "retrieve",
]
