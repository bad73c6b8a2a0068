"""The rag command: JSON output, one-line errors, exit codes."""

from __future__ import annotations

import json

from tests.conftest import run_cli


def test_ask_json(seed_settings):
    result = run_cli("ask", "What does DiffuseVAE do?", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["abstained"] is False
    assert data["citations"][0]["title"].startswith("DiffuseVAE")
    assert "[1]" in data["body"]


def test_ask_text_and_follow_up(seed_settings):
    result = run_cli("ask", "Which datasets did they use?", "--history", "What does DiffuseVAE do?")
    assert result.returncode == 0, result.stderr
    assert "[1] DiffuseVAE" in result.stdout


def test_search_json(seed_settings):
    result = run_cli("search", "PartSLIP++ results", "-k", "3", "--json")
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    assert len(hits) == 3 and hits[0]["title"].startswith("PartSLIP++")
    assert hits[0]["passages"][0]["text"]


def one_line_error(result, code: int, text: str) -> None:
    assert result.returncode == code
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and text in lines[0]
    assert "Traceback" not in result.stderr


def test_empty_question_exits_2_with_one_line(seed_settings):
    one_line_error(run_cli("ask", "   "), 2, "The question is empty")


def test_bad_k_exits_2(seed_settings):
    one_line_error(run_cli("search", "diffusion", "-k", "0"), 2, "k must be >= 1, got 0")


def test_no_index_says_what_to_do():
    one_line_error(run_cli("ask", "What does DiffuseVAE do?"), 1, 'run "rag ingest seeds/"')


def test_bad_input_file_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "x", "abstract": "y"}\n[1, 2]\n')
    one_line_error(run_cli("ingest", str(bad)), 1, "bad.jsonl:2: expected a JSON object")


def test_ingest_then_info(small_inputs):
    result = run_cli("ingest", str(small_inputs), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["added"] == 6
    again = run_cli("ingest", str(small_inputs))
    assert again.stdout.startswith("Index up to date: 6 papers")
    info = run_cli("info")
    assert "papers:     6" in info.stdout
    removed = run_cli("remove", "2401.00001")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.strip() == "Removed 1 papers: 5 papers left."
    assert "transaction 2" in run_cli("info").stdout
