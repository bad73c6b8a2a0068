"""PaperChat through LangChain's interfaces: the standard retriever tests, and AnswerChain."""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables import RunnableLambda
from langchain_tests.integration_tests import RetrieversIntegrationTests

import rag

# The standard suite has one async test. pytest-asyncio (strict mode) runs only marked
# ones, and overriding a standard test is itself a failure: mark the inherited one.
pytest.mark.asyncio(RetrieversIntegrationTests.test_ainvoke_returns_documents)


class TestPaperRetrieverStandard(RetrieversIntegrationTests):
    """LangChain's own tests for retrievers, against the seed index."""

    @pytest.fixture(autouse=True)
    def _seed_index(self, seed_settings):
        """``seed_settings`` points RAG_VECTORSTORE_DIR at the seed index; the retriever reads it."""

    @property
    def retriever_constructor(self) -> type[rag.PaperRetriever]:
        return rag.PaperRetriever

    @property
    def retriever_query_example(self) -> str:
        return "Which papers study machine unlearning?"


def test_k_per_call_overrides_the_constructor_and_async_keeps_it(seed_settings):
    retriever = rag.PaperRetriever(k=5, settings=seed_settings)
    question = "Which papers study machine unlearning?"
    assert len(retriever.invoke(question)) == 5
    one = retriever.invoke(question, k=1)
    assert len(one) == 1 and one[0].metadata["rank"] == 1
    two = asyncio.run(retriever.ainvoke(question, k=2))
    assert [d.id for d in two] == [d.id for d in retriever.invoke(question, k=2)]
    with pytest.raises(ValueError, match="k must be >= 1"):
        retriever.invoke(question, k=0)


def test_the_chain_streams_the_pieces_of_answer_stream(seed_settings):
    chain = rag.AnswerChain(settings=seed_settings)
    question = "Which papers study machine unlearning?"
    *pieces, final = chain.stream(question)
    expected = list(rag.answer_stream(question, settings=seed_settings))
    assert len(pieces) > 1 and all(isinstance(p, str) for p in pieces)
    assert pieces == expected[:-1] and "".join(pieces) == final.text
    assert isinstance(final, rag.Answer) and final.text == expected[-1].text


def test_the_chain_works_asynchronously(seed_settings):
    chain = rag.AnswerChain(settings=seed_settings)

    async def run():
        one = await chain.ainvoke({"question": "What does DiffuseVAE do?"})
        streamed = [p async for p in chain.astream("What does DiffuseVAE do?")]
        both = await chain.abatch(["What does DiffuseVAE do?", "What is NoiseCLR?"])
        return one, streamed, both

    one, streamed, both = asyncio.run(run())
    assert one.citations[0].title.startswith("DiffuseVAE")
    assert isinstance(streamed[-1], rag.Answer) and "".join(streamed[:-1]) == streamed[-1].text == one.text
    assert [a.citations[0].title.split(":")[0] for a in both] == ["DiffuseVAE", "NoiseCLR"]


def test_the_chain_composes_and_reports_to_callbacks(seed_settings):
    seen = []

    class Ends(BaseCallbackHandler):
        def on_chain_end(self, outputs, **kwargs):
            seen.append(outputs)

    pipeline = RunnableLambda(lambda q: {"question": q}) | rag.AnswerChain(settings=seed_settings)
    result = pipeline.invoke("What does DiffuseVAE do?", config={"callbacks": [Ends()]})
    assert isinstance(result, rag.Answer) and not result.abstained
    assert any(isinstance(o, rag.Answer) for o in seen)
    *_, streamed = rag.AnswerChain(settings=seed_settings).stream("x", config={"callbacks": [Ends()]})
    assert seen[-1] is streamed  # the stream's output, as callbacks see it, is the Answer


def test_a_malformed_chain_input_says_what_is_expected(seed_settings):
    with pytest.raises(ValueError, match="'question' key"):
        rag.AnswerChain(settings=seed_settings).invoke({"q": "What does DiffuseVAE do?"})


def test_input_metadata_never_replaces_paperchats_own_keys(tmp_path, settings):
    import json

    import rag
    from rag.retrieve import PaperRetriever

    path = tmp_path / "papers.jsonl"
    record = {
        "title": "Boosted trees for card fraud",
        "abstract": "We detect card fraud with boosted trees.",
        "score": "8.5 (accept)",
        "rank": "oral",
    }
    path.write_text(json.dumps(record) + "\n")
    rag.ingest([path], settings=settings, progress=False)
    [doc] = PaperRetriever(k=1, settings=settings).invoke("card fraud")
    assert isinstance(doc.metadata["score"], float) and doc.metadata["rank"] == 1


def test_a_question_with_a_lone_surrogate_is_a_clear_error(seed_settings):
    import pytest

    import rag

    with pytest.raises(ValueError, match=r"invalid Unicode .* — send it as UTF-8 text"):
        rag.answer("fraud \ud800 detection", settings=seed_settings)
