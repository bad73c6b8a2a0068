"""Retrieval and cited answers on the seed collection with the real model."""

from __future__ import annotations

import itertools
import json

import pytest
from langchain_core.documents import Document

import rag
from rag.corpus import normalize_title
from tests.conftest import load_questions


def titles(hits) -> list[str]:
    return [h.title for h in hits]


@pytest.mark.parametrize(
    ("question", "title_start"),
    [
        ("What does DiffuseVAE do?", "DiffuseVAE"),
        ("PartSLIP++ results", "PartSLIP++"),
        ("what is the consciousness prior", "The Consciousness Prior"),
        ("CLUTR curriculum", "CLUTR"),
    ],
)
def test_a_named_paper_or_method_ranks_first(seed_settings, question, title_start):
    assert rag.retrieve(question, settings=seed_settings)[0].title.startswith(title_start)


def test_retrieval_on_the_labeled_questions(seed_settings):
    questions = [q for q in load_questions() if q["relevant"] and not q.get("history")]
    assert len(questions) >= 30
    reciprocal, found5 = [], []
    for q in questions:
        wanted = {normalize_title(t) for t in q["relevant"]}
        ranks = [h.rank for h in rag.retrieve(q["question"], settings=seed_settings)
                 if normalize_title(h.title) in wanted]  # fmt: skip
        reciprocal.append(1 / min(ranks) if ranks else 0.0)
        found5.append(len([r for r in ranks if r <= 5]) / len(wanted))
    assert sum(reciprocal) / len(reciprocal) >= 0.93
    assert sum(found5) / len(found5) >= 0.95


def test_hits_are_one_per_paper_best_first(seed_settings):
    hits = rag.retrieve("diffusion models latent space", k=7, settings=seed_settings)
    assert len(hits) == 7 and len({h.paper_id for h in hits}) == 7
    assert [h.rank for h in hits] == list(range(1, 8))
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))
    assert all(h.passages and h.passages[0].similarity >= h.passages[-1].similarity for h in hits)


def test_retriever_is_a_langchain_retriever(seed_settings):
    retriever = rag.PaperRetriever(k=3, settings=seed_settings)
    docs = retriever.invoke("machine unlearning")
    assert len(docs) == 3 and all(isinstance(d, Document) for d in docs)
    assert "Label-Agnostic Forgetting" in docs[0].metadata["title"] + docs[1].metadata["title"]
    assert docs[0].page_content.startswith(docs[0].metadata["title"])


def assert_well_cited(answer: rag.Answer, settings) -> None:
    """Every [n] resolves; every snippet is verbatim in its paper's abstract."""
    import re

    from rag.index import open_index

    index = open_index(settings)
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.body)}
    assert numbers == {c.number for c in answer.citations}
    assert [c.number for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    for c in answer.citations:
        paper = index.paper(c.paper_id)
        assert c.title == paper.title
        assert c.snippet and c.snippet in paper.abstract
    for line in answer.body.splitlines():
        sentence = line.split("**: ", 1)[-1].lstrip("- ")
        if sentence:
            assert re.search(r"\[\d+\]\.?$", sentence), f"uncited: {sentence!r}"


def test_every_citation_resolves_to_a_supporting_abstract(seed_settings):
    answered = 0
    for q in load_questions():
        if q["type"] in ("unanswerable",) or q.get("history"):
            continue
        answer = rag.answer(q["question"], settings=seed_settings)
        if not answer.abstained:
            answered += 1
            assert_well_cited(answer, seed_settings)
            assert f"[{answer.citations[0].number}] {answer.citations[0].title}" in answer.text
    assert answered >= 100


def test_a_multi_paper_question_lists_each_paper(seed_settings):
    answer = rag.answer("Which papers study machine unlearning?", settings=seed_settings)
    cited = {c.title.split(":")[0] for c in answer.citations}
    assert {"Label-Agnostic Forgetting", "Adapt then Unlearn"} <= cited
    assert answer.body.count("\n- ") + 1 == len(answer.citations)
    assert_well_cited(answer, seed_settings)


@pytest.mark.parametrize(
    "question",
    [
        "How does BERT's masked language modeling objective work?",
        "What FID does DiffuseVAE achieve on ImageNet 256x256?",
        "What learning rate schedule does YOLOv8 use?",
    ],
)
def test_out_of_collection_questions_abstain(seed_settings, question):
    answer = rag.answer(question, settings=seed_settings)
    assert answer.abstained and not answer.citations
    assert answer.body.startswith("I couldn't find this in the indexed papers.")
    assert "[1]" not in answer.text
    assert "Closest papers (they do not answer the question)" in answer.body


@pytest.mark.parametrize(
    "history",
    [
        ["What does DiffuseVAE do?"],
        [{"role": "user", "content": "What does DiffuseVAE do?"}],
        [{"role": "user", "content": [{"type": "text", "text": "What does DiffuseVAE do?"}]}],
    ],
)
def test_a_follow_up_resolves_to_the_previous_paper(seed_settings, history):
    answer = rag.answer("Which datasets did they evaluate on?", history=history, settings=seed_settings)
    assert not answer.abstained
    assert [c.title.split(":")[0] for c in answer.citations] == ["DiffuseVAE"]
    assert "DiffuseVAE" in answer.standalone


def test_a_follow_up_uses_the_papers_the_last_answer_cited(seed_settings):
    first = rag.answer("Which papers study machine unlearning?", settings=seed_settings)
    history = [
        {"role": "user", "content": "Which papers study machine unlearning?"},
        {"role": "assistant", "content": first.text},
    ]
    answer = rag.answer("What datasets did they use?", history=history, settings=seed_settings)
    assert {c.paper_id for c in answer.citations} == {c.paper_id for c in first.citations}


def test_a_new_topic_after_history_is_not_a_follow_up(seed_settings):
    answer = rag.answer("What is NoiseCLR?", history=["What does DiffuseVAE do?"], settings=seed_settings)
    assert answer.citations[0].title.startswith("NoiseCLR")


def test_answer_serializes_to_json(seed_settings):
    answer = rag.answer("What does DiffuseVAE do?", settings=seed_settings)
    data = json.loads(json.dumps(answer.to_dict()))
    assert data["abstained"] is False
    assert data["citations"][0]["title"].startswith("DiffuseVAE")
    assert data["text"].endswith(data["citations"][0]["title"])
    assert data["hits"][0]["paper_id"] == data["citations"][0]["paper_id"]


def test_answer_chain_is_a_runnable(seed_settings):
    chain = rag.AnswerChain(settings=seed_settings)
    one = chain.invoke("What does DiffuseVAE do?")
    both = chain.batch(["What does DiffuseVAE do?", {"question": "What is NoiseCLR?"}])
    streamed = list(chain.stream("What does DiffuseVAE do?"))
    assert one.citations[0].paper_id == both[0].citations[0].paper_id
    assert both[1].citations[0].title.startswith("NoiseCLR")
    assert streamed[-1].text == one.text


def test_a_question_longer_than_the_model_input_is_answered(seed_settings):
    long_question = "How does DiffuseVAE combine a VAE with a diffusion model? " * 350
    assert len(long_question) > 20_000
    answer = rag.answer(long_question, settings=seed_settings)
    assert answer.citations and answer.citations[0].title.startswith("DiffuseVAE")


@pytest.mark.parametrize("question", ["", "   \n\t "])
def test_an_empty_question_is_a_clear_value_error(seed_settings, question):
    with pytest.raises(ValueError, match="The question is empty"):
        rag.answer(question, settings=seed_settings)
    with pytest.raises(ValueError, match="The question is empty"):
        rag.retrieve(question, settings=seed_settings)


def test_no_index_says_to_run_ingest(settings):
    with pytest.raises(rag.IndexNotFoundError, match='run "rag ingest seeds/"'):
        rag.answer("What does DiffuseVAE do?", settings=settings)


def test_answer_stream_yields_pieces_then_the_answer(seed_settings):
    items = list(rag.answer_stream("Which papers study machine unlearning?", settings=seed_settings))
    *pieces, final = items
    assert isinstance(final, rag.Answer) and len(pieces) > 3
    assert all(isinstance(p, str) for p in pieces)
    assert "".join(pieces) == final.text
