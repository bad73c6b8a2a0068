"""One place for every setting, with ``RAG_*`` environment overrides.

Public functions take ``settings: Settings | None``; ``None`` means
``Settings.from_env()``, so a shell user, a Python caller and a test can all
steer the same knobs without threading arguments through every layer.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_EMBED_MODEL = "bundled:all-MiniLM-L6-v2"


def _env_path(name: str, default: str) -> Path:
    return Path(os.environ.get(name) or default).expanduser()


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything PaperChat can be told, with defaults that work offline.

    Attributes:
        vectorstore_dir: Where the persisted index lives (``RAG_VECTORSTORE_DIR``).
        seeds_dir: Default input folder for ``rag ingest`` (``RAG_SEEDS_DIR``).
        embed_model: Local sentence-transformers folder or cached model name
            (``RAG_EMBED_MODEL``); the default is the bundled all-MiniLM-L6-v2.
        cache_dir: Derived files such as the exported query encoder (``RAG_CACHE_DIR``).
        chunk_sentences: Sentences per chunk (``RAG_CHUNK_SENTENCES``).
        chunk_overlap: Sentences shared by neighbouring chunks (``RAG_CHUNK_OVERLAP``).
        embed_batch_size: Texts per encoder call while ingesting (``RAG_EMBED_BATCH_SIZE``);
            16 suits the ONNX encoder on a CPU (length-sorted batches pad little).
        device: ``auto`` (CUDA when torch sees a GPU, else CPU), ``cpu`` or ``cuda``
            for encoding documents while ingesting (``RAG_DEVICE``).
        chroma_url: ``http(s)://host:port`` of a Chroma server that holds the index;
            empty means the embedded folder ``vectorstore_dir`` (``RAG_CHROMA_URL``).
        chroma_headers: Extra HTTP headers for a proxy in front of the Chroma server,
            as JSON or ``Name: value`` pairs separated by ``;`` (``RAG_CHROMA_HEADERS``).
        chroma_token: Sent as ``Authorization: Bearer <token>`` to the Chroma server
            (``RAG_CHROMA_TOKEN``); Chroma 1.x itself has no auth, a proxy checks it.
        collection: Name prefix of the Chroma collections, so one server can hold
            several collections of papers (``RAG_COLLECTION``).
        top_k: Papers retrieved per question (``RAG_TOP_K``).
        query_encoder: ``auto`` (ONNX when possible), ``onnx`` or ``torch``
            (``RAG_QUERY_ENCODER``); all give the same vectors, ONNX is ~4x faster.
        llm: ``provider:model`` such as ``openai:gpt-4o-mini`` or ``ollama:llama3.1``;
            empty means the extractive answerer (``RAG_LLM``).
        llm_base_url: OpenAI-compatible or Ollama server URL (``RAG_LLM_BASE_URL``).
        llm_api_key: API key for the LLM server (``RAG_LLM_API_KEY``).
        llm_timeout: Seconds before an LLM call gives up (``RAG_LLM_TIMEOUT``).
        llm_temperature: Sampling temperature (``RAG_LLM_TEMPERATURE``).
        ui_auth: ``user:password`` to require a login in the web chat (``RAG_UI_AUTH``).
        background: Papers outside the collection that abstention compares against:
            ``bundled`` (4,000 ML abstracts), a ``.npz`` from ``bench/build_background.py``,
            or empty for none (``RAG_BACKGROUND``).
        glossary: Everyday words for the field's terms, so that "pictures from orbit"
            count as covered by "satellite imagery": ``bundled``, a TSV file of
            ``everyday<TAB>technical ; technical`` lines, or empty for none (``RAG_GLOSSARY``).

    """

    vectorstore_dir: Path = field(default_factory=lambda: Path("vectorstore"))
    seeds_dir: Path = field(default_factory=lambda: Path("seeds"))
    embed_model: str = DEFAULT_EMBED_MODEL
    cache_dir: Path = field(default_factory=lambda: Path("~/.cache/paperchat").expanduser())
    chunk_sentences: int = 1
    chunk_overlap: int = 0
    embed_batch_size: int = 16
    device: str = "auto"
    chroma_url: str = ""
    chroma_headers: str = ""
    chroma_token: str = ""
    collection: str = "paperchat"
    top_k: int = 10
    query_encoder: str = "auto"
    llm: str = ""
    llm_base_url: str = ""
    llm_api_key: str = ""
    llm_timeout: float = 60.0
    llm_temperature: float = 0.0
    ui_auth: str = ""
    background: str = "bundled"
    glossary: str = "bundled"

    def __post_init__(self) -> None:
        if self.chunk_sentences < 1:
            raise ValueError(f"chunk_sentences must be >= 1, got {self.chunk_sentences}")
        if not 0 <= self.chunk_overlap < self.chunk_sentences:
            raise ValueError(
                f"chunk_overlap must be >= 0 and < chunk_sentences ({self.chunk_sentences}), "
                f"got {self.chunk_overlap}"
            )
        if self.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")
        if self.device not in {"auto", "cpu", "cuda"}:
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.chroma_url and not self.chroma_url.startswith(("http://", "https://")):
            raise ValueError(f"RAG_CHROMA_URL must start with http:// or https://, got {self.chroma_url!r}")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{1,40}[A-Za-z0-9]", self.collection):
            raise ValueError(
                f"collection must be 3-42 letters, digits, '.', '_' or '-', got {self.collection!r}"
            )
        if self.embed_batch_size < 1:
            raise ValueError(f"embed_batch_size must be >= 1, got {self.embed_batch_size}")
        if self.query_encoder not in {"auto", "onnx", "torch"}:
            raise ValueError(f"query_encoder must be auto, onnx or torch, got {self.query_encoder!r}")

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Build settings from ``RAG_*`` variables; keyword overrides win.

        Raises:
            ValueError: A variable holds a value of the wrong type, named in the message.

        """
        env = os.environ
        values: dict[str, object] = {
            "vectorstore_dir": _env_path("RAG_VECTORSTORE_DIR", "vectorstore"),
            "seeds_dir": _env_path("RAG_SEEDS_DIR", "seeds"),
            "cache_dir": _env_path("RAG_CACHE_DIR", "~/.cache/paperchat"),
        }
        for f in dataclasses.fields(cls):
            name = f"RAG_{f.name.upper()}"
            if f.name in values or name not in env:
                continue
            raw = env[name]
            kind = type(f.default) if f.default is not dataclasses.MISSING else str
            try:
                values[f.name] = kind(raw)
            except ValueError:
                raise ValueError(f"{name}={raw!r} is not a valid {kind.__name__}; fix or unset it") from None
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def uses_llm(self) -> bool:
        """True when answers are written by an LLM (``llm`` set and not ``extractive``)."""
        return self.llm.strip().lower() not in ("", "extractive")

    def replace(self, **changes: object) -> Settings:
        """Return a copy with some fields changed (validated like the original)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def resolve(settings: Settings | None) -> Settings:
    """Return ``settings`` or, when ``None``, the settings from the environment."""
    return settings if settings is not None else Settings.from_env()
