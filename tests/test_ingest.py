"""Ingest: incremental, idempotent, atomic under SIGKILL, one writer at a time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import rag
from rag.embeddings import get_embedder
from rag.store import shared_store, writer_lock
from tests.conftest import ROOT, SEEDS


def live(settings) -> dict[str, object]:
    """The committed papers by id (PaperRecord), read straight from Chroma."""
    store = shared_store(settings)
    store.reopen()  # see what other processes wrote
    head = store.require_head()
    return {r.paper.paper_id: r for r in store.live_papers(head, vectors=False)}


def stored_chunk_ids(settings) -> list[str]:
    """Every chunk record physically in the live generation (committed or not)."""
    store = shared_store(settings)
    store.reopen()
    head = store.require_head()
    return sorted(store.chunks(head.generation).get(include=[])["ids"])


def state(settings) -> set[str]:
    """The committed state as a set of paper versions."""
    return {r.record_id for r in live(settings).values()}


def test_reingest_of_unchanged_inputs_embeds_nothing(small_inputs, settings):
    first = rag.ingest([small_inputs], settings=settings, progress=False)
    assert (first.added, first.papers, first.transaction) == (6, 6, 1)
    assert first.chunks_embedded > 6
    embedder = get_embedder(settings)
    encoded_before = embedder.encoded

    again = rag.ingest([small_inputs], settings=settings, progress=False)

    assert again.transaction is None and again.unchanged == 6 and again.chunks_embedded == 0
    assert embedder.encoded == encoded_before  # the encoder was not called at all
    assert shared_store(settings).require_head().txn == 1


def test_changed_abstract_replaces_that_papers_chunks(small_inputs, settings):
    rag.ingest([small_inputs], settings=settings, progress=False)
    assert rag.retrieve("block-sparse attention", k=1, settings=settings)[0].paper_id == "2401.00002"
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
    paper = live(settings)["2401.00002"]
    assert paper.chunks == 3 and "HelixFormer" in paper.paper.abstract
    # The process that answered before picks the change up without a restart.
    hits = rag.retrieve("HelixFormer protein folding", k=1, settings=settings)
    assert hits[0].paper_id == "2401.00002"
    assert "proteins" in hits[0].passages[0].text
    assert all("block-sparse" not in p.text for p in hits[0].passages)
    # The old version's chunks go with the next commit (kept one commit for readers catching up).
    record["abstract"] += " A third version."
    lines[1] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    rag.ingest([small_inputs], settings=settings, progress=False)  # transaction 3
    rag.ingest([SEEDS], settings=settings, progress=False)  # 4: deletes what 2 retired
    own = [i for i in stored_chunk_ids(settings) if i.startswith("2401.00002@")]
    assert len(own) == 3 + 4 and len({i.split("#")[0] for i in own}) == 2
    rag.ingest([SEEDS], settings=settings, progress=False)  # nothing new; deletes what 3 retired
    own = [i for i in stored_chunk_ids(settings) if i.startswith("2401.00002@")]
    assert len(own) == 4 and len({i.split("#")[0] for i in own}) == 1


def test_metadata_change_needs_no_embedding(small_inputs, settings):
    rag.ingest([small_inputs], settings=settings, progress=False)
    path = small_inputs / "papers.jsonl"
    path.write_text(path.read_text().replace("Grace Hopper", "Rear Admiral Grace Hopper"))
    report = rag.ingest([small_inputs], settings=settings, progress=False)
    assert (report.relabeled, report.chunks_embedded) == (1, 0)
    assert live(settings)["2401.00003"].paper.metadata["authors"] == "Rear Admiral Grace Hopper"
    hits = rag.retrieve("Grace Hopper", k=6, settings=settings)
    assert any(h.paper.metadata.get("authors") == "Rear Admiral Grace Hopper" for h in hits)


def test_prune_removes_papers_no_longer_in_the_inputs(small_inputs, settings):
    rag.ingest([small_inputs], settings=settings, progress=False)
    titles = {h.title for h in rag.retrieve("birds", k=10, settings=settings)}
    assert "Counting Birds in Aerial Images" in titles
    (small_inputs / "extra.csv").unlink()
    kept = rag.ingest([small_inputs], settings=settings, progress=False)
    assert kept.papers == 6 and kept.transaction is None  # without --prune nothing is removed
    pruned = rag.ingest([small_inputs], prune=True, settings=settings, progress=False)
    assert (pruned.removed, pruned.papers) == (2, 4)
    assert len(live(settings)) == 4
    titles = {h.title for h in rag.retrieve("birds", k=10, settings=settings)}
    assert "Counting Birds in Aerial Images" not in titles


def test_rebuild_starts_from_scratch_in_a_new_generation(small_inputs, settings):
    rag.ingest([small_inputs], settings=settings, progress=False)
    assert len(rag.retrieve("birds", k=10, settings=settings)) == 6
    report = rag.ingest([small_inputs / "papers.jsonl"], rebuild=True, settings=settings, progress=False)
    assert (report.added, report.papers) == (4, 4)
    assert shared_store(settings).require_head().generation == 2
    assert len(rag.retrieve("birds", k=10, settings=settings)) == 4
    rag.ingest([small_inputs / "papers.jsonl"], settings=settings, progress=False)
    names = {c.name for c in shared_store(settings).client.list_collections()}
    assert names == {"paperchat-state", "paperchat-g2-papers", "paperchat-g2-chunks"}


def test_bad_input_leaves_the_index_untouched(small_inputs, settings, tmp_path):
    rag.ingest([small_inputs], settings=settings, progress=False)
    before = state(settings)
    chunks = stored_chunk_ids(settings)
    bad = small_inputs / "broken.jsonl"
    bad.write_text('{"title": "Fine", "abstract": "Fine abstract."}\n{"title": \n')
    with pytest.raises(rag.IngestError, match=r"broken\.jsonl:2"):
        rag.ingest([small_inputs], settings=settings, progress=False)
    assert state(settings) == before
    assert stored_chunk_ids(settings) == chunks  # nothing was even written
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(rag.IngestError, match="No papers found"):
        rag.ingest([empty], settings=settings, progress=False)


def test_jsonl_is_streamed_not_read_whole(tmp_path, settings):
    """A large .jsonl.gz is read a line at a time: a bad line far in names its number."""
    import gzip

    path = tmp_path / "big.jsonl.gz"
    line = json.dumps({"title": "T {}", "abstract": "An abstract about streaming. " * 10})
    with gzip.open(path, "wt") as fh:
        for i in range(20000):
            fh.write(line.replace("T {}", f"Paper {i}") + "\n")
        fh.write("{broken\n")
    with pytest.raises(rag.IngestError, match=r"big\.jsonl\.gz:20001: not valid JSON"):
        rag.ingest([path], settings=settings, progress=False)
    with pytest.raises(rag.IndexNotFoundError):
        shared_store(settings).require_head()


HOLD_LOCK = """
import sys, time
import rag
from rag.store import writer_lock
with writer_lock(rag.Settings.from_env()):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_a_second_writer_is_refused_with_a_clear_error(small_inputs, settings):
    env = {**os.environ, "RAG_VECTORSTORE_DIR": str(settings.vectorstore_dir)}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK], stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(rag.IndexBusyError, match="busy: another ingest is writing it"):
            rag.ingest([small_inputs], settings=settings, progress=False)
    finally:
        holder.kill()
        holder.wait()
    # A killed writer releases the lock with its process.
    assert rag.ingest([small_inputs], settings=settings, progress=False).papers == 6
    with writer_lock(settings):
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
def test_sigkill_at_any_moment_leaves_the_old_or_the_new_index(small_inputs, settings):
    """Kill an ingest at spread-out moments; the index must always be whole."""
    env = {**os.environ, "RAG_VECTORSTORE_DIR": str(settings.vectorstore_dir)}
    rag.ingest([small_inputs], settings=settings, progress=False)
    old = state(settings)
    # The update: all 44 seed papers added and one small paper changed.
    changed = small_inputs / "papers.jsonl"
    original = changed.read_text()
    updated = original.replace("FraudBoost", "FraudForest")
    inputs = [small_inputs, SEEDS]

    # How long does the update take when left alone (model loaded, as in the worker)?
    changed.write_text(updated)
    started = time.perf_counter()
    rag.ingest(inputs, settings=settings, progress=False)
    duration = time.perf_counter() - started
    new = state(settings)
    assert len(new) == 50 and new != old

    def restore_old():
        changed.write_text(original)
        rag.ingest([small_inputs], prune=True, settings=settings, progress=False)
        assert {r.split("@")[0] for r in state(settings)} == {r.split("@")[0] for r in old}
        changed.write_text(updated)
        return state(settings)

    old = restore_old()
    outcomes = []
    for fraction in (0.05, 0.25, 0.5, 0.75, 0.9, 0.99):
        worker = _worker(inputs, env)
        assert worker.stdout.readline().strip() == "ready"
        time.sleep(duration * fraction)
        worker.send_signal(signal.SIGKILL)
        worker.wait()

        now = state(settings)
        assert now in (old, new), f"half-written index after kill at {fraction:.0%}"
        abstract = live(settings)["2401.00001"].paper.abstract
        assert ("FraudForest" in abstract) == (now == new)  # never a half-updated paper
        hits = rag.retrieve("fraud detection with boosted trees", k=3, settings=settings)
        assert hits[0].paper_id == "2401.00001"
        assert len(rag.retrieve("diffusion", k=100, settings=settings)) == len(now)
        outcomes.append(now == new)
        if now == new:
            old = restore_old()
    assert not outcomes[0], "the earliest kill should have stopped the update"
    print("kills that left the new index:", outcomes)
    # Whatever was left behind is cleaned up by the next writer: no duplicates, nothing lost.
    rag.ingest(inputs, settings=settings, progress=False)
    rag.ingest(inputs, prune=True, settings=settings, progress=False)
    assert state(settings) == new
    papers = live(settings)
    expected = sorted(f"{r.paper.paper_id}@{r.text}#{n}" for r in papers.values() for n in range(r.chunks))
    assert set(expected) <= set(stored_chunk_ids(settings))
    assert len(stored_chunk_ids(settings)) == len(set(stored_chunk_ids(settings)))


def test_remove_by_id_in_one_commit(small_inputs, settings):
    rag.ingest([small_inputs], settings=settings, progress=False)
    assert rag.retrieve("fraud", k=1, settings=settings)[0].paper_id == "2401.00001"
    report = rag.remove(["2401.00001", "no-such-paper"], settings=settings)
    assert (report.removed, report.unchanged, report.papers, report.transaction) == (1, 1, 5, 2)
    assert "2401.00001" not in {h.paper_id for h in rag.retrieve("fraud", k=10, settings=settings)}
    again = rag.remove(["2401.00001"], settings=settings)
    assert (again.removed, again.transaction) == (0, None)
    # Ingesting the inputs again brings it back (it was removed, not banned).
    assert rag.ingest([small_inputs], settings=settings, progress=False).added == 1


@pytest.mark.slow
def test_a_killed_first_ingest_leaves_no_index_or_a_whole_one(small_inputs, settings):
    env = {**os.environ, "RAG_VECTORSTORE_DIR": str(settings.vectorstore_dir)}
    for delay in (0.2, 1.5):
        worker = _worker([small_inputs, SEEDS], env)
        assert worker.stdout.readline().strip() == "ready"
        time.sleep(delay)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        head = shared_store(settings).head()
        assert head is None or head.papers == 50
        if head is None:
            with pytest.raises(rag.IndexNotFoundError, match="rag ingest seeds/"):
                rag.retrieve("fraud", settings=settings)
    report = rag.ingest([small_inputs, SEEDS], settings=settings, progress=False)
    assert report.papers == 50
    papers = live(settings)
    expected = {f"{r.paper.paper_id}@{r.text}#{n}" for r in papers.values() for n in range(r.chunks)}
    assert set(stored_chunk_ids(settings)) == expected  # what the killed runs wrote is gone
