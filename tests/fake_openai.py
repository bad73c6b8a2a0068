"""A scripted chat server on 127.0.0.1 that speaks the OpenAI and Ollama chat APIs.

Each test queues the replies it wants (text, HTTP status, delays, raw bodies,
stalls) and the server answers requests with them in order, over real HTTP:
``POST /v1/chat/completions`` (OpenAI; ``stream`` true gives server-sent
events ending in ``data: [DONE]``) and ``POST /api/chat`` (Ollama; newline-
delimited JSON). Every request body is recorded for the test to inspect.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted reply.

    Attributes:
        text: The assistant's message, or a function of the request body that returns it.
        status: HTTP status; anything but 200 sends an error body in the API's format.
        delay: Seconds to wait before answering (cut short when the server closes).
        body: Raw bytes sent with status 200 instead of a well-formed reply.
        stall_after: When streaming, send this many pieces and then stop sending
            (the connection stays open until the server closes).
        gate: When streaming, send the first piece, then wait (at most ``gate_wait``
            seconds) for this event before sending the rest.
        gate_wait: How long a gate waits.

    """

    text: str | Callable[[dict[str, Any]], str] = ""
    status: int = 200
    delay: float = 0.0
    body: bytes | None = None
    stall_after: int | None = None
    gate: threading.Event | None = None
    gate_wait: float = 60.0


def pieces(text: str) -> list[str]:
    """Split a reply into the word-sized pieces a model would stream."""
    return re.findall(r"\S+\s*|\s+", text) or [""]


class FakeChatServer:
    """The server; use as a context manager or call ``close``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.gate_timed_out = False
        self._replies: list[Reply] = []
        self._lock = threading.Lock()
        self.closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def root(self) -> str:
        """``http://127.0.0.1:PORT`` (Ollama's base URL)."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        """The OpenAI-compatible base URL, ending in ``/v1``."""
        return f"{self.root}/v1"

    def script(self, *replies: Reply | str) -> None:
        """Queue replies, answered in order (a string is a 200 reply with that text)."""
        with self._lock:
            self._replies.extend(r if isinstance(r, Reply) else Reply(r) for r in replies)

    def next_reply(self) -> Reply:
        with self._lock:
            if self._replies:
                return self._replies.pop(0)
        return Reply(status=500, text="no reply was scripted for this request")

    def close(self) -> None:
        self.closing.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeChatServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def do_POST(self) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
            self._answer()

    def _answer(self) -> None:
        fake: FakeChatServer = self.server.fake
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        headers = {k.lower(): v for k, v in self.headers.items()}
        fake.requests.append({"path": self.path, "body": body, "headers": headers})
        reply = fake.next_reply()
        if reply.delay:
            fake.closing.wait(reply.delay)
        ollama = self.path.rstrip("/") == "/api/chat"
        if not ollama and not self.path.rstrip("/").endswith("/chat/completions"):
            self._json(404, {"error": {"message": f"no route {self.path}"}})
            return
        text = reply.text(body) if callable(reply.text) else reply.text
        if reply.status != 200:
            phrase = HTTPStatus(reply.status).phrase
            error = {"error": text or phrase} if ollama else {"error": {"message": text or phrase}}
            self._json(reply.status, error)
        elif reply.body is not None:
            self._send(200, "application/json", reply.body)
        elif body.get("stream", ollama):
            self._stream(fake, reply, text, body.get("model", ""), ollama)
        elif ollama:
            self._json(200, _ollama_chunk(body.get("model", ""), text, done=True))
        else:
            self._json(200, _openai_completion(body.get("model", ""), text))

    def _json(self, status: int, data: Any) -> None:
        self._send(status, "application/json", json.dumps(data).encode())

    def _send(self, status: int, kind: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _stream(self, fake: FakeChatServer, reply: Reply, text: str, model: str, ollama: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson" if ollama else "text/event-stream")
        self.end_headers()
        for i, piece in enumerate(pieces(text)):
            if reply.stall_after is not None and i >= reply.stall_after:
                fake.closing.wait(120)
                return
            if i == 1 and reply.gate is not None and not reply.gate.wait(reply.gate_wait):
                fake.gate_timed_out = True
            self._event(_ollama_chunk(model, piece) if ollama else _openai_chunk(model, piece), ollama)
        if ollama:
            self._event(_ollama_chunk(model, "", done=True), ollama)
        else:
            self._event(_openai_chunk(model, None, finish="stop"), ollama)
            self.wfile.write(b"data: [DONE]\n\n")

    def _event(self, data: dict[str, Any], ollama: bool) -> None:
        line = json.dumps(data).encode()
        self.wfile.write(line + b"\n" if ollama else b"data: " + line + b"\n\n")
        self.wfile.flush()


def _openai_completion(model: str, text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _openai_chunk(model: str, piece: str | None, finish: str | None = None) -> dict[str, Any]:
    delta = {} if piece is None else {"role": "assistant", "content": piece}
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _ollama_chunk(model: str, piece: str, done: bool = False) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "model": model,
        "created_at": "2024-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": piece},
        "done": done,
    }
    if done:
        chunk |= {"done_reason": "stop", "total_duration": 1, "eval_count": 1, "prompt_eval_count": 1}
    return chunk


def request_text(request: dict[str, Any]) -> str:
    """All message contents of a recorded chat request, joined."""
    messages = request["body"].get("messages", []) if "body" in request else request.get("messages", [])
    return "\n".join(str(m.get("content", "")) for m in messages)


def source_number(body: dict[str, Any], title_start: str) -> int:
    """The number the prompt gave the paper whose title starts with ``title_start``."""
    found = re.search(rf"^\[(\d+)\] {re.escape(title_start)}", request_text({"body": body}), re.M)
    if not found:
        raise AssertionError(f"no source titled {title_start!r} in the prompt")
    return int(found.group(1))
