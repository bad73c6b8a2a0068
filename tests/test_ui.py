"""The web chat as scripts see it: a real server on a free port, real HTTP, gradio_client.

One server on the seed index serves the whole module; tests that need another
index (none, or a failing one) start their own.
"""

from __future__ import annotations

import html
import itertools
import json
import os
import queue
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError, AuthenticationError

import rag
from rag.corpus import normalize_title
from tests.conftest import ROOT, load_questions, run_cli
from tests.ui_server import EVIL_TITLE, free_port, references, running_chat
from ui import render
from ui.app import Chat

QUESTION = "What does DiffuseVAE do?"
FOLLOW_UP = "Which datasets did they use?"


@pytest.fixture(scope="module")
def seed_chat_settings(seed_store, cache_dir) -> rag.Settings:
    return rag.Settings.from_env(vectorstore_dir=seed_store, cache_dir=cache_dir, llm="")


@pytest.fixture(scope="module")
def chat_url(seed_chat_settings):
    with running_chat(seed_chat_settings) as url:
        yield url


def connect(url: str, **kwargs) -> Client:
    return Client(url, verbose=False, analytics_enabled=False, **kwargs)


def ask(url: str, message: str, **kwargs) -> str:
    return connect(url).predict(message, api_name="/chat", **kwargs)


def body(message: str) -> str:
    return render.message_text("assistant", message).split(render.REFERENCES_LABEL)[0]


def test_the_page_names_the_collection_and_its_size(chat_url):
    config = httpx.get(f"{chat_url}config").json()
    values = json.dumps([c.get("props", {}).get("value") for c in config["components"]])
    assert "44 papers indexed" in values
    assert "seeds" in values


def test_a_seed_question_gets_a_cited_answer(chat_url):
    message = ask(chat_url, QUESTION)
    assert isinstance(message, str)
    [(number, title)] = references(message)
    assert number == 1 and title.startswith("DiffuseVAE")
    assert "[1]" in body(message)
    # The reference opens onto the abstract with the quoted sentence highlighted.
    assert message.count("<mark>") == 1 and 'class="pc-ref"' in message


def test_the_answer_streams_in_growing_pieces_then_the_finished_message(chat_url):
    question = "Which papers analyse the latent space of diffusion models?"
    job = connect(chat_url).submit(question, api_name="/chat")
    final = job.result()
    *pieces, last = job.outputs()
    assert last == final and len(pieces) >= 3
    texts = [render.message_text("assistant", p) for p in pieces]
    assert all(a and b.startswith(a) and len(b) > len(a) for a, b in itertools.pairwise(texts))
    assert render.REFERENCES_LABEL not in texts[-1] and len(references(final)) >= 2


def test_a_follow_up_in_the_same_session_resolves_to_the_earlier_paper(chat_url):
    client = connect(chat_url)
    client.predict(QUESTION, api_name="/chat")
    follow_up = client.predict(FOLLOW_UP, api_name="/chat")
    assert references(follow_up)[0][1].startswith("DiffuseVAE")
    # Without the conversation the same words refer to nothing in particular.
    alone = ask(chat_url, FOLLOW_UP)
    assert not any(t.startswith("DiffuseVAE") for _, t in references(alone))


@pytest.mark.parametrize("message", ["", "   "])
def test_an_empty_message_gets_a_friendly_error(chat_url, message):
    reply = ask(chat_url, message)
    assert "The question is empty" in render.message_text("assistant", reply)
    assert "Traceback" not in reply and references(reply) == []
    assert references(ask(chat_url, QUESTION))  # still serving


def test_an_unexpected_failure_is_a_short_message_and_the_server_keeps_running(chat_url, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(rag, "answer_stream", broken)
    reply = ask(chat_url, QUESTION)
    assert "Something went wrong" in reply and "secret internal detail" not in reply
    monkeypatch.undo()
    assert references(ask(chat_url, QUESTION))


def test_an_unanswerable_question_is_marked_not_in_the_collection(chat_url):
    reply = ask(chat_url, "How do I bake sourdough bread at home?")
    assert 'class="pc-abstain"' in reply and "Not in the collection" in reply
    assert references(reply) == [] and "<mark>" not in reply


def test_k_and_mode_are_honoured(chat_url):
    client = connect(chat_url)
    assert len(client.predict("diffusion models", None, 3, api_name="/answer")["hits"]) == 3
    many = "Which papers analyse the latent space of diffusion models?"
    assert len(references(client.predict(many, 10, "extractive", api_name="/chat"))) >= 2
    assert len(references(client.predict(many, 1, "extractive", api_name="/chat"))) == 1
    # Without RAG_LLM the only answer mode is extractive.
    with pytest.raises(AppError, match="not in the list of choices"):
        client.predict(QUESTION, 10, "llm", api_name="/chat")


def test_the_llm_mode_is_offered_only_when_an_llm_is_configured(seed_chat_settings):
    assert Chat(seed_chat_settings).modes == ["extractive"]
    chat = Chat(seed_chat_settings.replace(llm="ollama:llama3.1"))
    assert chat.modes == ["extractive", "llm"]
    assert chat.settings_for("extractive").llm == "" and chat.settings_for("llm").llm == "ollama:llama3.1"
    assert Chat(seed_chat_settings.replace(llm="extractive")).modes == ["extractive"]


def test_the_answer_endpoint_returns_the_structured_answer(chat_url, seed_chat_settings):
    client = connect(chat_url)
    data = client.predict(QUESTION, api_name="/answer")
    assert data == rag.answer(QUESTION, settings=seed_chat_settings).to_dict()
    assert data["abstained"] is False and data["citations"][0]["title"].startswith("DiffuseVAE")
    follow_up = client.predict(FOLLOW_UP, [QUESTION], api_name="/answer")
    assert follow_up["citations"][0]["title"].startswith("DiffuseVAE")
    assert client.predict("How do I bake sourdough bread at home?", api_name="/answer")["abstained"] is True
    with pytest.raises(AppError, match="The question is empty"):
        client.predict("  ", api_name="/answer")


def test_twenty_simultaneous_questions_all_get_correct_cited_answers(chat_url, seed_chat_settings):
    """Each answer is the one the library gives for that question alone, and cites the labeled paper."""
    expected: dict[str, list[str]] = {}
    for q in load_questions():
        if len(expected) == 20:
            break
        if not q["relevant"] or q.get("history"):
            continue
        result = rag.answer(q["question"], settings=seed_chat_settings)
        cited = [c.title for c in result.citations]
        if {normalize_title(t) for t in cited} & {normalize_title(t) for t in q["relevant"]}:
            expected[q["question"]] = cited
    assert len(expected) == 20

    def ask_alone(question: str) -> tuple[str, list[str]]:
        return question, [title for _, title in references(ask(chat_url, question))]

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = dict(pool.map(ask_alone, expected))
    assert answers == expected


def test_a_missing_index_is_a_friendly_message(tmp_path, cache_dir):
    settings = rag.Settings.from_env(vectorstore_dir=tmp_path / "nothing", cache_dir=cache_dir, llm="")
    with running_chat(settings) as url:
        for _ in range(2):  # the server survives the first one
            reply = render.message_text("assistant", ask(url, QUESTION))
            assert 'run "rag ingest seeds/"' in reply and "Traceback" not in reply


def test_escaping_keeps_titles_literal_and_references_readable():
    paper = rag.Paper("evil-1", EVIL_TITLE, f"Intro. {EVIL_TITLE} is quoted here. End.")
    hit = rag.Hit(paper, 1.0, 1, 0.9, 1.0)
    snippet = f"{EVIL_TITLE} is quoted here."
    answer = rag.Answer(
        "q", f"{snippet[:-1]} [1].", (rag.Citation(1, "evil-1", EVIL_TITLE, snippet, 0.9),), False, (hit,)
    )
    message = render.answer_message(answer)
    for active in ("<script", "<img", "]("):
        assert active not in message
    assert references(message) == [(1, EVIL_TITLE)]
    assert f"<mark>{render.text(snippet)}</mark>" in message
    assert html.unescape(render.text(EVIL_TITLE)) == EVIL_TITLE
    typed = render.user_message(EVIL_TITLE)
    assert render.user_message(typed) == typed  # the page sends messages back every turn


def test_rag_serve_binds_loopback_and_requires_the_login_from_rag_ui_auth(seed_store, cache_dir):
    port = free_port()
    env = {
        **os.environ,
        "RAG_VECTORSTORE_DIR": str(seed_store),
        "RAG_CACHE_DIR": str(cache_dir),
        "RAG_UI_AUTH": "ada:lovelace",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        output = wait_for_line(server, "Running on local URL")
        assert f"http://127.0.0.1:{port}" in output, output
        assert listening_addresses(port) == {"127.0.0.1"}
        url = f"http://127.0.0.1:{port}/"
        reply = connect(url, auth=("ada", "lovelace")).predict(QUESTION, api_name="/chat")
        assert references(reply)[0][1].startswith("DiffuseVAE")
        assert httpx.get(f"{url}config").status_code == 401
        assert httpx.get(f"{url}v1/models").status_code == 401  # the API on the same port, same login
        models = httpx.get(f"{url}v1/models", headers={"Authorization": "Bearer lovelace"})
        assert models.status_code == 200 and models.json()["data"][0]["id"] == "paperchat"
        with pytest.raises(AuthenticationError):
            connect(url)
        with pytest.raises(ValueError, match="Could not login"):
            connect(url, auth=("ada", "wrong"))
    finally:
        server.terminate()
        server.wait(timeout=30)


def wait_for_line(process: subprocess.Popen, text: str, give_up_after: float = 300) -> str:
    """The process's output up to the first line containing ``text`` (a guard against hangs)."""
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=lambda: [*map(lines.put, process.stdout), lines.put(None)], daemon=True).start()
    output = ""
    while text not in output:
        line = lines.get(timeout=give_up_after)
        if line is None:
            break
        output += line
    return output


def listening_addresses(port: int) -> set[str]:
    """The local IPv4 addresses with a socket listening on ``port`` (Linux /proc)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


def test_rag_serve_rejects_a_malformed_auth_option():
    result = run_cli("serve", "--auth", "no-password-here")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --auth (or RAG_UI_AUTH) must look like user:password"
