"""The ONNX encoder gives sentence-transformers' vectors, for questions and documents, without torch."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import rag
from rag.chunking import chunk_paper
from rag.corpus import read_papers
from rag.embeddings import Embedder, _nvidia_present
from tests.conftest import ROOT, SEEDS

LONG = "Diffusion models denoise latent codes step by step, and we study why. " * 40  # > 256 tokens


@pytest.fixture(scope="module")
def reference(cache_dir):
    """sentence-transformers on torch, the encoder the ONNX path must agree with."""
    return Embedder(rag.Settings.from_env(cache_dir=cache_dir, query_encoder="torch"))._sentence_transformer()


def varied_texts() -> list[str]:
    """Chunks as ingest embeds them, of every length, plus edge cases."""
    chunks = [c.embed_text for p in read_papers([SEEDS]) for c in chunk_paper(p)]
    chunks.sort(key=len)
    spread = chunks[:: max(1, len(chunks) // 30)]
    return [*spread, LONG, "x" * 3000, "", "   ", "Ünïcode — naïve café", "GAN", spread[-1] + " " + LONG]


def test_onnx_query_vectors_match_sentence_transformers(settings):
    fast = Embedder(settings)
    assert fast.prepare_query_encoder()
    slow = Embedder(settings.replace(query_encoder="torch"))
    texts = ["What does DiffuseVAE do?", "machine unlearning", "x" * 3000, "Ünïcode — naïve café"]
    for text in texts:
        a, b = fast.query_vector(text), slow.query_vector(text)
        assert a.shape == b.shape == (384,)
        assert np.allclose(a, b, atol=1e-5)
        assert abs(np.linalg.norm(a) - 1.0) < 1e-5


@pytest.mark.parametrize("batch_size", [3, 16])
def test_onnx_document_vectors_match_sentence_transformers(settings, reference, batch_size):
    texts = varied_texts()
    assert len(texts) > 30
    assert reference.tokenize([LONG])["input_ids"].shape[1] == reference.max_seq_length  # truncated
    embedder = Embedder(settings.replace(embed_batch_size=batch_size))
    reported: list[int] = []

    vectors = embedder.encode(texts, progress=reported.append)

    expected = reference.encode(texts, normalize_embeddings=True)
    assert vectors.dtype == np.float32 and vectors.shape == (len(texts), 384)
    assert np.abs(vectors - expected).max() <= 1e-4
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert sum(reported) == embedder.encoded == len(texts)
    assert max(reported) == batch_size and len(reported) == -(-len(texts) // batch_size)


def test_documents_and_questions_share_one_encoder(settings):
    embedder = Embedder(settings)
    texts = ["short", "a much longer sentence about diffusion models and their latent spaces", "mid one"]
    vectors = embedder.encode(texts)
    for text, vector in zip(texts, vectors, strict=True):
        assert np.allclose(vector, embedder.query_vector(text), atol=1e-5)


def test_torch_path_gives_the_same_documents(settings):
    texts = varied_texts()[:12]
    onnx = Embedder(settings).encode(texts)
    torch = Embedder(settings.replace(query_encoder="torch", embed_batch_size=5)).encode(texts)
    assert np.abs(onnx - torch).max() <= 1e-4


def test_dimension_and_empty_input_need_no_encoding(settings):
    embedder = Embedder(settings)
    assert embedder.dimension == 384
    assert embedder.encode([]).shape == (0, 384)
    assert embedder.encoded == 0


NO_TORCH = """
import sys
from rag.config import Settings
from rag.embeddings import Embedder
embedder = Embedder(Settings.from_env())
embedder.load()
vectors = embedder.encode(["a first chunk", "a second, rather longer chunk of an abstract", ""])
question = embedder.query_vector("what is a chunk?")
assert vectors.shape == (3, embedder.dimension) and question.shape == (embedder.dimension,)
print(sorted(m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules))
"""


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_encoding_with_an_exported_model_never_imports_torch(settings, device):
    if device == "auto" and _nvidia_present():
        pytest.skip("auto rightly imports torch on a machine with an NVIDIA driver")
    assert Embedder(settings).prepare_query_encoder()  # the export exists in the cache dir
    done = subprocess.run(
        [sys.executable, "-c", NO_TORCH],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "RAG_CACHE_DIR": str(settings.cache_dir), "RAG_DEVICE": device},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_cuda_without_a_gpu_is_a_clear_error(settings):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    embedder = Embedder(settings.replace(device="cuda"))
    with pytest.raises(rag.RagError, match="set RAG_DEVICE=cpu") as caught:
        embedder.load()
    assert "\n" not in str(caught.value)
    with pytest.raises(rag.RagError, match="RAG_DEVICE=cuda"):
        embedder.encode(["a chunk"])


def test_unknown_model_is_a_clear_error(settings):
    with pytest.raises(rag.ModelNotFoundError, match="nothing is downloaded"):
        Embedder(settings.replace(embed_model="no-such-model-anywhere"))
