"""Quality gates: the labeled evaluation on the seed collection, with the real model.

Thresholds sit just below what `rag eval` measures (see README), so a change
that makes retrieval, abstention or citations worse fails here.
"""

from __future__ import annotations

import pytest

import rag
from tests.conftest import DATA

# Measured by `rag eval` on the seed index; each floor is a little under the measurement.
FLOORS = {
    "all": {"MRR@10": 0.96, "R@5": 0.98, "R@10": 0.99, "nDCG@10": 0.96},
    "paraphrase": {"MRR@10": 0.92, "R@5": 0.97},
    "detail": {"MRR@10": 0.98, "R@5": 0.99},
    "title": {"MRR@10": 0.98, "R@5": 0.99},
    "multi": {"R@5": 0.95, "nDCG@10": 0.91},
    "follow-up": {"MRR@10": 0.95, "R@5": 0.95},
}


@pytest.fixture(scope="module")
def report(seed_store, cache_dir) -> rag.Report:
    settings = rag.Settings.from_env(vectorstore_dir=seed_store, cache_dir=cache_dir)
    return rag.evaluate(DATA / "questions.jsonl", settings=settings)


def test_the_question_set_covers_every_type_and_paper(report):
    questions = rag.load_questions(DATA / "questions.jsonl")
    assert len(questions) >= 120
    types = {q.type for q in questions}
    assert types == {"paraphrase", "detail", "title", "multi", "unanswerable", "follow-up"}
    covered = {t for q in questions for t in q.relevant}
    assert len(covered) == 44


@pytest.mark.parametrize("question_type", sorted(FLOORS))
def test_retrieval_quality_per_type(report, question_type):
    measured = report.retrieval[question_type]
    for metric, floor in FLOORS[question_type].items():
        assert measured[metric] >= floor, f"{question_type} {metric} {measured[metric]:.3f} < {floor}"


def test_abstention(report):
    # Measured: recall 0.971 (34 of 35), false refusals 0.013 (2 of 152), precision 0.944.
    assert report.abstention["recall"] >= 0.94
    assert report.abstention["false_rate"] <= 0.02
    assert report.abstention["precision"] >= 0.91


def test_every_citation_is_valid(report):
    assert report.citations["valid_answers"] == 1.0
    assert report.citations["valid_citations"] == 1.0
    assert report.citations["citations"] >= 170


def test_answers_contain_the_labeled_facts(report):
    # Measured: all 0.650, detail 0.818 (0.497 and 0.693 before facet-aware extraction).
    assert report.facts["all"] >= 0.62
    assert report.facts["detail"] >= 0.78


def test_report_renders_and_serializes(report):
    import json

    table = report.table()
    assert table.splitlines()[0].split()[:3] == ["type", "n", "R@1"]
    assert "abstention on unanswerable" in table
    data = json.loads(json.dumps(report.to_dict()))
    assert data["retrieval"]["all"]["n"] == 152.0


# The fresh set (tests/data/fresh_questions.jsonl) was written from the abstracts
# alone by someone who never saw the code or the other questions. Its dev split may
# be tuned on; its test split is only scored. Floors sit below the measured values
# (docs/evaluation.md) by about one standard error, so that a real regression fails
# and noise does not.
# Measured: dev facts 0.868, recall 0.833 (15 of 18), false refusals 0 of 48;
# test facts 0.798, recall 0.889 (24 of 27), false refusals 1 of 71 (0.014).
FRESH_FLOORS = {
    "dev": {"facts": 0.83, "recall": 0.77, "false_rate": 0.03},
    "test": {"facts": 0.76, "recall": 0.85, "false_rate": 0.03},
}


@pytest.fixture(scope="module", params=["dev", "test"])
def fresh(request, seed_store, cache_dir) -> tuple[str, rag.Report]:
    settings = rag.Settings.from_env(vectorstore_dir=seed_store, cache_dir=cache_dir)
    split = request.param
    return split, rag.evaluate(DATA / "fresh_questions.jsonl", settings=settings, split=split)


def test_fresh_questions_answers_contain_the_labeled_facts(fresh):
    split, report = fresh
    assert report.facts["all"] >= FRESH_FLOORS[split]["facts"], report.facts
    assert set(report.facets) >= {"what", "how", "results", "datasets", "problem", "comparison"}


def test_fresh_questions_abstention(fresh):
    split, report = fresh
    assert report.abstention["recall"] >= FRESH_FLOORS[split]["recall"], report.abstention
    assert report.abstention["false_rate"] <= FRESH_FLOORS[split]["false_rate"], report.abstention
    low, high = report.intervals["recall"]
    assert low <= report.abstention["recall"] <= high


def test_fresh_questions_every_citation_is_valid(fresh):
    _, report = fresh
    assert report.citations["valid_answers"] == 1.0
    assert report.citations["valid_citations"] == 1.0


# tests/data/holdout_questions.jsonl was written after the fresh set had been used,
# from the abstracts and the distractor corpora, and scored once; it then guided the
# next rounds (README). Measured: facts 0.763, recall 0.889 (40 of 45), false refusals 0 of 76.
@pytest.fixture(scope="module")
def holdout(seed_store, cache_dir) -> rag.Report:
    settings = rag.Settings.from_env(vectorstore_dir=seed_store, cache_dir=cache_dir)
    return rag.evaluate(DATA / "holdout_questions.jsonl", settings=settings)


def test_holdout_questions(holdout):
    assert holdout.facts["all"] >= 0.72, holdout.facts
    assert holdout.abstention["recall"] >= 0.86, holdout.abstention
    assert holdout.abstention["false_rate"] <= 0.03, holdout.abstention
    assert holdout.citations["valid_citations"] == 1.0


# tests/data/final_questions.jsonl, blind_questions.jsonl, sealed_questions.jsonl and
# fourth to eleventh_questions.jsonl were written blind from the seed abstracts alone (no
# corpora, code, other questions or results), each by its own procedure, each committed
# before it was scored and scored once as held-out data (README); each then guided later
# changes (the ninth to eleventh their false refusals' fixes, made after their scoring):
# all validation data now. The twelfth and thirteenth (held out in the sixth round, scored
# once at its end) and survey_dev / journalist_dev (written by the same two procedures by
# other helpers, tuned on) join them. Floors sit about one question below the
# measurements, so they catch regressions, not noise (answers are deterministic).
# Measured: final facts 0.665, recall 0.833 (50 of 60), false refusals 1 of 80; blind
# 0.744, 0.817 (49), 1 of 80; sealed 0.769, 0.917 (55), 1 of 80; fourth 0.731, 0.833 (50),
# 0 of 80; fifth 0.679, 0.867 (52), 2 of 80; sixth 0.808, 0.867 (52), 0 of 80; seventh
# 0.744, 0.750 (45), 0 of 80; eighth 0.719, 0.733 (44), 0 of 80; ninth 0.779, 0.800 (48),
# 0 of 80; tenth 0.773, 0.750 (45), 1 of 80; eleventh 0.794, 0.783 (47), 0 of 80; twelfth
# 0.769, 0.800 (48), 4 of 80 (6 when scored; two fixed after); thirteenth 0.617, 0.850
# (51), 13 of 80; survey_dev 0.644, 0.850 (51), 6 of 80; journalist_dev 0.671, 0.950 (57),
# 1 of 80.
BLIND_FLOORS = {
    "final_questions.jsonl": {"facts": 0.63, "recall": 0.81, "false_rate": 0.0375},
    "blind_questions.jsonl": {"facts": 0.70, "recall": 0.80, "false_rate": 0.025},
    "sealed_questions.jsonl": {"facts": 0.72, "recall": 0.90, "false_rate": 0.025},
    "fourth_questions.jsonl": {"facts": 0.69, "recall": 0.81, "false_rate": 0.0125},
    "fifth_questions.jsonl": {"facts": 0.66, "recall": 0.85, "false_rate": 0.0375},
    "sixth_questions.jsonl": {"facts": 0.77, "recall": 0.83, "false_rate": 0.0125},
    "seventh_questions.jsonl": {"facts": 0.72, "recall": 0.73, "false_rate": 0.0125},
    "eighth_questions.jsonl": {"facts": 0.66, "recall": 0.71, "false_rate": 0.025},
    "ninth_questions.jsonl": {"facts": 0.74, "recall": 0.76, "false_rate": 0.0125},
    "tenth_questions.jsonl": {"facts": 0.75, "recall": 0.73, "false_rate": 0.025},
    "eleventh_questions.jsonl": {"facts": 0.76, "recall": 0.76, "false_rate": 0.0125},
    # Sixth round: two held-out sets (scored once, at its end) and their dev twins.
    "twelfth_questions.jsonl": {"facts": 0.74, "recall": 0.78, "false_rate": 0.05},
    "thirteenth_questions.jsonl": {"facts": 0.63, "recall": 0.83, "false_rate": 0.1},
    "survey_dev_questions.jsonl": {"facts": 0.62, "recall": 0.83, "false_rate": 0.075},
    "journalist_dev_questions.jsonl": {"facts": 0.65, "recall": 0.93, "false_rate": 0.0125},
    # Seventh round: the fourteenth, held out ("related-work writer", scored once at the
    # end: facts 0.625, recall 0.783 (47 of 60), false refusals 4 of 80), and its dev twin
    # (0.738, 0.817 (49), 2 of 80). The thirteenth after the glossary: 0.648, 0.850, 8 of 80.
    "fourteenth_questions.jsonl": {"facts": 0.60, "recall": 0.76, "false_rate": 0.0625},
    "relatedwork_dev_questions.jsonl": {"facts": 0.71, "recall": 0.80, "false_rate": 0.0375},
    # Eighth round: the dev twins of two new procedures ("dictated questions", "search-box
    # queries"; their held-out sets, fifteenth and sixteenth, are not scored yet). Measured
    # at the start: dictation_dev 0.656, 0.650 (39 of 60), 6 of 80 after the fillers;
    # searchbox_dev 0.650, 0.583 (35 of 60), 5 of 80.
    "dictation_dev_questions.jsonl": {"facts": 0.63, "recall": 0.63, "false_rate": 0.0875},
    "searchbox_dev_questions.jsonl": {"facts": 0.62, "recall": 0.56, "false_rate": 0.075},
    # Their held-out sets, scored once at the end of the eighth round: fifteenth 0.756,
    # 0.700 (42 of 60), 4 of 80; sixteenth 0.633, 0.700 (42), 3 of 80.
    "fifteenth_questions.jsonl": {"facts": 0.73, "recall": 0.68, "false_rate": 0.0625},
    "sixteenth_questions.jsonl": {"facts": 0.61, "recall": 0.68, "false_rate": 0.05},
}


@pytest.fixture(scope="module", params=sorted(BLIND_FLOORS))
def blind(request, seed_store, cache_dir) -> tuple[str, rag.Report]:
    settings = rag.Settings.from_env(vectorstore_dir=seed_store, cache_dir=cache_dir)
    return request.param, rag.evaluate(DATA / request.param, settings=settings)


def test_questions_written_blind(blind):
    name, report = blind
    floors = BLIND_FLOORS[name]
    assert report.facts["all"] >= floors["facts"], report.facts
    assert report.abstention["recall"] >= floors["recall"], report.abstention
    assert report.abstention["false_rate"] <= floors["false_rate"], report.abstention
    assert report.citations["valid_answers"] == 1.0 and report.citations["valid_citations"] == 1.0
    assert set(report.facets) == {
        "what",
        "how",
        "results",
        "datasets",
        "problem",
        "comparison",
        "limitations",
        "code",
    }
