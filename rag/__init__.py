"""PaperChat: cited, offline question answering over research-paper abstracts.

The public surface is small: ``ingest`` builds the index, ``retrieve`` finds
papers, ``answer`` writes a cited answer, ``evaluate`` measures quality.
Everything else may change between versions.
"""

from .answer import Answer, Citation, answer, answer_stream
from .chain import AnswerChain
from .config import Settings
from .corpus import Paper
from .errors import (
    IndexBusyError,
    IndexIncompatibleError,
    IndexNotFoundError,
    IndexWriteError,
    IngestError,
    LLMError,
    ModelNotFoundError,
    RagError,
    StoreUnavailableError,
)
from .evaluate import Question, Report, evaluate, load_questions
from .index import Collection, Passage, describe
from .ingest import IngestReport, ingest, remove
from .retrieve import Hit, PaperRetriever, retrieve
from .verify import Removal

__all__ = [
    "Answer",
    "AnswerChain",
    "Citation",
    "Collection",
    "Hit",
    "IndexBusyError",
    "IndexIncompatibleError",
    "IndexNotFoundError",
    "IndexWriteError",
    "IngestError",
    "IngestReport",
    "LLMError",
    "ModelNotFoundError",
    "Paper",
    "PaperRetriever",
    "Passage",
    "Question",
    "RagError",
    "Removal",
    "Report",
    "Settings",
    "StoreUnavailableError",
    "answer",
    "answer_stream",
    "describe",
    "evaluate",
    "ingest",
    "load_questions",
    "remove",
    "retrieve",
]
