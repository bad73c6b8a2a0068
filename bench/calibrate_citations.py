"""Refit the citation check's coverage minimum (rag/verify.py COVERAGE_MIN).

    .venv/bin/python bench/calibrate_citations.py

Data: tests/data/citation_sentences.jsonl, LLM-style sentences about seed papers
labeled by hand: close paraphrases of what the paper says (supported) and invented
facts or claims about another paper (not). For each, the share of its IDF-weighted
terms the paper contains (rag.verify.sentence_support) is computed; the minimum is
put in the middle of the widest gap that separates the supported sentences the name
check lets through from the unsupported ones it does not catch. Prints both
distributions, the fitted minimum and how the whole check (coverage and names)
does on the labels with it.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import rag  # noqa: E402
from rag.index import open_index  # noqa: E402
from rag.verify import COVERAGE_MIN, sentence_support  # noqa: E402

DATA = ROOT / "tests" / "data" / "citation_sentences.jsonl"


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="paperchat-citations-")) / "vectorstore"
    settings = rag.Settings.from_env(vectorstore_dir=folder)
    rag.ingest([ROOT / "seeds"], settings=settings, progress=False)
    index = open_index(settings)
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    scored = []
    with index.reading():
        for row in rows:
            paper = next(p for p in index.papers if p.title.startswith(row["paper"]))
            coverage, unknown = sentence_support(row["sentence"], paper.paper_id, index, index.support)
            scored.append((coverage, bool(unknown), row["supported"], row["sentence"]))
    for coverage, named, supported, sentence in sorted(scored):
        mark = "supported" if supported else "invented "
        print(f"{coverage:5.2f}  {mark}  {'(unknown names) ' if named else ''}{sentence[:80]}")
    # Only sentences the name check passes depend on the coverage minimum.
    kept = sorted((c, s) for c, named, s, _ in scored if not named)
    lo = max((c for c, s in kept if not s), default=0.0)
    hi = min((c for c, s in kept if s), default=1.0)
    fitted = round((lo + hi) / 2, 2) if lo < hi else None
    print(
        f"\nunsupported coverage <= {lo:.2f}, supported >= {hi:.2f}: minimum {fitted} (shipped {COVERAGE_MIN})"
    )
    threshold = fitted if fitted is not None else COVERAGE_MIN
    right = sum((c >= threshold and not named) == s for c, named, s, _ in scored)
    print(f"the check with it: {right}/{len(scored)} labels right")


if __name__ == "__main__":
    main()
