"""The incremental BM25 index against the bm25s index it replaced, on real abstracts.

The reference below is the former rag/lexical.py implementation (bm25s with the
same tokenizer), so "same scores" means same as what retrieval used to see.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bm25s
import numpy as np
import pytest
from bm25s.tokenization import Tokenizer

from rag.corpus import read_papers
from rag.lexical import _SPLIT, LexicalIndex, _stemmer, stopwords, terms

ROOT = Path(__file__).resolve().parent.parent
ICLR = Path("/work/shared/data/openreview_iclr2021.jsonl")


class Bm25sIndex:
    """The former LexicalIndex (build, scores, idf, known), kept as the reference."""

    def __init__(self, texts: list[str]) -> None:
        self.tokenizer = Tokenizer(
            lower=True, splitter=_SPLIT, stopwords=sorted(stopwords()), stemmer=_stemmer()
        )
        ids = self.tokenizer.tokenize(texts, show_progress=False, return_as="ids")
        self.bm25 = bm25s.BM25()
        self.bm25.index(self.tokenizer.to_tokenized_tuple(ids), show_progress=False)
        self.df: dict[str, int] = {}
        for text in texts:
            for term in set(terms(text)):
                self.df[term] = self.df.get(term, 0) + 1
        self.size = len(texts)

    def query_ids(self, query: str) -> list[int]:
        return self.tokenizer.tokenize([query], update_vocab=False, show_progress=False, return_as="ids")[0]

    def scores(self, query: str) -> np.ndarray:
        ids = self.query_ids(query)
        if not ids:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.bm25.get_scores(list(ids)), dtype=np.float32)

    def idf(self, term: str) -> float:
        return math.log(1.0 + (self.size + 1) / (self.df.get(term, 0) + 0.5))

    def known(self, term: str) -> bool:
        return term in self.df


QUERIES = [
    # plain words and phrases
    "graph neural networks",
    "What does contrastive learning do for self-supervised image representations?",
    "reinforcement learning exploration with intrinsic rewards",
    "adversarial robustness certified defenses",
    "Which papers study federated learning under non-iid client data?",
    "language model pretraining transformer attention",
    "variational autoencoder posterior collapse",
    "knowledge distillation teacher student",
    "meta-learning few-shot classification",
    "neural architecture search efficient",
    "generative adversarial networks training stability",
    "out-of-distribution detection uncertainty calibration",
    "optimization convergence stochastic gradient descent learning rate",
    "pruning lottery ticket sparse networks",
    "molecule generation drug discovery",
    "protein structure",
    "speech recognition",
    "continual learning catastrophic forgetting",
    "how do transformers handle long sequences efficiently",
    "explain implicit regularization in overparameterized models",
    # method names, acronyms, hyphens, mixed case
    "DiffuseVAE",
    "BERT GPT-2 RoBERTa",
    "ResNet-50 on ImageNet",
    "MAML",
    "SGD Adam AdamW",
    "GNN GCN GAT",
    "NeRF",
    "PAC-Bayes bounds",
    "ViT",
    "CIFAR-10 CIFAR-100",
    # numbers
    "1024",
    "2020",
    "3D point clouds",
    "top-1 accuracy 76.5%",
    "10x speedup",
    # stopword-only and question-word-only
    "the of and",
    "What is it?",
    "what does this paper do",
    "",
    "   ",
    # unknown words, alone and mixed with known ones
    "zzyzxqwv",
    "flibbertigibbet quantumfoam",
    "zzyzxqwv graph",
    "graph flibbertigibbet networks",
    # repeated words
    "graph graph graph",
    "attention attention is all you need",
    "learning learning learning networks",
    "GAN GAN training",
    # punctuation and unicode
    "self-attention; multi-head (MHA)!",
    "naïve Bayes café",
    "1024×1024 resolution",
]


def _text(paper) -> str:
    return f"{paper.title} {paper.abstract}"


@pytest.fixture(scope="module")
def texts() -> list[str]:
    papers = list(read_papers([ROOT / "seeds"]))
    assert len(papers) == 44
    papers += list(read_papers([ICLR]))
    return [_text(p) for p in papers]


@pytest.fixture(scope="module")
def reference(texts) -> Bm25sIndex:
    return Bm25sIndex(texts)


@pytest.fixture(scope="module")
def index(texts) -> LexicalIndex:
    return LexicalIndex.build(texts)


def test_scores_match_bm25s(index, reference, texts):
    assert index.size == index.capacity == len(texts) > 3000
    ranked = 0
    for query in QUERIES:
        got, want = index.scores(query), reference.scores(query)
        assert got.dtype == np.float32 and got.shape == (len(texts),)
        assert np.allclose(got, want, rtol=1e-5), query
        ranked += bool(want.any())
    # Most queries must actually rank something, or agreement would prove little.
    assert ranked >= 40


def test_scores_are_bitwise_equal_to_bm25s(index, reference):
    """Same order of float operations as bm25s, so not merely close."""
    for query in QUERIES[:20]:
        assert np.array_equal(index.scores(query), reference.scores(query)), query


def test_query_terms_are_terms_of_the_query(index, reference):
    """bm25s' tokenizer kept every occurrence of a known term, in order, like terms()."""
    vocab = {v: k for k, v in reference.tokenizer.get_vocab_dict().items()}
    for query in QUERIES:
        old = [vocab[i] for i in reference.query_ids(query)]
        known = [t for t in terms(query) if index.known(t)]
        assert old == (known or [""]), query


def test_stopword_and_unknown_queries_score_nothing(index):
    for query in ["the of and", "What is it?", "", "zzyzxqwv", "flibbertigibbet quantumfoam"]:
        assert not index.scores(query).any(), query


def test_repeated_terms_count_each_time(index):
    once, three = index.scores("graph"), index.scores("graph graph graph")
    assert once.any()
    assert np.allclose(three, 3 * once, rtol=1e-5)


def test_idf_and_known_match(index, reference, texts):
    sample = sorted({t for text in texts[::50] for t in terms(text)})
    for term in [*sample, "zzyzxqwv", "", "the"]:
        assert index.idf(term) == pytest.approx(reference.idf(term), rel=1e-12), term
        assert index.known(term) == reference.known(term), term
    assert not index.known("zzyzxqwv") and not index.known("")


def test_paper_without_terms_scores_for_empty_questions():
    """bm25s gives a stopword-only paper a stand-in token that stopword-only questions match."""
    texts = ["Graph neural networks for molecules", "What is it about? It is this.", "Graph kernels"]
    ref, new = Bm25sIndex(texts), LexicalIndex.build(texts)
    for query in ["what is this", "graph", "molecules graph", "zzyzxqwv", "graph graph"]:
        assert np.array_equal(new.scores(query), ref.scores(query)), query
    assert new.scores("what is this")[1] > 0
    assert not new.known("")


def test_from_terms_equals_build(index, texts):
    other = LexicalIndex.from_terms([terms(t) for t in texts])
    for query in QUERIES[:10]:
        assert np.array_equal(other.scores(query), index.scores(query))


def _assert_same_as_fresh(index: LexicalIndex, present: dict[int, str], probe_terms: list[str]) -> None:
    """``index`` must score, idf and know exactly like a fresh build over the ``present`` papers."""
    positions = sorted(present)
    fresh = LexicalIndex.build([present[p] for p in positions])
    assert index.size == fresh.size == len(positions)
    absent = np.setdiff1d(np.arange(index.capacity), positions)
    for query in QUERIES:
        got = index.scores(query)
        assert got.shape == (index.capacity,)
        assert np.allclose(got[positions], fresh.scores(query), rtol=1e-5), query
        assert not got[absent].any(), query
    for term in probe_terms:
        assert index.idf(term) == pytest.approx(fresh.idf(term), rel=1e-12), term
        assert index.known(term) == fresh.known(term), term


def test_add_and_remove_equal_a_fresh_build(texts):
    rng = np.random.default_rng(7)
    index = LexicalIndex.build(texts[:-50])
    for pos in range(len(texts) - 50, len(texts)):
        index.add(pos, terms(texts[pos]))
    removed = rng.choice(len(texts), size=30, replace=False).tolist()
    for pos in removed:
        index.remove(pos)
    present = {p: t for p, t in enumerate(texts) if p not in removed}
    # Terms of removed papers are where stale statistics would show; some are now in no paper.
    probe = sorted({t for p in removed for t in terms(texts[p])})
    assert not all(index.known(t) for t in probe)
    _assert_same_as_fresh(index, present, probe)
    for pos in removed:
        assert not index.scores(texts[pos][:200])[pos]


def test_removed_papers_score_zero_and_drop_out(texts):
    index = LexicalIndex.build(texts[:200])
    title = texts[10].split(" ")[:6]
    assert index.scores(" ".join(title)).argmax() == 10
    index.remove(10)
    after = index.scores(" ".join(title))
    assert after[10] == 0 and after.shape == (200,)
    index.remove(10)  # absent: a no-op
    index.remove(10_000)
    assert index.size == 199 and index.capacity == 200


def test_heavy_removal_and_reused_positions(texts):
    """Removing most papers compacts postings; a reused position must not see its old paper."""
    rng = np.random.default_rng(3)
    present = dict(enumerate(texts[:400]))
    index = LexicalIndex.build(texts[:400])
    for pos in rng.permutation(400)[:300].tolist():
        index.remove(pos)
        del present[pos]
    gone = sorted(set(range(400)) - set(present))
    # Put different papers (from further on) at some freed positions, and at a gap.
    for k, pos in enumerate([*gone[:40], 450]):
        index.add(pos, terms(texts[1000 + k]))
        present[pos] = texts[1000 + k]
    assert index.capacity == 451
    probe = sorted({t for p in gone[:60] for t in terms(texts[p])})
    _assert_same_as_fresh(index, present, probe)


def test_empty_index_and_growth_from_nothing(texts):
    index = LexicalIndex()
    assert index.size == index.capacity == 0 and index.scores("graph").shape == (0,)
    assert not index.known("graph") and index.idf("graph") == pytest.approx(math.log(1 + 1 / 0.5))
    for pos in (5, 2, 9):
        index.add(pos, terms(texts[pos]))
    index.add(0, [])
    _assert_same_as_fresh(index, {5: texts[5], 2: texts[2], 9: texts[9], 0: ""}, ["graph", "learn"])


def test_add_rejects_present_position_and_raw_text(texts):
    index = LexicalIndex.build(texts[:5])
    with pytest.raises(ValueError, match="already indexed"):
        index.add(3, terms(texts[7]))
    with pytest.raises(ValueError, match=">= 0"):
        index.add(-1, ["graph"])
    with pytest.raises(TypeError, match="list of terms"):
        index.add(9, texts[9])
    with pytest.raises(TypeError, match="list of terms"):
        LexicalIndex.from_terms([terms(texts[0]), texts[1]])
    assert index.size == 5


def test_concurrent_queries_agree_with_serial_ones(index):
    """scores() only reads, so queries from several threads see what one thread sees."""
    serial = [index.scores(q) for q in QUERIES]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(index.scores, QUERIES * 4))
    for i, got in enumerate(parallel):
        assert np.array_equal(got, serial[i % len(QUERIES)]), QUERIES[i % len(QUERIES)]


def test_the_fillers_of_dictated_questions_are_not_terms():
    # A voice assistant's transcript: "um", "okay" and "kinda" must not count as words
    # the paper lacks.
    spoken = "um okay so uh what does diffuse vae kinda do whatever"
    assert terms(spoken) == terms("so what does diffuse vae do")


def test_acronyms_spelled_letter_by_letter_are_joined():
    from rag.lexical import join_spelled

    assert join_spelled("diffuse vae what f i d on celeba h q") == "diffuse vae what FID on celeba HQ"
    assert join_spelled("the copilot c d h f paper") == "the copilot CDHF paper"
    # Contractions, initials with dots and single words stay as they are.
    for text in ("what's a good learning rate", "I'm a clinician", "U.S. data", "a model"):
        assert join_spelled(text) == text
