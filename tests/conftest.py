"""Shared fixtures: real Chroma in temp folders, the real bundled model.

Building the seed index costs ~20 s, so one session-wide copy is built and
tests that only read it share it; tests that write get their own folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SEEDS = ROOT / "seeds"
SMALL = DATA / "small"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One exported query encoder for the whole session."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def isolated(tmp_path, cache_dir, monkeypatch):
    """No test touches the developer's index, cache or LLM settings."""
    monkeypatch.setenv("RAG_VECTORSTORE_DIR", str(tmp_path / "vectorstore"))
    monkeypatch.setenv("RAG_CACHE_DIR", str(cache_dir))
    for name in list(os.environ):
        if name.startswith(("RAG_LLM", "RAG_CHROMA", "RAG_COLLECTION")):
            monkeypatch.delenv(name)
    yield


@pytest.fixture(scope="session")
def seed_store(tmp_path_factory, cache_dir) -> Path:
    """A session-wide index of the seed collection (read-only for tests)."""
    import rag

    folder = tmp_path_factory.mktemp("seed-index") / "vectorstore"
    settings = rag.Settings.from_env(vectorstore_dir=folder, cache_dir=cache_dir)
    report = rag.ingest([SEEDS], settings=settings, progress=False)
    assert report.papers == 44
    return folder


@pytest.fixture
def seed_settings(seed_store, cache_dir, monkeypatch):
    """Settings (and environment) pointing at the shared seed index."""
    import rag

    monkeypatch.setenv("RAG_VECTORSTORE_DIR", str(seed_store))
    return rag.Settings.from_env(vectorstore_dir=seed_store, cache_dir=cache_dir)


@pytest.fixture
def small_inputs(tmp_path) -> Path:
    """A private copy of the small hand-written collection (6 papers)."""
    folder = tmp_path / "inputs"
    shutil.copytree(SMALL, folder)
    return folder


@pytest.fixture
def settings(tmp_path, cache_dir):
    """Settings for a private, empty index."""
    import rag

    return rag.Settings.from_env(vectorstore_dir=tmp_path / "vectorstore", cache_dir=cache_dir)


def load_questions(name: str = "questions.jsonl") -> list[dict]:
    """The labeled questions."""
    return [json.loads(line) for line in (DATA / name).read_text().splitlines() if line.strip()]


def run_cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the ``rag`` command in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )


class ChromaServer:
    """A real ``chroma run`` on a free loopback port, stoppable and restartable."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        from tests.ui_server import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        import time
        import urllib.request

        chroma = Path(sys.executable).parent / "chroma"
        self.process = subprocess.Popen(
            [str(chroma), "run", "--path", str(self.folder), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1).read()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"chroma run did not answer on {self.url}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


@pytest.fixture
def chroma_server(tmp_path):
    """A Chroma server of this test's own, stopped afterwards."""
    server = ChromaServer(tmp_path / "chroma-server")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def server_settings(chroma_server, tmp_path, cache_dir, monkeypatch):
    """Settings (and environment) that keep the index on the test's Chroma server."""
    import rag

    monkeypatch.setenv("RAG_CHROMA_URL", chroma_server.url)
    return rag.Settings.from_env(chroma_url=chroma_server.url, cache_dir=cache_dir)
