"""The ``rag`` command: ingest, search, ask, eval, serve, info.

This is the edge where typed library errors become one-line messages and
exit codes (1: the request failed, 2: the request was malformed); a user never
sees a traceback unless ``RAG_DEBUG=1`` asks for one.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from .config import Settings


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _edge(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn every error into one line on stderr and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from .errors import RagError

        try:
            return func(*args, **kwargs)
        except click.exceptions.Exit:
            raise
        except (ValueError, TypeError) as exc:
            if os.environ.get("RAG_DEBUG"):
                raise
            _fail(str(exc).splitlines()[0], 2)
        except RagError as exc:
            if os.environ.get("RAG_DEBUG"):
                raise
            _fail(str(exc).splitlines()[0], 1)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except Exception as exc:
            if os.environ.get("RAG_DEBUG"):
                raise
            first = (str(exc).splitlines() or [""])[0]
            _fail(f"unexpected {type(exc).__name__}: {first} (set RAG_DEBUG=1 for details)", 1)

    return wrapper


class _OneLineErrors(click.Group):
    """Usage errors (a bad -k, an unknown option) as one line too, not click's usage block."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        if not kwargs.pop("standalone_mode", True):
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "rag"
            _fail(f"{exc.format_message().rstrip('.')} — see {where} --help", exc.exit_code)
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except click.Abort:
            _fail("interrupted", 130)
        sys.exit(result if isinstance(result, int) else 0)


def _text(value: str, what: str) -> str:
    """Text from the command line; bytes that are not UTF-8 arrive as lone surrogates."""
    if any("\ud800" <= c <= "\udfff" for c in value):
        raise ValueError(f"The {what} is not valid UTF-8 text — type it again (or set a UTF-8 locale)")
    return value


def _papers(k: int | None) -> int | None:
    """``-k``: checked here so that the message can say what to type instead."""
    if k is not None and k < 1:
        raise ValueError(f"k must be >= 1, got {k} — give -k a number of papers, e.g. -k 5")
    return k


def _settings(**overrides: Any) -> Settings:
    return Settings.from_env(**{k: v for k, v in overrides.items() if v is not None})


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log what happens (to stderr).")
@click.version_option(package_name="paperchat", prog_name="rag")
def main(verbose: bool) -> None:
    """PaperChat: ask questions about research-paper abstracts, get cited answers.

    Settings come from RAG_* environment variables (see README); the index
    lives in RAG_VECTORSTORE_DIR (default: vectorstore/).
    """
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("bm25s").setLevel(level)  # bm25s sets itself to DEBUG on import


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--prune", is_flag=True, help="Remove indexed papers that are not in PATHS.")
@click.option("--rebuild", is_flag=True, help="Rebuild the index from PATHS from scratch.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_edge
def ingest(paths: tuple[str, ...], prune: bool, rebuild: bool, as_json: bool) -> None:
    """Index papers from files or folders (default: the seeds folder).

    Reads .txt page dumps, .jsonl (.jsonl.gz) and .csv files with title and
    abstract, streamed (a multi-gigabyte JSONL is fine). Only new or changed
    papers are embedded; unchanged inputs change nothing. All changes become
    visible in one commit, so an interrupted ingest never leaves the index
    half-written. With RAG_CHROMA_URL the index lives on that Chroma server.
    """
    from .ingest import ingest as run

    # The bar only on a terminal: piped or captured, stderr keeps just the one-line error, if any.
    report = run(list(paths) or None, prune=prune, rebuild=rebuild, progress=False if as_json else None)
    if as_json:
        _print_json(report.to_dict())
        return
    if report.transaction is None:
        click.echo(f"Index up to date: {report.papers} papers, nothing to embed.")
        return
    click.echo(
        f"Indexed {report.papers} papers: {report.added} added, {report.updated} updated, "
        f"{report.relabeled} relabeled, {report.removed} removed, {report.unchanged} unchanged "
        f"({report.chunks_embedded} chunks embedded in {report.seconds:.1f}s)."
    )


@main.command()
@click.argument("paper_ids", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_edge
def remove(paper_ids: tuple[str, ...], as_json: bool) -> None:
    """Remove papers by id (as shown by rag search --json) in one commit."""
    from .ingest import remove as run

    report = run(paper_ids, settings=_settings())
    if as_json:
        _print_json(report.to_dict())
        return
    unknown = f"; {report.unchanged} not in the index" if report.unchanged else ""
    click.echo(f"Removed {report.removed} papers{unknown}: {report.papers} papers left.")


@main.command()
@click.argument("question")
@click.option("-k", type=int, default=None, help="Number of papers (default RAG_TOP_K or 10).")
@click.option("--json", "as_json", is_flag=True, help="Print the hits as JSON.")
@_edge
def search(question: str, k: int | None, as_json: bool) -> None:
    """Show the papers that best match QUESTION, best first."""
    from .retrieve import retrieve

    hits = retrieve(_text(question, "question"), k=_papers(k), settings=_settings())
    if as_json:
        _print_json([h.to_dict() for h in hits])
        return
    for h in hits:
        best = h.passages[0].text if h.passages else ""
        click.echo(f"{h.rank:>2}. {h.title}  [{h.paper_id}]")
        click.echo(f"    similarity {h.similarity:.3f}  bm25 {h.lexical:.2f}  | {best[:150]}")


@main.command()
@click.argument("question")
@click.option("-k", type=int, default=None, help="Papers to consider (default RAG_TOP_K or 10).")
@click.option(
    "--history",
    "history",
    multiple=True,
    help="An earlier question in the conversation (repeat for more, oldest first).",
)
@click.option(
    "--llm",
    default=None,
    metavar="PROVIDER:MODEL",
    help="Write the answer with an LLM, e.g. openai:gpt-4o-mini or ollama:llama3.1 "
    "(default RAG_LLM; 'extractive' for none). Citations are verified; on failure "
    "the extractive answer is shown with a note.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole answer as JSON.")
@_edge
def ask(question: str, k: int | None, history: tuple[str, ...], llm: str | None, as_json: bool) -> None:
    """Answer QUESTION from the indexed papers, citing every sentence."""
    from .answer import answer

    turns = [_text(turn, "--history question") for turn in history]
    result = answer(_text(question, "question"), history=turns, k=_papers(k), settings=_settings(), llm=llm)
    if as_json:
        _print_json(result.to_dict())
    else:
        click.echo(result.text)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (0.0.0.0: all).")
@click.option("--port", default=7860, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--auth",
    metavar="USER:PASSWORD",
    default=None,
    help="Require this login for the page and the API, whose clients send PASSWORD as their API key "
    "(default RAG_UI_AUTH; no login when neither is set).",
)
@click.option(
    "--share",
    is_flag=True,
    default=False,
    help="Also publish a temporary public gradio.live link (needs internet; off by default).",
)
@_edge
def serve(host: str, port: int, auth: str | None, share: bool) -> None:
    """Serve the web chat and an OpenAI-compatible API (http://127.0.0.1:7860 by default).

    The model and index are loaded once, before the first question. Any OpenAI
    client can use the server as a model: base URL http://HOST:PORT/v1, model
    "paperchat" (POST /v1/chat/completions, GET /v1/models). Scripts can also
    call it with gradio_client (endpoints /chat and /answer; see README).
    """
    settings = _settings()
    login = auth if auth is not None else settings.ui_auth
    user, _, password = login.partition(":")
    if login and not (user and password):
        raise ValueError("--auth (or RAG_UI_AUTH) must look like user:password")

    from ui.app import serve as run  # imports Gradio: only once the arguments are known to be good

    run(host=host, port=port, auth=(user, password) if login else None, share=share, settings=settings)


@main.command(name="eval")
@click.option(
    "--questions",
    type=click.Path(dir_okay=False),
    default=None,
    help="Labeled questions, JSON Lines (default tests/data/questions.jsonl).",
)
@click.option("-k", type=int, default=10, show_default=True, help="Papers retrieved per question.")
@click.option(
    "--split",
    type=click.Choice(["dev", "test"]),
    default=None,
    help="Only the questions of this split (sets that have one, e.g. fresh_questions.jsonl).",
)
@click.option(
    "--llm",
    default=None,
    metavar="PROVIDER:MODEL",
    help="Answer with an LLM, as for rag ask (default RAG_LLM; 'extractive' for none).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_edge
def evaluate(questions: str | None, k: int, split: str | None, llm: str | None, as_json: bool) -> None:
    """Measure retrieval, abstention, facts, citations and latency on labeled questions."""
    from .evaluate import evaluate as run

    report = run(questions, k=_papers(k), settings=_settings(), split=split, llm=llm)
    if as_json:
        _print_json(report.to_dict())
    else:
        click.echo(report.table())


@main.command()
@_edge
def info() -> None:
    """Describe the index: papers, chunks, model and last commit."""
    from .index import describe

    c = describe(_settings())
    click.echo(f"collection: {c.name}")
    click.echo(f"index:      {c.location} (transaction {c.transaction}, {c.created})")
    click.echo(f"papers:     {c.papers}  chunks: {c.chunks}")
    click.echo(f"model:      {c.embed_model}")


if __name__ == "__main__":  # pragma: no cover
    main()
