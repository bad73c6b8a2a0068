"""Reliability drills (issue 11), the fast versions; ``bench/stress.py`` runs the long ones.

1. kill -9 at chosen moments of every kind of ingest (first-ever, add, change,
   ``--prune``, ``--rebuild``, ``rag remove``, and around the commit itself),
   embedded and on a Chroma server: after every kill the index opens, holds
   exactly the papers of before or of after, answers, and the next ingest
   completes and leaves nothing behind;
2. serving while another process adds, changes and removes papers: Python and
   HTTP clients ask all the time, no request fails, no answer mixes two
   versions, new papers are answered from at once, file descriptors stay flat;
3. hostile and broken input: one line saying what is wrong and what to do,
   exit code 1 or 2, the index untouched;
5. a full disk: the ingest fails with one clear line and the index is as it was.

The machinery (``KillDrill``, ``Job``, ``drill_corpus``, ``Serving``) is shared
with ``bench/stress.py``, which runs it many more times.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import rag
from rag.corpus import read_papers
from rag.store import paper_version, shared_store
from tests.conftest import ROOT, SEEDS, SMALL

FRAUD_QUESTION = "How is credit card fraud detected with gradient boosted trees?"
FRAUD_PAPER = "2401.00001"  # in every state of the kill drills

# --- 1. kill -9 ----------------------------------------------------------------------------------

# One ingest (or remove) in a process of its own. It counts every Chroma write
# (add, upsert, update, delete), prints each one, and SIGKILLs itself where the
# job says: before a write, right after it, or a few milliseconds into it. The
# commit is the upsert of ``head`` that names a new transaction.
KILLABLE = r"""
import json, os, signal, sys, threading
import rag
from chromadb.api.models.Collection import Collection
from rag.embeddings import get_embedder
from rag.store import shared_store

settings = rag.Settings.from_env()
get_embedder(settings).load()
print("ready", flush=True)
job = json.loads(sys.stdin.readline())
kill = job.get("kill") or {}
head = shared_store(settings).head()
start = head.txn if head else 0
count, fired = 0, False


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def watched(name):
    real = getattr(Collection, name)

    def write(self, *args, **kwargs):
        global count, fired
        count += 1
        meta = (kwargs.get("metadatas") or [{}])[0] or {}
        commit = name == "upsert" and kwargs.get("ids") == ["head"] and int(meta.get("txn", 0)) > start
        print(f"write {count} {name} {self.name}{' (commit)' if commit else ''}", flush=True)
        # A write is named by its number or as "upsert:chunks", "update:papers", "delete:chunks",
        # "upsert:state", ... (the first of its kind), and the commit as "commit".
        kind = "commit" if commit else f"{name}:{self.name.rsplit('-', 1)[-1]}"
        hit = kill.get("at") in (count, kind) and not fired
        fired |= hit
        if hit and kill["when"] == "before":
            die()
        if hit and kill["when"] == "during":
            threading.Timer(kill["delay"], die).start()
        result = real(self, *args, **kwargs)
        if hit and kill["when"] == "after":
            die()
        return result

    return write


for name in ("add", "upsert", "update", "delete"):
    setattr(Collection, name, watched(name))
if job["kind"] == "remove":
    rag.remove(job["ids"], settings=settings)
else:
    rag.ingest(job["paths"], prune=job["prune"], rebuild=job["rebuild"], settings=settings, progress=False)
print(f"done after {count} writes", flush=True)
"""


@dataclass(frozen=True)
class Job:
    """One ingest (or ``rag remove``) the drill kills, and what it must leave when it completes."""

    kind: str
    paths: tuple[str, ...] = ()
    prune: bool = False
    rebuild: bool = False
    ids: tuple[str, ...] = ()

    def payload(self, kill: dict | None) -> str:
        fields = {"kind": self.kind, "paths": list(self.paths), "prune": self.prune, "rebuild": self.rebuild}
        return json.dumps({**fields, "ids": list(self.ids), "kill": kill}) + "\n"

    def run(self, settings: rag.Settings) -> None:
        """Run it here, to completion (the "next ingest" after a kill)."""
        if self.kind == "remove":
            rag.remove(list(self.ids), settings=settings)
        else:
            rag.ingest(
                list(self.paths), prune=self.prune, rebuild=self.rebuild, settings=settings, progress=False
            )

    def expected(self, before: dict[str, str] | None) -> dict[str, str]:
        """The committed ``paper id -> version record`` it leaves, worked out from its inputs alone."""
        if self.kind == "remove":
            return {pid: rid for pid, rid in (before or {}).items() if pid not in self.ids}
        read = {p.paper_id: f"{p.paper_id}@{paper_version(p)}" for p in read_papers(list(self.paths))}
        if self.prune or self.rebuild or before is None:
            return read
        return {**before, **read}


def committed(settings: rag.Settings) -> dict[str, str] | None:
    """The committed papers (``paper id -> version record``) read straight from Chroma; None: no index."""
    store = shared_store(settings)
    store.reopen()  # see what the killed process wrote
    head = store.head()
    if head is None:
        return None
    records = store.live_papers(head, vectors=False)
    assert head.papers == len(records), f"head counts {head.papers} papers, {len(records)} are live"
    return {r.paper.paper_id: r.record_id for r in records}


def check_serves(settings: rag.Settings, state: dict[str, str] | None) -> None:
    """This process's copy of the index holds exactly ``state`` and answers from it."""
    if state is None:
        try:
            rag.retrieve(FRAUD_QUESTION, settings=settings)
        except rag.IndexNotFoundError as exc:
            assert "rag ingest" in str(exc)
            return
        raise AssertionError("no commit, yet an index answered")
    hits = rag.retrieve(FRAUD_QUESTION, k=100, settings=settings)
    assert {h.paper_id: f"{h.paper_id}@{paper_version(h.paper)}" for h in hits} == state
    answer = rag.answer(FRAUD_QUESTION, settings=settings)
    assert not answer.abstained and answer.citations[0].paper_id == FRAUD_PAPER


def check_clean(settings: rag.Settings) -> None:
    """Nothing uncommitted is left, only the live generation exists, every live chunk is there.

    (The generation a rebuild replaced stays until the next commit, like any retired version.)
    """
    store = shared_store(settings)
    store.reopen()
    head = store.require_head()
    names = {c if isinstance(c, str) else c.name for c in store.client.list_collections()}
    live, replaced = (f"{settings.collection}-g{g}" for g in (head.generation, head.generation - 1))
    names -= {f"{replaced}-papers", f"{replaced}-chunks"}
    assert names == {f"{settings.collection}-state", f"{live}-papers", f"{live}-chunks"}, names
    for collection in (store.papers(head.generation), store.chunks(head.generation)):
        assert not collection.get(where={"added": {"$gt": head.txn}}, include=[])["ids"]
    store.chunk_data(head, store.live_papers(head, vectors=False))  # raises if a chunk is missing


@dataclass
class Kill:
    """What one kill did."""

    job: str
    plan: str
    last_write: str
    killed: bool
    outcome: str  # "before", "after" or "same" (the job changed nothing)


@dataclass
class KillDrill:
    """Run jobs in worker processes, kill them, check the index after each kill.

    A worker imports PaperChat and loads the model before it is given its job,
    and the next one is started while the last kill is being checked.
    """

    settings: rag.Settings
    env: dict[str, str]
    kills: list[Kill] = field(default_factory=list)
    _next: subprocess.Popen | None = None
    _logs: list[Path] = field(default_factory=list)

    def _spawn(self) -> subprocess.Popen:
        log = Path(tempfile.mkstemp(prefix="killable-", suffix=".log")[1])
        self._logs.append(log)
        with log.open("w") as err:
            worker = subprocess.Popen(
                [sys.executable, "-c", KILLABLE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=err, text=True, cwd=ROOT, env=self.env,
            )  # fmt: skip
        worker.log = log  # type: ignore[attr-defined]
        return worker

    def attempt(self, job: Job, kill: dict | None = None, *, delay: float | None = None) -> Kill:
        """Run ``job`` in a worker that dies as ``kill`` says (or is killed after ``delay`` s).

        Then: the committed papers are those of before or of after, this process
        answers from exactly them, and running the job again completes and leaves
        exactly the after state with nothing left over.
        """
        worker = self._next or self._spawn()
        self._next = None
        line = worker.stdout.readline()
        assert line.strip() == "ready", f"worker did not start: {line!r} {worker.log.read_text()[-2000:]}"
        before = committed(self.settings)
        after = job.expected(before)
        worker.stdin.write(job.payload(kill))
        worker.stdin.flush()
        if delay is not None:
            time.sleep(delay)
            worker.send_signal(signal.SIGKILL)
        trace = worker.stdout.read().splitlines()
        worker.wait()
        self._next = self._spawn()  # it starts up while this kill is checked
        killed = worker.returncode == -signal.SIGKILL
        assert killed or worker.returncode == 0, f"{job.kind} failed: {worker.log.read_text()[-3000:]}"
        writes = [t for t in trace if t.startswith("write ")]
        last = writes[-1] if writes else "no write yet"
        plan = json.dumps(kill) if kill else f"SIGKILL after {delay:.2f}s"

        now = committed(self.settings)
        assert now in (before, after), (
            f"{job.kind}, {plan}, last {last}: a state that is neither before nor after"
        )
        check_serves(self.settings, now)
        job.run(self.settings)  # the next ingest completes ...
        assert committed(self.settings) == after  # ... with exactly the papers of after
        check_clean(self.settings)
        check_serves(self.settings, after)
        outcome = "same" if before == after else ("after" if now == after else "before")
        result = Kill(job.kind, plan, last, killed, outcome)
        self.kills.append(result)
        return result

    def close(self) -> None:
        if self._next is not None:
            self._next.kill()
            self._next.wait()
            self._next = None
        for log in self._logs:
            log.unlink(missing_ok=True)


# The writes each kind of job always makes (a job also deletes what killed writers left,
# and versions retired two commits ago): where a targeted kill can strike.
RECOVERY = ["delete:papers", "delete:chunks"]
WRITES = {
    "first": ["upsert:chunks", "upsert:papers", "commit"],
    "add": [*RECOVERY, "upsert:chunks", "upsert:papers", "commit"],
    "change": [*RECOVERY, "upsert:chunks", "upsert:papers", "update:papers", "commit"],
    "prune": [*RECOVERY, "update:papers", "commit"],
    "rebuild": [*RECOVERY, "upsert:chunks", "upsert:papers", "commit"],
    "remove": [*RECOVERY, "update:papers", "commit"],
}


def random_kill(rng: random.Random, kind: str) -> dict:
    """A kill at one of the writes ``kind`` makes: just before it, right after it, or a few ms into it."""
    return {"at": rng.choice(WRITES[kind]), "when": rng.choice(["before", "during", "after"]),
            "delay": round(rng.uniform(0.0, 0.02), 4)}  # fmt: skip


def drill_corpus(folder: Path) -> dict[str, Path]:
    """The drills' inputs: ``a`` (the 6 small papers), ``b`` and ``c`` (2 seed papers each)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(SMALL, folder / "a", dirs_exist_ok=True)
    seeds = list(read_papers([SEEDS]))
    for name, papers in (("b", seeds[:2]), ("c", seeds[2:4])):
        rows = [{"id": p.paper_id, "title": p.title, "abstract": p.abstract} for p in papers]
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"a": folder / "a", "b": folder / "b.jsonl", "c": folder / "c.jsonl"}


def edit_small_papers(a: Path, *, back: bool = False) -> None:
    """Change one abstract (FraudBoost -> FraudForest) and one paper's metadata, or change them back."""
    path = a / "papers.jsonl"
    pairs = [("FraudBoost", "FraudForest"), ('"Grace Hopper"', '"Rear Admiral Grace Hopper"')]
    text = path.read_text()
    for old, new in pairs:
        text = text.replace(new, old) if back else text.replace(old, new)
    path.write_text(text)


def kill_plan(
    inputs: dict[str, Path], rng: random.Random
) -> list[tuple[Callable[[], None] | None, Job, dict]]:
    """Every kind of ingest, killed at a random write or just before, during or after its commit."""
    a, b, c = (str(inputs[k]) for k in "abc")
    c_first = next(iter(read_papers([inputs["c"]]))).paper_id
    change = lambda: edit_small_papers(inputs["a"])  # noqa: E731
    change_back = lambda: edit_small_papers(inputs["a"], back=True)  # noqa: E731
    return [
        (None, Job("first", (a,)), random_kill(rng, "first")),
        (None, Job("add", (a, b)), random_kill(rng, "add")),
        (change, Job("change", (a, b)), random_kill(rng, "change")),
        (None, Job("prune", (a,), prune=True), {"at": "commit", "when": "after"}),
        (None, Job("add", (a, b, c)), random_kill(rng, "add")),
        (None, Job("rebuild", (a, c), rebuild=True), {"at": "commit", "when": "before"}),
        (None, Job("remove", ids=("2401.00003", c_first)), random_kill(rng, "remove")),
        (change_back, Job("change", (a, b)), {"at": "commit", "when": "during", "delay": 0.002}),
    ]


def worker_env(settings: rag.Settings) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAG_CACHE_DIR": str(settings.cache_dir)}
    if settings.chroma_url:
        env["RAG_CHROMA_URL"] = settings.chroma_url
    else:
        env["RAG_VECTORSTORE_DIR"] = str(settings.vectorstore_dir)
    return env


@pytest.mark.slow
def test_kill_9_during_every_kind_of_ingest_leaves_before_or_after(tmp_path, settings):
    inputs = drill_corpus(tmp_path / "inputs")
    drill = KillDrill(settings, worker_env(settings))
    try:
        for prepare, job, kill in kill_plan(inputs, random.Random(11)):
            if prepare:
                prepare()
            drill.attempt(job, kill)
    finally:
        drill.close()
    for k in drill.kills:
        print(f"{k.job:8} {k.plan:60} {k.outcome:6} last: {k.last_write}")
    assert all(k.killed for k in drill.kills), "every worker should have died where it was told"
    outcomes = {k.plan: k.outcome for k in drill.kills}
    assert outcomes['{"at": "commit", "when": "before"}'] == "before"  # killed just before the commit
    assert outcomes['{"at": "commit", "when": "after"}'] == "after"  # killed just after it
    assert {"before", "after"} <= {k.outcome for k in drill.kills}


@pytest.mark.slow
def test_kill_9_on_a_chroma_server_leaves_before_or_after(tmp_path, server_settings):
    inputs = drill_corpus(tmp_path / "inputs")
    a, b = str(inputs["a"]), str(inputs["b"])
    drill = KillDrill(server_settings, worker_env(server_settings))
    try:
        drill.attempt(Job("first", (a,)), random_kill(random.Random(12), "first"))
        edit_small_papers(inputs["a"])
        drill.attempt(Job("change", (a, b)), {"at": "commit", "when": "before"})  # adds b, changes two
        drill.attempt(Job("prune", (a,), prune=True), {"at": "commit", "when": "after"})
    finally:
        drill.close()
    assert all(k.killed for k in drill.kills)
    assert [k.outcome for k in drill.kills[-2:]] == ["before", "after"]


# --- 2. serving while the index changes ----------------------------------------------------------

# Ingests on command, in a process of its own (as `rag ingest` next to `rag serve`).
UPDATER = r"""
import json, sys
import rag
from rag.embeddings import get_embedder

settings = rag.Settings.from_env()
get_embedder(settings).load()
print("ready", flush=True)
for line in sys.stdin:
    job = json.loads(line)
    report = rag.ingest(job["paths"], prune=job["prune"], settings=settings, progress=False)
    print(json.dumps(report.to_dict()), flush=True)
"""

ANIMALS = [
    "Axolotl", "Pangolin", "Narwhal", "Okapi", "Quokka", "Capybara", "Wombat", "Tapir", "Meerkat", "Lemur",
    "Puffin", "Walrus", "Armadillo", "Chinchilla", "Dugong", "Gibbon", "Ibex", "Jackal", "Kinkajou", "Loris",
    "Marmot", "Numbat", "Ocelot", "Platypus", "Quoll", "Serval", "Tarsier", "Vicuna", "Wallaby", "Yak",
    "Zebu", "Bison", "Coati", "Dingo", "Echidna", "Fossa", "Gazelle", "Hyrax", "Impala", "Jerboa", "Kudu",
    "Llama", "Mongoose", "Nilgai", "Oryx", "Pika", "Reindeer", "Sloth", "Takin", "Urial", "Warthog", "Xerus",
    "Zorilla", "Aardvark", "Bonobo", "Caracal", "Dhole",
]  # fmt: skip
GLACIER_QUESTION = "How are melting tidal glaciers mapped from satellite radar?"


def animal(step: int) -> str:
    return ANIMALS[step % len(ANIMALS)]


def animal_question(step: int) -> str:
    return f"How are {animal(step)} colonies counted?"


def collection_at(step: int, folder: Path) -> Path:
    """The changing part of the serving drill's collection at ``step``.

    Three "glacier" papers whose title and abstract name the edition (all three
    change at every step, in one commit: an answer that saw two editions mixed
    two versions), and the two newest "animal" papers (each step adds one and
    removes the one from two steps ago).
    """
    rows = [
        {
            "id": f"glacier-{j}",
            "title": f"Tidal Glacier Melt Survey {j}, Edition {step}",
            "abstract": f"We map melting tidal glaciers in fjord region {j} from satellite radar. "
            f"Meltwater plumes are traced through the season. Edition {step} of the survey adds "
            f"{step + j} glaciers to the map.",
        }
        for j in (1, 2, 3)
    ]
    rows += [
        {
            "id": f"animal-{s}",
            "title": f"Counting {animal(s)} Colonies with Thermal Drones",
            "abstract": f"{animal(s)} colonies are hard to count from the ground. We fly thermal drones over "
            f"{animal(s)} colonies and count the animals with a detection network. The survey counts "
            f"{animal(s)} colonies within 4 percent of the ground truth.",
        }
        for s in (step - 1, step)
        if s >= 0
    ]
    path = folder / "changing.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def editions(hits: list[dict]) -> set[str]:
    """The glacier editions among an answer's hits (one, unless versions were mixed)."""
    return {h["title"].rsplit("Edition ", 1)[1] for h in hits if h["title"].startswith("Tidal Glacier")}


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Serving:
    """Clients that ask all the time, from Python and over HTTP, while the index changes.

    Every request must succeed and every answer must see one version of the
    collection; ``step`` is the newest step the clients ask about.
    """

    def __init__(self, settings: rag.Settings, url: str) -> None:
        self.settings = settings
        self.url = url.rstrip("/")
        self.step = 0
        self.stop = threading.Event()
        self.failures: list[str] = []
        self.requests = {"python": 0, "http": 0, "http-stream": 0, "gradio": 0}
        self.threads = [
            threading.Thread(target=self._guard, args=(name, target), daemon=True)
            for name, target in (("python", self._python), ("http", self._http), ("gradio", self._gradio))
        ]

    def questions(self) -> list[str]:
        return [GLACIER_QUESTION, FRAUD_QUESTION, animal_question(self.step)]

    def _check(self, who: str, question: str, result: dict) -> None:
        seen = editions(result["hits"])
        if len(seen) > 1:
            self.failures.append(f"{who}: {question!r} mixed editions {sorted(seen)}")

    def _guard(self, name: str, target: Callable[[], None]) -> None:
        while not self.stop.is_set():
            try:
                target()
            except Exception as exc:  # every failure is a finding
                self.failures.append(f"{name}: {type(exc).__name__}: {exc}")
                time.sleep(0.05)

    def _python(self) -> None:
        for question in self.questions():
            self._check("python", question, rag.answer(question, settings=self.settings).to_dict())
            self.requests["python"] += 1

    def _http(self) -> None:
        import httpx

        with httpx.Client(base_url=self.url, timeout=120, trust_env=False) as client:
            while not self.stop.is_set():
                for question in self.questions():
                    body = {"model": "paperchat", "messages": [{"role": "user", "content": question}]}
                    response = client.post("/v1/chat/completions", json=body)
                    if response.status_code != 200:
                        self.failures.append(f"http: {response.status_code} {response.text[:200]}")
                        continue
                    self._check("http", question, response.json()["paperchat"])
                    self.requests["http"] += 1
                with client.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as stream:
                    events = [line[6:] for line in stream.iter_lines() if line.startswith("data: ")]
                if events[-1] != "[DONE]" or "paperchat" not in events[-2]:
                    self.failures.append(f"http-stream: ended with {events[-2:]}")
                    continue
                self._check(
                    "http-stream", body["messages"][0]["content"], json.loads(events[-2])["paperchat"]
                )
                self.requests["http-stream"] += 1

    def _gradio(self) -> None:
        from gradio_client import Client

        client = Client(self.url, verbose=False, analytics_enabled=False)
        while not self.stop.is_set():
            for question in self.questions():
                self._check("gradio", question, client.predict(question, api_name="/answer"))
                self.requests["gradio"] += 1

    def __enter__(self) -> Serving:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)


def start_updater(settings: rag.Settings) -> subprocess.Popen:
    updater = subprocess.Popen(
        [sys.executable, "-c", UPDATER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        cwd=ROOT, env=worker_env(settings),
    )  # fmt: skip
    assert updater.stdout.readline().strip() == "ready"
    return updater


def update(updater: subprocess.Popen, paths: list[Path]) -> dict:
    updater.stdin.write(json.dumps({"paths": [str(p) for p in paths], "prune": True}) + "\n")
    updater.stdin.flush()
    line = updater.stdout.readline()
    assert line, "the updater died"
    return json.loads(line)


def check_step(settings: rag.Settings, url: str, step: int) -> None:
    """Right after an update's commit its new paper is answered from, here and over HTTP; the old is gone."""
    import httpx

    new = f"animal-{step}"
    answer = rag.answer(animal_question(step), settings=settings)
    assert [c.paper_id for c in answer.citations] == [new], answer.text
    body = {"model": "paperchat", "messages": [{"role": "user", "content": animal_question(step)}]}
    reply = httpx.post(f"{url.rstrip('/')}/v1/chat/completions", json=body, timeout=120, trust_env=False)
    assert [c["paper_id"] for c in reply.json()["citations"]] == [new]
    papers = {h.paper_id for h in rag.retrieve(GLACIER_QUESTION, k=100, settings=settings)}
    assert f"animal-{step - 2}" not in papers and f"animal-{step - 1}" in papers
    assert editions([h.to_dict() for h in rag.retrieve(GLACIER_QUESTION, settings=settings)]) == {str(step)}


def serving_drill(tmp_path: Path, settings: rag.Settings, steps: int) -> None:
    """Serve (web chat, HTTP API, Python) while another process applies ``steps`` updates."""
    from tests.ui_server import running_chat

    inputs = drill_corpus(tmp_path / "inputs")
    paths = lambda step: [inputs["a"], collection_at(step, tmp_path)]  # noqa: E731
    rag.ingest(paths(0), settings=settings, progress=False)
    updater = start_updater(settings)
    started = time.perf_counter()
    try:
        with running_chat(settings.replace(llm="")) as url, Serving(settings, url) as clients:
            for step in range(1, steps + 1):
                report = update(updater, paths(step))
                assert (report["added"], report["updated"], report["removed"]) == (1, 3, 1 if step > 1 else 0)
                check_step(settings, url, step)
                clients.step = step
                if step == 1:
                    time.sleep(0.5)  # every client has asked since the first update: all warmed up
                    fds, rss = open_fds(), rss_mb()
            time.sleep(0.5)
            fds_after, rss_after = open_fds(), rss_mb()
    finally:
        updater.stdin.close()
        updater.wait(timeout=60)
    print(f"requests {clients.requests}; fds {fds} -> {fds_after}; RSS {rss:.0f} -> {rss_after:.0f} MB",
          f"{time.perf_counter() - started:.1f}s")  # fmt: skip
    assert clients.failures == []
    assert all(n > steps for n in clients.requests.values()), clients.requests
    # Old Chroma handles are released: not one more open file per update.
    assert fds_after - fds < steps, f"open files grew from {fds} to {fds_after} over {steps} updates"


@pytest.mark.slow
def test_serving_while_another_process_adds_changes_and_removes_papers(tmp_path, settings):
    serving_drill(tmp_path, settings, steps=5)


@pytest.mark.slow
def test_serving_from_a_chroma_server_while_another_process_changes_it(tmp_path, server_settings):
    serving_drill(tmp_path, server_settings, steps=3)


# --- 3. hostile and broken input -----------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, cache_dir) -> rag.Settings:
    """An index of the six small papers that every hostile input is thrown at."""
    folder = tmp_path_factory.mktemp("hostile")
    settings = rag.Settings.from_env(vectorstore_dir=folder / "vectorstore", cache_dir=cache_dir, llm="")
    rag.ingest([SMALL], settings=settings, progress=False)
    return settings


def cli(settings: rag.Settings, *args: str):
    """Run ``rag ARGS`` in this process (click's runner), against ``settings``' index."""
    from click.testing import CliRunner

    from rag.cli import main

    env = {"RAG_VECTORSTORE_DIR": str(settings.vectorstore_dir), "RAG_CACHE_DIR": str(settings.cache_dir)}
    return CliRunner().invoke(main, list(args), env=env, prog_name="rag")


def one_line_error(result, code: int) -> str:
    """The error line, after checking it is the only output: ``error: what is wrong — what to do``."""
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and " — " in lines[0], result.stderr
    assert result.stdout == "" and "Traceback" not in result.output
    return lines[0]


def everything_stored(settings: rag.Settings) -> dict[str, list[str]]:
    """Every record id in every collection, committed or not: what "nothing written" compares."""
    store = shared_store(settings)
    store.reopen()
    stored = {}
    for c in store.client.list_collections():
        name = c if isinstance(c, str) else c.name
        stored[name] = sorted(store.client.get_collection(name).get(include=[])["ids"])
    head = store.require_head()
    stored["head"] = [f"{head.txn}/{head.generation}/{head.papers}/{head.chunks}"]
    return stored


def _gzip(text: str) -> bytes:
    import gzip

    return gzip.compress(text.encode(), mtime=0)


def _flipped(data: bytes) -> bytes:
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0xFF
    return bytes(damaged)


FINE = [
    json.dumps(
        {"id": f"fine-{i}", "title": f"Fine Paper {i}", "abstract": f"Rivers flood plain {i} in spring."}
    )
    for i in range(3)
]
MANY_FINE = "".join(
    json.dumps({"title": f"Paper {i}", "abstract": "An abstract about rivers. " * 8}) + "\n"
    for i in range(300)
)


def jsonl(*lines: str) -> str:
    return "".join(line + "\n" for line in lines)


BROKEN_INPUTS = [
    ("mid.jsonl", jsonl(*FINE, '{"title": "Cut", "abstract": ', *FINE),
     r"mid\.jsonl:4: not valid JSON \(.+\) — fix or remove that line"),
    ("latin1.jsonl", jsonl(*FINE).encode() + '{"title": "Café", "abstract": "x"}\n'.encode("latin-1"),
     r"latin1\.jsonl:4: not UTF-8 text \(byte 0xe9\) — convert the file to UTF-8"),
    ("latin1.csv", b"title,abstract\nFine,Rivers flood.\nCaf\xe9,x\n", r"latin1\.csv:3: not UTF-8 text"),
    ("latin1.txt", b"Header\n\nCaf\xe9\n\n" + b"An abstract. " * 30 + b"\n",
     r"latin1\.txt:3: not UTF-8 text"),
    ("plain.jsonl.gz", jsonl(*FINE).encode(), r"plain\.jsonl\.gz: not a valid gzip file .* — re-download"),
    ("cut.jsonl.gz", _gzip(MANY_FINE)[:300], r"cut\.jsonl\.gz: not a valid gzip file .* — re-download"),
    ("flipped.jsonl.gz", _flipped(_gzip(MANY_FINE)),
     r"flipped\.jsonl\.gz: not a valid gzip file .* — re-download"),
    ("empty.jsonl", b"", r"No papers found in .*empty\.jsonl — expected"),
    ("blank.jsonl", b"\n  \n\n", r"No papers found in .*blank\.jsonl — expected"),
    ("empty.jsonl.gz", _gzip(""), r"No papers found"),
    ("header-only.csv", b"title,abstract\n", r"No papers found"),
    ("no-abstract-column.csv", b"title,summary_text\nA title,Some text\n",
     r"no-abstract-column\.csv:1: the header row has no abstract column \(it has title, summary_text\) — "
     "name the columns title and abstract"),
    ("untitled.jsonl", jsonl(*FINE, '{"abstract": "An abstract without a title."}'),
     r"untitled\.jsonl:4: needs 'title' and 'abstract' fields, found \['abstract'\] — add them"),
    ("blank-abstract.jsonl", jsonl('{"title": "T", "abstract": "   "}'),
     r"blank-abstract\.jsonl:1: the abstract is empty — give every paper an abstract"),
    ("null-title.jsonl", jsonl('{"title": null, "abstract": "A."}'),
     r"the title is empty — give every paper"),
    ("object-title.jsonl", jsonl('{"title": {"en": "T"}, "abstract": "A."}'),
     r"object-title\.jsonl:1: 'title' is a JSON dict, not text — give the title as a string"),
    ("not-an-object.jsonl", jsonl('["T", "A"]'), r"expected a JSON object per line, got list — put one"),
    ("surrogate.jsonl", jsonl(*FINE, r'{"title": "Half \ud800 a pair", "abstract": "A."}'),
     r"surrogate\.jsonl:4: 'title' holds invalid Unicode \(an unpaired surrogate \\ud800\) — fix"),
    ("surrogate-metadata.jsonl", jsonl(r'{"title": "T", "abstract": "A.", "authors": ["\udc80"]}'),
     r"'authors' holds invalid Unicode"),
    ("paper.pdf", b"%PDF-1.4", r"paper\.pdf: unsupported file type — use \.txt, \.jsonl"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "content", "says"), BROKEN_INPUTS, ids=[c[0] for c in BROKEN_INPUTS])
def test_broken_input_is_one_line_exit_1_and_nothing_is_written(hostile, tmp_path, name, content, says):
    import re

    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    # A broken file comes after a fine one, and nothing of the fine one may be written either
    # (an empty file is an error only when nothing else has papers).
    paths = [path] if "No papers found" in says else [fine_file(tmp_path), path]
    before = everything_stored(hostile)
    line = one_line_error(cli(hostile, "ingest", *map(str, paths)), 1)
    assert re.search(says, line), line
    assert everything_stored(hostile) == before


def fine_file(folder: Path) -> Path:
    path = folder / "a-fine-file.jsonl"
    path.write_text(jsonl(*FINE))
    return path


def test_a_missing_path_is_one_line_and_nothing_is_written(hostile, tmp_path):
    before = everything_stored(hostile)
    line = one_line_error(cli(hostile, "ingest", str(fine_file(tmp_path)), str(tmp_path / "nope.jsonl")), 1)
    assert line.endswith("nope.jsonl: no such file or folder — check the path")
    assert everything_stored(hostile) == before


def test_nested_metadata_and_fields_named_like_paperchats_own_are_kept_apart(tmp_path, settings):
    """Metadata is anything besides id, title and abstract, whatever its name or shape."""
    record = {
        "id": "meta-1",
        "title": "Quokka Routing on Rottnest Island",
        "abstract": "Quokkas find their way across Rottnest Island using scent trails. We model quokka "
        "routing as a shortest-path problem over a graph of scent markers.",
        # PaperChat's own names, in the input and in the records it stores.
        **{name: f"theirs-{name}" for name in ("source", "where", "raw_id", "paper_id_", "metadata")},
        **{name: 99 for name in ("added", "removed", "version", "text", "chunks", "meta", "title_key")},
        "authors": [{"name": "Ada"}, {"name": "Alan"}],
        "reviews": {"scores": [6, 8], "decision": "accept"},
        "accepted": True,
        "nothing": None,
    }
    path = tmp_path / "meta.jsonl"
    path.write_text(json.dumps(record) + "\n")
    result = cli(settings, "ingest", str(path))
    assert result.exit_code == 0, result.output
    assert committed(settings) == {"meta-1": f"meta-1@{paper_version(next(read_papers([path])))}"}
    [hit] = rag.retrieve("How do quokkas find their way?", k=5, settings=settings)
    assert (hit.paper_id, hit.title, hit.paper.source) == ("meta-1", record["title"], str(path))
    assert len(hit.passages) == 2  # its own chunk count, not the input's "chunks": 99
    meta = hit.paper.metadata
    assert meta["source"] == "theirs-source" and meta["added"] == "99" and meta["chunks"] == "99"
    assert json.loads(meta["authors"]) == record["authors"]  # nested values are kept as JSON
    assert json.loads(meta["reviews"]) == record["reviews"]
    assert meta["accepted"] == "True" and "nothing" not in meta
    assert rag.answer("How do quokkas find their way?", settings=settings).citations[0].paper_id == "meta-1"


def test_bad_questions_and_k_on_the_command_line(hostile):
    for k in ("0", "-3"):
        line = one_line_error(cli(hostile, "ask", FRAUD_QUESTION, "-k", k), 2)
        assert line == f"error: k must be >= 1, got {k} — give -k a number of papers, e.g. -k 5"
    for command in ("ask", "search"):
        line = one_line_error(cli(hostile, command, FRAUD_QUESTION, "-k", "abc"), 2)
        assert (
            line == f"error: Invalid value for '-k': 'abc' is not a valid integer — see rag {command} --help"
        )
    # Bytes that are not UTF-8 reach Python's argv as lone surrogates.
    line = one_line_error(cli(hostile, "ask", "fraud \udcff detection"), 2)
    assert "The question is not valid UTF-8 text — type it again" in line
    line = one_line_error(cli(hostile, "ask", FRAUD_QUESTION, "--history", "what \udcff about"), 2)
    assert "The --history question is not valid UTF-8 text" in line
    assert one_line_error(cli(hostile, "ask", "--bogus", "x"), 2).endswith("— see rag ask --help")


def test_odd_but_valid_questions_are_answered_on_the_command_line(hostile):
    nul = cli(hostile, "ask", f"{FRAUD_QUESTION}\x00")
    assert nul.exit_code == 0 and "[1] Gradient Boosted Trees" in nul.stdout
    long = cli(hostile, "ask", "fraud detection with boosted trees " * 600)  # 21,000 characters
    assert long.exit_code == 0 and long.stdout.strip()
    history = ["--history", "What about it? " * 40] * 2000  # 1.2 MB of earlier questions
    huge = cli(hostile, "ask", FRAUD_QUESTION, *history)
    assert huge.exit_code == 0 and "[1] Gradient Boosted Trees" in huge.stdout


def test_odd_questions_and_enormous_histories_through_python(hostile):
    assert rag.answer(f"{FRAUD_QUESTION}\x00", settings=hostile).citations[0].paper_id == FRAUD_PAPER
    odd = ["\x00", "half \ud800 a pair", {"role": "assistant", "content": "\udfff [1] Nothing\x00"}]
    assert rag.answer(FRAUD_QUESTION, history=odd, settings=hostile).citations[0].paper_id == FRAUD_PAPER
    started = time.perf_counter()
    enormous = [{"role": "user", "content": "What about it? " * 20}] * 100_000  # 30 MB of turns
    answer = rag.answer("What did they find?", history=enormous, settings=hostile)
    print(f"100,000-turn history answered in {time.perf_counter() - started:.2f}s")
    assert answer.text
    cited = [
        {"role": "assistant", "content": "[1] Gradient Boosted Trees for Tabular Fraud Detection\n" * 50_000}
    ]
    follow_up = rag.answer("Which benchmark did they use?", history=cited, settings=hostile)
    assert follow_up.citations[0].paper_id == FRAUD_PAPER


@pytest.fixture(scope="module")
def hostile_chat(hostile):
    from tests.ui_server import running_chat

    with running_chat(hostile) as url:
        yield url.rstrip("/")


def api(url: str, raw: bytes | dict) -> tuple[int, dict]:
    import httpx

    content = raw if isinstance(raw, bytes) else json.dumps(raw).encode()
    headers = {"Content-Type": "application/json"}
    response = httpx.post(f"{url}/v1/chat/completions", content=content, headers=headers, timeout=300,
                          trust_env=False)  # fmt: skip
    return response.status_code, response.json()


def test_hostile_requests_to_the_http_api(hostile_chat):
    def ask(question: str, history: list | None = None, **extra) -> dict:
        return {
            "model": "paperchat",
            "messages": [*(history or []), {"role": "user", "content": question}],
            **extra,
        }

    status, body = api(hostile_chat, ask("fraud detection with boosted trees " * 600))
    assert status == 200 and body["choices"][0]["message"]["content"]
    status, body = api(hostile_chat, ask(f"{FRAUD_QUESTION}\x00"))
    assert status == 200 and body["citations"][0]["paper_id"] == FRAUD_PAPER
    # JSON can carry half a surrogate pair; no encoder can.
    raw = b'{"model": "paperchat", "messages": [{"role": "user", "content": "fraud \\ud800 detection"}]}'
    status, body = api(hostile_chat, raw)
    assert status == 400 and body["error"]["code"] == "invalid_question"
    assert "invalid Unicode" in body["error"]["message"] and " — send" in body["error"]["message"]
    history = [{"role": "user", "content": "half \ud800 a pair \x00"}]
    status, body = api(hostile_chat, json.dumps(ask(FRAUD_QUESTION, history)).encode())
    assert status == 200 and body["citations"][0]["paper_id"] == FRAUD_PAPER
    status, body = api(hostile_chat, ask(FRAUD_QUESTION, k="abc"))
    assert status == 400 and body["error"]["code"] == "invalid_k"
    turns = [{"role": ("user", "assistant")[i % 2], "content": "What about it? " * 20} for i in range(20_000)]
    started = time.perf_counter()
    status, body = api(hostile_chat, ask(FRAUD_QUESTION, turns))  # a 6 MB request
    print(f"20,000-message request answered in {time.perf_counter() - started:.2f}s")
    assert status == 200 and body["citations"][0]["paper_id"] == FRAUD_PAPER


def test_hostile_messages_in_the_web_chat(hostile):
    import gradio as gr

    from ui.app import Chat

    chat = Chat(hostile)
    with pytest.raises(gr.Error, match="The question holds invalid Unicode"):
        chat.answer_json("fraud \ud800 detection")
    with pytest.raises(gr.Error, match="k must be a whole number of papers, got 'abc'"):
        chat.answer_json(FRAUD_QUESTION, None, "abc")
    [(message, _)] = chat.respond("fraud \ud800 detection", [], None, "extractive")
    assert "invalid Unicode" in message and "pc-error" in message
    # The refused message stays in the conversation; the next question is still answered.
    history = [
        {"role": "user", "content": "fraud \ud800 detection"},
        {"role": "assistant", "content": message},
    ]
    history += [{"role": "user", "content": "What about it? " * 20}] * 20_000
    *_, (answer, sources) = chat.respond(FRAUD_QUESTION, history, None, "extractive")
    assert "Gradient Boosted Trees" in answer and "pc-cited" in sources


# --- 5. a full disk ------------------------------------------------------------------------------

# `rag ARGS` with every file it writes limited to LIMIT bytes: a write past it fails
# with EFBIG (SIGXFSZ is ignored), as a write to a full disk fails with ENOSPC.
LIMITED = r"""
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
sys.argv = ["rag", *sys.argv[2:]]
from rag.cli import main
main()
"""


@pytest.mark.slow
def test_a_full_disk_fails_with_one_line_and_leaves_the_index_as_it_was(tmp_path, settings):
    inputs = drill_corpus(tmp_path / "inputs")
    rag.ingest([inputs["a"]], settings=settings, progress=False)
    before = committed(settings)
    files = [p for p in settings.vectorstore_dir.rglob("*") if p.is_file()]
    biggest = max(p.stat().st_size for p in files)
    papers = [str(inputs[k]) for k in "abc"]
    for limit in (64 * 1024, biggest + 24 * 1024):  # the first write fails; a later one does
        result = subprocess.run(
            [sys.executable, "-c", LIMITED, str(limit), "ingest", *papers],
            capture_output=True, text=True, cwd=ROOT, env=worker_env(settings), timeout=300,
        )  # fmt: skip
        assert result.returncode == 1, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and result.stdout == "", result.stderr
        assert lines[0].startswith(f"error: Could not write the index in {settings.vectorstore_dir}/ (")
        assert "free disk space there" in lines[0] and "nothing of this one was published" in lines[0]
        assert committed(settings) == before
        check_serves(settings, before)
    rag.ingest(papers, settings=settings, progress=False)  # with room again, the ingest completes
    assert len(committed(settings)) == 10
    check_clean(settings)
