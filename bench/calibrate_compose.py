"""Choose the extractive composer's numbers (rag/compose.py) on the labeled dev questions.

    .venv/bin/python bench/calibrate_compose.py

Sweeps one number at a time around the shipped value, the others as shipped, on
the dev questions (tests/data/dev_questions.jsonl and the dev split of
tests/data/fresh_questions.jsonl) over the seed collection:

- RELATIVE_SUPPORT and MAX_PAPERS decide which papers a list names: scored by the
  F1 of cited papers against the labeled ones (answerable questions; multi ones
  listed apart);
- OVERLAP_WEIGHT, URL_PENALTY, NEIGHBOUR_RATIO, FACET_WEIGHT and SUMMARY_ROLE_MIN
  decide which sentences are quoted: scored by the share of labeled facts the
  answers contain, on each dev set apart ("facts old", "facts fresh").

Cross-validation: the two dev sets were written by different people and
procedures, so a value is chosen on one and checked on the other (two folds);
a value is kept only when it helps on both. The held-out questions
(questions.jsonl, the fresh set's test split) are never used. Prints one table
per number; the shipped value is marked.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import rag  # noqa: E402
from rag import compose  # noqa: E402
from rag.corpus import normalize_title  # noqa: E402
from rag.evaluate import load_questions  # noqa: E402

GRID = {
    "RELATIVE_SUPPORT": [0.4, 0.5, 0.6, 0.7, 0.8],
    "MAX_PAPERS": [3, 4, 5, 6, 8],
    "OVERLAP_WEIGHT": [0.0, 0.25, 0.5, 0.75, 1.0],
    "URL_PENALTY": [0.0, 0.1, 0.3, 0.5],
    "NEIGHBOUR_RATIO": [0.3, 0.5, 0.75, 0.85, 1.01],
    "FACET_WEIGHT": [0.0, 0.15, 0.3, 0.5],
    "SUMMARY_ROLE_MIN": [0.5, 1.0],
}


def score(questions, settings) -> dict[str, float]:
    f1 = {"multi": [], "single": []}
    facts = {"old": [], "fresh": []}
    for q in questions:
        if not q.answerable:
            continue
        answer = rag.answer(q.question, history=list(q.history), settings=settings)
        relevant = {normalize_title(t) for t in q.relevant}
        cited = {normalize_title(c.title) for c in answer.citations}
        both = len(relevant & cited)
        f1["multi" if q.type == "multi" else "single"].append(
            2 * both / (len(relevant) + len(cited)) if relevant or cited else 1.0
        )
        if q.facts:
            text = answer.body.lower()  # as rag eval counts: the answer, not the reference titles
            facts["fresh" if q.split else "old"].append(
                sum(f.lower() in text for f in q.facts) / len(q.facts)
            )
    return {
        "cited F1 multi": statistics.mean(f1["multi"]),
        "cited F1 single": statistics.mean(f1["single"]),
        "facts old": statistics.mean(facts["old"]),
        "facts fresh": statistics.mean(facts["fresh"]),
    }


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="paperchat-compose-")) / "vectorstore"
    settings = rag.Settings.from_env(vectorstore_dir=folder)
    rag.ingest([ROOT / "seeds"], settings=settings, progress=False)
    dev = load_questions(ROOT / "tests/data/dev_questions.jsonl")
    dev += load_questions(ROOT / "tests/data/fresh_questions.jsonl", split="dev")
    for name, values in GRID.items():
        shipped = getattr(compose, name)
        print(
            f"\n{name:<18}{'cited F1 multi':>16}{'cited F1 single':>17}{'facts old':>11}{'facts fresh':>13}"
        )
        for value in values:
            setattr(compose, name, value)
            row = score(dev, settings)
            mark = "  <- shipped" if value == shipped else ""
            print(
                f"{value:<18}"
                + "".join(f"{v:>{(16, 17, 11, 13)[i]}.3f}" for i, v in enumerate(row.values()))
                + mark
            )
        setattr(compose, name, shipped)


if __name__ == "__main__":
    main()
