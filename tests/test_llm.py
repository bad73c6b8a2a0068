"""LLM answers against a scripted chat server on 127.0.0.1, and their citation checks."""

from __future__ import annotations

import json
import os
import socket
import threading

import pytest

import rag
from rag.compose import ABSTAIN_TEXT, abstention
from rag.index import open_index
from rag.llm import sources_prompt
from rag.verify import DECLINE_PHRASE, verify
from tests.conftest import DATA, run_cli
from tests.fake_openai import FakeChatServer, Reply, request_text, source_number
from tests.test_answer import assert_well_cited

DIFFUSEVAE = "What does DiffuseVAE do?"
LIVE_URL = os.environ.get("RAG_LLM_BASE_URL", "")  # read before the isolated fixture clears it
LIVE_LLM = os.environ.get("RAG_LLM", "")
LIVE_KEY = os.environ.get("RAG_LLM_API_KEY", "")
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
_OPENAI_VARS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE", "OLLAMA_HOST")


def _loopback_only(real, refused: list[str]):
    def connect(address, *args, **kwargs):
        if address[0] not in ("127.0.0.1", "localhost", "::1"):
            refused.append(address[0])  # the fallback would hide an exception: checked at teardown
            raise ConnectionRefusedError(f"tests reach only 127.0.0.1, not {address[0]}")
        return real(address, *args, **kwargs)

    return connect


@pytest.fixture
def fake(monkeypatch):
    """The scripted server; no proxy, no real OpenAI settings, no address but 127.0.0.1."""
    for name in (*_PROXY_VARS, *(v.lower() for v in _PROXY_VARS), *_OPENAI_VARS):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    refused: list[str] = []
    monkeypatch.setattr(socket, "create_connection", _loopback_only(socket.create_connection, refused))
    with FakeChatServer() as server:
        yield server
    assert refused == [], f"a test tried to reach {refused}"


@pytest.fixture
def llm_settings(seed_settings, fake):
    # A generous timeout: tests that are about timeouts set their own.
    return seed_settings.replace(
        llm="openai:test-model", llm_base_url=fake.url, llm_api_key="test-key", llm_timeout=30
    )


def diffusevae_reply(body) -> str:
    n = source_number(body, "DiffuseVAE")
    return (
        f"DiffuseVAE integrates a variational autoencoder within a diffusion model framework [{n}]. "
        f"The resulting model equips diffusion models with a low-dimensional latent code "
        f"that can be used for controllable synthesis [{n}]."
    )


def test_a_well_cited_answer_passes_through(fake, llm_settings):
    fake.script(Reply(diffusevae_reply))
    answer = rag.answer(DIFFUSEVAE, settings=llm_settings)
    assert answer.mode == "llm" and not answer.abstained
    assert answer.removed == () and answer.notes == ()
    assert answer.body == diffusevae_reply(fake.requests[0]["body"]).replace(
        f"[{source_number(fake.requests[0]['body'], 'DiffuseVAE')}]", "[1]"
    )
    assert [c.title.split(":")[0] for c in answer.citations] == ["DiffuseVAE"]
    assert "integrates VAE within a diffusion model framework" in answer.citations[0].snippet
    assert_well_cited(answer, llm_settings)
    request = fake.requests[0]
    assert request["path"] == "/v1/chat/completions" and not request["body"].get("stream")
    assert request["body"]["model"] == "test-model"
    assert request["headers"]["authorization"] == "Bearer test-key"
    assert f"Question: {DIFFUSEVAE}" in request_text(request)
    assert DECLINE_PHRASE in request_text(request)


def test_the_prompt_numbers_papers_with_title_and_best_sentences(llm_settings):
    hits = rag.retrieve(DIFFUSEVAE, k=3, settings=llm_settings)
    prompt = sources_prompt(DIFFUSEVAE, hits)
    for number, hit in enumerate(hits, start=1):
        assert f"\n[{number}] {hit.title}\n" in f"\n{prompt}"
        assert hit.passages[0].text in prompt
    assert prompt.endswith(f"Question: {DIFFUSEVAE}")


@pytest.mark.parametrize("header", ["References:\n", "**Sources**\n", ""])
def test_citations_are_renumbered_and_the_llms_reference_list_dropped(fake, llm_settings, header):
    def reply(body):
        adapt, laf = source_number(body, "Adapt then Unlearn"), source_number(body, "Label-Agnostic")
        return (
            "Two papers study machine unlearning:\n"
            f"- **Adapt then Unlearn**: it prevents a pre-trained GAN from generating outputs with "
            f"undesired features [{adapt}].\n"
            f"- **Label-Agnostic Forgetting**: it proposes a supervision-free unlearning approach that "
            f"operates without labels [{laf}].\n\n"
            f"{header}[{adapt}] Adapt then Unlearn\n"
            f"- [{laf}] **Label-Agnostic Forgetting: A Supervision-Free**\n"
        )

    fake.script(Reply(reply))
    answer = rag.answer("Which papers study machine unlearning?", settings=llm_settings)
    assert [c.title.split(":")[0] for c in answer.citations] == [
        "Adapt then Unlearn",
        "Label-Agnostic Forgetting",
    ]
    assert [c.number for c in answer.citations] == [1, 2]
    lines = answer.body.splitlines()
    assert len(lines) == 2 and lines[0].startswith("- **Adapt then Unlearn**") and lines[1].endswith("[2].")
    assert "References" not in answer.body and "Sources" not in answer.body
    assert [r.sentence for r in answer.removed] == ["Two papers study machine unlearning:"]
    assert_well_cited(answer, llm_settings)


def test_an_out_of_range_citation_is_removed(fake, llm_settings):
    fake.script(Reply(lambda body: diffusevae_reply(body).replace("framework [1]", "framework [1][7]")))
    answer = rag.answer(DIFFUSEVAE, k=3, settings=llm_settings)
    assert source_number(fake.requests[0]["body"], "DiffuseVAE") == 1
    assert "[7]" not in answer.text and answer.mode == "llm"
    assert [(r.citation, r.reason) for r in answer.removed] == [(7, "not a source")]
    assert answer.notes == ("Citation check removed 1 citation that the papers do not support.",)
    assert_well_cited(answer, llm_settings)


def test_a_citation_to_a_paper_that_does_not_support_the_sentence_is_removed(fake, llm_settings):
    def reply(body):
        n, other = source_number(body, "DiffuseVAE"), source_number(body, "CLUTR")
        return f"DiffuseVAE integrates a VAE within a diffusion model framework [{n}][{other}]."

    fake.script(Reply(reply))
    answer = rag.answer(DIFFUSEVAE, k=44, settings=llm_settings)
    assert [c.title.split(":")[0] for c in answer.citations] == ["DiffuseVAE"]
    assert [r.citation for r in answer.removed] == [source_number(fake.requests[0]["body"], "CLUTR")]
    assert answer.removed[0].reason.startswith("does not support it")
    assert_well_cited(answer, llm_settings)


def test_an_unsupported_sentence_is_dropped(fake, llm_settings):
    invented = "DiffuseVAE reaches an FID of 2.1 on ImageNet 256x256 after training on 64 TPUs"
    fake.script(
        Reply(lambda body: f"{diffusevae_reply(body)} {invented} [{source_number(body, 'DiffuseVAE')}].")
    )
    answer = rag.answer(DIFFUSEVAE, settings=llm_settings)
    assert "ImageNet" not in answer.body and "integrates a variational autoencoder" in answer.body
    (removal,) = answer.removed
    assert removal.sentence.startswith(invented) and removal.citation is None
    assert "imagenet" in removal.reason and "2.1" in removal.reason
    assert "Citation check removed 1 sentence" in answer.text
    assert_well_cited(answer, llm_settings)
    data = json.loads(json.dumps(answer.to_dict()))
    assert data["removed"][0]["sentence"].startswith(invented) and data["mode"] == "llm"


def test_each_clause_is_checked_against_the_citation_after_it(fake, llm_settings):
    def reply(body):
        vae, clutr = source_number(body, "DiffuseVAE"), source_number(body, "CLUTR")
        return (
            f"DiffuseVAE integrates VAE within a diffusion model framework [{vae}], while CLUTR "
            f"trains a recurrent variational autoencoder on randomly generated tasks [{clutr}]."
        )

    fake.script(Reply(reply))
    answer = rag.answer("Which papers combine a VAE with another model?", k=44, settings=llm_settings)
    assert [c.title.split(":")[0] for c in answer.citations] == ["DiffuseVAE", "CLUTR"]
    assert answer.body.endswith("framework [1], while CLUTR trains a recurrent variational autoencoder "
                                "on randomly generated tasks [2].")  # fmt: skip
    assert answer.removed == ()
    assert_well_cited(answer, llm_settings)


def test_a_partial_answer_keeps_what_is_supported_and_says_what_is_not(fake, llm_settings):
    fake.script(
        Reply(lambda body: f"{diffusevae_reply(body)} The indexed papers do not answer which GPUs it used.")
    )
    answer = rag.answer("What does DiffuseVAE do, and which GPUs did it use?", settings=llm_settings)
    assert answer.mode == "llm" and not answer.abstained and "GPU" not in answer.body
    assert [r.reason for r in answer.removed] == ["says the papers do not answer"]
    assert answer.notes == ("The LLM said the indexed papers do not answer all of the question.",)
    assert_well_cited(answer, llm_settings)


# Sentences an LLM might write about seed papers: close paraphrases (kept) and
# invented facts or claims about another paper (dropped). See rag/verify.py;
# bench/calibrate_citations.py fits COVERAGE_MIN on them.
VERIFIER_CASES = [
    (row["paper"], row["sentence"], row["supported"])
    for row in map(json.loads, (DATA / "citation_sentences.jsonl").read_text().splitlines())
]


def test_the_verifier_keeps_paraphrases_and_drops_invented_facts(llm_settings):
    index = open_index(llm_settings)
    sources = rag.retrieve("diffusion models unsupervised curriculum", k=44, settings=llm_settings)
    number = {h.title.split(":")[0]: i for i, h in enumerate(sources, start=1)}
    wrong = []
    for paper, sentence, supported in VERIFIER_CASES:
        n = next(i for title, i in number.items() if title.startswith(paper))
        checked = verify(f"{sentence[:-1]} [{n}].", sources, index, index.support)
        if bool(checked.citations) != supported:
            wrong.append((sentence, checked.removed))
    assert not wrong


@pytest.mark.parametrize(
    "reply",
    [
        DECLINE_PHRASE,
        "I'm sorry, but the indexed papers don't answer this question.",
        "THE INDEXED PAPERS DO NOT ANSWER THIS",
        "The indexed papers do not answer this. [2]",
    ],
)
def test_the_cannot_answer_phrase_becomes_an_abstention(fake, llm_settings, reply):
    fake.script(reply)
    answer = rag.answer("What FID does DiffuseVAE achieve on ImageNet 256x256?", settings=llm_settings)
    assert answer.abstained and answer.mode == "llm" and not answer.citations
    assert answer.body == abstention(answer.hits) and answer.body.startswith(ABSTAIN_TEXT)
    assert "[1]" not in answer.text and not answer.notes


def test_a_reply_without_citations_falls_back_to_the_extractive_answer(fake, llm_settings):
    fake.script("DiffuseVAE combines a VAE with a diffusion model.")
    answer = rag.answer(DIFFUSEVAE, settings=llm_settings)
    assert answer.mode == "extractive" and answer.citations[0].title.startswith("DiffuseVAE")
    assert answer.notes == ("LLM answer not usable (it cited no source); showing the extractive answer.",)
    assert answer.removed[0].sentence == "DiffuseVAE combines a VAE with a diffusion model."
    assert "Note: LLM answer not usable" in answer.text


def assert_fell_back(answer: rag.Answer, reason: str) -> None:
    assert answer.mode == "extractive" and not answer.abstained
    assert answer.citations[0].title.startswith("DiffuseVAE")
    assert len(answer.notes) == 1 and reason in answer.notes[0], answer.notes
    assert answer.notes[0].endswith("; showing the extractive answer.")
    assert f"Note: {answer.notes[0]}" in answer.text


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (401, "HTTP 401 Unauthorized"),
        (429, "HTTP 429 Too Many Requests"),
        (500, "HTTP 500 Internal Server Error"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_http_errors_fall_back_with_a_note_and_no_retry(fake, llm_settings, status, reason, stream):
    fake.script(Reply(status=status))
    if stream:
        *pieces, answer = rag.answer_stream(DIFFUSEVAE, settings=llm_settings)
        assert pieces == []
    else:
        answer = rag.answer(DIFFUSEVAE, settings=llm_settings)
    assert_fell_back(answer, f"LLM unavailable ({reason})")
    assert len(fake.requests) == 1


def test_a_slow_server_hits_the_timeout_and_falls_back(fake, llm_settings):
    fake.script(Reply(diffusevae_reply, delay=60))
    answer = rag.answer(DIFFUSEVAE, settings=llm_settings.replace(llm_timeout=1))
    assert_fell_back(answer, "LLM unavailable (timed out")


def test_a_stream_that_stalls_hits_the_timeout_and_falls_back(fake, llm_settings):
    fake.script(Reply(diffusevae_reply, stall_after=3))
    *pieces, answer = rag.answer_stream(DIFFUSEVAE, settings=llm_settings.replace(llm_timeout=2))
    assert "".join(pieces) == "DiffuseVAE integrates a "
    assert_fell_back(answer, "LLM unavailable (timed out")


def test_connection_refused_falls_back(fake, llm_settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    answer = rag.answer(DIFFUSEVAE, settings=llm_settings.replace(llm_base_url=f"http://127.0.0.1:{port}/v1"))
    assert_fell_back(answer, "LLM unavailable (cannot connect")


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(body=b"this is not JSON"), "LLM unavailable (malformed reply"),
        (Reply(""), "LLM answer not usable (empty reply)"),
        (Reply("<think>The sources say nothing.</think>"), "LLM answer not usable (it cited no source)"),
    ],
)
def test_malformed_or_empty_replies_fall_back(fake, llm_settings, reply, reason):
    fake.script(reply)
    assert_fell_back(rag.answer(DIFFUSEVAE, settings=llm_settings), reason)


def test_streaming_reaches_the_caller_in_pieces(fake, llm_settings):
    first_piece_seen = threading.Event()
    fake.script(Reply(diffusevae_reply, gate=first_piece_seen, gate_wait=60))
    items = rag.answer_stream(DIFFUSEVAE, settings=llm_settings)
    first = next(items)
    first_piece_seen.set()  # the server sends the rest only now: the first piece came on its own
    *pieces, answer = [first, *items]
    assert not fake.gate_timed_out
    assert all(isinstance(p, str) for p in pieces) and len(pieces) > 10
    assert "".join(pieces) == diffusevae_reply(fake.requests[0]["body"])
    assert isinstance(answer, rag.Answer) and answer.mode == "llm" and answer.citations
    assert fake.requests[0]["body"]["stream"] is True


def test_a_follow_up_is_rewritten_into_a_standalone_question(fake, llm_settings):
    def datasets(body):
        n = source_number(body, "DiffuseVAE")
        return f"DiffuseVAE was evaluated on image synthesis benchmarks like CIFAR-10 and CelebA-64 [{n}]."

    fake.script("Standalone question: Which datasets was DiffuseVAE evaluated on?", Reply(datasets))
    history = [{"role": "user", "content": DIFFUSEVAE}, {"role": "assistant", "content": "It combines..."}]
    answer = rag.answer("Which datasets did they use?", history=history, settings=llm_settings)
    rewrite, generate = fake.requests
    assert DIFFUSEVAE in request_text(rewrite) and "Which datasets did they use?" in request_text(rewrite)
    assert answer.standalone == "Which datasets was DiffuseVAE evaluated on?"
    assert "Question: Which datasets was DiffuseVAE evaluated on?" in request_text(generate)
    assert answer.mode == "llm" and [c.title.split(":")[0] for c in answer.citations] == ["DiffuseVAE"]
    assert_well_cited(answer, llm_settings)


def test_ollama_is_reached_through_its_own_api(fake, llm_settings):
    fake.script(Reply(diffusevae_reply), Reply(status=503))
    settings = llm_settings.replace(llm="ollama:llama3.1", llm_base_url=fake.root)
    answer = rag.answer(DIFFUSEVAE, settings=settings)
    assert answer.mode == "llm" and answer.citations[0].title.startswith("DiffuseVAE")
    assert fake.requests[0]["path"] == "/api/chat" and fake.requests[0]["body"]["model"] == "llama3.1"
    assert_fell_back(
        rag.answer(DIFFUSEVAE, settings=settings), "LLM unavailable (HTTP 503 Service Unavailable)"
    )


def test_any_langchain_chat_model_can_be_passed_in(fake, seed_settings):
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(model="my-model", base_url=fake.url, api_key="my-key", max_retries=0)
    fake.script(Reply(diffusevae_reply), Reply(diffusevae_reply))
    assert rag.answer(DIFFUSEVAE, settings=seed_settings, llm=chat).mode == "llm"
    assert rag.AnswerChain(settings=seed_settings, llm=chat).invoke(DIFFUSEVAE).mode == "llm"
    assert [r["body"]["model"] for r in fake.requests] == ["my-model", "my-model"]


def test_the_llm_is_configured_by_environment(fake, seed_settings, monkeypatch):
    monkeypatch.setenv("RAG_LLM", "openai:env-model")
    monkeypatch.setenv("RAG_LLM_BASE_URL", fake.url)
    monkeypatch.setenv("RAG_LLM_API_KEY", "env-key")
    fake.script(Reply(diffusevae_reply))
    assert rag.answer(DIFFUSEVAE).mode == "llm"
    assert fake.requests[0]["body"]["model"] == "env-model"
    assert fake.requests[0]["headers"]["authorization"] == "Bearer env-key"
    assert rag.answer(DIFFUSEVAE, llm="extractive").mode == "extractive"
    assert len(fake.requests) == 1


def test_openai_without_a_key_falls_back_without_a_request(fake, llm_settings):
    answer = rag.answer(DIFFUSEVAE, settings=llm_settings.replace(llm_base_url="", llm_api_key=""))
    assert_fell_back(answer, "LLM unavailable (no API key: set RAG_LLM_API_KEY")
    assert fake.requests == []


def test_a_local_server_never_gets_the_openai_key(fake, llm_settings, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai-key")
    fake.script(Reply(diffusevae_reply))
    assert rag.answer(DIFFUSEVAE, settings=llm_settings.replace(llm_api_key="")).mode == "llm"
    assert "sk-real-openai-key" not in json.dumps(fake.requests[0]["headers"])


@pytest.mark.parametrize("spec", ["gpt-4o-mini", "anthropic:claude", "openai:"])
def test_a_malformed_llm_setting_is_a_clear_value_error(llm_settings, spec):
    with pytest.raises(ValueError, match="provider:model"):
        rag.answer(DIFFUSEVAE, settings=llm_settings, llm=spec)


def test_rag_ask_llm(fake, llm_settings):
    fake.script(Reply(diffusevae_reply))
    env = {"RAG_LLM_BASE_URL": fake.url, "RAG_LLM_API_KEY": "k", "NO_PROXY": "127.0.0.1,localhost"}
    result = run_cli("ask", DIFFUSEVAE, "--llm", "openai:cli-model", "--json", env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["mode"] == "llm" and data["citations"][0]["title"].startswith("DiffuseVAE")
    assert fake.requests[0]["body"]["model"] == "cli-model"


@pytest.mark.llm_live
@pytest.mark.skipif(
    not LIVE_URL, reason="set RAG_LLM_BASE_URL (and RAG_LLM) to run against a real LLM server"
)
def test_a_real_llm_server_gives_a_verified_answer(seed_settings):
    settings = seed_settings.replace(
        llm=LIVE_LLM or "openai:default", llm_base_url=LIVE_URL, llm_api_key=LIVE_KEY, llm_timeout=120
    )
    answer = rag.answer(DIFFUSEVAE, settings=settings)
    assert answer.mode == "llm", answer.notes
    assert any(c.title.startswith("DiffuseVAE") for c in answer.citations)
    assert_well_cited(answer, settings)
