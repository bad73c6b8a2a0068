"""The in-memory index: the two-stage dense search of large indexes, and what a load gives back."""

from __future__ import annotations

import numpy as np

import rag
import rag.index as index_module
from rag.index import forget, open_index


def _top(index, vector, n=60):
    return [(pid, num) for pid, num, _ in index.dense(vector, n)]


def test_two_stage_search_finds_what_the_exact_scan_finds(seed_settings, monkeypatch):
    questions = ["What does DiffuseVAE do?", "machine unlearning datasets", "3D part segmentation"]
    forget(seed_settings)
    exact = open_index(seed_settings)
    assert exact._basis is None  # 44 papers: far below EXACT_ROWS
    vectors = [exact.embedder.query_vector(q) for q in questions]
    expected = [_top(exact, v) for v in vectors]

    monkeypatch.setattr(index_module, "EXACT_ROWS", 10)
    monkeypatch.setattr(index_module, "REDUCED_DIMS", 64)
    monkeypatch.setattr(index_module, "SHORTLIST", 400)
    forget(seed_settings)
    reduced = open_index(seed_settings)
    assert reduced._basis is not None and reduced._basis.shape == (384, 64)
    assert reduced._reduced.n == reduced._vectors.n
    for v, want in zip(vectors, expected, strict=True):
        got = _top(reduced, v)
        assert got[:10] == want[:10]
        assert len(set(got) & set(want)) >= 0.9 * len(want)
    forget(seed_settings)


def test_papers_added_later_are_projected_and_found(small_inputs, settings, monkeypatch):
    monkeypatch.setattr(index_module, "EXACT_ROWS", 5)
    monkeypatch.setattr(index_module, "REDUCED_DIMS", 8)
    monkeypatch.setattr(index_module, "SHORTLIST", 20)
    files = sorted(small_inputs.iterdir())
    rag.ingest(files[:1], settings=settings, progress=False)
    index = open_index(settings)
    fitted_at = index._basis_rows
    assert index._basis is not None

    rag.ingest(files, settings=settings, progress=False)
    index = open_index(settings)
    assert index._reduced.n == index._vectors.n  # every new row has its projection
    newest = index.papers[-1]
    vector = index.embedder.query_vector(newest.title)
    assert index.dense(vector, 3)[0][0] == newest.paper_id
    if index._row_alive.data.sum() >= 2 * fitted_at:
        assert index._basis_rows > fitted_at  # refitted once the index doubled


def test_dense_skips_removed_papers(small_inputs, settings):
    rag.ingest([small_inputs], settings=settings, progress=False)
    index = open_index(settings)
    victim = index.papers[0]
    vector = index.embedder.query_vector(victim.title)
    assert index.dense(vector, 1)[0][0] == victim.paper_id
    rag.remove([victim.paper_id], settings=settings)
    index = open_index(settings)
    assert all(pid != victim.paper_id for pid, _, _ in index.dense(vector, 50))
    assert np.isfinite([s for _, _, s in index.dense(vector, 50)]).all()
