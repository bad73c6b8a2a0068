"""The fast ONNX question encoder gives the same vectors as sentence-transformers."""

from __future__ import annotations

import numpy as np

import rag
from rag.embeddings import Embedder


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


def test_documents_are_unit_vectors_in_input_order(settings):
    embedder = Embedder(settings)
    texts = ["short", "a much longer sentence about diffusion models and their latent spaces", "mid one"]
    vectors = embedder.encode(texts)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    for text, vector in zip(texts, vectors, strict=True):
        assert np.allclose(vector, embedder.query_vector(text), atol=1e-5)


def test_unknown_model_is_a_clear_error(settings):
    import pytest

    with pytest.raises(rag.ModelNotFoundError, match="nothing is downloaded"):
        Embedder(settings.replace(embed_model="no-such-model-anywhere"))
