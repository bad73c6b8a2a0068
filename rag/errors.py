"""Typed errors. Every message says what is wrong and what to do about it.

Only the edges (the CLI and the web UI) turn these into exit codes or chat
messages; the library raises them and never prints.
"""

from __future__ import annotations


class RagError(Exception):
    """Base class for every error PaperChat raises on purpose."""


class IngestError(RagError):
    """An input could not be read; nothing from that ingest reached the index."""


class IndexNotFoundError(RagError):
    """There is no index yet at the configured location."""


class IndexBusyError(RagError):
    """Another process is writing the index right now."""


class IndexWriteError(RagError):
    """The index could not be written (disk full or failing); nothing of that change was published."""


class IndexIncompatibleError(RagError):
    """The index was built with settings this process cannot query with."""


class ModelNotFoundError(RagError):
    """The embedding model is neither a local folder nor in the local cache."""


class LLMError(RagError):
    """The configured LLM could not produce an answer (the caller falls back)."""


class StoreUnavailableError(RagError):
    """The Chroma server that holds the index cannot be reached right now."""
