"""Facet-aware answers: quote what the question asks for, refuse only when the papers do not answer."""

from __future__ import annotations

import dataclasses
import re

import pytest

import rag
from rag.facets import (
    asked,
    asking_part,
    asks_quantity,
    counted,
    measured,
    reports_quantity,
    roles,
)
from rag.premises import (
    modified,
    presupposed_modifiers,
    says_opposite,
)
from rag.support import or_alternatives, or_term_alternatives, question_entities, spells_out
from tests.test_answer import assert_well_cited


def sentences(answer: rag.Answer) -> list[str]:
    return re.findall(r"[^.!?\n]+?\[\d+\]\.?", answer.body)


def test_which_datasets_quotes_the_sentence_that_names_them(seed_settings):
    answer = rag.answer("What datasets are used for evaluating unlearning?", settings=seed_settings)
    assert not answer.abstained
    # Adapt-then-Unlearn's dataset sentence, not only the definition of unlearning.
    assert all(name in answer.body for name in ("MNIST", "AFHQ", "CelebA-HQ"))
    assert any(c.title.startswith("Adapt then Unlearn") for c in answer.citations)
    assert_well_cited(answer, seed_settings)


def test_what_does_x_do_gets_contribution_and_result_but_not_the_whole_abstract(seed_settings):
    answer = rag.answer("What does DiffuseVAE do?", settings=seed_settings)
    [citation] = answer.citations
    assert citation.title.startswith("DiffuseVAE")
    quoted = sentences(answer)
    assert 2 <= len(quoted) <= 3
    assert "integrates VAE within a diffusion model framework" in answer.body  # what it does
    assert re.search(r"outperform|FID|state-of-the-art", answer.body)  # the headline result
    assert "github.com" not in answer.body  # a link is not what the paper does
    abstract = rag.retrieve("DiffuseVAE", settings=seed_settings)[0].paper.abstract
    abstract_sentences = len(re.findall(r"[.!?](?:\s|$)", abstract))
    assert len(quoted) < abstract_sentences
    assert_well_cited(answer, seed_settings)


def test_the_best_fid_on_celeba_hq_is_answered_with_the_numbers(seed_settings):
    answer = rag.answer("Which paper has the best FID on CelebA-HQ?", settings=seed_settings)
    assert not answer.abstained
    assert answer.citations[0].title.startswith("DiffuseVAE")
    assert "16.47" in answer.body and "CelebA-HQ-128" in answer.body
    assert_well_cited(answer, seed_settings)


def test_how_does_x_work_quotes_one_of_its_own_how_sentences(seed_settings):
    answer = rag.answer("How does Label-Agnostic Forgetting unlearn without labels?", settings=seed_settings)
    assert_well_cited(answer, seed_settings)
    # Not only the sentences that repeat "without labels": the one that says how.
    assert "we introduce a contrastive loss" in answer.body
    assert len(sentences(answer)) <= 3


def test_the_how_sentence_does_not_displace_a_sentence_carrying_another_asked_facet(seed_settings):
    answer = rag.answer(
        "how does the latent label shift algorithm compare with standard unsupervised classification methods",
        settings=seed_settings,
    )
    assert "leverage domain information to improve upon competitive unsupervised" in answer.body


def test_a_number_the_paper_never_states_is_refused(seed_settings):
    answer = rag.answer("How many parameters does the largest DiGIT model have?", settings=seed_settings)
    assert answer.abstained and not answer.citations


def test_quoted_sentences_of_one_paper_are_one_verbatim_span(seed_settings):
    answer = rag.answer("Summarize the NoiseCLR paper", settings=seed_settings)
    [citation] = answer.citations
    for sentence in sentences(answer):
        assert re.sub(r"\s*\[\d+\]", "", sentence).strip().rstrip(".") in citation.snippet
    assert_well_cited(answer, seed_settings)


@pytest.mark.parametrize(
    ("question", "facets"),
    [
        ("What datasets are used for evaluating unlearning?", {"datasets"}),
        ("What does DiffuseVAE do?", {"what"}),
        ("Summarize the paper 'Binary Latent Diffusion'.", {"what"}),
        ("Which paper has the best FID on CelebA-HQ?", {"results"}),
        ("Is the code for Smooth Diffusion on GitHub?", {"code"}),
        ("What are the limitations of PV-RNN?", {"limitations"}),
        ("How does CLUTR compare to PAIRED?", {"comparison", "how"}),
        ("What problem does DiGIT address?", {"problem"}),
    ],
)
def test_the_facet_a_question_asks_for(question, facets):
    assert facets <= asked(question)


def test_sentence_roles():
    assert roles("We propose NoiseCLR, a novel contrastive method.")["what"] >= 1.0
    assert roles("It improves FID from 34.36 to 16.47 and outperforms baselines.")["results"] >= 1.0
    assert roles("Experiments on MNIST and AFHQ and the CelebA-HQ dataset.")["datasets"] >= 1.0
    assert "code" in roles("Code is available at https://github.com/x/y.")


def test_or_questions_group_their_alternatives():
    assert or_alternatives("Is it evaluated on CIFAR-10 or ImageNet?") == (("cifar10", "imagenet"),)
    assert or_alternatives("What does DiffuseVAE do?") == ()
    assert or_term_alternatives("is it tested on images or on text?") == (("imag", "text"),)


def test_a_paper_naming_one_of_two_alternatives_answers(seed_settings):
    answer = rag.answer("Which paper evaluates unlearning on AFHQ or on ImageNet?", settings=seed_settings)
    assert not answer.abstained
    assert answer.citations[0].title.startswith("Adapt then Unlearn")


def test_numbers_asked_and_stated():
    assert asks_quantity("How many parameters does DiGIT have?")
    assert asks_quantity("By how much did the refusal rate drop?")
    assert not asks_quantity("Which examples are grouped by how their frequency changes?")
    assert reports_quantity("FID of 16.47 vs 34.36")
    assert not reports_quantity("as in (Chernozhukov et al., 2018) on CIFAR-10")


def test_the_number_must_be_about_what_was_asked():
    assert measured("How many GPU hours did it take to train DiGIT?") == {"gpu", "hour"}
    assert measured("how many anchors do relative representations need") == {"anchor"}
    assert "hour" in measured("How long does Adapt-then-Unlearn take to run?")
    assert measured("what mIoU does PartSLIP++ get?") == {"miou"}
    # Comparisons and "how much does X improve" take any number next to the question's words.
    assert measured("How many fewer environment interactions does CLUTR need?") == frozenset()
    assert measured("By how much did likelihood displacement reduce the refusal rate?") == frozenset()


def test_a_paper_stating_other_numbers_does_not_answer_how_many(seed_settings):
    # CDHF's abstract says it reduces latency and gives one number: 535 programmers.
    question = "How many milliseconds of latency does CDHF save per suggestion?"
    latency = rag.answer(question, settings=seed_settings)
    assert latency.abstained
    people = rag.answer("How many programmers was CDHF evaluated with?", settings=seed_settings)
    assert not people.abstained and "535 programmers" in people.body


def test_an_abstracts_own_reference_numbers_are_not_quoted_as_citations(settings, tmp_path):
    import json

    abstract = (
        "Text-driven editing builds on StyleGAN[21] and CLIP[34], mapping one latent space to the other. "
        "We propose FooEdit, a text-driven face editing method that needs no paired data. "
        "FooEdit trains one mapper for every attribute instead of one per attribute. "
        "Experiments on CelebA-HQ show that FooEdit outperforms StyleCLIP in identity preservation."
    )
    papers = tmp_path / "papers.jsonl"
    papers.write_text(json.dumps({"title": "FooEdit: Free-Form Face Editing", "abstract": abstract}) + "\n")
    rag.ingest([papers], settings=settings, progress=False)
    for question in ("What does FooEdit do?", "How does FooEdit map StyleGAN and CLIP latent spaces?"):
        answer = rag.answer(question, settings=settings)
        assert not answer.abstained
        assert "[21]" not in answer.body and "[34]" not in answer.body
        assert set(re.findall(r"\[(\d+)\]", answer.body)) == {"1"}
        assert answer.citations[0].snippet in abstract


def test_contractions_of_i_are_not_names():
    # "I'd" and "I've" are capitalized mid-sentence; as names they would be
    # "missing" from every paper and refuse a chatty but answerable question.
    assert question_entities("Most theory I've seen, and I'd like more, is on the plain VAE") == ["vae"]


@pytest.mark.parametrize(
    ("text", "acronym", "expected"),
    [
        ("dynamics governed by partial differential equations", "pde", True),
        ("an Expectation-Maximization algorithm", "em", True),
        ("a bag of words model", "bow", True),
        ("each model is evaluated", "em", False),  # two lower-case words spell nothing
        ("partial derivatives of the loss", "pde", False),
        # Three letters only from consecutive words: "SAC" is not in CLUTR's abstract.
        ("tasks sampled by an agent for the curriculum", "sac", False),
        ("a generative model for longitudinal data", "gmld", True),
    ],
)
def test_spells_out(text, acronym, expected):
    assert spells_out(text, acronym) is expected


def test_an_acronym_the_paper_spells_out_is_not_missing(seed_settings):
    from rag.compose import margin
    from rag.index import open_index
    from rag.retrieve import search

    # The paper says "partial differential equations" and never "PDE".
    question = "Which paper uses PDEs to traverse the latent space of a generative model?"
    index = open_index(seed_settings)
    hits = search(index, question, index.embedder.query_vector(question), 10)
    assert hits[0].title.startswith("Latent Traversals in Generative Models")
    evidence = index.support.judge(
        index.support.profile(question), hits[0].paper_id, hits[0].similarity, margin(hits, 0)
    )
    assert evidence.missing == ()
    answer = rag.answer(question, settings=seed_settings)
    assert [c.title for c in answer.citations] == [hits[0].title]
    assert_well_cited(answer, seed_settings)


def test_a_better_fit_outside_the_collection_means_the_collection_does_not_answer(seed_settings):
    # PartSLIP++ segments 3D point clouds into parts; it generates nothing, and
    # papers in the bundled background that generate point clouds fit far better.
    question = "Which paper uses diffusion models to generate 3D point clouds of object parts?"
    assert rag.answer(question, settings=seed_settings).abstained
    without = rag.answer(question, settings=seed_settings.replace(background=""))
    assert not without.abstained  # what the collection's own signals conclude
    assert without.citations[0].title.startswith("PartSLIP++")


def test_the_outside_feature_needs_the_question_vector_and_lowers_support(seed_settings):
    from rag.index import open_index

    index = open_index(seed_settings)
    question = "Which paper introduces DiffuseVAE?"
    vector = index.embedder.query_vector(question)
    assert index.support.profile(question).outside is None
    profile = index.support.profile(question, vector)
    assert -1.0 <= profile.outside <= 1.0
    pid = index.paper_id_for_title(
        "DiffuseVAE: Efficient, Controllable and High-Fidelity Generation from Low-Dimensional Latents"
    )
    close = index.support.judge(dataclasses.replace(profile, outside=0.2), pid, 0.6, 0.1)
    far = index.support.judge(dataclasses.replace(profile, outside=0.8), pid, 0.6, 0.1)
    assert close.outside == pytest.approx(-0.4) and far.outside == pytest.approx(0.2)
    assert far.probability < close.probability


def test_words_that_papers_outside_cover_and_the_candidate_lacks_lower_support(seed_settings):
    from rag.compose import margin
    from rag.index import open_index
    from rag.retrieve import search

    index = open_index(seed_settings)
    # Treatment effects from images are in the collection, from social media posts are not;
    # background papers on them have "social media", a rare pair ("text", "effect" are common words).
    question = "Which paper estimates heterogeneous treatment effects from text such as social media posts?"
    vector = index.embedder.query_vector(question)
    profile = index.support.profile(question, vector)
    assert {"social", "media"} <= profile.topical.keys() and "text" not in profile.topical
    assert 0.0 < profile.outside_coverage <= 1.0
    assert index.support.profile(question).outside_coverage == 0.0  # no vector: no background
    hits = search(index, question, vector, 10)
    args = hits[0].paper_id, hits[0].similarity, margin(hits, 0)
    lacking = index.support.judge(profile, *args)
    assert lacking.outside_terms > 0.0 and not lacking.supported
    level = index.support.judge(dataclasses.replace(profile, outside_coverage=0.0), *args)
    assert level.supported  # without the words' evidence it would be cited
    assert rag.answer(question, settings=seed_settings).abstained


def test_a_damaged_background_file_is_a_one_line_error(seed_settings, tmp_path):
    import numpy as np

    from rag.background import BUNDLED

    with np.load(BUNDLED) as data:
        parts = dict(data)
    parts["term_ptr"] = parts["term_ptr"][:-5]
    damaged = tmp_path / "damaged.npz"
    np.savez(damaged, **parts)
    with pytest.raises(rag.RagError, match=r"is damaged .* rebuild it with bench/build_background\.py"):
        rag.answer("What does DiffuseVAE do?", settings=seed_settings.replace(background=str(damaged)))


def test_a_background_file_that_is_not_one_is_a_one_line_error(seed_settings, tmp_path):
    bad = tmp_path / "background.npz"
    bad.write_text("not numpy")
    with pytest.raises(rag.RagError, match=r"is not a background file .* bench/build_background\.py"):
        rag.answer("What does DiffuseVAE do?", settings=seed_settings.replace(background=str(bad)))


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("serach", "search", True),  # transposition
        ("linkdin", "linkedin", True),  # insertion
        ("datset", "dataset", True),
        ("overveiw", "overview", True),
        ("video", "audio", False),  # two substitutions
        ("cifar", "cifar", True),
        ("abc", "cba", False),
    ],
)
def test_one_edit(a, b, expected):
    from rag.lexical import one_edit_away, within_one_edit

    assert within_one_edit(a, b) is expected
    assert (b in one_edit_away(a)) is (expected and a != b)


def test_a_misspelled_word_is_read_as_the_collection_word_one_edit_away(seed_settings):
    from rag.index import open_index

    index = open_index(seed_settings)
    question = "What problem does Differentiable Neural Input Serach solve for recommender systems?"
    profile = index.support.profile(question)
    assert "search" in profile.weights and "serach" not in profile.weights
    assert "serach" in profile.misspelled  # a name the paper writes "Search"
    answer = rag.answer(question, settings=seed_settings)
    assert not answer.abstained
    assert answer.citations[0].title.startswith("Differentiable Neural Input Search")
    # A word the field uses is never "corrected", though the collection lacks it and has
    # "albeit", one edit away.
    assert index.lexical.nearest_known("albert") == "albeit"
    profile = index.support.profile("Which paper fine-tunes ALBERT for question answering?")
    assert "albert" in profile.weights and not profile.misspelled


def test_words_that_frame_the_request_do_not_count_against_a_paper(seed_settings):
    """ "Summarize what VLUCI is designed to do" was refused: VLUCI's abstract never says
    "summarize" or "designed". Those words say how to answer, not what about."""
    from rag.index import open_index

    index = open_index(seed_settings)
    framed = index.support.profile("Summarize what VLUCI is designed to do.")
    plain = index.support.profile("VLUCI")
    vluci = next(p for p in index.papers if p.title.startswith("VLUCI"))
    assert "summar" in framed.weights  # still there to choose sentences with
    coverage = index.support.coverage
    assert coverage(framed, vluci.paper_id) == coverage(plain, vluci.paper_id) == 1.0
    for question in (
        "Summarize what VLUCI is designed to do.",
        "Which papers here tackle machine unlearning, and how do their settings differ?",
        # "kinds", "run", "put ... somewhere", "I think", "end up": how one asks, not what of.
        "What kinds of data did the VLUCI authors run their experiments on?",
        "and did they put the code for the time step features up somewhere",
    ):
        answer = rag.answer(question, settings=seed_settings)
        assert not answer.abstained, question
    # A content word is still content: no paper here is about batch normalization.
    batch_norm = "How does batch normalization behave at inference time?"
    assert rag.answer(batch_norm, settings=seed_settings).abstained


def test_a_choice_between_things_the_paper_never_names_is_not_answered(seed_settings):
    """ "Random forests or gradient boosting?" fits the DML panel paper well in every other
    word, but the paper names neither, so it cannot say which was used."""
    question = (
        "In the Double Machine Learning meets Panel Data study, were random forests or "
        "gradient boosting used as the nuisance learners?"
    )
    assert rag.answer(question, settings=seed_settings).abstained
    # Naming one of the two is an answer; a slash joins one thing, not a choice.
    named_one = "Was DiffuseVAE benchmarked on CIFAR-10 or on ImageNet?"
    assert not rag.answer(named_one, settings=seed_settings).abstained
    assert or_term_alternatives("chosen/rejected pairs", choices=True) == ()
    forests = or_term_alternatives("random forests or gradient boosting", choices=True)
    assert forests == (("forest", "gradient"),)


def test_an_image_size_is_found_however_the_abstract_writes_it(seed_settings):
    # Binary Latent Diffusion's abstract says "1024 times 1024" (a PDF's ×).
    answer = rag.answer("How does Binary Latent Diffusion get to 1024x1024 images?", settings=seed_settings)
    assert not answer.abstained
    assert answer.citations[0].title == "Binary Latent Diffusion"
    # A size no abstract states is still missing.
    assert rag.answer(
        "How does Binary Latent Diffusion get to 4096x4096 images?", settings=seed_settings
    ).abstained


def test_a_comparison_of_named_papers_cites_each_of_them(seed_settings):
    from rag.support import names_paper, own_names

    answer = rag.answer(
        "compare diffusevae and binary latent diffusion: how does each one give diffusion models "
        "a compact latent",
        settings=seed_settings,
    )
    titles = [c.title for c in answer.citations]
    assert len(titles) == 2 and "Binary Latent Diffusion" in titles
    assert any(t.startswith("DiffuseVAE") for t in titles)
    cycle = "Unifying Diffusion Models' Latent Space, with Applications to CycleDiffusion and Guidance"
    assert names_paper("How does the CycleDiffusion paper differ from Smooth Diffusion?", cycle)
    # "3D" and "Low-Shot" are words of PartSLIP++'s title, not its name.
    partslip = "PartSLIP++: Enhancing Low-Shot 3D Part Segmentation via Multi-View Instance Segmentation"
    assert not names_paper("low-shot 3D shape completion", partslip)
    assert names_paper("what does partslip++ change?", partslip)
    # Hyphens count as spaces, and the name an abstract gives its method names the paper.
    assert names_paper("Adapt-then-Unlearn vs LAF", "Adapt then Unlearn: Exploring Parameter Space Semantics")
    assert own_names("we propose Householder Projector, a flexible ... our tokenizer (DiGIT) ...") == (
        "Householder Projector",
        "DiGIT",
    )
    assert own_names("we propose a novel method that works (see Sec. 2).") == ()
    answer = rag.answer(
        "For unlearning, which one relies on user-provided negative samples, Adapt-then-Unlearn or "
        "Label-Agnostic Forgetting?",
        settings=seed_settings,
    )
    titles = sorted(c.title.split(":")[0] for c in answer.citations)
    assert titles == ["Adapt then Unlearn", "Label-Agnostic Forgetting"]
    answer = rag.answer(
        "NoiseCLR vs Householder Projector: which generator does each work with?", settings=seed_settings
    )
    assert any(c.title.startswith("Householder Projector") for c in answer.citations)
    assert any(c.title.startswith("NoiseCLR") for c in answer.citations)


def test_a_datasets_question_quotes_the_sentence_that_names_them(seed_settings):
    question = "Exploring Diffusion Time-steps representation learning datasets"
    answer = rag.answer(question, settings=seed_settings)
    assert answer.citations[0].title.startswith("Exploring Diffusion Time-steps")
    assert "On CelebA, FFHQ, and Bedroom datasets" in answer.text


@pytest.mark.parametrize(
    ("question", "abstains"),
    [
        # NoiseCLR finds directions in image diffusion models; video is another kind of data.
        ("unsupervised discovery of interpretable directions in video diffusion models", True),
        ("relative representations zero-shot model stitching of speech encoders", True),
        ("How does SESA use graph neural networks to embed job postings?", True),
        (
            "contrastive learning for unsupervised discovery of interpretable directions in diffusion models",
            False,
        ),
        # Offered as an alternative, the kind is not asked for; a causal graph is not graph data.
        ("Is Binary Latent Diffusion about audio synthesis or image generation?", False),
        ("How does CausalDiffAE generate counterfactuals that respect a causal graph?", False),
        # Training details: an abstract that gives them has their words ("strong weight decay").
        ("What batch size and learning rate were used to train the Smooth-LoRA in Smooth Diffusion?", True),
        ("Does latent quantization need heavy weight decay to disentangle factors of variation?", False),
    ],
)
def test_a_question_about_another_kind_of_data_or_detail_is_not_answered(seed_settings, question, abstains):
    assert rag.answer(question, settings=seed_settings).abstained is abstains


def test_a_pointed_question_about_one_unnamed_paper_cites_that_paper_alone(seed_settings):
    """ "What datasets are used for evaluating unlearning?" asks of a topic and lists papers;
    "the diffusion time-step approach" is one paper, though the question does not name it."""
    question = (
        "Which datasets are used to evaluate the diffusion time-step approach to representation learning?"
    )
    answer = rag.answer(question, settings=seed_settings)
    assert [c.title[:30] for c in answer.citations] == ["Exploring Diffusion Time-steps"]
    topic = rag.answer("What datasets are used for evaluating diffusion models?", settings=seed_settings)
    assert len(topic.citations) >= 2
    # A paper on the topic that names no dataset ("various unlearning tasks") is not listed.
    unlearning = rag.answer("What datasets are used for evaluating unlearning?", settings=seed_settings)
    assert [c.title[:18] for c in unlearning.citations] == ["Adapt then Unlearn"]


@pytest.mark.parametrize(
    ("question", "abstains"),
    [
        ("Why did DPO training raise the refusal rate of Llama-3-8B-Instruct from 33.4% to 74.4%?", True),
        ("Why did DPO training reduce the refusal rate of Llama-3-8B-Instruct from 74.4% to 33.4%?", False),
        (
            "How did the CDHF user study with 10,000 programmers show that every suggestion should be shown?",
            True,
        ),
        ("What did the retrospective evaluation of CDHF with data from 535 programmers show?", False),
    ],
)
def test_a_number_the_paper_does_not_state_is_a_premise_it_does_not_support(
    seed_settings, question, abstains
):
    assert rag.answer(question, settings=seed_settings).abstained is abstains


def test_stated_numbers_are_measures_not_counts_or_years():
    from rag.facets import changes, reverses, stated_numbers

    assert stated_numbers("a study with 10,000 programmers in 2019") == {"10000"}
    assert stated_numbers("0/1 bits, two stages, T=10, CelebA-HQ-128, 3D") == frozenset()
    assert stated_numbers("from 33.4% to 74.4%") == {"33.4", "74.4"}
    assert reverses(changes("raised it from 33.4% to 74.4%"), "reducing it from 74.4% to 33.4%.")
    assert not reverses(changes("cut it from 74.4% to 33.4%"), "reducing it from 74.4% to 33.4%.")


@pytest.mark.parametrize(
    ("question", "abstains"),
    [
        # The words that differ between the two sides are the choice: "humanoid" or "industrial".
        ("Was PV-RNN's robot imitation task run on a humanoid robot or on an industrial robot arm?", True),
        # Abstracts never say who wrote a paper or when it appeared.
        ("Who wrote the paper 'The Consciousness Prior'?", True),
        ("In which year was DiffuseVAE published?", True),
        ("What caveat do the authors of the hidden-capabilities study give about their experiments?", False),
        # A sample size is a number; the paper states none for its data.
        ("What is the sample size of the longitudinal mathematics achievement data in the MoE paper?", True),
        # Recorded behaviour, not video data.
        (
            "We image the whole brain while doing video tracking of the animal's legs. Is there a latent "
            "variable model for neural and behavioral data recorded at the same time?",
            False,
        ),
        # Premises the paper contradicts, and details it does not state (third round).
        ("Why does Label-Agnostic Forgetting need fully labeled data?", True),
        ("Does Label-Agnostic Forgetting need labels?", False),
        # The paper's speed-up is 3.18 times, "without context models involved".
        ("How does the multivariate Gaussian mixture compression model get its 3.18x speed-up?", False),
        ("How does the multivariate Gaussian mixture compression model get its 10x speed-up?", True),
        ("How does the multivariate Gaussian mixture codec speed up compression using context models?", True),
        # A misspelled kind of data is still that kind.
        ("Can diffusion time-step features be used for representation learning on speach signals?", True),
        # Keyword style: who wrote it is never in an abstract; what the authors propose is.
        ("Label-Agnostic Forgetting: authors", True),
        ("what are the authors of DiffuseVAE proposing?", False),
        # A size is a number; DiGIT's abstract gives none for its codebook.
        ("What is the codebook size of the DiGIT tokenizer?", True),
        ("In PV-RNN, what exact numerical value of the meta-prior works best?", True),
        ("Rep4Ex autoencoder architecture and latent dimension", True),
        ("How does the multivariate Gaussian mixture compression model get its 3x speed-up?", False),
        ("why does the householder projector retrain stylegan3 for ten times the original steps", True),
        ("is there a learned vidoe compression model with a gaussian mixture prior?", True),
        # Brain scans and health records are kinds of data too.
        ("gp-vae with shared and independent latents for human fmri recorded at the same time", True),
        ("Is there a deep model for treatment effects estimated from EHR records?", True),
        ("How is Rep4Ex applied to intervention extrapolation on real clinical trial data?", True),
        ("How does PartSLIP++ segment organs in medical CT volumes?", True),
        ("Which paper estimates disease risk from clinical data when outcomes are missing?", False),
        ("DiffuseVAE reverse process steps number of steps", False),
        # A comparison with methods the abstract never names; one it names is answered.
        ("How does NoiseCLR compare with Prompt-to-Prompt and SDEdit for facial edits?", True),
        ("What FID does DiffuseVAE get on CelebA-HQ-128 compared to a standard DDIM?", False),
        # Which datasets: LAF's abstract names none ("various unlearning tasks"); Adapt-then-Unlearn's does.
        ("Which datasets were used to evaluate Label-Agnostic Forgetting?", True),
        ("Which datasets were used to evaluate Adapt-then-Unlearn?", False),
        # DNIS says "three public real-world datasets": how many, not which by name.
        ("Which datasets does DNIS evaluate on?", False),
        ("Which three public datasets, by name, does DNIS evaluate on?", True),
        # "experimental settings: Drosophila whole-brain calcium imaging ...": named data.
        ("Which real animal datasets was the multi-modal GP-VAE shown on?", False),
        # Code: an abstract that never speaks of its code (a "latent code" is not it) does not say.
        ("Is the Householder projector code available?", True),
        ("Is the DiffuseVAE code available?", False),
        # The request's own words are the code rule's to check, not coverage's.
        ("is smooth diffusion open source, where's the repo", False),
        ("is the householder projector open source, where's the repo", True),
        ("where is the CLUTR source code", True),
        ("where is the PartSLIP++ source code", False),
        ("What does VLUCI stand for and what is it estimating?", False),
        ("What weight does Smooth Diffusion give its smoothness regularizer?", True),
        # Keywords ending in a measure ask for its number.
        ("DNIS embedding parameter reduction percentage", True),
        ("CLUTR navigation improvement percentage", False),
        ("what datsets does the probablistic imputation time-series paper use", True),
        # A why-question taking a bad outcome as given, of a paper that reports a good one.
        ("Why does DiffuseVAE get a worse FID than a standard DDIM on CelebA-HQ-128?", True),
        ("Why do standard VAEs get poor sample quality compared with diffusion models?", False),
        # Found to state the opposite, the paper asked about is not replaced by one that fits less.
        (
            "I read that the unbiased estimator for missing-not-at-random implicit feedback does worse "
            "on rare items than on popular ones. Why does it struggle with rarely observed items?",
            True,
        ),
        # Asked to reach somewhere new, a paper answers only if it speaks of that place (fourth
        # round); one word it lacks is a paraphrase ("faster sampling"), and "real" only qualifies.
        (
            "Can inverse dynamics pretraining be used for offline reinforcement learning when the demos "
            "have reward labels?",
            True,
        ),
        ("Can the Householder projector be used with pre-trained StyleGAN3?", False),
        ("Can DiffuseVAE be used for faster sampling?", False),
        ("Can Smooth Diffusion be used for real image editing?", False),
        ("Does DNIS work for recommendation with smaller embedding tables?", False),
        ("Can Rep4Ex handle time series or dynamical systems where interventions happen over time?", True),
        ("Are the mean representations of VAEs still fine to use for downstream tasks?", False),
        # A choice asked of a named method: one side rare in the field is enough; a paper
        # naming one side, or spelling out its acronym ("recurrent variational autoencoder"), answers.
        ("Is the MPNP predictive distribution a transformer or a DeepSets model?", True),
        ("Does CLUTR learn its task manifold with a recurrent VAE or a diffusion model?", False),
        # A count in words answers "how many" about what it counts ("three public real-world
        # datasets"), not a value asked for.
        ("How many public datasets were used to evaluate DNIS?", False),
        ("In PV-RNN, what exact numerical value of the meta-prior gave the best generalization?", True),
        # A choice between numbers is answered by a paper that states one of them.
        (
            "Does the vectorized-prior approach to learned image compression give roughly a 3.18x "
            "compression speed-up or roughly a 10x one?",
            False,
        ),
        ("Does the vectorized-prior approach give a 10x or a 20x speed-up?", True),
        ("Was the retrospective evaluation of CDHF based on data from 535 programmers or from 5,350?", False),
        # "A rather than B": B is done without (seventh set, scored).
        ("Why does PV-RNN rely on external inputs during the forward computation?", True),
        ("How does PV-RNN use prediction errors during backpropagation?", False),
        # A claim about everything; a superlative or a scope alone is a paper's.
        ("What is the single best clustering algorithm for identifying classes in any dataset?", True),
        ("what is the most widely used metric for disentanglement in the community", True),
        ("What is the best way to pick embedding sizes for every feature in a CTR model?", False),
        ("Which paper has the best FID on CelebA-HQ?", False),
        # Keywords asking for the datasets' names.
        ("DNIS names of the three public datasets", True),
        # The opposite of what the paper says of the same thing, taken as given.
        ("Why does the latent quantization disentanglement paper use a very low weight decay?", True),
        ("Why does the latent quantization disentanglement paper use a very high weight decay?", False),
        ("why did clutr need 500x more environment interactions than paired", True),
        ("does clutr need more or fewer environment interactions than the non-UED state of the art", False),
        # A textbook question: a paper that uses the thing does not say what it is.
        ("What is calcium imaging and how does it measure neural activity?", True),
        ("what is deterministic chaos in dynamical systems", True),
        ("What is machine unlearning?", False),  # "Machine unlearning aims to remove ..."
        ("What is a neural process?", False),  # "A Neural Process (NP) estimates ..."
        ("What is invariant representation learning?", False),  # the title's topic
        ("what is mm-gpvae and what does it model", False),  # "(MM-GPVAE)"
        # Telling two things apart needs a sentence with both, unless one is the paper.
        ("what is the difference between a factor graph and a bayesian network", True),
        ("how does the bayesian bootstrap differ from the classical bootstrap", True),
        ("What is the difference between DiffuseVAE and a standard VAE?", False),
        # Taken as given, what the paper says it is not required to do or does not assume.
        ("Normal-Inverse-Wishart meta learning why it must keep computational graphs like MAML", True),
        ("Why does the NIW meta learning method need closed-form solutions?", False),
        ("Why does MPNP rely on a finite-dimensional Gaussian latent variable?", True),
        ("Why does MPNP use a predictive distribution?", False),
        ("Why does Label-Agnostic Forgetting requir full labels?", True),  # misspelled verb
        # Details abstracts seldom give: an architecture beyond the question's own words, a language.
        ("What neural network architecture does VLUCI use for its inference networks?", True),
        ("What attention architecture (e.g., number of heads) does the consciousness prior use?", True),
        ("What network architecture does CausalDiffAE use?", False),  # an encoder, reverse diffusion
        ("What architecture does DiffuseVAE use?", False),  # a VAE within a diffusion model
        ("What is the architecture of MM-GPVAE?", False),
        # More opposites: "closed source" of "all models available in open-source software".
        ("why are the image-based treatment effect heterogeneity models kept closed source", True),
        ("Why is the image CATE software released as open source?", False),
        # The asker's own data is context, not a kind of data asked of the paper.
        (
            "I'm trying to cluster unlabeled medical images from several hospitals. There's a paper on label "
            "shift across domains; can someone walk me through the steps of its algorithm?",
            False,
        ),
        ("Is there a latent label shift method for medical images?", True),
        # A model family named by its release: "Llama-3-8B-Instruct" is a Llama model.
        (
            "How much did the refusal rate drop for the Llama model in the likelihood displacement paper?",
            False,
        ),
        # A bad outcome taken as given, of a paper that finds it good or of no consequence.
        (
            "Why does the Be More Active paper conclude that mean representations should be avoided "
            "for downstream tasks?",
            True,
        ),
        (
            "Since the DML panel paper found that violating cross-fitting badly biases the effect estimates, "
            "what fix do they recommend?",
            True,
        ),
        ("Why do many of the DML panel methods fail to account for unobserved heterogeneity?", False),
        (
            "Why should text prompts be avoided when exploring diffusion latent spaces in fields like "
            "fashion?",
            False,
        ),
        # One side of a contrast taken as given, of a paper that states only the other side.
        ("why does the householder projector require retraining stylegan2 from scratch", True),
        ("How does Adapt-then-Unlearn avoid retraining the GAN from scratch?", False),
        ("Why does NoiseCLR need a large labeled dataset of attribute annotations?", True),
        ("How does NoiseCLR find directions from a small set of unlabeled images?", False),
        # A rounded number, a misspelled "without", a paper named beside the thing to define.
        (
            "Does the image codec that uses a vectorized prior with probabilistic vector quantization "
            "speed up compression by around 3x, or does it slow compression down?",
            False,
        ),
        ("How does Label-Agnostic Forgetting preserve predictive performance withuot using labels?", False),
        ("What is the intervention extrapolation task studied in Rep4Ex?", False),
        # The side a question says the paper passed over, of a paper that uses it.
        (
            "Why does MM-GPVAE parameterize its latents in the time domain instead of the Fourier domain?",
            True,
        ),
        ("Why does NoiseCLR use unlabeled images instead of text prompts?", False),
        # More contraries and bad outcomes, a misspelled thing used, an opinion.
        ("Why do hidden capabilities in concept space emerge gradually and inconsistently?", True),
        ("how much does householder projector degrade stylegan image fidelity", True),
        ("Which text promts does NoiseCLR require to discover editing directions?", True),
        ("In your view, will AI systems built on the consciousness prior ever become conscious?", True),
        # "Number of ..." in keywords asks for a number, which the paper must state next to it.
        ("relative representations number of anchors cosine similarity choice", True),
        ("CLUTR number of environment interactions", False),  # "500X fewer environment interactions"
        # A reach asked of one method is not answered by a paper on the place that lacks the method.
        (
            "Does the concept space analysis of hidden capabilities carry over to RL agents?",
            True,
        ),
        ("Could the supervision-free unlearning approach work for semi-supervised settings?", False),
        (
            "Which deep learning framework is the hierarchical Bayesian meta learning code written in?",
            True,
        ),
    ],
)
def test_details_abstracts_never_give(seed_settings, question, abstains):
    assert rag.answer(question, settings=seed_settings).abstained is abstains


def test_modifiers_read_non_hyphens_and_opposite_pairs():
    assert modified("non-linear mechanisms and a low-dimensional code") == {
        ("nonlinear", "mechan"),
        ("low", "dimension"),
    }
    assert presupposed_modifiers("Why does it use nonlinear mechanisms?") == {("nonlinear", "mechan")}
    assert says_opposite({("nonlinear", "mechan")}, "We assume linear mechanisms.")
    assert not says_opposite({("nonlinear", "mechan")}, "We allow non-linear mechanisms.")
    # A question offering both sides presupposes neither; a yes/no question presupposes nothing.
    assert presupposed_modifiers("Why is the FID higher or lower with 10 steps?") == frozenset()
    assert presupposed_modifiers("Does it use a low weight decay?") == frozenset()


def test_counted_reads_the_words_after_a_count_in_words():
    assert {"public", "dataset"} <= counted("on three public real-world datasets for rating prediction")
    assert counted("one of the zero-shot models") == frozenset()


def test_a_named_measure_may_follow_its_qualifiers():
    question = "What attribute classification accuracy does the method reach on FFHQ?"
    assert asks_quantity(question) and measured(question) == {"accuraci"}
    assert asks_quantity("what bpp and psnr does the codec get on kodak")
    assert not asks_quantity("Which estimator gives accurate coefficient estimates?")


def test_how_much_asks_for_a_number_unless_it_asks_for_a_degree():
    from rag.facets import asks_quantity

    # Keywords naming a setting ask for its value; keywords naming a measure need not.
    assert asks_quantity("Binary Latent Diffusion vector quantization codebook size")
    assert measured("NoiseCLR contrastive loss temperature and number of learned directions") == {
        "learn",
        "direct",
    }
    assert not asks_quantity("DiffuseVAE FID celeba")
    # ... unless they ask for its number or value: then a number must be about that measure.
    assert asks_quantity("domain constraints cancer risk case study auc value")
    assert measured("diffusevae cifar-10 fid numbers") == {"fid"}
    assert not asks_quantity("clutr results")
    assert asks_quantity("How much does DiffuseVAE improve FID?")
    assert asks_quantity("How much GPU memory does it need?")
    assert not asks_quantity("Did anyone check how much that dependence damages the estimates?")


def test_the_kept_profile_follows_the_collection():
    """The support model keeps the last question's profile for retrieval and the composer;
    a paper added since changes term weights, so the profile is worked out again."""
    from rag.corpus import Paper
    from rag.lexical import LexicalIndex, terms
    from rag.support import SupportModel

    first = Paper("a", "Video diffusion", "We generate video with diffusion models.")
    second = Paper("b", "Image codecs", "We compress images with diffusion priors.")
    lexical = LexicalIndex()
    lexical.add(0, terms(f"{first.title} {first.abstract}"))
    model = SupportModel.build([first], lexical)
    before = model.profile("diffusion for images")
    assert model.profile("diffusion for images") is before  # kept
    lexical.add(1, terms(f"{second.title} {second.abstract}"))
    model.add(second)
    after = model.profile("diffusion for images")
    assert after is not before and after.weights != before.weights


def test_a_why_question_that_presupposes_what_the_paper_does_without():
    from rag.premises import done_without, presupposed_uses

    abstract = (
        "We propose a supervision-free approach that operates without the need for labels during training."
    )
    assert done_without(abstract) == ({"supervis"}, {"label"})
    assert done_without("solved by cascaded estimation without context models involved") == (
        {"context", "model"},
    )
    assert done_without("VLUCI relaxes the unconfoundedness assumption") == ({"unconfounded", "assumpt"},)
    assert done_without("it is not required to maintain computational graphs") == ({"comput", "graph"},)
    assert done_without("instead of assuming any form of the latent variables") == ({"latent", "variabl"},)
    # The thing used may come before the verb.
    assert {"text", "prompt"} <= presupposed_uses("Which text prompts does NoiseCLR rely on?")
    assert "label" in presupposed_uses("Why does Label-Agnostic Forgetting need fully labeled data?")
    # A yes/no question asks; its answer is the "without".
    assert presupposed_uses("Does Label-Agnostic Forgetting need labels?") == frozenset()
    assert presupposed_uses("How does it work without labels?") == frozenset()
    # What "were used" is the datasets, not a need of the method.
    assert presupposed_uses("which image datasets were used to test the time-steps method") == frozenset()
    # Other methods' needs, and a named way of doing without, are no premise about the paper.
    assert presupposed_uses("How does LAF compare with methods that use full supervision?") == frozenset()
    assert "supervis" not in presupposed_uses("Which papers use supervision-free unlearning?")


def test_a_textbook_question_names_the_things_it_asks_to_define():
    from rag.facets import asks_definition

    assert asks_definition("What is calcuim imaging and how does it measure neural activity?") == (
        "calcuim imaging",
    )
    assert asks_definition("What's the difference between DDPM and DDIM sampling?") == (
        "DDPM",
        "DDIM sampling",
    )
    # The paper's own parts and problems are not things to define.
    assert asks_definition("What is the main idea of Smooth Diffusion?") == ()
    assert asks_definition("What were the two health-specific constraints proposed?") == ()
    assert asks_definition("What's the problem with plain likelihood for singular distributions?") == ()
    assert asks_definition("What was the image compression model evaluated on?") == ()


def test_a_multiplier_is_a_stated_number():
    from rag.facets import stated_numbers

    assert stated_numbers("its 10x compression speed-up") == {"10"}
    assert stated_numbers("a 2-fold gain") == {"2"}
    assert stated_numbers("1024x1024 images") == frozenset()  # a size, matched on its own (see above)
    assert stated_numbers("a 10.6X improvement and 45%") == {"10.6", "45"}  # not "10"
    assert stated_numbers("for ten times the original steps") == {"10"}


def test_a_paper_number_in_words_or_rounded():
    from rag.facets import numbers_in

    assert {"3.18", "3"} <= numbers_in("an impressive 3.18times compression speed up")
    assert "2" in numbers_in("We test the model on two datasets")


def test_which_data_a_paper_names():
    from rag.facets import asks_which_data, counts_data

    assert asks_which_data("Which specific image classification datasets were used?") == "names"
    assert asks_which_data("what benchmark results does it report?") == "any"
    # A question that says how many asks for their names: "three public datasets" does not answer.
    assert asks_which_data("Which three public datasets does DNIS evaluate on?") == "names"
    assert not asks_which_data("How well does it do on the benchmarks?")
    assert counts_data("We evaluate on three public real-world datasets.")
    assert not counts_data("Experimental results across various unlearning tasks.")


def test_a_bad_outcome_a_why_question_takes_as_given():
    from rag.premises import bad_outcomes, reports_opposite

    question = "Why does it do worse on rare items than on popular ones?"
    outcomes = bad_outcomes(question)
    assert {"rare", "item"} <= outcomes[0]
    assert bad_outcomes("Does it do worse on rare items?") == ()  # asks, takes nothing as given
    better = "In particular, the proposed method works better for rare items."
    assert reports_opposite(outcomes, better)
    # A paper that also reports a bad outcome about them may answer why.
    assert not reports_opposite(outcomes, better + " It still fails on rare items with no clicks.")


def test_two_named_papers_compared_each_answer_their_part(seed_settings):
    """Each paper lacks the other's name; in a comparison that name is not missing."""
    answer = rag.answer(
        "VLUCI vs Causal Diffusion Autoencoders: how do they each approach counterfactuals?",
        settings=seed_settings,
    )
    assert [c.title[:30] for c in answer.citations] == [
        "VLUCI: Variational Learning of",
        "Causal Diffusion Autoencoders:",
    ]
    assert_well_cited(answer, seed_settings)


def test_a_kind_of_data_named_in_capitals_is_judged_as_a_kind(seed_settings):
    """ "EHR" names health records; a paper on "health settings" speaks of them."""
    answer = rag.answer(
        "In my EHR data only the patients who got tested have a diagnosis label. Is the domain "
        "constraints paper about that situation, where you only see outcomes for the people who were tested?",
        settings=seed_settings,
    )
    assert not answer.abstained
    assert answer.citations[0].title.startswith("Domain constraints")


def test_a_misspelling_that_stems_differently_is_corrected(seed_settings):
    """ "modalites" stems to "modalit", two edits from "modal"; the word is one from "modalities"."""
    answer = rag.answer("Which modalites were relative representations tested on?", settings=seed_settings)
    assert not answer.abstained
    assert "images, text, graphs" in answer.body
    assert_well_cited(answer, seed_settings)


def test_generic_initialisms_and_plain_hyphen_words_name_nothing():
    """ "AI", "ML", "PM" name no thing a paper must mention; "VAE-plus-diffusion" names the VAE."""
    question = "I'm a PM: do AI-generated faces from a VAE-plus-diffusion hybrid fool ML detectors?"
    assert question_entities(question) == ["vae"]
    assert question_entities("Is CelebA-HQ-128 used, or non-IID splits?") == ["celebahq128", "noniid"]


def test_what_controls_how_fast_asks_for_a_cause_not_a_number():
    assert not asks_quantity("What controls how fast a model learns a given concept?")
    assert asks_quantity("How fast does it learn a given concept?")


def test_a_quantity_in_the_scene_setting_is_not_asked():
    scene = "Back in grad school I always wondered how much randomness to allow in the hidden states."
    assert not asks_quantity(asking_part(f"{scene} What happens when that knob is high or low?"))
    assert asks_quantity(asking_part(f"{scene} How much does the knob change the error?"))


def test_the_code_of_two_named_papers_cites_both(seed_settings):
    """Each abstract lacks the other paper's name; where one is named, the other's is not missing."""
    question = "Where can I find the code for DiffuseVAE and for CycleDiffusion?"
    answer = rag.answer(question, settings=seed_settings)
    titles = {c.title[:20] for c in answer.citations}
    assert titles == {"DiffuseVAE: Efficien", "Unifying Diffusion M"}
    assert "github.com" in answer.body
    assert_well_cited(answer, seed_settings)


def test_a_word_of_another_title_is_still_missing(seed_settings):
    """ "RNNs" is in a title, but is no paper's name: the Householder paper does not answer."""
    answer = rag.answer(
        "Which paper uses Householder reflections to parameterize orthogonal recurrent weight matrices "
        "and avoid vanishing gradients in RNNs?",
        settings=seed_settings,
    )
    assert answer.abstained


def test_what_is_compared_with_is_not_taken_as_given(seed_settings):
    """LAF works without labels; comparing it with methods that use full labels presupposes nothing false."""
    answer = rag.answer(
        "How does Label-Agnostic Forgetting compare with unlearning methods that use full labels?",
        settings=seed_settings,
    )
    assert answer.citations[0].title.startswith("Label-Agnostic Forgetting")


def test_data_described_without_the_word_dataset_answers_which_data(seed_settings):
    answer = rag.answer(
        "Which empirical data set is used to illustrate the extended mixture-of-experts model?",
        settings=seed_settings,
    )
    assert "longitudinal mathematics achievement data" in answer.body
    assert_well_cited(answer, seed_settings)


@pytest.mark.parametrize(
    "question",
    [
        "How was DiffuseVAE explicitly trained to optimise the speed versus quality tradeoff?",
        "how does the hierarchical bayesian meta learning model keep full computational graphs per episode?",
        "why does smooth diffusion have to be trained from scratch instead of working with existing models",
        "Why did PartSLIP++ drop SAM and go back to using 2D bounding boxes?",
        "Why does DPO always increase the likelihood of preferred responses?",
        "Why did the panel data study find that violating the cross-fitting assumptions ruins DML estimates?",
    ],
)
def test_a_premise_the_paper_says_it_does_without_is_refused(seed_settings, question):
    """ "without explicitly training for such an objective", "not required to maintain computational
    graphs", "a plug-and-play Smooth-LoRA to work with various community models", "we utilize ...
    SAM", "the likelihood of preferred responses often decreases", "violations of the cross-fitting
    assumptions ... largely inconsequential"."""
    assert rag.answer(question, settings=seed_settings).abstained


def test_a_lower_case_question_names_what_papers_write_in_mixed_case(seed_settings):
    assert question_entities("does it report fid on celeba", {"celeba"}) == ["celeba"]
    assert question_entities("Does it report FID on celeba?", {"celeba"}) == ["fid"]
    answer = rag.answer(
        "what log-likelihood does the martingale posterior neural process get on the celeba image "
        "completion task",
        settings=seed_settings,
    )
    assert answer.abstained  # its abstract never mentions CelebA


def test_the_papers_name_picks_the_paper_more_than_its_sentences(seed_settings):
    """Every SESA sentence says "SESA"; the one about its data and task is the answer."""
    answer = rag.answer("What task and data was SESA applied to?", settings=seed_settings)
    assert "Job-Profile relevance in LinkedIn" in answer.body
    assert "collaborative skills data" in answer.body
    assert_well_cited(answer, seed_settings)


def test_a_choice_of_direction_is_answered_by_the_change_in_other_words(seed_settings):
    """ "raise or lower?" of "reducing the refusal rate from 74.4% to 33.4%"."""
    answer = rag.answer(
        "Did likelihood displacement raise or lower the refusal rate of Llama-3-8B-Instruct, "
        "and by how much?",
        settings=seed_settings,
    )
    assert "74.4%" in answer.body
    assert_well_cited(answer, seed_settings)


def test_what_kind_of_benchmark_is_answered_by_a_description(seed_settings):
    answer = rag.answer(
        "On what kind of benchmark was the idea of pretraining by guessing the action taken between "
        "two consecutive frames tested for imitation?",
        settings=seed_settings,
    )
    assert not answer.abstained
    assert answer.citations[0].title.startswith("Inverse Dynamics Pretraining")


def test_a_name_split_in_two_words_is_read_as_the_name():
    from rag.corpus import Paper
    from rag.lexical import LexicalIndex, terms
    from rag.support import SupportModel, joined

    abstract = "We segment parts in the CarRacing and CelebA-HQ sets."
    paper = Paper("a", "PartSLIP: parts of 3D objects", abstract)
    text = f"{paper.title} {paper.abstract}"
    lexical = LexicalIndex()
    lexical.add(0, terms(text))
    model = SupportModel.build([paper], lexical)
    cased = model._cased
    assert joined(["code", "part", "slip"], cased, lexical) == ["code", "partslip"]
    assert joined(["car", "racing", "scores"], cased, lexical) == ["carracing", "scores"]
    # CelebA-HQ is written as one word but is two terms; "parts" alone stays a word.
    assert joined(["celeba", "hq"], cased, lexical) == ["celeba", "hq"]
    assert joined(["parts", "objects"], cased, lexical) == ["parts", "objects"]
    assert joined(["car", "rac", "ing"], cased, lexical) == ["carracing"]  # three words, too
    assert model.coverage(model.profile("is there code for part slip"), "a") > model.coverage(
        model.profile("is there code for part slap"), "a"
    )


def test_a_dictated_name_in_two_words_is_answered(seed_settings):
    result = rag.answer("clutr versus paired how much improvement car racing", settings=seed_settings)
    assert not result.abstained
    assert any("CLUTR" in c.title for c in result.citations)


def test_an_abbreviated_word_of_a_search_box_query_is_read_as_the_word(seed_settings):
    from rag.index import open_index
    from rag.support import _Words

    words = _Words(["dimension", "network", "posterior", "median"])
    assert words.extends("dim") and words.extends("net") and words.extends("post")
    assert not words.extends("media")  # "median" is one letter longer: no abbreviation
    index = open_index(seed_settings)
    relative = next(p for p in index.papers if p.title.startswith("Relative representations"))
    short = index.support.profile("latent spaces of two nets incompatible random init")
    assert "net" in short.unknown
    coverage = index.support.coverage
    unread = dataclasses.replace(short, unknown=frozenset())
    assert coverage(short, relative.paper_id) > coverage(unread, relative.paper_id)
    answer = rag.answer("why are latent spaces of two nets incompatible random init", settings=seed_settings)
    assert not answer.abstained and answer.citations[0].paper_id == relative.paper_id
    # "post" is a word the field writes often: it is not read as "posterior".
    posts = index.support.profile("treatment effects from text such as social media posts")
    assert "post" not in posts.unknown


def test_a_spelled_acronym_is_the_name_the_paper_writes_with_a_hyphen(seed_settings):
    """ "p v r n n the meta prior ..." dictated: joined it is PVRNN, which the paper writes PV-RNN."""
    spoken = "p v r n n the meta prior what happens when it is high or low"
    answer = rag.answer(spoken, settings=seed_settings)
    assert not answer.abstained
    assert "Variational RNN" in answer.citations[0].title
    # The letters of a measure the abstract never reports make the question unanswered.
    assert rag.answer(
        "binary latent diffusion what f i d on imagenet two fifty six compared to ldm", settings=seed_settings
    ).abstained
