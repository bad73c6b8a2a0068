"""``answer`` as a LangChain Runnable, so it composes with LangChain's tooling.

``invoke``/``batch`` return the ``Answer``; ``stream`` yields the same pieces as
``answer_stream`` (``str``, then the ``Answer``), and the async variants run
them in an executor thread: answering is CPU work and blocking I/O, never
``await``-able. Callbacks and tracing see the question as input and the
``Answer`` as output.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import run_in_executor

from .answer import Answer, answer, answer_stream
from .followup import Turn

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from .config import Settings

_DONE = object()


def _parts(input: Any) -> tuple[str, list[Turn] | None]:
    """``"question"`` or ``{"question": str, "history": [...]}`` -> (question, history)."""
    if isinstance(input, Mapping):
        if "question" not in input:
            raise ValueError(f"AnswerChain input needs a 'question' key, got keys {sorted(input)}")
        return input["question"], input.get("history")
    return input, None


class AnswerChain(Runnable[Any, Answer]):
    """``rag.answer`` as a Runnable: ``invoke``, ``batch``, ``stream`` and their async forms.

    Input is a question string or ``{"question": str, "history": [...]}``.
    ``stream``/``astream`` yield ``str`` pieces, then the final ``Answer`` (see
    ``rag.answer_stream``: with an LLM the pieces are its raw tokens and the
    ``Answer`` is authoritative).
    """

    def __init__(
        self,
        *,
        k: int | None = None,
        settings: Settings | None = None,
        llm: BaseChatModel | str | None = None,
    ) -> None:
        """Bind retrieval depth, settings and the LLM (see ``rag.answer``) for every call."""
        self.k = k
        self.settings = settings
        self.llm = llm

    def _answer(self, input: Any) -> Answer:
        question, history = _parts(input)
        return answer(question, history=history, k=self.k, settings=self.settings, llm=self.llm)

    def _pieces(self, inputs: Iterator[Any]) -> Iterator[str | Answer]:
        for input in inputs:
            question, history = _parts(input)
            yield from answer_stream(
                question, history=history, k=self.k, settings=self.settings, llm=self.llm
            )

    async def _apieces(
        self, inputs: AsyncIterator[Any], config: RunnableConfig
    ) -> AsyncIterator[str | Answer]:
        async for input in inputs:
            pieces = self._pieces(iter([input]))
            try:
                while (piece := await run_in_executor(config, next, pieces, _DONE)) is not _DONE:
                    yield piece
            finally:
                pieces.close()

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Answer:
        """Answer one question."""
        return self._call_with_config(self._answer, input, config)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Answer:
        """Answer one question in an executor thread."""
        return await run_in_executor(config, self.invoke, input, config)

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[str | Answer]:  # type: ignore[override]
        """Yield the answer's text pieces as they are produced, then the ``Answer``."""
        yield from self._transform_stream_with_config(iter([input]), self._pieces, config)

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[str | Answer]:  # type: ignore[override]
        """``stream``, asynchronously: each piece is produced in an executor thread."""

        async def once() -> AsyncIterator[Any]:
            yield input

        async for piece in self._atransform_stream_with_config(once(), self._apieces, config):
            yield piece
