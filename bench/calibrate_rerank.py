"""Refit the re-ranking weights (rag/retrieve.py RANK_WEIGHTS) on the labeled dev questions.

    .venv/bin/python bench/calibrate_rerank.py                      # seed index, built in a temp folder
    .venv/bin/python bench/calibrate_rerank.py --index bench/out/scale-5.8k/vectorstore

The shipped weights were fitted with the seed papers hidden among the 5,800 ICLR 2021 /
NeurIPS 2022 abstracts of ../shared/data (the index bench/scale.py builds and keeps in
bench/out/scale-5.8k/): on the seed collection alone almost any weighting ranks well.

Every answerable, self-contained dev question's candidates (rag.retrieve.candidates,
the same features search() scores) are labeled relevant or not, and a logistic
regression over the four features is fitted. Its coefficients are scaled so that
their sum of absolute values matches the shipped weights' (only their ratios change
the ranking). Prints the fitted weights and dev MRR@10 with the shipped and the
fitted weights; the held-out questions are never fitted.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import rag  # noqa: E402
from rag.corpus import normalize_title  # noqa: E402
from rag.evaluate import load_questions  # noqa: E402
from rag.index import open_index  # noqa: E402
from rag.retrieve import RANK_WEIGHTS, candidates  # noqa: E402

FEATURES = ("top3", "centroid", "lexical", "coverage")


def labeled_candidates(index, questions):
    """Per question: the candidates' feature matrix and which of them are relevant."""
    out = []
    for q in questions:
        if not q.answerable or q.history:
            continue
        relevant = {normalize_title(t) for t in q.relevant} | set(q.relevant)  # titles or ids
        found = candidates(index, q.question, index.embedder.query_vector(q.question), 10)
        x = np.array([[c.features[f] for f in FEATURES] for c in found])
        papers = [index.paper_at(c.position) for c in found]
        y = np.array([p.paper_id in relevant or normalize_title(p.title) in relevant for p in papers])
        if y.any():  # a question whose paper is not even a candidate says nothing about the weights
            out.append((x, y))
    return out


def mrr(groups, weights) -> float:
    w = np.array([weights[f] for f in FEATURES])
    total = 0.0
    for x, y in groups:
        order = np.argsort(-(x @ w), kind="stable")[:10]
        hits = np.flatnonzero(y[order])
        total += 1.0 / (hits[0] + 1) if len(hits) else 0.0
    return total / len(groups)


def main() -> None:
    from sklearn.linear_model import LogisticRegression

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, help="an existing index folder (default: build the seed index)")
    parser.add_argument("--c", type=float, default=1.0, help="inverse regularization strength")
    args = parser.parse_args()
    if args.index:
        settings = rag.Settings.from_env(vectorstore_dir=args.index)
    else:
        folder = Path(tempfile.mkdtemp(prefix="paperchat-rerank-")) / "vectorstore"
        settings = rag.Settings.from_env(vectorstore_dir=folder)
        rag.ingest([ROOT / "seeds"], settings=settings, progress=False)
    index = open_index(settings)
    with index.reading():
        groups = labeled_candidates(index, load_questions(ROOT / "tests/data/dev_questions.jsonl"))
    x = np.vstack([g[0] for g in groups])
    y = np.concatenate([g[1] for g in groups])
    fit = LogisticRegression(C=args.c, class_weight="balanced", max_iter=2000).fit(x, y)
    scale = sum(abs(v) for v in RANK_WEIGHTS.values()) / np.abs(fit.coef_[0]).sum()
    fitted = {f: round(float(w * scale), 1) for f, w in zip(FEATURES, fit.coef_[0], strict=True)}
    print(f"{len(index.position)} papers, {len(groups)} dev questions, {len(y)} candidates")
    print("RANK_WEIGHTS =", json.dumps(fitted))
    print(f"dev MRR@10: shipped {mrr(groups, RANK_WEIGHTS):.3f}, fitted {mrr(groups, fitted):.3f}")


if __name__ == "__main__":
    main()
