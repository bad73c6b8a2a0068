"""The OpenAI-compatible API on the chat's server, driven by the official ``openai`` client over HTTP."""

from __future__ import annotations

import base64

import httpx
import openai
import pytest

import rag
from tests.fake_openai import Reply, source_number
from tests.test_llm import diffusevae_reply, fake  # noqa: F401 - the scripted LLM server fixture
from tests.ui_server import running_chat

QUESTION = "What does DiffuseVAE do?"
MANY = "Which papers study machine unlearning?"


@pytest.fixture(scope="module")
def api_settings(seed_store, cache_dir) -> rag.Settings:
    return rag.Settings.from_env(vectorstore_dir=seed_store, cache_dir=cache_dir, llm="")


@pytest.fixture(scope="module")
def server(api_settings):
    with running_chat(api_settings) as url:
        yield url.rstrip("/")


@pytest.fixture(autouse=True)
def loopback_without_proxy(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def client(url: str, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=120)


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def test_an_answer_is_a_chat_completion_with_its_citations(server, api_settings):
    completion = client(server).chat.completions.create(model="paperchat", messages=[user(QUESTION)])
    expected = rag.answer(QUESTION, settings=api_settings)
    assert completion.object == "chat.completion" and completion.id.startswith("chatcmpl-")
    assert completion.model == "paperchat" and completion.created > 0
    (choice,) = completion.choices
    assert choice.index == 0 and choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert choice.message.content == expected.text
    assert completion.usage.total_tokens == 0
    citations = completion.model_extra["citations"]
    assert citations == [c.to_dict() for c in expected.citations]
    assert (
        citations[0]["title"].startswith("DiffuseVAE")
        and citations[0]["snippet"][:80] in choice.message.content
    )
    details = completion.model_extra["paperchat"]
    assert details["abstained"] is False and details["mode"] == "extractive"


def test_streaming_sends_the_answer_in_pieces_then_the_citations(server, api_settings):
    stream = client(server).chat.completions.create(
        model="paperchat", messages=[user(MANY)], stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    expected = rag.answer(MANY, settings=api_settings)
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    content = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content) > 2 and "".join(content) == expected.text
    *_, finish, usage = chunks
    assert finish.choices[0].finish_reason == "stop"
    assert [c["title"] for c in finish.model_extra["citations"]] == [c.title for c in expected.citations]
    assert usage.choices == [] and usage.usage.total_tokens == 0


def test_a_follow_up_uses_the_message_history(server, api_settings):
    api = client(server)
    first = api.chat.completions.create(model="paperchat", messages=[user(QUESTION)])
    history = [
        {
            "role": "system",
            "content": "You are a helpful assistant.",
        },  # ignored: PaperChat answers from papers
        user(QUESTION),
        {"role": "assistant", "content": first.choices[0].message.content},
    ]
    follow = api.chat.completions.create(
        model="paperchat", messages=[*history, user("Which datasets did they use?")]
    )
    expected = rag.answer("Which datasets did they use?", history=history[1:], settings=api_settings)
    assert follow.choices[0].message.content == expected.text
    assert [c["title"] for c in follow.model_extra["citations"]] == [c.title for c in expected.citations]
    assert follow.model_extra["citations"][0]["title"].startswith("DiffuseVAE")
    assert "DiffuseVAE" in follow.model_extra["paperchat"]["standalone"]
    parts = [{"type": "text", "text": "Which datasets"}, {"type": "text", "text": "did they use?"}]
    as_parts = api.chat.completions.create(model="paperchat", messages=[*history, user(parts)])
    assert as_parts.model_extra["citations"] == follow.model_extra["citations"]


def test_k_and_the_extractive_model(server):
    completion = client(server).chat.completions.create(
        model="paperchat-extractive", messages=[user(MANY)], extra_body={"k": 1}
    )
    assert len(completion.model_extra["paperchat"]["hits"]) == 1


def test_unanswerable_questions_say_so(server):
    completion = client(server).chat.completions.create(
        model="paperchat", messages=[user("What FID does DiffuseVAE achieve on ImageNet 256x256?")]
    )
    assert completion.choices[0].message.content.startswith("I couldn't find this in the indexed papers.")
    assert completion.model_extra["citations"] == [] and completion.model_extra["paperchat"]["abstained"]


def test_models_are_listed(server):
    api = client(server)
    assert [m.id for m in api.models.list()] == ["paperchat", "paperchat-extractive"]
    assert api.models.retrieve("paperchat").owned_by == "paperchat"
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        api.models.retrieve("paperchat-llm")


@pytest.mark.parametrize(
    ("request_body", "status", "code", "says"),
    [
        ({"model": "paperchat", "messages": [user(QUESTION), {"role": "assistant", "content": "Hi"}]},
         400, "no_user_message", "last message must be the user's question"),
        ({"model": "paperchat", "messages": [user("   ")]}, 400, "empty_question", "The question is empty"),
        ({"model": "paperchat", "messages": []}, 400, "invalid_messages", "must be a non-empty list"),
        ({"model": "paperchat", "messages": [{"content": "hi"}]}, 400, "invalid_messages", "needs a role"),
        ({"model": "paperchat", "messages": [user(QUESTION)], "stream": "yes"},
         400, "invalid_stream", 'stream must be true or false, got "yes"'),
        ({"model": "paperchat", "messages": [user(QUESTION)], "k": 0}, 400, "invalid_k", "k must be"),
        ({"model": "paperchat", "messages": [user(QUESTION)], "n": 2}, 400, "invalid_n", "n must be 1"),
        ({"model": "paperchat", "messages": [user([{"type": "image_url", "image_url": {"url": "x"}}])]},
         400, "invalid_content", "only text content"),
        ({"messages": [user(QUESTION)]}, 400, "missing_model", "model is required"),
        ({"model": "gpt-4o", "messages": [user(QUESTION)]}, 404, "model_not_found", "use one of paperchat"),
        ({"model": "paperchat-llm", "messages": [user(QUESTION)]}, 404, "model_not_found", "set RAG_LLM"),
    ],
)  # fmt: skip
def test_bad_requests_get_openai_shaped_errors(server, request_body, status, code, says):
    response = httpx.post(f"{server}/v1/chat/completions", json=request_body, timeout=60)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code and says in error["message"]
    assert error["type"] == "invalid_request_error"
    if "model" not in request_body:
        return  # the openai client itself refuses to send a request without a model
    standard = {key: request_body[key] for key in ("model", "messages", "stream", "n") if key in request_body}
    extra = {key: value for key, value in request_body.items() if key not in standard}
    with pytest.raises(openai.APIStatusError) as raised:
        client(server).chat.completions.create(**standard, extra_body=extra)
    assert raised.value.status_code == status and says in raised.value.message


def test_a_body_that_is_not_json_is_a_bad_request(server):
    response = httpx.post(f"{server}/v1/chat/completions", content=b"{not json", timeout=30)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"


def test_no_index_is_a_503_that_says_what_to_do(tmp_path, cache_dir):
    settings = rag.Settings.from_env(vectorstore_dir=tmp_path / "none", cache_dir=cache_dir)
    with running_chat(settings) as url:
        api = client(url.rstrip("/"))
        with pytest.raises(openai.InternalServerError) as raised:
            api.chat.completions.create(model="paperchat", messages=[user(QUESTION)])
        assert raised.value.status_code == 503 and "rag ingest" in raised.value.message
        with pytest.raises(openai.InternalServerError, match="rag ingest"):
            list(api.chat.completions.create(model="paperchat", messages=[user(QUESTION)], stream=True))


def test_a_login_protects_the_api_with_the_password_as_key(api_settings):
    with running_chat(api_settings, auth=("ada", "lovelace")) as url:
        url = url.rstrip("/")
        answer = client(url, key="lovelace").chat.completions.create(
            model="paperchat", messages=[user(QUESTION)]
        )
        assert answer.model_extra["citations"][0]["title"].startswith("DiffuseVAE")
        with pytest.raises(openai.AuthenticationError) as raised:
            client(url, key="wrong").chat.completions.create(model="paperchat", messages=[user(QUESTION)])
        assert raised.value.status_code == 401 and "Wrong API key" in raised.value.message
        with pytest.raises(openai.AuthenticationError):
            client(url, key="wrong").models.list()
        missing = httpx.get(f"{url}/v1/models")
        assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
        assert missing.json()["error"] == {
            "message": "No API key: send the --auth password as 'Authorization: Bearer PASSWORD'",
            "type": "authentication_error",
            "param": None,
            "code": "invalid_api_key",
        }
        basic = base64.b64encode(b"ada:lovelace").decode()
        assert httpx.get(f"{url}/v1/models", headers={"Authorization": f"Basic {basic}"}).status_code == 200
        wrong_user = base64.b64encode(b"eve:lovelace").decode()
        assert (
            httpx.get(f"{url}/v1/models", headers={"Authorization": f"Basic {wrong_user}"}).status_code == 401
        )
        assert httpx.get(f"{url}/config").status_code == 401  # the page keeps Gradio's own login


def test_llm_answers_stream_only_what_the_citation_check_kept(fake, seed_store, cache_dir):  # noqa: F811
    invented = "DiffuseVAE reaches an FID of 2.1 on ImageNet 256x256 after training on 64 TPUs"
    reply = Reply(lambda body: f"{diffusevae_reply(body)} {invented} [{source_number(body, 'DiffuseVAE')}].")
    settings = rag.Settings.from_env(
        vectorstore_dir=seed_store, cache_dir=cache_dir, llm="openai:test-model", llm_base_url=fake.url,
        llm_api_key="k", llm_timeout=30,
    )  # fmt: skip
    with running_chat(settings) as url:
        api = client(url.rstrip("/"))
        assert [m.id for m in api.models.list()] == ["paperchat", "paperchat-extractive", "paperchat-llm"]
        fake.script(reply, reply)
        whole = api.chat.completions.create(model="paperchat-llm", messages=[user(QUESTION)])
        chunks = list(api.chat.completions.create(model="paperchat", messages=[user(QUESTION)], stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert whole.model_extra["paperchat"]["mode"] == "llm" and "ImageNet" not in text
    assert text == whole.choices[0].message.content and "Citation check removed 1 sentence" in text
    assert chunks[-1].model_extra["paperchat"]["removed"][0]["sentence"].startswith(invented)
    assert len(fake.requests) == 2
