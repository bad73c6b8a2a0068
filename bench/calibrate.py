"""Fit the abstention model (rag/support.py WEIGHTS, WEIGHTS_ALONE) on the validation questions.

    .venv/bin/python bench/calibrate.py [--c 10] [--vectorstore DIR] [--background FILE]

Features of each question's top-ranked paper (similarity, coverage, missing
names, margin, the question's length and, with a background, outside and
outside_terms) are fitted
with logistic regression against "some paper answers it", on every question
set that had guided a decision before this fit (``VALIDATION``: 528 questions
that are not follow-ups). tests/data/final_questions.jsonl was scored once
after the fit and tests/data/blind_questions.jsonl after the last change; the
fit never reads either.

It cross-validates two ways, reporting abstention recall (R) and false
refusals (F) at the support threshold on the held-out part: 5 folds x 3
shuffles, and leaving one question set out at a time. The second is the
honest one: each set was written by a different procedure, so it shows how a
fit carries over to questions written another way. Then it fits both weight
sets on all of the questions; paste them into rag/support.py and re-run
`rag eval`.
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

VALIDATION = (
    "questions.jsonl",
    "dev_questions.jsonl",
    "fresh_questions.jsonl",
    "holdout_questions.jsonl",
)
VARIANTS = {
    "no background": support.FEATURES[:5],
    "background vectors": support.FEATURES[:6],
    "background vectors + terms": support.FEATURES,
}


def features(index, questions) -> tuple[np.ndarray, np.ndarray]:
    """One row per question: the support features of its top-ranked paper, and its label."""
    model = index.support
    rows, labels = [], []
    for q in questions:
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

    model = LogisticRegression(C=c, max_iter=5000).fit(x, y)
    return {"bias": round(float(model.intercept_[0]), 2)} | {
        name: round(float(w), 2) for name, w in zip(names, model.coef_[0], strict=True)
    }


def probability(x: np.ndarray, weights: dict[str, float], names: tuple[str, ...]) -> np.ndarray:
    z = weights["bias"] + x @ np.array([weights[n] for n in names])
    return 1.0 / (1.0 + np.exp(-z))


def rates(refused: np.ndarray, y: np.ndarray) -> str:
    return f"R {refused[~y].mean():.3f} F {refused[y].mean():.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--c", type=float, default=10.0, help="inverse regularization strength")
    parser.add_argument("--vectorstore", type=Path, help="a seed index to reuse (default: build one)")
    parser.add_argument("--background", default="bundled", help="as RAG_BACKGROUND")
    args = parser.parse_args()
    folder = args.vectorstore or Path(tempfile.mkdtemp(prefix="paperchat-calibrate-")) / "vectorstore"
    settings = rag.Settings.from_env(vectorstore_dir=folder, background=args.background)
    if args.vectorstore is None:
        rag.ingest([ROOT / "seeds"], settings=settings, progress=False)
    index = open_index(settings)
    questions, groups = [], []
    for name in VALIDATION:
        kept = [q for q in load_questions(ROOT / "tests/data" / name) if not q.history]
        questions += kept
        groups += [name] * len(kept)
    # Follow-ups are judged through their referent, not the support model.
    x, y = features(index, questions)
    groups = np.asarray(groups)
    print(f"{len(y)} questions, {int((~y).sum())} unanswerable; R = abstention recall, F = false refusals")
    threshold = support.THRESHOLD
    for label, names in VARIANTS.items():
        cols = [support.FEATURES.index(n) for n in names]
        results = []
        for shuffle in range(3):
            folds = np.random.default_rng(shuffle).permutation(len(y)) % 5
            held = np.zeros(len(y))
            for k in range(5):
                weights = fit(x[folds != k][:, cols], y[folds != k], names, args.c)
                held[folds == k] = probability(x[folds == k][:, cols], weights, names)
            results.append(rates(held < threshold, y))
        print(f"{label:<27} 5-fold: " + " | ".join(results))
        held = np.zeros(len(y))
        per_set = []
        for name in VALIDATION:
            out = groups == name
            weights = fit(x[~out][:, cols], y[~out], names, args.c)
            held[out] = probability(x[out][:, cols], weights, names)
            per_set.append(
                f"{name.split('_')[0].removesuffix('.jsonl')} {rates(held[out] < threshold, y[out])}"
            )
        print(f"{'':<27} one set out: {rates(held < threshold, y)}  ({'; '.join(per_set)})")
    for name, label in (("WEIGHTS_ALONE", "no background"), ("WEIGHTS", "background vectors + terms")):
        names = VARIANTS[label]
        cols = [support.FEATURES.index(n) for n in names]
        weights = fit(x[:, cols], y, names, args.c)
        refused = probability(x[:, cols], weights, names) < threshold
        print(f"{name} = {json.dumps(weights)}  (fitted on all: {rates(refused, y)})")


if __name__ == "__main__":
    main()
