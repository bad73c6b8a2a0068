"""The plain-language glossary: everyday words count as covered by the field's terms."""

from __future__ import annotations

import pytest

import rag
from rag.glossary import GLOSSARY, Glossary, glossary_for, parse
from rag.index import open_index
from rag.lexical import terms
from rag.support import SupportModel


def test_entries_are_terms_and_drop_what_says_nothing():
    entries = parse(
        [
            "# comment",
            "",
            "from orbit\tsatellite ; remote sensing",
            "the\timage",  # all stopwords
            "picture\tpictures ; image",  # 'pictures' is the word itself
        ]
    )
    assert [e.everyday for e in entries] == [tuple(terms("from orbit")), tuple(terms("picture"))]
    assert entries[0].technical == (("satellit",), ("remot", "sens"))
    assert entries[1].technical == (tuple(terms("image")),)


def test_an_entry_matches_its_words_in_a_row_as_typed_and_needs_every_word_of_a_phrase():
    glossary = Glossary(
        parse(["side by side\tpairwise", "from orbit\tremote sensing", "fill in\timputation"])
    )
    question = "We compared the answers side by side, with pictures from orbit"
    assert [e.everyday for e in glossary.matches(question)] == [("side", "side"), tuple(terms("from orbit"))]
    assert glossary.matches("one side of the road") == ()
    # Its stopword kept: "fill in" is not every "filling".
    assert glossary.matches("what gap are they filling?") == ()
    assert [e.everyday for e in glossary.matches("they fill in the gaps")] == [tuple(terms("fill"))]
    (orbit,) = glossary.matches("from orbit")
    assert orbit.covered_by(set(terms("remote sensing of crops")))
    assert not orbit.covered_by(set(terms("remote control")))


def test_the_bundled_glossary_is_large_and_well_formed():
    lines = GLOSSARY.read_text(encoding="utf-8").splitlines()
    assert all(len(line.split("\t")) == 2 for line in lines)
    everyday = [line.split("\t")[0] for line in lines]
    assert len(set(everyday)) == len(everyday) and all(len(e.split()) <= 5 for e in everyday)
    assert len(parse(lines)) >= 300


def test_a_bad_glossary_file_is_one_clear_message(tmp_path):
    missing = tmp_path / "none.tsv"
    with pytest.raises(rag.RagError, match=r"cannot be read .* RAG_GLOSSARY=bundled"):
        glossary_for(rag.Settings(glossary=str(missing)))
    no_tab = tmp_path / "bad.tsv"
    no_tab.write_text("from orbit\tsatellite\nsnapshot image\n", encoding="utf-8")
    with pytest.raises(rag.RagError, match=r"bad.tsv: line 2 has no tab"):
        glossary_for(rag.Settings(glossary=str(no_tab)))
    assert glossary_for(rag.Settings(glossary="none")) is None


def test_a_plain_language_question_is_covered_by_the_paper_it_paraphrases(seed_settings):
    # The journalist's words: the Uganda paper speaks of "satellite imagery", not pictures
    # taken from orbit. Without the glossary the collection "does not answer".
    question = (
        "Which study used pictures taken from orbit to see which villages gained most from "
        "an anti-poverty program?"
    )
    with_glossary = rag.answer(question, settings=seed_settings)
    assert not with_glossary.abstained
    assert with_glossary.citations[0].title == "Image-based Treatment Effect Heterogeneity"
    index = open_index(seed_settings)
    paper = next(p.paper_id for p in index.papers if p.title == "Image-based Treatment Effect Heterogeneity")
    vector = index.embedder.query_vector(question)
    plain = SupportModel.build(index.papers, index.lexical)
    known = SupportModel.build(index.papers, index.lexical, glossary=index.support.glossary)
    assert known.coverage(known.profile(question, vector), paper) > plain.coverage(
        plain.profile(question, vector), paper
    )
