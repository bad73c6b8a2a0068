"""rag eval's statistics: splits, intervals, facts per facet."""

from __future__ import annotations

import json

import pytest

import rag
from rag.evaluate import bootstrap_mean, load_questions, wilson
from tests.conftest import DATA, run_cli


def test_wilson_interval_matches_the_textbook_values():
    low, high = wilson(8, 10)
    assert (round(low, 3), round(high, 3)) == (0.490, 0.943)
    assert wilson(0, 48)[0] == 0.0 and 0.0 < wilson(0, 48)[1] < 0.08
    assert wilson(0, 0) == (0.0, 1.0)


def test_bootstrap_interval_is_reproducible_and_brackets_the_mean():
    values = [0.0, 0.5, 1.0, 1.0, 0.25, 0.75, 1.0, 0.0]
    low, high = bootstrap_mean(values)
    assert low < sum(values) / len(values) < high
    assert bootstrap_mean(values) == (low, high)


def test_the_fresh_set_splits_into_dev_and_test():
    every = load_questions(DATA / "fresh_questions.jsonl")
    dev = load_questions(DATA / "fresh_questions.jsonl", split="dev")
    test = load_questions(DATA / "fresh_questions.jsonl", split="test")
    assert len(dev) + len(test) == len(every) >= 150
    assert {q.split for q in dev} == {"dev"} and {q.split for q in test} == {"test"}
    assert {q.facet for q in every if q.answerable} >= {"what", "how", "results", "datasets"}


def test_an_unknown_split_says_what_to_use():
    with pytest.raises(rag.RagError, match="no questions in split 'train'"):
        load_questions(DATA / "fresh_questions.jsonl", split="train")


def test_rag_eval_scores_one_split_with_intervals_and_facets(seed_store, tmp_path):
    diffusevae = (
        "DiffuseVAE: Efficient, Controllable and High-Fidelity Generation from Low-Dimensional Latents"
    )
    lines = [
        {"id": "a", "question": "What does DiffuseVAE do?", "relevant": [diffusevae], "facts": ["DiffuseVAE"],
         "facet": "what", "split": "dev"},
        {"id": "b", "question": "How does BERT's masked language modeling work?", "split": "dev"},
        {"id": "c", "question": "What is NoiseCLR?", "relevant": ["NoiseCLR"], "split": "test"},
    ]  # fmt: skip
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(line) for line in lines))
    env = {"RAG_VECTORSTORE_DIR": str(seed_store)}
    done = run_cli("eval", "--questions", str(questions), "--split", "dev", "--json", env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["questions"] == 2  # "c" is in the test split
    assert report["facets"] == {"what": 1.0}
    assert report["abstention"]["recall"] == 1.0 and report["abstention"]["false_rate"] == 0.0
    assert report["intervals"]["recall"][0] < 1.0 and report["intervals"]["false_rate"][1] > 0.0
