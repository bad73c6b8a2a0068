"""Measure retrieval and answer quality on a labeled question set.

Rank metrics come from pytrec_eval (the TREC reference implementation), so
they mean exactly what the IR literature means by them. Everything is paper
level: a question's relevant set is papers, and a ranking is papers.
"""

from __future__ import annotations

import json
import math
import random
import re
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .config import Settings, resolve
from .corpus import Paper, normalize_title
from .errors import RagError

DEFAULT_QUESTIONS = Path("tests/data/questions.jsonl")
CUTOFFS = (1, 3, 5, 10)
RANK_METRICS = (*(f"R@{k}" for k in CUTOFFS), "MRR@10", "nDCG@10")
_PYTREC = {f"recall_{k}": f"R@{k}" for k in CUTOFFS} | {"recip_rank": "MRR@10", "ndcg_cut_10": "nDCG@10"}


@dataclass(frozen=True, slots=True)
class Question:
    """One labeled question.

    Attributes:
        id: Unique id.
        question: The text as a user typed it.
        type: paraphrase, detail, title, multi, unanswerable or follow-up.
        relevant: Titles (or ids) of the papers that answer it; empty when unanswerable.
        facts: Short phrases a correct answer contains.
        history: Earlier user questions, for follow-ups.
        style: How it was typed (normal, keywords, lowercase, typo, rambling, or).
        facet: What the question asks of a paper (what, how, results, datasets,
            problem, limitations, code, comparison; none when unanswerable).
        split: ``dev`` (may be tuned on) or ``test`` (only scored); empty if unsplit.
    """

    id: str
    question: str
    type: str
    relevant: tuple[str, ...] = ()
    facts: tuple[str, ...] = ()
    history: tuple[str, ...] = ()
    style: str = "normal"
    facet: str = ""
    split: str = ""

    @property
    def answerable(self) -> bool:
        """True when some paper answers the question."""
        return bool(self.relevant)


def load_questions(path: str | Path, *, split: str | None = None) -> list[Question]:
    """Read a question set (JSON Lines, one ``Question`` per line).

    Args:
        path: The JSONL file.
        split: Keep only the questions of this split (``dev``, ``test``); ``None`` keeps all.

    Raises:
        RagError: The file is missing or a line is malformed (line named).
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise RagError(
            f"{path}: cannot read the question set ({exc.strerror}) — pass --questions FILE"
        ) from None
    out = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            out.append(
                Question(
                    id=str(d.get("id") or f"line{number}"),
                    question=d["question"],
                    type=d.get("type") or ("answerable" if d.get("relevant") else "unanswerable"),
                    relevant=tuple(d.get("relevant") or ()),
                    facts=tuple(d.get("facts") or ()),
                    history=tuple(d.get("history") or ()),
                    style=d.get("style") or "normal",
                    facet=d.get("facet") or "",
                    split=d.get("split") or "",
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise RagError(
                f"{path}:{number}: not a valid question ({exc}) — see README for the format"
            ) from None
    if split is not None:
        out = [q for q in out if q.split == split]
        if not out:
            raise RagError(f"{path}: no questions in split {split!r} — use dev or test, or leave --split out")
    return out


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval (95% by default) of a proportion ``successes / n``."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def bootstrap_mean(values: Sequence[float], *, rounds: int = 2000, seed: int = 0) -> tuple[float, float]:
    """A 95% percentile-bootstrap interval of the mean of ``values`` (fixed seed: reproducible)."""
    if not values:
        return (0.0, 1.0)
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(rounds))
    return (means[int(0.025 * rounds)], means[int(0.975 * rounds) - 1])


def relevant_ids(questions: Iterable[Question], papers: Iterable[Paper]) -> dict[str, set[str]]:
    """Map each question to the ids of its relevant papers (by id or title).

    Raises:
        RagError: A labeled paper is not in the collection.
    """
    by_key = {}
    for p in papers:
        by_key[p.paper_id] = p.paper_id
        by_key[normalize_title(p.title)] = p.paper_id
    out: dict[str, set[str]] = {}
    for q in questions:
        ids = set()
        for ref in q.relevant:
            pid = by_key.get(ref) or by_key.get(normalize_title(ref))
            if pid is None:
                raise RagError(
                    f"question {q.id}: paper {ref!r} is not in the index — ingest it or fix the label"
                )
            ids.add(pid)
        out[q.id] = ids
    return out


def rank_metrics(
    qrels: dict[str, set[str]], rankings: dict[str, Sequence[str]]
) -> dict[str, dict[str, float]]:
    """Per-question R@k, MRR@10 and nDCG@10 of paper rankings (top 10 used)."""
    import pytrec_eval

    judged = {q: {pid: 1 for pid in rel} for q, rel in qrels.items() if rel}
    run = {
        q: {pid: float(len(ranked) - i) for i, pid in enumerate(list(dict.fromkeys(ranked))[:10])}
        or {"<none>": 0.0}
        for q, ranked in rankings.items()
        if q in judged
    }
    evaluator = pytrec_eval.RelevanceEvaluator(judged, set(_PYTREC))
    return {q: {_PYTREC[m]: v for m, v in scores.items()} for q, scores in evaluator.evaluate(run).items()}


def mean_by_type(
    questions: Sequence[Question], per_question: dict[str, dict[str, float]]
) -> dict[str, dict[str, float]]:
    """Average per-question metrics overall ("all") and per question type."""
    groups: dict[str, list[dict[str, float]]] = {}
    for q in questions:
        if q.id in per_question:
            groups.setdefault(q.type, []).append(per_question[q.id])
            groups.setdefault("all", []).append(per_question[q.id])
    return {
        name: {m: statistics.fmean(r[m] for r in rows) for m in rows[0]} | {"n": float(len(rows))}
        for name, rows in sorted(groups.items())
    }


@dataclass(frozen=True, slots=True)
class Report:
    """Quality of PaperChat on a question set.

    Attributes:
        retrieval: Rank metrics per question type and ``all`` (answerable questions).
        abstention: precision and recall of abstaining on unanswerable questions,
            and the false-abstention rate on answerable ones.
        citations: Share of answers whose every ``[n]`` resolves and whose every
            snippet is verbatim in the cited abstract, and share of valid citations.
        facts: Share of labeled facts found in the answers, per type and ``all``.
        latency_ms: p50 and p95 of ``answer`` (warm).
        questions: Number of questions.
        failures: Ids of answerable questions whose relevant paper was not in the top 5.
        facets: Share of labeled facts found, per facet the questions ask for
            (empty when the set labels no facets).
        intervals: 95% intervals: ``recall`` and ``false_rate`` (Wilson),
            ``facts`` (bootstrap over questions).
        refused: Ids of answerable questions that were refused.
        answered: Ids of unanswerable questions that were answered.
    """

    retrieval: dict[str, dict[str, float]]
    abstention: dict[str, float]
    citations: dict[str, float]
    facts: dict[str, float]
    latency_ms: dict[str, float]
    questions: int
    failures: tuple[str, ...] = field(default=())
    facets: dict[str, float] = field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    refused: tuple[str, ...] = field(default=())
    answered: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)

    def table(self) -> str:
        """Format the report for a terminal."""
        head = f"{'type':<13}{'n':>4}" + "".join(f"{m:>9}" for m in RANK_METRICS) + f"{'facts':>8}"
        lines = [head, "-" * len(head)]
        for name, row in self.retrieval.items():
            cells = "".join(f"{row[m]:>9.3f}" for m in RANK_METRICS)
            fact = self.facts.get(name)
            lines.append(f"{name:<13}{int(row['n']):>4}{cells}{'' if fact is None else f'{fact:>8.3f}'}")
        if self.facets:
            lines += ["", "facts per facet: " + "  ".join(f"{k} {v:.3f}" for k, v in self.facets.items())]
        a, c, t = self.abstention, self.citations, self.latency_ms
        ci = {name: f" [{lo:.3f}, {hi:.3f}]" for name, (lo, hi) in self.intervals.items()}
        lines += [
            "",
            f"abstention on unanswerable: recall {a['recall']:.3f}{ci.get('recall', '')}  "
            f"precision {a['precision']:.3f}  (n={int(a['unanswerable'])});  "
            f"false abstention on answerable: {a['false_rate']:.3f}{ci.get('false_rate', '')}",
            f"citations: {c['valid_answers']:.3f} of answers fully valid, "
            f"{c['valid_citations']:.3f} of {int(c['citations'])} citations valid",
            f"latency: p50 {t['p50']:.1f} ms  p95 {t['p95']:.1f} ms  over {self.questions} questions",
        ]
        if "facts" in self.intervals:
            facts = self.facts.get("all", 0.0)
            lines.append(f"facts (all answerable): {facts:.3f}{ci['facts']}  (intervals: 95%)")
        return "\n".join(lines)


def citation_check(answer: Any, abstracts: dict[str, str]) -> tuple[bool, int, int]:
    """Return (all valid, valid citations, citations) for one answer."""
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.body)}
    known = {c.number for c in answer.citations}
    valid = sum(1 for c in answer.citations if c.snippet and c.snippet in abstracts.get(c.paper_id, ""))
    return numbers <= known and valid == len(answer.citations), valid, len(answer.citations)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def evaluate(
    questions: str | Path | Sequence[Question] | None = None,
    *,
    k: int = 10,
    settings: Settings | None = None,
    progress: Callable[[int, int], None] | None = None,
    split: str | None = None,
    llm: Any = None,
) -> Report:
    """Run every question through ``answer`` and measure what came back.

    Args:
        questions: A JSONL path or loaded questions (default ``tests/data/questions.jsonl``).
        k: Papers retrieved per question.
        settings: Settings; ``None`` reads ``RAG_*`` variables.
        progress: Called with (done, total) after each question.
        split: Only the questions of this split (``dev`` or ``test``); ``None``: all.
        llm: As for ``answer``: a chat model or ``provider:model``; ``None`` uses
            ``settings.llm`` (empty: the extractive answerer).

    Returns:
        The report.

    Raises:
        RagError: The questions cannot be read or name papers that are not indexed.
        IndexNotFoundError: There is no index.
    """
    from .answer import answer
    from .index import open_index

    settings = resolve(settings)
    if questions is None or isinstance(questions, str | Path):
        questions = load_questions(questions or DEFAULT_QUESTIONS, split=split)
    elif split is not None:
        questions = [q for q in questions if q.split == split]
    index = open_index(settings)
    qrels = relevant_ids(questions, index.papers)
    abstracts = {p.paper_id: p.abstract for p in index.papers}
    answer("warm-up question about diffusion models", settings=settings, llm="extractive")

    rankings, latencies, fact_scores = {}, [], {}
    abstained: dict[str, bool] = {}
    valid_answers = valid = cited = answered = 0
    for done, q in enumerate(questions, start=1):
        start = time.perf_counter()
        result = answer(q.question, history=list(q.history), k=k, settings=settings, llm=llm)
        latencies.append((time.perf_counter() - start) * 1000)
        rankings[q.id] = [h.paper_id for h in result.hits]
        abstained[q.id] = result.abstained
        if not result.abstained:
            answered += 1
            ok, good, total = citation_check(result, abstracts)
            valid_answers += ok
            valid += good
            cited += total
        if q.answerable and q.facts:
            text = result.body.lower()
            fact_scores[q.id] = sum(f.lower() in text for f in q.facts) / len(q.facts)
        if progress:
            progress(done, len(questions))

    per_question = rank_metrics(qrels, rankings)
    unanswerable = [q for q in questions if not q.answerable]
    answerable = [q for q in questions if q.answerable]
    true_abstain = sum(abstained[q.id] for q in unanswerable)
    all_abstain = sum(abstained.values())
    facts = mean_by_type(questions, {qid: {"f": v} for qid, v in fact_scores.items()})
    by_facet: dict[str, list[float]] = {}
    for q in answerable:
        if q.facet and q.id in fact_scores:
            by_facet.setdefault(q.facet, []).append(fact_scores[q.id])
    refused = tuple(q.id for q in answerable if abstained[q.id])
    answered_ids = tuple(q.id for q in unanswerable if not abstained[q.id])
    return Report(
        retrieval=mean_by_type(questions, per_question),
        abstention={
            "recall": true_abstain / len(unanswerable) if unanswerable else 1.0,
            "precision": true_abstain / all_abstain if all_abstain else 1.0,
            "false_rate": sum(abstained[q.id] for q in answerable) / len(answerable) if answerable else 0.0,
            "unanswerable": float(len(unanswerable)),
        },
        citations={
            "valid_answers": valid_answers / answered if answered else 1.0,
            "valid_citations": valid / cited if cited else 1.0,
            "citations": float(cited),
        },
        facts={name: row["f"] for name, row in facts.items()},
        latency_ms={"p50": _percentile(latencies, 0.5), "p95": _percentile(latencies, 0.95)},
        questions=len(questions),
        failures=tuple(sorted(q for q, m in per_question.items() if m["R@5"] == 0.0)),
        facets={name: statistics.fmean(v) for name, v in sorted(by_facet.items())},
        intervals={
            "recall": wilson(true_abstain, len(unanswerable)),
            "false_rate": wilson(len(refused), len(answerable)),
            "facts": bootstrap_mean(list(fact_scores.values())),
        },
        refused=refused,
        answered=answered_ids,
    )
