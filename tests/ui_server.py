"""Run the web chat on a free local port for tests, and read what it answers.

Used by test_ui.py (gradio_client over HTTP) and test_browser.py (Chromium).
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import rag
from ui import render

# A title and an abstract that would run script, load an image or link to
# javascript: if anything on the page treated them as HTML or Markdown.
EVIL_TITLE = (
    "<script>window.__pwned=1</script> Evil "
    '<img src=x onerror="window.__pwned=2"> [click](javascript:alert(1))'
)
EVIL_ABSTRACT = (
    "Quokkas find their way across Rottnest Island using scent trails. We model quokka routing as a "
    'shortest-path problem over a graph of scent markers <svg onload="window.__pwned=3"></svg>. Our quokka '
    "routing planner predicts the paths of tagged quokkas with 91 percent accuracy. See "
    "[details](javascript:alert(2)) for the field data."
)
CALM_PAPERS = [
    (
        "Gradient Boosted Trees for Tabular Fraud Detection",
        "Credit card fraud detection is dominated by tabular data. We study gradient boosted decision trees "
        "for this task. Our method reweights rare fraudulent transactions during boosting.",
    ),
    (
        "Sparse Attention for Long Genomic Sequences",
        "Genomic sequences are millions of base pairs long. Dense attention is quadratic in sequence length. "
        "We propose a block-sparse attention pattern aligned with gene boundaries.",
    ),
    (
        "Curriculum Learning for Robotic Grasping",
        "Robotic grasping policies trained with reinforcement learning are sample inefficient. We order "
        "grasping tasks from easy to hard objects in a curriculum.",
    ),
]


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_chat(settings: rag.Settings, **options) -> Iterator[str]:
    """Serve the chat in this process on a free port; yield its URL, close it after."""
    from ui.app import serve

    demo = serve(port=free_port(), settings=settings, block=False, **options)
    try:
        yield demo.local_url
    finally:
        demo.close()


def write_evil_collection(folder: Path) -> Path:
    """A JSON Lines file: the evil paper and three harmless ones."""
    path = folder / "evil.jsonl"
    rows = [{"id": "evil-1", "title": EVIL_TITLE, "abstract": EVIL_ABSTRACT}]
    rows += [{"id": f"calm-{i}", "title": t, "abstract": a} for i, (t, a) in enumerate(CALM_PAPERS, 2)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def references(message: str) -> list[tuple[int, str]]:
    """The ``(number, title)`` references of a chat message, as a reader sees them."""
    plain = render.message_text("assistant", message)
    return [(int(n), title) for n, title in re.findall(r"^\[(\d+)\] (.+?)\s*$", plain, re.M)]
