"""Reliability drills, the long versions (issue 11); tests/test_drills.py runs the fast ones.

    .venv/bin/python bench/stress.py [--kills 36] [--server-kills 12] [--updates 50] [--server-updates 20]
        [--index bench/out/scale-5.8k/vectorstore] [--questions 2000] [--clients 20]
        [--only kills,serving,disk,steady] [--seed 11]

- kills: SIGKILL at random moments of random ingests (first-ever, add, change,
  --prune, --rebuild, rag remove) of a small collection, embedded (and, with
  --server-kills, on a `chroma run` server): a third at a random delay, a third
  at a named write (the commit among them), a third at a random write number.
  After every kill the index must hold exactly the papers of before or of after
  and answer, and the same ingest run again must complete and leave nothing behind.
- serving: one process serves the web chat and the HTTP API and answers from
  Python while another process applies --updates updates (adds, changes and
  removes papers); counts requests, failures, mixed versions, open files and RSS.
  With --server-updates, the same again with the index on a `chroma run` server.
- disk: ingests that run out of space (RLIMIT_FSIZE at random limits, and a
  small tmpfs when run as root): one clear line, the index as it was.
- steady: --questions questions through one `rag serve` process over a copy of
  the --index folder (the 5,800-paper index bench/scale.py builds), asked from
  two client threads over HTTP: RSS and open files after warm-up and at the end,
  p50/p95 per 500-question window, then --clients concurrent clients.

Prints a Markdown table (and the per-kill log above it).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

import rag  # noqa: E402
from rag.corpus import read_papers  # noqa: E402
from rag.embeddings import get_embedder  # noqa: E402
from rag.index import forget  # noqa: E402
from tests.conftest import ChromaServer  # noqa: E402
from tests.test_drills import (  # noqa: E402
    LIMITED,
    WRITES,
    Job,
    KillDrill,
    Serving,
    check_clean,
    check_serves,
    check_step,
    collection_at,
    committed,
    drill_corpus,
    edit_small_papers,
    open_fds,
    rss_mb,
    start_updater,
    update,
    worker_env,
)
from tests.ui_server import free_port, running_chat  # noqa: E402

QUESTIONS = [ROOT / "tests" / "data" / "questions.jsonl", ROOT / "tests" / "data" / "dev_questions.jsonl"]
KINDS = {"first": 1, "add": 3, "change": 3, "prune": 2, "rebuild": 1, "remove": 2}


def rows_table(rows: list[tuple[str, str, str]]) -> str:
    lines = ["| drill | what was done | result |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


# --- kills ---------------------------------------------------------------------------------------


def random_job(rng: random.Random, inputs: dict[str, Path], state: dict | None, server: bool) -> Job:
    a, b, c = (str(inputs[k]) for k in "abc")
    if state is None:
        return Job("first", (a,))
    kinds = [k for k in KINDS if not (k == "first" and server)]
    kind = rng.choices(kinds, [KINDS[k] for k in kinds])[0]
    if kind == "first":
        return Job("first", (a,))
    if kind == "add":
        return Job("add", tuple(rng.choice([(a, b), (a, b, c), (a, c)])))
    if kind == "change":
        edit_small_papers(inputs["a"], back="FraudForest" in (inputs["a"] / "papers.jsonl").read_text())
        return Job("change", (a, b))
    if kind == "prune":
        return Job("prune", tuple(rng.choice([(a,), (a, b), (a, c)])), prune=True)
    if kind == "rebuild":
        return Job("rebuild", tuple(rng.choice([(a, c), (a, b)])), rebuild=True)
    c_first = next(iter(read_papers([inputs["c"]]))).paper_id
    return Job("remove", ids=("2401.00003", c_first))


def run_kills(n: int, settings: rag.Settings, folder: Path, rng: random.Random, *, server: bool) -> tuple:
    inputs = drill_corpus(folder / "inputs")
    drill = KillDrill(settings, worker_env(settings))
    writes_seen: Counter = Counter()  # the most writes each kind was seen to make
    how = Counter()
    failure = ""
    started = time.perf_counter()
    try:
        for i in range(n):
            state = committed(settings)
            job = random_job(rng, inputs, state, server)
            if job.kind == "first" and state is not None:
                forget(settings)  # start over: a first-ever ingest again
                shutil.rmtree(settings.vectorstore_dir)
            style = ("timed", "named", "numbered")[i % 3]
            kill, delay = None, None
            if style == "timed":
                delay = rng.uniform(0.0, 1.5)
            elif style == "named":
                kill = {"at": rng.choice(WRITES[job.kind]), "when": rng.choice(["before", "during", "after"]),
                        "delay": round(rng.uniform(0.0, 0.02), 4)}  # fmt: skip
            else:
                kill = {
                    "at": rng.randint(1, max(writes_seen[job.kind], 3)),
                    "when": rng.choice(["before", "after"]),
                }
            how[style] += 1
            try:
                result = drill.attempt(job, kill, delay=delay)
            except AssertionError as exc:
                failure = f"{job.kind} ({kill or f'after {delay:.2f}s'}): {str(exc).splitlines()[0]}"
                break
            number = int(result.last_write.split()[1]) if result.last_write.startswith("write ") else 0
            writes_seen[job.kind] = max(writes_seen[job.kind], number)
            print(f"{i + 1:3} {result.job:8} {result.plan:62} {'killed' if result.killed else 'finished':8} "
                  f"{result.outcome:6} last: {result.last_write}", flush=True)  # fmt: skip
    finally:
        drill.close()
    kills = drill.kills
    outcomes = Counter(k.outcome for k in kills if k.killed)
    kinds = Counter(k.job for k in kills if k.killed)
    commits = sum(1 for k in kills if k.killed and "(commit)" in k.last_write)
    done = (
        f"{len(kills)} ingests, {sum(k.killed for k in kills)} killed "
        f"({how['timed']} at a random time, {how['named']} at a named write, {how['numbered']} at a write number; "
        + ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))
        + f"; {commits} at the commit write), {time.perf_counter() - started:.0f} s"
    )
    if failure:
        result = f"**FAILED** after {len(kills)}: {failure}"
    else:
        result = (
            f"every kill left before ({outcomes['before']}) or after ({outcomes['after']}) "
            f"(+{outcomes['same']} no-op), answered, and the next ingest completed with nothing left over"
        )
    return done, result


# --- serving while updating ----------------------------------------------------------------------


def run_serving(updates: int, settings: rag.Settings, folder: Path) -> tuple[str, str]:
    inputs = drill_corpus(folder / "inputs")
    paths = lambda step: [inputs["a"], collection_at(step, folder)]  # noqa: E731
    rag.ingest(paths(0), settings=settings, progress=False)
    updater = start_updater(settings)
    seconds: list[float] = []
    problems: list[str] = []
    marks: list[tuple[int, int, float]] = []  # (after update, open files, RSS MB)
    try:
        with running_chat(settings.replace(llm="")) as url, Serving(settings, url) as clients:
            for step in range(1, updates + 1):
                started = time.perf_counter()
                report = update(updater, paths(step))
                seconds.append(time.perf_counter() - started)
                try:
                    check_step(settings, url, step)
                except AssertionError as exc:
                    problems.append(f"step {step}: {str(exc).splitlines()[0]}")
                clients.step = step
                if step == 1:
                    time.sleep(1)
                if step == 1 or (step % max(1, updates // 5) == 0 and step < updates):
                    marks.append((step, open_fds(), rss_mb()))
                expected = (1, 3, 1 if step > 1 else 0)
                if (report["added"], report["updated"], report["removed"]) != expected:
                    problems.append(f"step {step}: report {report}")
            time.sleep(1)
            marks.append((updates, open_fds(), rss_mb()))
    finally:
        updater.stdin.close()
        updater.wait(timeout=60)
    failures = clients.failures + problems
    total = sum(clients.requests.values())
    done = (
        f"{updates} updates by another process (each adds 1 paper, changes 3, removes 1; "
        f"median {statistics.median(seconds):.1f} s) while 3 clients asked: {total} requests "
        f"({', '.join(f'{k} {v}' for k, v in clients.requests.items())})"
    )
    mixed = sum("mixed editions" in f for f in failures)
    result = (
        f"{len(failures) - mixed} failed, {mixed} mixed two versions; each new paper answered right after its "
        "commit (Python and HTTP); after update "
        + ", ".join(f"{step}: {fds} files, {rss:.0f} MB" for step, fds, rss in marks)
    )
    if failures:
        result += f"; first: {failures[0][:200]}"
    return done, result


# --- disk full -----------------------------------------------------------------------------------


def limited_ingest(settings: rag.Settings, papers: list[str], limit: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", LIMITED, str(limit), "ingest", *papers],
        capture_output=True, text=True, cwd=ROOT, env=worker_env(settings), timeout=600,
    )  # fmt: skip


def check_disk_failure(settings: rag.Settings, result: subprocess.CompletedProcess, before: dict) -> str:
    lines = result.stderr.strip().splitlines()
    if result.returncode == 0:
        return "fit"  # the limit was not reached
    if result.returncode != 1 or len(lines) != 1 or "Could not write the index" not in lines[0]:
        return f"bad exit {result.returncode}: {result.stderr.strip()[-300:]}"
    if committed(settings) != before:
        return "the index changed"
    check_serves(settings, before)
    return "ok"


def run_disk(settings: rag.Settings, folder: Path, rng: random.Random, tries: int) -> tuple[str, str]:
    inputs = drill_corpus(folder / "inputs")
    seeds = folder / "inputs" / "seeds.jsonl"
    seeds.write_text(
        "".join(json.dumps({"id": p.paper_id, "title": p.title, "abstract": p.abstract}) + "\n"
                for p in list(read_papers([ROOT / "seeds"]))[4:])
    )  # fmt: skip
    rag.ingest([inputs["a"]], settings=settings, progress=False)
    before = committed(settings)
    papers = [str(inputs[k]) for k in "abc"] + [str(seeds)]
    biggest = max(p.stat().st_size for p in settings.vectorstore_dir.rglob("*") if p.is_file())
    outcomes: Counter = Counter()
    notes = []
    for _ in range(tries):
        limit = rng.randint(32 * 1024, biggest + 1024 * 1024)
        outcome = check_disk_failure(settings, limited_ingest(settings, papers, limit), before)
        outcomes[outcome] += 1
        if outcome not in ("ok", "fit"):
            notes.append(f"limit {limit}: {outcome}")
        if outcome == "fit":
            rag.ingest([inputs["a"]], prune=True, settings=settings, progress=False)
            before = committed(settings)
    tmpfs = "tmpfs: skipped (not root)"
    if os.geteuid() == 0:
        tmpfs = tmpfs_drill(settings, papers)
    rag.ingest(papers, settings=settings, progress=False)
    check_clean(settings)
    done = (
        f"{tries} ingests of {len(list(read_papers(papers)))} papers with RLIMIT_FSIZE at random limits "
        f"(32 KiB to the index + 1 MiB); {tmpfs}"
    )
    result = (
        f'{outcomes["ok"]} failed with one line ("Could not write the index ... free disk space ..."), '
        f"exit 1, index unchanged and answering; {outcomes['fit']} fit under the limit; "
        f"{sum(v for k, v in outcomes.items() if k not in ('ok', 'fit'))} wrong; the next ingest completed"
    )
    if notes:
        result += f" ({'; '.join(notes[:3])})"
    return done, result


def tmpfs_drill(settings: rag.Settings, papers: list[str]) -> str:
    """The same on a real full filesystem: a copy of the index on a tmpfs with little room to spare."""
    mount = Path(tempfile.mkdtemp(prefix="paperchat-tmpfs-"))
    used = sum(p.stat().st_size for p in settings.vectorstore_dir.rglob("*") if p.is_file())
    size = used + 256 * 1024
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        return f"tmpfs: could not mount ({made.stderr.decode().strip()[:80]})"
    try:
        copy = mount / "vectorstore"
        shutil.copytree(settings.vectorstore_dir, copy)
        small = settings.replace(vectorstore_dir=copy)
        before = committed(small)
        result = subprocess.run(
            [sys.executable, "-m", "rag.cli", "ingest", *papers],
            capture_output=True, text=True, cwd=ROOT, env=worker_env(small), timeout=600,
        )  # fmt: skip
        outcome = check_disk_failure(small, result, before)
        line = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
        forget(small)
        return f"tmpfs of {size // 1024} KiB (index + 256 KiB): {outcome}, said {line[:150]!r}"
    finally:
        subprocess.run(["umount", str(mount)], check=False)
        mount.rmdir()


# --- steady state --------------------------------------------------------------------------------


def proc_status(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def proc_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def questions() -> list[dict]:
    out = []
    for path in QUESTIONS:
        for line in path.read_text().splitlines():
            if line.strip():
                q = json.loads(line)
                history = [
                    {"role": "user", "content": h} if isinstance(h, str) else h for h in q.get("history", [])
                ]
                out.append(
                    {"model": "paperchat", "messages": [*history, {"role": "user", "content": q["question"]}]}
                )
    return out


def run_steady(index: Path, total: int, concurrent: int, folder: Path) -> tuple[str, str]:
    copy = folder / "steady-index"
    shutil.copytree(index, copy)  # serving may touch the folder: never the original
    port = free_port()
    env = {**os.environ, "RAG_VECTORSTORE_DIR": str(copy), "NO_PROXY": "127.0.0.1", "RAG_LLM": ""}
    started = time.perf_counter()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "rag"), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=url, timeout=600, trust_env=False)
    try:
        while True:
            try:
                if client.get("/v1/models").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None:
                raise SystemExit("rag serve exited before answering")
            time.sleep(0.5)
        load = time.perf_counter() - started
        bodies = questions()
        latencies: list[float] = [0.0] * total
        failures: list[str] = []
        samples: list[tuple[int, float, int]] = []
        lock = threading.Lock()
        cursor = iter(range(total))

        def ask_all() -> None:
            with httpx.Client(base_url=url, timeout=600, trust_env=False) as own:
                while True:
                    with lock:
                        i = next(cursor, None)
                    if i is None:
                        return
                    t = time.perf_counter()
                    response = own.post("/v1/chat/completions", json=bodies[i % len(bodies)])
                    latencies[i] = time.perf_counter() - t
                    if response.status_code != 200 or not response.json()["choices"][0]["message"]["content"]:
                        failures.append(f"{i}: {response.status_code} {response.text[:200]}")
                    if (i + 1) % 100 == 0:
                        with lock:
                            samples.append((i + 1, proc_status(server.pid, "VmRSS"), proc_fds(server.pid)))

        threads = [threading.Thread(target=ask_all) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        samples.sort()
        warm = next((s for s in samples if s[0] >= 200), samples[0])  # after warm-up: 200 questions in
        end = samples[-1]
        windows = []
        for start in range(0, total, 500):
            part = sorted(latencies[start : start + 500])
            p50 = part[len(part) // 2] * 1000
            p95 = part[min(len(part) - 1, int(len(part) * 0.95))] * 1000
            windows.append(f"{p50:.0f}/{p95:.0f}")
        peak = max(s[1] for s in samples)

        # Then everyone at once.
        answers: list[int] = []
        barrier = threading.Barrier(concurrent)

        def one(i: int) -> None:
            with httpx.Client(base_url=url, timeout=600, trust_env=False) as own:
                barrier.wait()
                response = own.post("/v1/chat/completions", json=bodies[(i * 7) % len(bodies)])
                if response.status_code == 200 and response.json()["choices"][0]["message"]["content"]:
                    answers.append(i)

        t = time.perf_counter()
        crowd = [threading.Thread(target=one, args=(i,)) for i in range(concurrent)]
        for c in crowd:
            c.start()
        for c in crowd:
            c.join()
        crowd_seconds = time.perf_counter() - t
        rss_end, fds_end = proc_status(server.pid, "VmRSS"), proc_fds(server.pid)
    finally:
        client.close()
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(copy, ignore_errors=True)
    papers = rag.Settings.from_env(vectorstore_dir=index)
    done = (
        f"{total} questions (the {len(bodies)} labeled ones, cycled) through one `rag serve` over a copy of "
        f"{index} ({describe_papers(papers)}; loaded in {load:.0f} s), 2 client threads over HTTP; "
        f"then {concurrent} clients at once"
    )
    result = (
        f"{total - len(failures)}/{total} answered; RSS {warm[1]:.0f} MB after {warm[0]} questions → "
        f"{end[1]:.0f} MB at {end[0]} (peak {peak:.0f}; at 500/1000/1500/2000: "
        f"{', '.join(f'{s[1]:.0f}' for s in samples if s[0] % 500 == 0)}); open files {warm[2]} → {end[2]}; "
        f"p50/p95 ms per 500: {', '.join(windows)}; {len(answers)}/{concurrent} concurrent answered in "
        f"{crowd_seconds:.1f} s (then RSS {rss_end:.0f} MB, {fds_end} files)"
    )
    return done, result


def describe_papers(settings: rag.Settings) -> str:
    from rag.store import Store

    store = Store(settings)
    try:
        head = store.require_head()
        return f"{head.papers:,} papers, {head.chunks:,} chunks"
    finally:
        store.close()


# --- main ----------------------------------------------------------------------------------------


@contextmanager
def on_server(base: rag.Settings, folder: Path) -> Iterator[rag.Settings]:
    """Settings for a fresh `chroma run` over ``folder``, stopped when the block ends."""
    server = ChromaServer(folder)
    server.start()
    try:
        yield base.replace(chroma_url=server.url)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=36)
    parser.add_argument("--server-kills", type=int, default=12)
    parser.add_argument("--updates", type=int, default=50)
    parser.add_argument("--server-updates", type=int, default=20, help="the serving drill on a Chroma server")
    parser.add_argument("--disk", type=int, default=8, help="RLIMIT_FSIZE tries")
    parser.add_argument("--index", type=Path, default=ROOT / "bench" / "out" / "scale-5.8k" / "vectorstore")
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--only", default="kills,serving,disk,steady")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    only = set(args.only.split(","))
    rng = random.Random(args.seed)
    rows: list[tuple[str, str, str]] = []
    work = Path(tempfile.mkdtemp(prefix="paperchat-stress-"))
    base = rag.Settings.from_env(llm="")
    get_embedder(base).load()
    try:
        if "kills" in only:
            settings = base.replace(vectorstore_dir=work / "kills" / "vectorstore")
            rows.append(
                ("kill -9, embedded", *run_kills(args.kills, settings, work / "kills", rng, server=False))
            )
            if args.server_kills:
                with on_server(base, work / "chroma-server") as settings:
                    rows.append(
                        ("kill -9, Chroma server",
                         *run_kills(args.server_kills, settings, work / "server-kills", rng, server=True))
                    )  # fmt: skip
        if "serving" in only:
            if args.updates:
                settings = base.replace(vectorstore_dir=work / "serving" / "vectorstore")
                rows.append(
                    ("serving while the index changes, embedded",
                     *run_serving(args.updates, settings, work / "serving"))
                )  # fmt: skip
            if args.server_updates:
                with on_server(base, work / "serving-chroma-server") as settings:
                    rows.append(
                        ("serving while the index changes, Chroma server",
                         *run_serving(args.server_updates, settings, work / "server-serving"))
                    )  # fmt: skip
        if "disk" in only:
            settings = base.replace(vectorstore_dir=work / "disk" / "vectorstore")
            rows.append(("disk full", *run_disk(settings, work / "disk", rng, args.disk)))
        if "steady" in only:
            if (args.index / "chroma").exists():
                rows.append(("steady state", *run_steady(args.index, args.questions, args.clients, work)))
            else:
                rows.append(
                    ("steady state", f"no index at {args.index}", "skipped (build it with bench/scale.py)")
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(rows_table(rows))


if __name__ == "__main__":
    main()
