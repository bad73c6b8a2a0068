"""Quality and speed as the collection grows: the seed papers hidden among real distractors.

    .venv/bin/python bench/scale.py [--sizes seed 5.8k 12k] [--questions tests/data/questions.jsonl]

Collections (inputs are deduplicated by normalized title; seed papers keep their ids):
- seed: the 44 seed papers;
- 5.8k: seed + ICLR 2021 + NeurIPS 2022 (OpenReview, ../shared/data);
- 10k: 5.8k + the 1k arXiv sample + the first 3,300 arXiv daily ML papers (2025).

For each size: index build time, PaperChat vs BM25 (and, where asked, dense and the
LangChain tutorial pipeline) on the answerable questions (the relevant papers are seed
papers), abstention, and warm answer latency. Indexes are kept in bench/out/scale-*/ and reused when present
(delete the folder to rebuild and re-time). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from baselines import BM25Baseline, DenseBaseline, LangChainTutorial, score  # noqa: E402

import rag  # noqa: E402
from rag.corpus import read_papers  # noqa: E402
from rag.evaluate import load_questions, relevant_ids  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "bench" / "out"


def daily_subset(count: int) -> Path:
    """The first ``count`` arXiv daily papers as a JSONL file (made once)."""
    path = OUT / "data" / f"arxiv_daily_first{count}.jsonl"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(DATA / "arxiv_daily_ml_2025_2026.jsonl.gz", "rt", encoding="utf-8") as src:
            lines = [next(src) for _ in range(count)]
        path.write_text("".join(lines))
    return path


def inputs_for(size: str) -> list[Path]:
    seed = [ROOT / "seeds"]
    openreview = [DATA / "openreview_iclr2021.jsonl", DATA / "openreview_neurips2022.jsonl"]
    if size == "seed":
        return seed
    if size == "5.8k":
        return seed + openreview
    if size == "10k":
        return seed + openreview + [DATA / "arxiv_abstracts_sample_1k.jsonl", daily_subset(3300)]
    raise SystemExit(f"unknown size {size!r}; use seed, 5.8k or 10k")


def without_multi(by_type: dict, metric: str) -> float:
    """The metric over answerable questions other than multi (whose labels name only seed papers)."""
    rows = [row for name, row in by_type.items() if name not in ("all", "multi")]
    return sum(row[metric] * row["n"] for row in rows) / sum(row["n"] for row in rows)


def build(size: str) -> tuple[rag.Settings, float, int]:
    """Build (or reuse) the index of one size; 10k grows a copy of 5.8k incrementally."""
    folder = OUT / f"scale-{size}"
    settings = rag.Settings.from_env(vectorstore_dir=folder / "vectorstore")
    timing = folder / "build.json"
    if not timing.exists():
        base = OUT / "scale-5.8k" / "vectorstore"
        if size == "10k" and (base / "CURRENT").exists() and not settings.vectorstore_dir.exists():
            shutil.copytree(base, settings.vectorstore_dir)  # only the new papers get embedded
        started = time.perf_counter()
        report = rag.ingest(inputs_for(size), settings=settings, progress=True)
        timing.write_text(
            json.dumps({"seconds": time.perf_counter() - started, "chunks": report.chunks_embedded})
        )
    built = json.loads(timing.read_text())
    return settings, built["seconds"], built["chunks"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["seed", "5.8k", "10k"])
    parser.add_argument("--questions", type=Path, default=ROOT / "tests/data/questions.jsonl")
    parser.add_argument(
        "--embedded-baselines",
        nargs="*",
        default=["seed", "5.8k"],
        help="sizes at which to also run the dense and LangChain baselines (they embed every paper "
        "again, ~20 min per 5k papers here); BM25 runs at every size",
    )
    args = parser.parse_args()
    questions = load_questions(args.questions)
    lines = [
        "| papers | system | MRR@10 | R@5 | R@5 w/o multi | paraphrase R@5 | multi R@5 | abstention (false) "
        "| build | p50 / p95 answer |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size in args.sizes:
        settings, seconds, chunks = build(size)
        report = rag.evaluate(questions, settings=settings)
        index = rag.index.open_index(settings)
        papers = index.papers
        qrels = relevant_ids(questions, papers)
        a, r = report.abstention, report.retrieval
        lines.append(
            f"| {len(papers):,} | **PaperChat** | {r['all']['MRR@10']:.3f} | {r['all']['R@5']:.3f} "
            f"| {without_multi(r, 'R@5'):.3f} "
            f"| {r['paraphrase']['R@5']:.3f} | {r['multi']['R@5']:.3f} "
            f"| {a['recall']:.2f} ({a['false_rate']:.1%}) | {seconds / 60:.1f} min, {chunks:,} chunks embedded "
            f"| {report.latency_ms['p50']:.0f} / {report.latency_ms['p95']:.0f} ms |"
        )
        print(lines[-1], file=sys.stderr)
        source = list(read_papers(inputs_for(size)))
        embedded = size in args.embedded_baselines
        for cls in (BM25Baseline, DenseBaseline, LangChainTutorial) if embedded else (BM25Baseline,):
            started = time.perf_counter()
            system = cls(source, index.embedder)
            built = time.perf_counter() - started
            by_type = score(questions, qrels, system.rank)
            lines.append(
                f"| {len(papers):,} | {cls.name} | {by_type['all']['MRR@10']:.3f} | {by_type['all']['R@5']:.3f} "
                f"| {without_multi(by_type, 'R@5'):.3f} "
                f"| {by_type['paraphrase']['R@5']:.3f} | {by_type['multi']['R@5']:.3f} | never "
                f"| {built / 60:.1f} min | |"
            )
            print(lines[-1], file=sys.stderr)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
