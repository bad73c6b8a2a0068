"""Talking to the LLM: build the chat model, ask it to write or rewrite, stream its text.

Any LangChain chat model can write the answer; ``provider:model`` strings build
one from ``Settings`` (``openai:`` for OpenAI and every OpenAI-compatible server
such as vLLM, llama.cpp or LM Studio; ``ollama:`` for Ollama). The retrieved
papers are numbered sources; the model must put ``[n]`` after every sentence or
reply with a fixed phrase when the sources do not answer.

This module only talks to the model. ``rag.answer`` decides what to ask,
``rag.verify`` checks what came back, and any ``LLMError`` raised here (no
connection, a timeout, an HTTP error, a malformed reply) makes ``rag.answer``
fall back to the extractive answer with a note saying why. A ``Budget`` bounds
all the calls of one answer together, streaming included; nothing is retried.
"""

from __future__ import annotations

import contextlib
import http
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from .errors import LLMError
from .followup import Turn, content_of
from .verify import DECLINE_PHRASE

if TYPE_CHECKING:
    from .config import Settings
    from .retrieve import Hit

logger = logging.getLogger(__name__)

PROVIDERS = ("openai", "ollama")
SOURCE_SENTENCES = 4  # per paper: the question's best sentences keep small models' prompts short
OLLAMA_CONTEXT = 8192  # Ollama's default window can silently cut the sources off
HISTORY_TURNS = 6
_THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.S | re.I)  # reasoning models' hidden thoughts

ANSWER_PROMPT = f"""You answer questions about research papers using only the numbered sources \
the user gives you.
- Answer concisely: a few sentences, or one short bullet per paper when asked for papers.
- End every sentence with the number of the source that supports it, like [1] or [2][3].
- State only what the cited source says, in its own words where you can. Do not add \
facts, numbers or names that are not in the sources.
- If the sources do not answer the question, reply exactly: {DECLINE_PHRASE}"""

REWRITE_PROMPT = """Rewrite the user's last question as a standalone question that can be \
understood without the conversation: replace words like "they", "it" or "this paper" \
with the paper titles, methods or topics they refer to. If the question already stands \
alone, repeat it unchanged. Reply with the question only."""


def chosen_llm(llm: BaseChatModel | str | None, settings: Settings) -> BaseChatModel | str | None:
    """The LLM to answer with: a chat model, a checked ``provider:model``, or ``None`` (extractive).

    Args:
        llm: A chat model (used as is), ``provider:model``, or ``None`` to use
            ``settings.llm``; ``""`` and ``"extractive"`` mean no LLM.
        settings: Settings.

    Raises:
        ValueError: ``llm`` is not ``openai:MODEL`` or ``ollama:MODEL``.

    """
    if isinstance(llm, BaseChatModel):
        return llm
    spec = (settings.llm if llm is None else llm).strip()
    if not settings.replace(llm=spec).uses_llm:
        return None
    provider, _, name = spec.partition(":")
    if provider not in PROVIDERS or not name.strip():
        raise ValueError(
            f"LLM must be provider:model with provider {' or '.join(PROVIDERS)} "
            f"(e.g. openai:gpt-4o-mini, ollama:llama3.1), got {spec!r}; fix RAG_LLM or --llm"
        )
    if settings.llm_timeout <= 0:
        raise ValueError(f"llm_timeout must be > 0 seconds, got {settings.llm_timeout}")
    return f"{provider}:{name.strip()}"


def chat_model(spec: str, settings: Settings) -> BaseChatModel:
    """Build the LangChain chat model ``provider:model`` names, configured from ``settings``.

    ``openai:`` is ``ChatOpenAI`` (any OpenAI-compatible server when
    ``llm_base_url`` is set); ``ollama:`` is ``ChatOllama``. Both get the
    timeout and temperature; nothing is retried.

    Raises:
        ValueError: ``spec`` names no known provider.
        LLMError: The client cannot be set up (e.g. no API key for OpenAI).

    """
    checked = chosen_llm(spec, settings)
    if not isinstance(checked, str):
        raise ValueError(f"not an LLM: {spec!r}")
    provider, _, name = checked.partition(":")
    base_url = settings.llm_base_url or None
    try:
        if provider == "ollama":
            from langchain_ollama import ChatOllama

            return ChatOllama(
                model=name,
                base_url=base_url,
                temperature=settings.llm_temperature,
                num_ctx=OLLAMA_CONTEXT,
                client_kwargs={"timeout": settings.llm_timeout},
            )
        from langchain_openai import ChatOpenAI

        # OPENAI_API_KEY is for OpenAI only: never send it to another server. Local
        # servers need no key, but the client insists on one.
        key = settings.llm_api_key or ("unused" if base_url else os.environ.get("OPENAI_API_KEY"))
        if not key:
            raise LLMError(
                "LLM unavailable (no API key: set RAG_LLM_API_KEY, or RAG_LLM_BASE_URL for a local server)"
            )
        return ChatOpenAI(
            model=name,
            base_url=base_url,
            api_key=key,
            timeout=settings.llm_timeout,
            max_retries=0,
            temperature=settings.llm_temperature,
            # Other servers speak chat completions, not OpenAI's newer Responses API.
            use_responses_api=False if base_url else None,
        )
    except LLMError:
        raise
    except Exception as exc:
        raise LLMError(f"LLM unavailable ({_describe(exc)})") from exc


def writer(llm: BaseChatModel | str, settings: Settings) -> BaseChatModel:
    """The chat model to write with: ``llm`` itself, or the one ``provider:model`` names."""
    return llm if isinstance(llm, BaseChatModel) else chat_model(llm, settings)


def write_answer(
    chat: BaseChatModel, question: str, hits: Sequence[Hit], budget: Budget, *, stream: bool
) -> Iterator[str]:
    """Ask the model to answer ``question`` from ``hits`` as numbered sources; yield its raw text.

    With ``stream`` the pieces are the model's tokens as they arrive; otherwise
    one piece. The text may hold hidden reasoning (``without_reasoning``).

    Raises:
        LLMError: The call failed or the budget ran out.

    """
    messages = [SystemMessage(ANSWER_PROMPT), HumanMessage(sources_prompt(question, hits))]
    with contextlib.closing(_generate(chat, messages, stream, budget)) as pieces:
        yield from pieces


def without_reasoning(text: str) -> str:
    """``text`` without ``<think>...</think>`` blocks (an unclosed one runs to the end)."""
    return _THINK.sub("", text)


def sources_prompt(question: str, hits: Sequence[Hit]) -> str:
    """The user message: each paper numbered, its title, its sentences closest to the question."""
    blocks = []
    for number, hit in enumerate(hits, start=1):
        chosen = sorted(hit.passages[:SOURCE_SENTENCES], key=lambda p: p.number)
        text = ""
        for i, p in enumerate(chosen):
            gap = i and p.number != chosen[i - 1].number + 1
            text += (" ... " if gap else " " if i else "") + p.text
        blocks.append(f"[{number}] {hit.title}\n{text or hit.paper.abstract}")
    return "Sources:\n\n" + "\n\n".join(blocks) + f"\n\nQuestion: {question}"


def rewrite_question(chat: BaseChatModel, question: str, history: Sequence[Turn], budget: Budget) -> str:
    """The question rewritten to stand alone, or "" when the model gives nothing usable.

    Raises:
        LLMError: The call failed or the budget ran out.

    """
    lines = []
    for role, text in (content_of(t) for t in history[-HISTORY_TURNS:]):
        text = " ".join(text.split())
        if len(text) > 1200:  # keep an answer's start and its reference list
            text = f"{text[:500]} ... {text[-700:]}"
        lines.append(f"{'Assistant' if role == 'assistant' else 'User'}: {text}")
    conversation = "\n".join(lines) + f"\n\nLast question: {question}"
    messages = [SystemMessage(REWRITE_PROMPT), HumanMessage(conversation)]
    with contextlib.closing(_generate(chat, messages, False, budget)) as pieces:
        reply = "".join(pieces)
    first = next((line for line in without_reasoning(reply).splitlines() if line.strip()), "")
    first = re.sub(r"^\s*(?:standalone question|question|rewritten)\s*:\s*", "", first, flags=re.I)
    first = first.strip().strip("\"'“”").strip()
    return first if 0 < len(first) <= 500 else ""


class Budget:
    """Seconds an answer may still wait for the LLM, shared by its calls (rewrite, answer).

    Only waiting counts, so loading the embedding model on a first question does
    not eat into it.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.left = seconds


def _generate(
    chat: BaseChatModel, messages: list[BaseMessage], stream: bool, budget: Budget
) -> Iterator[str]:
    """Yield the model's text; raise ``LLMError`` on any failure or when the budget runs out.

    The model runs in a daemon thread so that the budget holds whatever the
    client does: a server that trickles tokens, or a chat model passed in
    without a timeout of its own. A thread that is given up on stops at its next
    token, or when its own client times out.
    """
    found: queue.Queue[tuple[str, Any]] = queue.Queue()
    stop = threading.Event()

    def work() -> None:
        try:
            if stream:
                for chunk in chat.stream(messages):
                    if stop.is_set():
                        return
                    found.put(("text", chunk.text))
            else:
                found.put(("text", chat.invoke(messages).text))
            found.put(("done", None))
        except Exception as exc:
            found.put(("error", exc))

    threading.Thread(target=work, name="paperchat-llm", daemon=True).start()
    started = time.monotonic()
    deadline = started + budget.left
    try:
        while True:
            try:
                kind, value = found.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise LLMError(f"LLM unavailable (timed out after {budget.seconds:g}s)") from None
            if kind == "done":
                return
            if kind == "error":
                if isinstance(value, LLMError):
                    raise value
                raise LLMError(f"LLM unavailable ({_describe(value)})") from value
            if value:
                yield value
    finally:
        stop.set()
        budget.left -= time.monotonic() - started


def _describe(exc: BaseException) -> str:
    """A short reason for a failed call: ``HTTP 429 Too Many Requests``, ``timed out``, ..."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    for e in seen:
        code = getattr(e, "status_code", None) or getattr(getattr(e, "response", None), "status_code", None)
        if isinstance(code, int) and code >= 400:
            with contextlib.suppress(ValueError):
                return f"HTTP {code} {http.HTTPStatus(code).phrase}"
            return f"HTTP {code}"
    names = " ".join(type(e).__name__ for e in seen)
    if "Timeout" in names:
        return "timed out"
    if "Connect" in names or any(isinstance(e, ConnectionError) for e in seen):
        return "cannot connect to the server; is it running?"
    first = (str(exc).strip().splitlines() or [""])[0][:160]
    return f"malformed reply: {type(exc).__name__}: {first}" if first else f"failed: {type(exc).__name__}"
