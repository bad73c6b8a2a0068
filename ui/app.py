"""The web chat: a thin Gradio layer over ``rag.answer``.

It adds no retrieval or answering logic of its own: it streams
``rag.answer_stream``, draws the finished ``Answer`` (see ``ui.render``), lists
the retrieved papers next to the chat, and turns every error into a short chat
message so the server keeps running. Two Gradio API endpoints serve scripts:
``/chat`` (what the chat shows, with the session's history) and ``/answer``
(the structured answer as JSON); ``serve`` also mounts the OpenAI-compatible
``/v1`` routes (``ui.openai_api``) on the same server and port.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

# No telemetry or version check: PaperChat runs offline.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr

import rag

from . import render
from .openai_api import ChatCompletions

log = logging.getLogger(__name__)

# Answering is CPU-bound (ONNX question encoder, numpy, Chroma) on a 2-core
# machine: two at a time keeps both cores busy; more would only interleave.
CONCURRENCY_LIMIT = 2
MAX_K = 20
EXAMPLES = [
    "What does DiffuseVAE do?",
    "Which papers are about unlearning?",
    "How can a robot imitate a new task from a few demonstrations?",
    "Which papers analyse the latent space of diffusion models?",
    "When should an AI coding assistant show a suggestion?",
]
UNEXPECTED = "Something went wrong while answering (the details are in the server log). Please try again."


def text_chatbot(**kwargs: Any) -> gr.Chatbot:
    """A chatbot that shows what people type as text, never as HTML or Markdown.

    Gradio renders user messages as Markdown, so ``<img onerror=...>`` in a
    question would be sanitized away instead of shown. Assistant messages are
    left alone: ``ui.render`` has escaped them already. The instance's
    ``postprocess`` is wrapped rather than subclassed because Gradio writes a
    ``.pyi`` stub next to the module of every component subclass.
    """
    chatbot = gr.Chatbot(**kwargs)
    postprocess = chatbot.postprocess

    def escape_user_messages(value: Any) -> Any:
        return postprocess([_escape_user(m) for m in value] if value else value)

    chatbot.postprocess = escape_user_messages  # type: ignore[method-assign]
    return chatbot


def _escape_user(message: Any) -> Any:
    if not isinstance(message, Mapping) or message.get("role") != "user":
        return message
    content = message.get("content")
    if isinstance(content, str):
        content = render.user_message(content)
    elif isinstance(content, list):
        content = [
            {**part, "text": render.user_message(part["text"])}
            if isinstance(part, Mapping) and part.get("type") == "text"
            else render.user_message(part)
            if isinstance(part, str)
            else part
            for part in content
        ]
    return {**message, "content": content}


# Half of a UTF-16 surrogate pair: JSON can carry one ("\\ud800"), no text encoder accepts it.
_UNPAIRED = re.compile("[\\ud800-\\udfff]")


def _turns(history: Sequence[Any] | None) -> list[Any]:
    """Chat history as ``rag.answer`` reads it: plain text, not the rendered HTML.

    An unpaired surrogate becomes U+FFFD: the history only points follow-ups at
    papers, and it may hold an earlier message that was refused for that reason.
    """
    turns: list[Any] = []
    for item in history or ():
        if isinstance(item, Mapping):
            role = str(item.get("role", "user"))
            content = render.message_text(role, item.get("content", ""))
            turns.append({"role": role, "content": _UNPAIRED.sub("\ufffd", content)})
        else:
            turns.append(_UNPAIRED.sub("\ufffd", str(item)))
    return turns


def _question(value: Any) -> str:
    """An API caller may send no message at all; that is an empty question, not a crash."""
    question = "" if value is None else str(value)
    if _UNPAIRED.search(question):
        raise ValueError("The question holds invalid Unicode (an unpaired surrogate) — type it again as text")
    return question


def _k(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"k must be a whole number of papers, got {value!r}") from None


class Chat:
    """The answering side of the page, bound to one set of settings."""

    def __init__(self, settings: rag.Settings) -> None:
        """Keep the settings for both answer modes."""
        self.settings = settings
        self.llm = settings.llm if settings.uses_llm else ""
        self.modes = ["extractive", *(["llm"] if self.llm else [])]

    def settings_for(self, mode: str | None) -> rag.Settings:
        """Extractive answers ignore any configured LLM; ``llm`` uses it as configured."""
        mode = (mode or "extractive").lower()
        if mode not in ("extractive", "llm"):
            raise ValueError(f"mode must be extractive or llm, got {mode!r}")
        return self.settings if mode == "llm" else self.settings.replace(llm="")

    def collection(self) -> str:
        """The header: the collection's name and size, or what to do when there is none."""
        try:
            # The opened index is cached: this costs one stat per page load.
            collection = rag.describe(self.settings)
            return render.header(collection.name, collection.papers)
        except rag.RagError as exc:
            return render.header_problem(str(exc))

    def warm_up(self) -> None:
        """Load the model, the index and the support model now, not on the first question."""
        try:
            rag.answer(EXAMPLES[0], settings=self.settings_for("extractive"))
        except rag.RagError as exc:
            log.warning("The chat starts without an index: %s", exc)
        except Exception:  # the page still loads; each question then reports the problem
            log.exception("Warming up the chat failed")

    def respond(self, message: str, history: list[dict[str, Any]], k: Any, mode: str) -> Iterator[tuple]:
        """Answer one chat message as it is produced, then show its sources.

        Yields ``(message, sources panel)``; the panel is skipped while the
        answer is still streaming.
        """
        received, shown = "", ""
        try:
            pieces = rag.answer_stream(
                _question(message), history=_turns(history), k=_k(k), settings=self.settings_for(mode)
            )
            for piece in pieces:
                if isinstance(piece, rag.Answer):
                    yield render.answer_message(piece), render.sources_panel(piece)
                    continue
                received += piece
                growing = render.streaming(received)
                if growing != shown:  # pieces of the plain reference list change nothing shown
                    shown = growing
                    yield shown, gr.skip()
        except (ValueError, rag.RagError) as exc:
            yield render.error_message(str(exc)), render.sources_panel(None)
        except Exception:
            log.exception("The chat failed to answer %r", message)
            yield render.error_message(UNEXPECTED), render.sources_panel(None)

    def answer_json(
        self, question: str, history: list[Any] | None = None, k: int | None = None, mode: str = "extractive"
    ) -> dict[str, Any]:
        """Answer a question and return the structured answer as JSON.

        ``history`` holds earlier turns, oldest first: plain strings (earlier
        questions) or ``{"role", "content"}`` messages. The result is
        ``rag.Answer.to_dict()``: text, body, citations, abstained, hits, ...
        """
        try:
            result = rag.answer(
                _question(question), history=_turns(history), k=_k(k), settings=self.settings_for(mode)
            )
        except (ValueError, rag.RagError) as exc:
            raise gr.Error(str(exc).splitlines()[0]) from None
        except Exception:
            log.exception("The answer endpoint failed on %r", question)
            raise gr.Error(UNEXPECTED) from None
        return result.to_dict()


def build(settings: rag.Settings | None = None) -> gr.Blocks:
    """Build the chat page and load the model and index once, up front.

    Args:
        settings: Settings; ``None`` reads ``RAG_*`` variables.

    """
    return _page(Chat(settings if settings is not None else rag.Settings.from_env()))


def _page(chat: Chat) -> gr.Blocks:
    chat.warm_up()
    with gr.Blocks(title="PaperChat", fill_height=True, analytics_enabled=False) as demo:
        header = gr.HTML(chat.collection(), js_on_load=None)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=420):
                k = gr.Slider(
                    1,
                    max(MAX_K, chat.settings.top_k),
                    value=chat.settings.top_k,
                    step=1,
                    label="Papers to consider",
                    render=False,
                )
                mode = gr.Radio(
                    [("Extractive (quotes the abstracts)", "extractive")]
                    + ([(f"LLM ({chat.llm})", "llm")] if chat.llm else []),
                    value=chat.modes[-1],
                    label="Answer mode",
                    info=None if chat.llm else "Set RAG_LLM to enable LLM answers.",
                    interactive=len(chat.modes) > 1,
                    render=False,
                )
                last_sources = gr.State("")
                interface = gr.ChatInterface(
                    chat.respond,
                    chatbot=text_chatbot(
                        show_label=False,
                        elem_id="pc-chat",
                        height="68vh",
                        latex_delimiters=[],
                        buttons=["copy"],
                        placeholder="Every sentence of an answer cites the paper it quotes.",
                    ),
                    textbox=gr.Textbox(
                        placeholder="Ask a question about the papers…",
                        show_label=False,
                        submit_btn=True,
                        elem_id="pc-question",
                    ),
                    additional_inputs=[k, mode],
                    additional_inputs_accordion=gr.Accordion("Settings", open=False, render=False),
                    additional_outputs=[last_sources],
                    examples=[[q] for q in EXAMPLES],
                    api_name="chat",
                    api_description="Answer a message in this session's conversation; returns the message.",
                    analytics_enabled=False,
                    fill_height=False,
                )
            with gr.Column(scale=2, min_width=280):
                gr.Markdown("### Sources")
                sources = gr.HTML(render.sources_panel(None), js_on_load=None, elem_id="pc-sources")
                clear = gr.Button("Clear chat", variant="secondary", size="sm", elem_id="pc-clear")

        # A State as the chat's extra output keeps /chat returning just the answer;
        # the page copies it into the panel when it changes.
        page_only: dict[str, Any] = {"queue": False, "show_progress": "hidden", "api_visibility": "private"}
        last_sources.change(lambda html: html, last_sources, sources, **page_only)
        empty = render.sources_panel(None)
        conversation = [interface.chatbot, interface.chatbot_state, interface.chatbot_value]
        clear.click(
            lambda: ([], [], [], "", empty), None, [*conversation, last_sources, sources], **page_only
        )
        interface.chatbot.clear(lambda: ("", empty), None, [last_sources, sources], **page_only)
        demo.load(chat.collection, None, header, **page_only)
        gr.api(chat.answer_json, api_name="answer")
    return demo


def serve(
    host: str = "127.0.0.1",
    port: int = 7860,
    *,
    auth: tuple[str, str] | None = None,
    share: bool = False,
    settings: rag.Settings | None = None,
    block: bool = True,
) -> gr.Blocks:
    """Serve the chat, and the OpenAI-compatible API under ``/v1``, on ``host:port``.

    Loopback and unshared unless asked otherwise.

    Args:
        host: Interface to bind.
        port: Port to listen on.
        auth: ``(user, password)`` to require a login; API clients send the
            password as their API key (``Authorization: Bearer PASSWORD``).
        share: Also open a temporary public gradio.live link (needs internet).
        settings: Settings; ``None`` reads ``RAG_*`` variables.
        block: Serve until interrupted; ``False`` returns the running app
            (call ``.close()`` on it), as tests do.

    Returns:
        The running app; its ``local_url`` is the chat's address.

    """
    chat = Chat(settings if settings is not None else rag.Settings.from_env())
    demo = _page(chat)
    demo.queue(default_concurrency_limit=CONCURRENCY_LIMIT)
    api = ChatCompletions(chat.settings_for, chat.modes, auth=auth, concurrency=CONCURRENCY_LIMIT)
    demo.launch(
        # Gradio documents app_kwargs as the arguments of its FastAPI app: the /v1
        # routes are part of that app from the start, on the same port.
        app_kwargs={"routes": api.router().routes},
        server_name=host,
        server_port=port,
        share=share,
        auth=auth,
        auth_message="PaperChat: log in to ask questions." if auth else None,
        prevent_thread_lock=not block,
        css=render.CSS,
        # System fonts: nothing to fetch, and Gradio's bundled web font lacks some bold glyphs.
        theme=gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"]),
        ssr_mode=False,
        quiet=not block,
    )
    return demo
