"""Fit the abstention model (rag/support.py WEIGHTS) on the labeled dev questions.

    .venv/bin/python bench/calibrate.py [--c 10]

Features of each dev question's top-ranked paper (similarity, coverage, missing
names, margin) are fitted with logistic regression against "some paper answers
it". The held-out evaluation set is only scored, never fitted. Paste the printed
WEIGHTS into rag/support.py and re-run `rag eval`.
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


def features(index, model, questions) -> tuple[np.ndarray, np.ndarray]:
    rows, labels = [], []
    for q in questions:
        if q.history:
            continue  # follow-ups are judged through their referent, not the support model
        hits = search(index, q.question, index.embedder.query_vector(q.question), 10)
        evidence = model.judge(
            model.profile(q.question), hits[0].paper_id, hits[0].similarity, margin(hits, 0)
        )
        rows.append(evidence.features())
        labels.append(q.answerable)
    return np.asarray(rows), np.asarray(labels)


def main() -> None:
    from sklearn.linear_model import LogisticRegression

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--c", type=float, default=10.0, help="inverse regularization strength")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="paperchat-calibrate-")) / "vectorstore"
    settings = rag.Settings.from_env(vectorstore_dir=folder)
    rag.ingest([ROOT / "seeds"], settings=settings, progress=False)
    index = open_index(settings)
    model = index.support
    dev = load_questions(ROOT / "tests/data/dev_questions.jsonl")
    x, y = features(index, model, dev)
    fit = LogisticRegression(C=args.c, max_iter=1000).fit(x, y)
    weights = {"bias": round(float(fit.intercept_[0]), 2)} | {
        name: round(float(w), 2) for name, w in zip(support.FEATURES, fit.coef_[0], strict=True)
    }
    print("WEIGHTS =", json.dumps(weights))
    support.WEIGHTS.update(weights)
    for name in ("dev_questions", "questions"):
        report = rag.evaluate(ROOT / f"tests/data/{name}.jsonl", settings=settings)
        a = report.abstention
        print(f"{name}: abstains on {a['recall']:.1%} of unanswerable, falsely on {a['false_rate']:.1%} "
              f"of answerable (precision {a['precision']:.1%})")  # fmt: skip


if __name__ == "__main__":
    main()
