"""Ingest: incremental, idempotent, atomic under SIGKILL, one writer at a time."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

import rag
from rag.embeddings import get_embedder
from rag.store import COLLECTION, chroma_client, current_generation, read_papers, writer_lock
from tests.conftest import ROOT, SEEDS


def chunk_ids(folder) -> list[str]:
    gen = current_generation(folder)
    client = chroma_client(gen / "chroma")
    try:
        return sorted(client.get_collection(COLLECTION).get(include=[])["ids"])
    finally:
        client.close()


def test_reingest_of_unchanged_inputs_embeds_nothing(small_inputs, settings):
    first = rag.ingest([small_inputs], settings=settings, progress=False)
    assert (first.added, first.papers) == (6, 6)
    assert first.chunks_embedded > 6
    embedder = get_embedder(settings)
    encoded_before = embedder.encoded
    generation = current_generation(settings.vectorstore_dir)

    again = rag.ingest([small_inputs], settings=settings, progress=False)

    assert again.generation is None and again.unchanged == 6 and again.chunks_embedded == 0
    assert embedder.encoded == encoded_before  # the encoder was not called at all
    assert current_generation(settings.vectorstore_dir) == generation


def test_changed_abstract_replaces_that_papers_chunks(small_inputs, settings):
    rag.ingest([small_inputs], settings=settings, progress=False)
    path = small_inputs / "papers.jsonl"
    lines = path.read_text().splitlines()
    record = json.loads(lines[1])
    record["abstract"] = (
        "We replace the abstract entirely. The new method, HelixFormer, reads protein sequences. "
        "It folds proteins with rotary attention."
    )
    lines[1] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")

    report = rag.ingest([small_inputs], settings=settings, progress=False)

    assert (report.updated, report.unchanged, report.chunks_embedded) == (1, 5, 3)
    ids = chunk_ids(settings.vectorstore_dir)
    assert [i for i in ids if i.startswith("2401.00002#")] == ["2401.00002#0", "2401.00002#1", "2401.00002#2"]
    stored = {sp.paper.paper_id: sp for sp in read_papers(current_generation(settings.vectorstore_dir))}
    assert stored["2401.00002"].chunks[1] == "The new method, HelixFormer, reads protein sequences."
    client = chroma_client(current_generation(settings.vectorstore_dir) / "chroma")
    docs = client.get_collection(COLLECTION).get(where={"paper_id": "2401.00002"})["documents"]
    client.close()
    assert len(docs) == 3 and not [d for d in docs if "block-sparse" in d]
    hits = rag.retrieve("HelixFormer protein folding", k=1, settings=settings)
    assert hits[0].paper_id == "2401.00002"
    assert "proteins" in hits[0].passages[0].text


def test_metadata_change_needs_no_embedding(small_inputs, settings):
    rag.ingest([small_inputs], settings=settings, progress=False)
    path = small_inputs / "papers.jsonl"
    path.write_text(path.read_text().replace("Grace Hopper", "Rear Admiral Grace Hopper"))
    report = rag.ingest([small_inputs], settings=settings, progress=False)
    assert (report.relabeled, report.chunks_embedded) == (1, 0)
    stored = {sp.paper.paper_id: sp for sp in read_papers(current_generation(settings.vectorstore_dir))}
    assert stored["2401.00003"].paper.metadata["authors"] == "Rear Admiral Grace Hopper"


def test_prune_removes_papers_no_longer_in_the_inputs(small_inputs, settings):
    rag.ingest([small_inputs], settings=settings, progress=False)
    (small_inputs / "extra.csv").unlink()
    kept = rag.ingest([small_inputs], settings=settings, progress=False)
    assert kept.papers == 6 and kept.generation is None  # without --prune nothing is removed
    pruned = rag.ingest([small_inputs], prune=True, settings=settings, progress=False)
    assert (pruned.removed, pruned.papers) == (2, 4)
    assert not [i for i in chunk_ids(settings.vectorstore_dir) if i.startswith("speech")]
    titles = {h.title for h in rag.retrieve("birds", k=10, settings=settings)}
    assert "Counting Birds in Aerial Images" not in titles


def test_rebuild_starts_from_scratch_and_keeps_one_previous_generation(small_inputs, settings):
    rag.ingest([small_inputs], settings=settings, progress=False)
    report = rag.ingest([small_inputs / "papers.jsonl"], rebuild=True, settings=settings, progress=False)
    assert (report.added, report.papers) == (4, 4)
    gens = sorted(p.name for p in settings.vectorstore_dir.glob("gen-*"))
    assert gens == ["gen-000001", "gen-000002"]


def test_bad_input_leaves_the_index_untouched(small_inputs, settings, tmp_path):
    rag.ingest([small_inputs], settings=settings, progress=False)
    before = current_generation(settings.vectorstore_dir)
    bad = small_inputs / "broken.jsonl"
    bad.write_text('{"title": "Fine", "abstract": "Fine abstract."}\n{"title": \n')
    with pytest.raises(rag.IngestError, match=r"broken\.jsonl:2"):
        rag.ingest([small_inputs], settings=settings, progress=False)
    assert current_generation(settings.vectorstore_dir) == before
    assert len(chunk_ids(settings.vectorstore_dir)) > 0
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(rag.IngestError, match="No papers found"):
        rag.ingest([empty], settings=settings, progress=False)


HOLD_LOCK = """
import sys, time
from pathlib import Path
from rag.store import writer_lock
with writer_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_a_second_writer_is_refused_with_a_clear_error(small_inputs, settings):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(settings.vectorstore_dir)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(rag.IndexBusyError, match="busy: another ingest is writing it"):
            rag.ingest([small_inputs], settings=settings, progress=False)
    finally:
        holder.kill()
        holder.wait()
    # A killed writer releases the lock with its process.
    assert rag.ingest([small_inputs], settings=settings, progress=False).papers == 6
    with writer_lock(settings.vectorstore_dir):
        pass


WORKER = """
import sys, time
import rag
from rag.embeddings import get_embedder
settings = rag.Settings.from_env()
get_embedder(settings).load()  # load before the clock starts
print("ready", flush=True)
start = time.perf_counter()
rag.ingest(sys.argv[1:], settings=settings, progress=False)
print("done", time.perf_counter() - start, flush=True)
"""


def _worker(paths, env):
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, *map(str, paths)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env,
    )  # fmt: skip


@pytest.mark.slow
def test_sigkill_at_any_moment_leaves_the_old_or_the_new_index(small_inputs, settings, tmp_path):
    """Kill an ingest at spread-out moments; the index must always be whole."""
    env = {**os.environ, "RAG_VECTORSTORE_DIR": str(settings.vectorstore_dir)}
    rag.ingest([small_inputs], settings=settings, progress=False)
    old_ids = chunk_ids(settings.vectorstore_dir)
    # The update: all 44 seed papers added and one small paper changed.
    changed = small_inputs / "papers.jsonl"
    original = changed.read_text()
    updated = original.replace("FraudBoost", "FraudForest")
    changed.write_text(updated)
    inputs = [small_inputs, SEEDS]

    # How long does the update take when left alone? Measured in-process on a
    # scratch copy (the model is loaded here too, as it is in the worker).
    scratch = tmp_path / "scratch"
    shutil.copytree(settings.vectorstore_dir, scratch)
    started = time.perf_counter()
    rag.ingest(inputs, settings=settings.replace(vectorstore_dir=scratch), progress=False)
    duration = time.perf_counter() - started
    new_ids = chunk_ids(scratch)
    assert len(new_ids) > len(old_ids)

    outcomes = []
    for fraction in (0.25, 0.7, 0.98):
        worker = _worker(inputs, env)
        assert worker.stdout.readline().strip() == "ready"
        time.sleep(duration * fraction)
        worker.send_signal(signal.SIGKILL)
        worker.wait()

        ids = chunk_ids(settings.vectorstore_dir)
        assert ids in (old_ids, new_ids), f"half-written index after kill at {fraction:.0%}"
        papers = read_papers(current_generation(settings.vectorstore_dir))
        abstract = {sp.paper.paper_id: sp.paper.abstract for sp in papers}["2401.00001"]
        assert ("FraudForest" in abstract) == (ids == new_ids)  # never a half-updated paper
        hits = rag.retrieve("fraud detection with boosted trees", k=3, settings=settings)
        assert hits[0].paper_id == "2401.00001"
        outcomes.append(ids == new_ids)
        if ids == new_ids:  # put the old state back for the next kill
            changed.write_text(original)
            rag.ingest([small_inputs], prune=True, settings=settings, progress=False)
            assert chunk_ids(settings.vectorstore_dir) == old_ids
            changed.write_text(updated)
    assert not outcomes[0], "the earliest kill should have stopped the update"
    # Whatever was left behind is cleaned up by the next writer.
    rag.ingest(inputs, settings=settings, progress=False)
    assert len(list(settings.vectorstore_dir.glob("gen-*"))) <= 2
    assert chunk_ids(settings.vectorstore_dir) == new_ids
