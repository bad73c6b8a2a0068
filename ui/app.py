"""The web chat: a thin Gradio layer over ``rag.answer``.

It adds no retrieval or answering logic of its own; it only renders answers
and turns library errors into short chat messages.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

import rag


def respond(message: str, history: list[dict[str, Any]]) -> str:
    """Answer one chat message, or explain briefly why it cannot be answered."""
    try:
        return rag.answer(message, history=history).text
    except (ValueError, rag.RagError) as exc:
        return f"⚠️ {exc}"


def build() -> gr.Blocks:
    """Build the chat page."""
    with gr.Blocks(title="PaperChat") as demo:
        gr.Markdown("# PaperChat\nAsk about the indexed papers; every sentence cites its paper.")
        gr.ChatInterface(respond, api_name="chat")
    return demo


def serve(host: str = "127.0.0.1", port: int = 7860) -> None:
    """Serve the chat on ``host:port`` (loopback by default, never shared)."""
    build().queue(default_concurrency_limit=2).launch(server_name=host, server_port=port, share=False)
