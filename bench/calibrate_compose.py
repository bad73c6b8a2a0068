"""Choose the extractive composer's numbers (rag/compose.py) on the labeled dev questions.

    .venv/bin/python bench/calibrate_compose.py

Sweeps one number at a time around the shipped value, the others as shipped, on
tests/data/dev_questions.jsonl over the seed collection:

- RELATIVE_SUPPORT and MAX_PAPERS decide which papers a list names: scored by the
  F1 of cited papers against the labeled ones (answerable questions; multi ones
  listed apart);
- OVERLAP_WEIGHT, URL_PENALTY and NEIGHBOUR_RATIO decide which sentences are
  quoted: scored by the share of labeled facts the answers contain.

The held-out questions are never used. Prints one table per number; the shipped
value is marked.
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
    "NEIGHBOUR_RATIO": [0.75, 0.8, 0.85, 0.9, 0.95, 1.01],
}


def score(questions, settings) -> dict[str, float]:
    f1 = {"multi": [], "single": []}
    facts = []
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
            text = answer.text.lower()
            facts.append(sum(f.lower() in text for f in q.facts) / len(q.facts))
    return {
        "cited F1 multi": statistics.mean(f1["multi"]),
        "cited F1 single": statistics.mean(f1["single"]),
        "facts": statistics.mean(facts),
    }


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="paperchat-compose-")) / "vectorstore"
    settings = rag.Settings.from_env(vectorstore_dir=folder)
    rag.ingest([ROOT / "seeds"], settings=settings, progress=False)
    dev = load_questions(ROOT / "tests/data/dev_questions.jsonl")
    for name, values in GRID.items():
        shipped = getattr(compose, name)
        print(f"\n{name:<18}{'cited F1 multi':>16}{'cited F1 single':>17}{'facts':>8}")
        for value in values:
            setattr(compose, name, value)
            row = score(dev, settings)
            mark = "  <- shipped" if value == shipped else ""
            print(
                f"{value:<18}"
                + "".join(f"{v:>16.3f}" if i < 2 else f"{v:>8.3f}" for i, v in enumerate(row.values()))
                + mark
            )
        setattr(compose, name, shipped)


if __name__ == "__main__":
    main()
