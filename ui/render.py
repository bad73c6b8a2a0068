"""Answers to chat HTML: escaped, cited, one click from the evidence.

Everything that comes from papers or people (titles, abstracts, questions,
error messages) goes through ``text`` before it reaches the page, and answer
Markdown goes through ``markdown``; both turn HTML and link syntax into
character references, so a title such as ``<img onerror=...>`` or
``[x](javascript:...)`` is shown literally in the Markdown-rendering chatbot and
in the raw-HTML sources panel alike. The page's own sanitizer is a second line
of defence, not the first.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

import rag

# One translation pass (so no reference is escaped twice): HTML's special
# characters, plus those that open Markdown, LaTeX or template syntax. A numeric
# character reference renders as the character itself in Markdown and in HTML,
# but never opens a tag, emphasis, code, a table or a ``${...}`` template.
_HTML = {ord(c): f"&#{ord(c)};" for c in "&<>\"'"}
_DATA_TABLE = {**_HTML, **{ord(c): f"&#{ord(c)};" for c in "*_`~|$\\#{}"}}
# Answer bodies are Markdown on purpose (lists, **bold**): only what could make
# a link, strike text through or escape an escape is neutralized.
_BODY_TABLE = {**_HTML, **{ord(c): f"&#{ord(c)};" for c in "~_$\\"}}
# Every link and image needs "](" (inline), "][" (reference) or "]:" (definition);
# breaking those pairs disables them all while "[1]" still reads as "[1]".
_LINK_PAIRS = (("](", "]&#40;"), ("][", "]&#91;"), ("]:", "]&#58;"))
_TAG_RE = re.compile(r"<[^>]*>")
_REFERENCES_RE = re.compile(r"\n\s*References:\s*\n")

REFERENCES_LABEL = "References"


def _unlink(value: str) -> str:
    for pair, broken in _LINK_PAIRS:
        value = value.replace(pair, broken)
    return value


def text(value: str) -> str:
    """Escape plain text so that it is displayed literally in Markdown or HTML."""
    return _unlink(str(value).translate(_DATA_TABLE))


def markdown(value: str) -> str:
    """Escape answer Markdown: keep its structure, show any HTML or link literally."""
    return _unlink(str(value).translate(_BODY_TABLE))


def user_message(value: str) -> str:
    """Escape what a person typed, idempotently.

    The chatbot sends its messages back with every turn and they are rendered
    again, so escaping an already escaped message must not change it.
    """
    return text(html.unescape(value))


def message_text(role: str, content: Any) -> str:
    """Return the plain text of a chat message, as the answerer needs it.

    Assistant messages are the HTML this module wrote, so their tags are
    dropped; that leaves the ``[n] Title`` reference lines from which
    ``rag.answer`` works out what a follow-up refers to.
    """
    if isinstance(content, Sequence) and not isinstance(content, str):
        content = "\n".join(
            str(part.get("text", "")) if isinstance(part, Mapping) else str(part) for part in content
        )
    content = str(content or "")
    if role == "assistant":
        content = _TAG_RE.sub("", content)
    return html.unescape(content)


def streaming(partial: str) -> str:
    """Show the answer text received so far, without its plain reference list.

    The references are drawn properly, expandable, once the answer is complete.
    """
    return markdown(_REFERENCES_RE.split(partial, maxsplit=1)[0].rstrip())


def highlighted_abstract(abstract: str, snippet: str) -> str:
    """Return the abstract as escaped HTML with the cited sentence(s) in ``<mark>``.

    The snippet is quoted verbatim from the abstract; the match tolerates
    different whitespace. When it cannot be found, the quote is shown above
    the abstract instead, so the evidence is never lost.
    """
    words = snippet.split()
    found = re.search(r"\s+".join(map(re.escape, words)), abstract) if words else None
    if found is None:
        quote = f'<p class="pc-quote"><mark>{text(snippet)}</mark></p>' if words else ""
        return f"{quote}{text(abstract)}"
    start, end = found.span()
    return f"{text(abstract[:start])}<mark>{text(abstract[start:end])}</mark>{text(abstract[end:])}"


def _reference(citation: rag.Citation, hits: Mapping[str, rag.Hit]) -> str:
    """One expandable reference: ``[n] Title``, opening onto the highlighted abstract."""
    hit = hits.get(citation.paper_id)
    abstract = highlighted_abstract(hit.paper.abstract, citation.snippet) if hit else text(citation.snippet)
    # The summary stays on a line of its own: follow-ups read "[n] Title" lines back.
    return (
        f'<details class="pc-ref"><summary>[{citation.number}] {text(citation.title)}</summary>\n'
        f'<div class="pc-abstract">{abstract}</div>\n'
        f'<div class="pc-id">{text(citation.paper_id)}</div>\n'
        "</details>"
    )


def answer_message(result: rag.Answer) -> str:
    """The chat message for a finished answer.

    A cited answer is the body with its ``[n]`` markers, then the numbered,
    expandable references. An abstention is framed as "not in the collection"
    so that the closest papers it lists are not mistaken for support.
    """
    notes = "".join(f"\n\n*Note: {text(note)}*" for note in result.notes)
    if result.abstained:
        return (
            f'<div class="pc-abstain">\n\n**Not in the collection.** {markdown(result.body)}{notes}\n\n</div>'
        )
    hits = {h.paper_id: h for h in result.hits}
    references = "\n".join(_reference(c, hits) for c in result.citations)
    return f"{markdown(result.body)}{notes}\n\n**{REFERENCES_LABEL}**\n\n{references}"


def error_message(message: str) -> str:
    """A short, friendly chat message for a request that could not be answered."""
    first = (message.strip().splitlines() or ["Something went wrong."])[0]
    return f'<div class="pc-error">\n\n⚠️ {text(first)}\n\n</div>'


def sources_panel(result: rag.Answer | None) -> str:
    """HTML for the sources panel: the papers retrieved, best first, cited ones marked."""
    if result is None or not result.hits:
        return '<div class="pc-sources pc-empty">Ask a question to see the papers it was matched with.</div>'
    cited = {c.paper_id: c.number for c in result.citations}
    heading = (
        "Closest papers — none answers the question"
        if result.abstained
        else f"{len(result.hits)} papers considered, {len(cited)} cited"
    )
    rows = []
    for hit in result.hits:
        number = cited.get(hit.paper_id)
        badge = f'<span class="pc-badge">cited [{number}]</span>' if number else ""
        rows.append(
            f'<li class="{"pc-cited" if number else "pc-uncited"}" title="{text(hit.paper_id)}">'
            f'<div class="pc-title">{text(hit.title)}</div>'
            f'<div class="pc-meta">{badge}<span class="pc-score">similarity {hit.similarity:.2f}</span>'
            f'<span class="pc-score">BM25 {hit.lexical:.1f}</span></div></li>'
        )
    return f'<div class="pc-sources"><p class="pc-heading">{heading}</p><ol>{"".join(rows)}</ol></div>'


def header(name: str, papers: int) -> str:
    """The page header: the collection's name and size."""
    size = f"{papers} paper{'' if papers == 1 else 's'} indexed"
    return (
        '<div class="pc-header"><h1>PaperChat</h1>'
        f'<p><span class="pc-collection">{text(name)}</span> · <b>{size}</b> · '
        "answers quote the abstracts and cite every sentence</p></div>"
    )


def header_problem(message: str) -> str:
    """The page header when there is no usable index yet."""
    return f'<div class="pc-header"><h1>PaperChat</h1><p class="pc-error">⚠️ {text(message)}</p></div>'


CSS = """
.pc-header h1 { margin: 0 0 .2rem 0; }
.pc-header p { margin: 0; color: var(--body-text-color-subdued); }
.pc-ref { margin: .25rem 0; }
.pc-ref summary { cursor: pointer; }
.pc-abstract { margin: .4rem 0 .2rem 1rem; font-size: .92em; line-height: 1.45; }
.pc-abstract mark, .pc-quote mark { background: #fde68a; color: #111; padding: 0 .1em; }
.pc-id { margin-left: 1rem; font-size: .8em; color: var(--body-text-color-subdued); }
.pc-abstain { border-left: 4px solid #9ca3af; padding: .1rem .8rem; color: var(--body-text-color-subdued);
  background: var(--background-fill-secondary); font-style: italic; }
.pc-abstain strong { font-style: normal; color: var(--body-text-color); }
.pc-error { border-left: 4px solid #f59e0b; padding: .1rem .8rem; }
.pc-sources ol { padding-left: 1.3rem; margin: 0; }
.pc-sources li { margin-bottom: .55rem; }
.pc-sources .pc-heading { font-weight: 600; margin: 0 0 .5rem 0; }
.pc-sources .pc-uncited .pc-title { color: var(--body-text-color-subdued); }
.pc-sources .pc-cited .pc-title { font-weight: 600; }
.pc-meta { font-size: .8em; color: var(--body-text-color-subdued); display: flex; gap: .6rem; }
.pc-badge { background: #2563eb; color: white; border-radius: 4px; padding: 0 .35em; }
.pc-empty { color: var(--body-text-color-subdued); }
"""
