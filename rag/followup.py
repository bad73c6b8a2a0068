"""Follow-up questions: find the paper(s) "they" or "it" refers to in the chat so far.

A follow-up is a question that leans on the conversation ("what datasets did
they use?") and names nothing of its own. Its referents are the papers the
last answer cited (read back from that answer's reference list) or, when the
history holds only earlier questions, the best paper for the last
self-contained question.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

from .retrieve import search
from .support import question_entities

if TYPE_CHECKING:
    from .index import Index

Turn = Union[str, Mapping[str, Any]]  # noqa: UP007 - a runtime alias, kept readable

_ANAPHORA = re.compile(
    r"\b(they|them|their|theirs|it|its|this|that|these|those|the (?:same )?"
    r"(?:paper|papers|method|methods|model|models|approach|approaches|authors?|work|"
    r"framework|technique|algorithm|system|study|results?))\b"
    # "the paper on X" describes a paper; it does not point back to one.
    r"(?!\s+(?:on|about|that|which|where|by|from|titled|called|introducing|proposing)\b)"
    r"|^\s*(?:and|also|what about|how about|so|then)\b",
    re.I,
)
_REFERENCE = re.compile(r"^\s*\[(\d+)\]\s+(.+?)\s*$", re.M)


def content_of(turn: Turn) -> tuple[str, str]:
    """Return ``(role, text)`` for a history item in any accepted form."""
    if isinstance(turn, str):
        return "user", turn
    role = str(turn.get("role", "user"))
    content = turn.get("content", "")
    if isinstance(content, list | tuple):  # Gradio 6 / OpenAI content parts
        content = " ".join(
            str(part.get("text", "")) if isinstance(part, Mapping) else str(part) for part in content
        )
    return role, str(content or "")


def is_followup(question: str, index: Index) -> bool:
    """True when the question refers back and names no paper of its own."""
    if not _ANAPHORA.search(question):
        return False
    titled = index.support.title_names
    return not any(name in titled for name in question_entities(question))


def resolve_followup(
    question: str, history: Sequence[Turn], index: Index, *, force: bool = False
) -> tuple[str, list[str]]:
    """Return the question to retrieve with and the paper ids it refers to.

    Args:
        question: The new question.
        history: Earlier turns, oldest first.
        index: The opened index.
        force: Treat the question as a follow-up even without a pronoun
            ("what are the two stages?"); the caller then checks support.

    Returns:
        ``(standalone question, referent paper ids)``; ids are empty when the
        question stands on its own.
    """
    if not history or not (force or is_followup(question, index)):
        return question, []
    turns = [content_of(t) for t in history]
    focus: list[str] = []
    for role, text in reversed(turns):
        if role == "assistant":
            found = [index.paper_id_for_title(t) for _, t in _REFERENCE.findall(text)]
            focus = [pid for pid in dict.fromkeys(found) if pid]
            if focus:
                break
        elif role == "user" and text.strip() and (not is_followup(text, index) or text is turns[0][1]):
            hits = search(index, text, index.embedder.query_vector(text), 1)
            focus = [hits[0].paper_id] if hits else []
            break
    if not focus:
        return question, []
    titles = "; ".join(index.paper(pid).title for pid in focus)
    return f"{question} ({titles})", focus
