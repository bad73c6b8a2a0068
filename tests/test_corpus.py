"""Readers: the seed page dump, JSON Lines, CSV, folders, and bad input."""

from __future__ import annotations

import gzip
import json

import pytest

import rag
from rag.corpus import read_papers, title_id
from tests.conftest import DATA, SEEDS, SMALL


def test_seed_dump_yields_exactly_its_44_titles():
    papers = list(read_papers([SEEDS / "000_280b36bf8c0c8d17.txt"]))
    expected = (DATA / "seed_titles.txt").read_text().splitlines()
    assert [p.title for p in papers] == expected
    assert len({p.paper_id for p in papers}) == 44
    assert papers[0].abstract.startswith("Open-world 3D part segmentation is pivotal")
    assert papers[-1].abstract.endswith("preferences as intended.") or papers[-1].abstract.endswith(".")


def test_seed_header_noise_is_not_a_paper():
    titles = {p.title for p in read_papers([SEEDS])}
    assert not titles & {"new", "Subscribe", "Mar 11", "byAK and the research community"}


def test_jsonl_accepts_arxiv_snapshot_fields(tmp_path):
    path = tmp_path / "arxiv.jsonl"
    record = {
        "id": "2101.00001",
        "title": "A  Title\n   Broken Over\tLines",
        "abstract": "First line of the abstract\n  continues here. " * 3,
        "authors": "A. Author and B. Author",
        "categories": "cs.LG stat.ML",
        "update_date": "2021-01-05",
    }
    path.write_text(json.dumps(record) + "\n")
    [paper] = read_papers([path])
    assert paper.paper_id == "2101.00001"
    assert paper.title == "A Title Broken Over Lines"
    assert "\n" not in paper.abstract and "  " not in paper.abstract
    assert paper.metadata["categories"] == "cs.LG stat.ML"
    assert paper.metadata["update_date"] == "2021-01-05"


def test_csv_and_jsonl_in_a_folder_and_gzip(tmp_path):
    papers = list(read_papers([SMALL]))
    assert len(papers) == 6
    speech = next(p for p in papers if p.title.startswith("Speech"))
    assert speech.title == "Speech Enhancement with Diffusion Models"  # line break collapsed
    assert speech.paper_id == title_id(speech.title)
    gz = tmp_path / "more.jsonl.gz"
    gz.write_bytes(gzip.compress((SMALL / "papers.jsonl").read_bytes()))
    assert len(list(read_papers([gz]))) == 4


def test_same_paper_twice_is_kept_once(tmp_path):
    line = (SMALL / "papers.jsonl").read_text().splitlines()[0]
    (tmp_path / "a.jsonl").write_text(line + "\n")
    retitled = json.loads(line) | {"id": "other-id"}  # same title, other id
    (tmp_path / "b.jsonl").write_text(json.dumps(retitled) + "\n" + line + "\n")
    assert len(list(read_papers([tmp_path]))) == 1


def test_title_ids_are_stable_and_readable():
    a = title_id("Binary Latent Diffusion")
    assert a == title_id("binary   latent  DIFFUSION")
    assert a.startswith("binary-latent-diffusion-")


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("bad.jsonl", '{"title": "T", "abstract": "A"}\n{not json}\n', "bad.jsonl:2: not valid JSON"),
        ("missing.jsonl", '{"title": "T"}\n', "missing.jsonl:1: needs 'title' and 'abstract'"),
        ("empty.csv", "title,abstract\nSome title,\n", "empty.csv:2: the abstract is empty"),
        ("ragged.csv", 'title,abstract\nA,"B",C\n', "ragged.csv:2: more fields"),
    ],
)
def test_malformed_inputs_name_file_and_line(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(rag.IngestError, match=expected.replace("(", r"\(")):
        list(read_papers([path]))


def test_non_utf8_input_names_the_line(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"title": "ok", "abstract": "fine"}\n{"title": "caf\xe9", "abstract": "x"}\n')
    with pytest.raises(rag.IngestError, match=r"latin1.jsonl:2: not UTF-8"):
        list(read_papers([path]))


def test_page_dump_abstract_without_title_is_an_error(tmp_path):
    path = tmp_path / "dump.txt"
    abstract = "This abstract has no title paragraph above it. " * 6
    path.write_text(f"Header\n\nA Title\n\n{abstract}\n\n{abstract}\n")
    with pytest.raises(rag.IngestError, match=r"dump.txt:7: an abstract-length paragraph has no title"):
        list(read_papers([path]))


def test_missing_path_and_unsupported_type(tmp_path):
    with pytest.raises(rag.IngestError, match="no such file or folder"):
        list(read_papers([tmp_path / "nope"]))
    odd = tmp_path / "paper.pdf"
    odd.write_text("x")
    with pytest.raises(rag.IngestError, match="unsupported file type"):
        list(read_papers([odd]))
