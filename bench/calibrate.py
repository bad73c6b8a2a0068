"""Fit the abstention model (rag/support.py WEIGHTS, WEIGHTS_ALONE) on the validation questions.

    .venv/bin/python bench/calibrate.py [--c 10]

Features of each question's top-ranked paper (similarity, coverage, missing
names, margin and, with the bundled background, outside) are fitted with
logistic regression against "some paper answers it", on every question set
that has already guided a decision: tests/data/questions.jsonl,
dev_questions.jsonl and both splits of fresh_questions.jsonl (407 questions
that are not follow-ups). tests/data/holdout_questions.jsonl is never read.

First it cross-validates (5 folds, 3 shuffles): abstention recall (R) and
false refusals (F) at the support threshold, held out, with and without the
``outside`` feature. Then it fits both weight sets on all of the questions;
paste them into rag/support.py and re-run `rag eval`.
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
from rag import support  # noqa: E402
from rag.compose import margin  # noqa: E402
from rag.evaluate import load_questions  # noqa: E402
from rag.index import open_index  # noqa: E402
from rag.retrieve import search  # noqa: E402

SETS = ("questions.jsonl", "dev_questions.jsonl", "fresh_questions.jsonl")


def features(index, questions) -> tuple[np.ndarray, np.ndarray]:
    """One row per question: the support features of its top-ranked paper, and its label."""
    model = index.support
    rows, labels = [], []
    for q in questions:
        if q.history:
            continue  # follow-ups are judged through their referent, not the support model
        vector = index.embedder.query_vector(q.question)
        hits = search(index, q.question, vector, 10)
        evidence = model.judge(
            model.profile(q.question, vector), hits[0].paper_id, hits[0].similarity, margin(hits, 0)
        )
        rows.append(evidence.features())
        labels.append(q.answerable)
    return np.asarray(rows), np.asarray(labels)


def fit(x: np.ndarray, y: np.ndarray, names: tuple[str, ...], c: float) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=2000).fit(x, y)
    return {"bias": round(float(model.intercept_[0]), 2)} | {
        name: round(float(w), 2) for name, w in zip(names, model.coef_[0], strict=True)
    }


def probability(x: np.ndarray, weights: dict[str, float], names: tuple[str, ...]) -> np.ndarray:
    z = weights["bias"] + x @ np.array([weights[n] for n in names])
    return 1.0 / (1.0 + np.exp(-z))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--c", type=float, default=10.0, help="inverse regularization strength")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="paperchat-calibrate-")) / "vectorstore"
    settings = rag.Settings.from_env(vectorstore_dir=folder, background="bundled")
    rag.ingest([ROOT / "seeds"], settings=settings, progress=False)
    index = open_index(settings)
    questions = [q for name in SETS for q in load_questions(ROOT / "tests/data" / name)]
    x, y = features(index, questions)
    print(f"{len(y)} questions, {int((~y).sum())} unanswerable; R = abstention recall, F = false refusals")
    variants = {"without background": support.FEATURES[:4], "with background": support.FEATURES}
    threshold = support.THRESHOLD
    for label, names in variants.items():
        cols = [support.FEATURES.index(n) for n in names]
        results = []
        for shuffle in range(3):
            folds = np.random.default_rng(shuffle).permutation(len(y)) % 5
            held = np.zeros(len(y))
            for k in range(5):
                weights = fit(x[folds != k][:, cols], y[folds != k], names, args.c)
                held[folds == k] = probability(x[folds == k][:, cols], weights, names)
            refused = held < threshold
            results.append(f"R {refused[~y].mean():.3f} F {refused[y].mean():.3f}")
        print(f"cross-validated, {label:<19}: " + " | ".join(results))
    for name, label in (("WEIGHTS_ALONE", "without background"), ("WEIGHTS", "with background")):
        names = variants[label]
        cols = [support.FEATURES.index(n) for n in names]
        weights = fit(x[:, cols], y, names, args.c)
        refused = probability(x[:, cols], weights, names) < threshold
        print(
            f"{name} = {json.dumps(weights)}  (fitted on all: R {refused[~y].mean():.3f} F {refused[y].mean():.3f})"
        )


if __name__ == "__main__":
    main()
