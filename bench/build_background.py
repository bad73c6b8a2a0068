"""Build rag/data/background.npz: where the field's papers sit, for telling "not in the collection".

    .venv/bin/python bench/build_background.py                       # 4,000 papers, seed 0
    .venv/bin/python bench/build_background.py -n 16000 --out /tmp/bg16k.npz

A question on a neighbouring topic (video compression, when the collection has
image compression) matches some paper of the collection fairly well. What
gives it away is that papers outside the collection match it better. The
background is a random sample of machine-learning abstracts (arXiv listings
2025-2026, ``../shared/data/arxiv_daily_ml_2025_2026.jsonl.gz``; arXiv releases
its metadata under CC0), embedded with the bundled model exactly as the index
embeds papers (sentence chunks with the title, then each paper's mean vector),
and stored as int8, with each paper's distinct terms (``rag.lexical.terms``, as
ids into one vocabulary): papers outside the collection that cover the
question's words better than the candidate are a second sign. No titles or
abstracts are kept (1.8 MB for 4,000 papers; 6.9 MB for 16,000, which
abstained no better on the validation questions).

Papers whose titles are in the seed collection or any question file are left
out, so that no question is scored against its own source.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import rag  # noqa: E402
from rag.background import SCALE  # noqa: E402
from rag.index import open_index  # noqa: E402
from rag.lexical import terms  # noqa: E402

SOURCE = ROOT.parent / "shared/data/arxiv_daily_ml_2025_2026.jsonl.gz"


def _norm(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", title.lower()).strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("-n", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "rag/data/background.npz")
    args = parser.parse_args()

    known = {_norm(t) for t in (ROOT / "tests/data/seed_titles.txt").read_text(encoding="utf-8").splitlines()}
    for path in (ROOT / "tests/data").glob("*questions.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            known.update(_norm(t) for t in json.loads(line).get("relevant") or ())
    with gzip.open(args.source, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    rows = [r for r in rows if _norm(r["title"]) not in known]
    sample = random.Random(args.seed).sample(rows, args.n)

    with tempfile.TemporaryDirectory(prefix="paperchat-background-") as tmp:
        data = Path(tmp) / "background.jsonl"
        data.write_text(
            "".join(json.dumps({"title": r["title"], "abstract": r["abstract"]}) + "\n" for r in sample)
        )
        settings = rag.Settings.from_env(vectorstore_dir=Path(tmp) / "vectorstore")
        rag.ingest([data], settings=settings, progress=False)
        index = open_index(settings)
        vectors = index.centroids[[index.position[p.paper_id] for p in index.papers]]
        model = settings.embed_model
    quantized = np.clip(np.round(vectors * SCALE), -127, 127).astype(np.int8)
    # Term rows in the same order as the vectors: index.papers.
    texts = {p.paper_id: f"{p.title} {p.abstract}" for p in index.papers}
    vocab: dict[str, int] = {}
    ptr, ids = [0], []
    for paper_id in texts:
        ids.extend(sorted({vocab.setdefault(t, len(vocab)) for t in terms(texts[paper_id])}))
        ptr.append(len(ids))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        vectors=quantized,
        vocab=np.array(list(vocab)),
        term_ptr=np.asarray(ptr, dtype=np.int32),
        term_ids=np.asarray(ids, dtype=np.int32),
        embed_model=np.array(model),
        source=np.array(f"{args.source.name}, {args.n} papers, seed {args.seed}"),
    )
    print(
        f"{args.out}: {len(quantized)} papers x {quantized.shape[1]} dims, {args.out.stat().st_size / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main()
