"""PaperChat as an OpenAI-compatible "model", on the same server and port as the web chat.

``POST /v1/chat/completions`` takes OpenAI chat messages (the last one is the
question, the earlier user and assistant turns are the history that follow-ups
lean on) and answers with the cited Markdown answer as the assistant message;
``GET /v1/models`` lists what can be asked for. Any OpenAI client or chat front
end (Open WebUI, LibreChat, editor plugins) can then use PaperChat over HTTP.

Choices made where the OpenAI API has no counterpart:

- The structured answer rides along in extra fields: ``citations`` (number,
  paper id, title, quoted snippet, score) and ``paperchat`` (``rag.Answer.to_dict()``:
  abstained, mode, notes, removed, hits, ...). Clients that do not know them ignore them.
- Models: ``paperchat`` answers as the web chat does by default (the LLM when
  ``RAG_LLM`` is set, else extractive); ``paperchat-extractive`` never uses an
  LLM; ``paperchat-llm`` exists only when an LLM is configured.
- ``stream: true`` streams only text that has passed the citation check: the
  extractive answer sentence by sentence as it is produced, an LLM answer once
  it is verified (an OpenAI stream cannot take back tokens the check removes).
- ``k`` (an extra body field) sets how many papers to consider; sampling
  options (temperature, max_tokens, ...) do not apply and are ignored;
  ``usage`` is zeros (no tokens are counted).
- With a login (``rag serve --auth USER:PASSWORD``), API clients send the
  password as the API key (``Authorization: Bearer PASSWORD``) or the login as
  HTTP Basic credentials.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response, StreamingResponse

import rag

log = logging.getLogger(__name__)

MODEL = "paperchat"
MAX_K = 100
ROLES = ("system", "developer", "user", "assistant", "tool", "function")
UNEXPECTED = "Something went wrong while answering (the details are in the server log). Please try again."
_DONE = object()
_UNPAIRED = re.compile("[\\ud800-\\udfff]")  # half a UTF-16 surrogate pair: JSON can carry one


class ApiError(Exception):
    """An error to send in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""

    def __init__(self, status: int, message: str, code: str, param: str | None = None) -> None:
        """Keep the HTTP status and the error fields."""
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param

    @property
    def kind(self) -> str:
        """OpenAI's error ``type`` for this status."""
        if self.status == 401:
            return "authentication_error"
        return "server_error" if self.status >= 500 else "invalid_request_error"

    def body(self) -> dict[str, Any]:
        """The JSON error object."""
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        """The error as an HTTP response (401s say how to authenticate)."""
        headers = {"WWW-Authenticate": 'Bearer realm="PaperChat"'} if self.status == 401 else None
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A checked ``/v1/chat/completions`` request."""

    model: str
    mode: str
    question: str
    history: tuple[dict[str, str], ...]
    k: int | None
    stream: bool
    include_usage: bool


def models(modes: Sequence[str]) -> dict[str, str]:
    """Model id -> answer mode, for the modes this server offers (``llm`` last when present)."""
    out = {MODEL: modes[-1], f"{MODEL}-extractive": "extractive"}
    if "llm" in modes:
        out[f"{MODEL}-llm"] = "llm"
    return out


def _text(content: Any, where: str) -> str:
    """A message's text: a string, or OpenAI content parts of type ``text``."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, Mapping) and part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif isinstance(part, Mapping) and part.get("type") in ("refusal", "thinking"):
                continue
            else:
                kind = part.get("type") if isinstance(part, Mapping) else type(part).__name__
                raise ApiError(
                    400, f"{where}: only text content is supported, got {kind!r}", "invalid_content"
                )
        return "\n".join(texts)
    raise ApiError(400, f"{where}.content must be a string or a list of text parts", "invalid_content")


def parse(body: Any, offered: Mapping[str, str]) -> ChatRequest:
    """Check a request body; raise ``ApiError`` naming the bad field and what to send instead."""
    if not isinstance(body, Mapping):
        raise ApiError(400, "The request body must be a JSON object", "invalid_body")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, f"model is required: one of {', '.join(offered)}", "missing_model", "model")
    if model not in offered:
        hint = " (set RAG_LLM to enable LLM answers)" if model == f"{MODEL}-llm" else ""
        raise ApiError(
            404,
            f"The model {model!r} does not exist{hint}; use one of {', '.join(offered)} (GET /v1/models)",
            "model_not_found",
            "model",
        )
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(
            400, "messages must be a non-empty list of {role, content} objects", "invalid_messages"
        )
    turns = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, Mapping) or message.get("role") not in ROLES:
            raise ApiError(400, f"{where} needs a role: one of {', '.join(ROLES)}", "invalid_messages")
        turns.append((message["role"], _text(message.get("content"), where)))
    role, question = turns[-1]
    if role != "user":
        raise ApiError(400, "The last message must be the user's question (role 'user')", "no_user_message")
    if not question.strip():
        raise ApiError(
            400, "The question is empty — ask something about the indexed papers", "empty_question"
        )
    if _UNPAIRED.search(question):
        raise ApiError(
            400,
            "The question holds invalid Unicode (an unpaired surrogate escape such as \\ud800) — "
            "send the question as UTF-8 text",
            "invalid_question",
        )
    # System prompts and tool output do not steer PaperChat; the conversation does. The
    # history only points follow-ups at papers: an unpaired surrogate there becomes U+FFFD.
    history = tuple(
        {"role": r, "content": _UNPAIRED.sub("\ufffd", t)}
        for r, t in turns[:-1]
        if r in ("user", "assistant")
    )
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise ApiError(
            400, f"stream must be true or false, got {json.dumps(stream)}", "invalid_stream", "stream"
        )
    options = body.get("stream_options") or {}
    if not isinstance(options, Mapping):
        raise ApiError(400, "stream_options must be an object", "invalid_stream_options", "stream_options")
    n = body.get("n", 1)
    if n not in (None, 1):
        raise ApiError(400, f"n must be 1 (one answer per question), got {json.dumps(n)}", "invalid_n", "n")
    k = body.get("k")
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K):
        raise ApiError(
            400,
            f"k must be a whole number of papers from 1 to {MAX_K}, got {json.dumps(k)}",
            "invalid_k",
            "k",
        )
    return ChatRequest(
        model, offered[model], question, history, k, stream, bool(options.get("include_usage"))
    )


def authorized(header: str, login: tuple[str, str]) -> bool:
    """True when an ``Authorization`` header carries the login: ``Bearer PASSWORD`` or Basic."""
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    user, password = login
    if scheme.lower() == "bearer":
        return hmac.compare_digest(value.encode(), password.encode())
    if scheme.lower() == "basic":
        try:
            given_user, _, given_password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return hmac.compare_digest(given_user.encode(), user.encode()) & hmac.compare_digest(
            given_password.encode(), password.encode()
        )
    return False


def _http_error(exc: Exception) -> ApiError:
    """What a library error means for an API client."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, (ValueError, TypeError)):
        return ApiError(400, str(exc).splitlines()[0], "invalid_request")
    if isinstance(exc, rag.IndexNotFoundError):
        return ApiError(503, str(exc), "index_not_found")
    if isinstance(exc, rag.RagError):  # busy, unreachable store, incompatible index: not the client's fault
        return ApiError(503, str(exc), "unavailable")
    log.error("The API failed to answer", exc_info=exc)
    return ApiError(500, UNEXPECTED, "internal_error")


def completion(answer: rag.Answer, model: str, id_: str, created: int) -> dict[str, Any]:
    """A ``chat.completion`` object for an answer, with the structured answer in extra fields."""
    return {
        "id": id_,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "citations": [c.to_dict() for c in answer.citations],
        "paperchat": answer.to_dict(),
    }


class ChatCompletions:
    """The ``/v1`` routes, answering with the library's public API only."""

    def __init__(
        self,
        settings_for: Callable[[str], rag.Settings],
        modes: Sequence[str],
        *,
        auth: tuple[str, str] | None = None,
        concurrency: int = 2,
    ) -> None:
        """Bind the settings per answer mode, the login, and how many answers run at once.

        Args:
            settings_for: Settings to answer with in a mode (``extractive`` or ``llm``).
            modes: The modes this server offers.
            auth: ``(user, password)`` required of API clients, or ``None``.
            concurrency: Answers computed at the same time (as in the web chat's queue);
                the rest wait their turn.

        """
        self.settings_for = settings_for
        self.models = models(modes)
        self.auth = auth
        self.created = int(time.time())
        self._slots = asyncio.Semaphore(concurrency)

    def router(self) -> APIRouter:
        """The routes, to add to the chat's FastAPI app."""
        router = APIRouter(prefix="/v1")
        router.add_api_route("/models", self.list_models, methods=["GET"])
        router.add_api_route("/models/{model}", self.get_model, methods=["GET"])
        router.add_api_route("/chat/completions", self.chat_completions, methods=["POST"])
        return router

    def _check(self, request: Request) -> None:
        if self.auth is not None and not authorized(request.headers.get("authorization", ""), self.auth):
            missing = "authorization" not in request.headers
            raise ApiError(
                401,
                ("No API key" if missing else "Wrong API key")
                + ": send the --auth password as 'Authorization: Bearer PASSWORD'",
                "invalid_api_key",
            )

    def _model(self, model: str) -> dict[str, Any]:
        return {"id": model, "object": "model", "created": self.created, "owned_by": "paperchat"}

    async def list_models(self, request: Request) -> Response:
        """``GET /v1/models``."""
        try:
            self._check(request)
        except ApiError as exc:
            return exc.response()
        return JSONResponse({"object": "list", "data": [self._model(m) for m in self.models]})

    async def get_model(self, model: str, request: Request) -> Response:
        """``GET /v1/models/{model}``."""
        try:
            self._check(request)
            if model not in self.models:
                raise ApiError(404, f"The model {model!r} does not exist", "model_not_found", "model")
        except ApiError as exc:
            return exc.response()
        return JSONResponse(self._model(model))

    async def chat_completions(self, request: Request) -> Response:
        """``POST /v1/chat/completions``: the cited answer, whole or as server-sent events."""
        try:
            self._check(request)
            try:
                body = json.loads(await request.body() or b"null")
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise ApiError(400, "The request body is not valid JSON", "invalid_json") from None
            chat = parse(body, self.models)
        except ApiError as exc:
            return exc.response()
        settings = self.settings_for(chat.mode)
        id_, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        pieces = rag.answer_stream(chat.question, history=list(chat.history), k=chat.k, settings=settings)
        await self._slots.acquire()
        try:
            # The first item surfaces a bad question or a missing index as an HTTP status.
            first = await run_in_threadpool(next, pieces, _DONE)
        except Exception as exc:
            self._slots.release()
            pieces.close()
            return _http_error(exc).response()
        items = self._items(first, pieces)
        if not chat.stream:
            try:
                answer = [item async for item in items][-1]
            except Exception as exc:
                return _http_error(exc).response()
            return JSONResponse(completion(answer, chat.model, id_, created))
        events = _events(items, chat, id_, created, verified_only=settings.uses_llm)
        return StreamingResponse(
            events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    async def _items(self, first: Any, pieces: Iterator[str | rag.Answer]) -> AsyncIterator[str | rag.Answer]:
        """The rest of ``answer_stream``, each item computed in a worker thread; frees the slot at the end."""
        try:
            item = first
            while item is not _DONE:
                yield item
                item = await run_in_threadpool(next, pieces, _DONE)
        finally:
            self._slots.release()
            # A worker may still be inside next() when the client went away; the
            # generator is then closed when it is collected.
            with contextlib.suppress(ValueError):
                pieces.close()


def _chunk(chat: ChatRequest, id_: str, created: int, delta: dict[str, Any], finish: str | None) -> dict:
    chunk: dict[str, Any] = {
        "id": id_,
        "object": "chat.completion.chunk",
        "created": created,
        "model": chat.model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    if chat.include_usage:
        chunk["usage"] = None
    return chunk


def _sse(data: Any) -> bytes:
    return b"data: " + json.dumps(data).encode() + b"\n\n"


async def _events(
    items: AsyncIterator[str | rag.Answer], chat: ChatRequest, id_: str, created: int, *, verified_only: bool
) -> AsyncIterator[bytes]:
    """Server-sent events in OpenAI's order: role, content pieces, finish (with citations), [DONE].

    ``verified_only``: the pieces are an LLM's raw tokens, which the citation
    check may still change, so only the final ``Answer``'s text is sent.
    """
    yield _sse(_chunk(chat, id_, created, {"role": "assistant", "content": ""}, None))
    try:
        async with contextlib.aclosing(items):
            async for item in items:
                if isinstance(item, rag.Answer):
                    if verified_only:
                        yield _sse(_chunk(chat, id_, created, {"content": item.text}, None))
                    last = _chunk(chat, id_, created, {}, "stop")
                    last |= {"citations": [c.to_dict() for c in item.citations], "paperchat": item.to_dict()}
                    yield _sse(last)
                elif not verified_only:
                    yield _sse(_chunk(chat, id_, created, {"content": item}, None))
    except Exception as exc:  # headers are sent: report it the way OpenAI's streams do
        yield _sse(_http_error(exc).body())
        return
    if chat.include_usage:
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        yield _sse({**_chunk(chat, id_, created, {}, None), "choices": [], "usage": usage})
    yield b"data: [DONE]\n\n"
