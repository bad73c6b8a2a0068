"""Server mode: the index on a real ``chroma run``, shared by app processes that hold no files."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import rag
from rag.index import forget
from tests.conftest import ROOT, SEEDS, load_questions, run_cli

ASK = """
import json, sys
import rag
a = rag.answer(sys.argv[1])
print(json.dumps({"abstained": a.abstained, "titles": [c.title for c in a.citations]}))
"""


def ask_elsewhere(url: str, question: str, tmp_path) -> dict:
    """Answer from a fresh process that has only the URL: another cwd, no vectorstore folder."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    env = {**os.environ, "RAG_CHROMA_URL": url, "RAG_VECTORSTORE_DIR": str(elsewhere / "nothing-here")}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run(
        [sys.executable, "-c", ASK, question],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert not (elsewhere / "nothing-here").exists()  # no index files were made or needed
    return json.loads(out.stdout)


def test_any_process_with_the_url_answers(small_inputs, server_settings, chroma_server, tmp_path):
    report = rag.ingest([small_inputs], settings=server_settings, progress=False)
    assert (report.added, report.transaction) == (6, 1)
    assert not server_settings.vectorstore_dir.exists() or not any(server_settings.vectorstore_dir.iterdir())
    got = ask_elsewhere(chroma_server.url, "How is fraud detected on tabular data?", tmp_path)
    assert got["abstained"] is False
    assert got["titles"] == ["Gradient Boosted Trees for Tabular Fraud Detection"]


def test_server_and_embedded_retrieve_the_same(seed_settings, server_settings):
    rag.ingest([SEEDS], settings=server_settings, progress=False)
    questions = [q["question"] for q in load_questions("dev_questions.jsonl")]
    for question in questions:
        embedded = [
            (h.paper_id, round(h.score, 5)) for h in rag.retrieve(question, k=5, settings=seed_settings)
        ]
        served = [
            (h.paper_id, round(h.score, 5)) for h in rag.retrieve(question, k=5, settings=server_settings)
        ]
        assert served == embedded, question


INGEST = """
import sys
import rag
print(rag.ingest(sys.argv[1:], progress=False).transaction, flush=True)
"""


def test_a_running_app_sees_another_machines_update(small_inputs, server_settings, chroma_server, tmp_path):
    rag.ingest([small_inputs / "papers.jsonl"], settings=server_settings, progress=False)
    assert "Counting Birds in Aerial Images" not in {
        h.title for h in rag.retrieve("birds", settings=server_settings)
    }
    env = {**os.environ, "RAG_CHROMA_URL": chroma_server.url, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", INGEST, str(small_inputs)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "2"
    # This process loaded the index before the update and catches up without a restart.
    answer = rag.answer("How are birds counted in aerial images?", settings=server_settings)
    assert [c.title for c in answer.citations] == ["Counting Birds in Aerial Images"]


HOLD_LEASE = """
import time
import rag
from rag.store import writer_lock
with writer_lock(rag.Settings.from_env()):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_a_second_writer_on_the_server_is_refused(small_inputs, server_settings, chroma_server):
    env = {**os.environ, "RAG_CHROMA_URL": chroma_server.url, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LEASE], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(rag.IndexBusyError, match=r"is busy: an ingest on .* \(pid \d+\) is writing it"):
            rag.ingest([small_inputs], settings=server_settings, progress=False)
    finally:
        holder.kill()
        holder.wait()
    # The holder died: its lease (same machine, dead pid) is taken over at once.
    assert rag.ingest([small_inputs], settings=server_settings, progress=False).papers == 6


def test_server_down_then_back(small_inputs, server_settings, chroma_server):
    rag.ingest([small_inputs], settings=server_settings, progress=False)
    assert not rag.answer("How is fraud detected on tabular data?", settings=server_settings).abstained
    chroma_server.stop()
    with pytest.raises(
        rag.StoreUnavailableError, match=f"Cannot reach the Chroma server at {chroma_server.url}"
    ):
        rag.answer("How is fraud detected on tabular data?", settings=server_settings)
    for command in (["ask", "fraud detection"], ["ingest", str(small_inputs)], ["info"]):
        result = run_cli(*command, env={"RAG_CHROMA_URL": chroma_server.url})
        assert result.returncode == 1, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and chroma_server.url in lines[0] and "Traceback" not in result.stderr
    chroma_server.start()
    # The same process answers again once the server is back, without a restart.
    assert not rag.answer("How is fraud detected on tabular data?", settings=server_settings).abstained


def test_headers_and_token_settings_are_checked():
    from rag.store import _parse_headers

    assert _parse_headers('{"X-Api-Key": "k1"}') == {"X-Api-Key": "k1"}
    assert _parse_headers("X-Api-Key: k1; X-Team: lab") == {"X-Api-Key": "k1", "X-Team": "lab"}
    with pytest.raises(ValueError, match="RAG_CHROMA_HEADERS"):
        _parse_headers("no colon here")
    with pytest.raises(ValueError, match="must start with http"):
        rag.Settings(chroma_url="localhost:8000")


@pytest.fixture(autouse=True)
def _fresh_copies():
    yield
    # Each test's server is new: drop this process's cached copies of the index.
    from rag.index import _OPEN

    for key in list(_OPEN):
        if key[0].startswith("http"):
            forget(_OPEN[key].settings)


def test_the_web_chat_says_the_server_is_down_and_recovers(small_inputs, server_settings, chroma_server):
    from gradio_client import Client

    from tests.ui_server import running_chat

    rag.ingest([small_inputs], settings=server_settings, progress=False)
    question = "How is fraud detected on tabular data?"
    with running_chat(server_settings.replace(llm="")) as url:
        client = Client(url, verbose=False, analytics_enabled=False)
        assert "Gradient Boosted Trees" in client.predict(question, api_name="/chat")
        chroma_server.stop()
        down = client.predict(question, api_name="/chat")
        assert f"Cannot reach the Chroma server at {chroma_server.url}" in down
        assert "Traceback" not in down
        chroma_server.start()
        assert "Gradient Boosted Trees" in client.predict(question, api_name="/chat")
