"""Does a paper actually answer the question? Signals for citing and for abstaining.

A similarity threshold alone cannot tell "asks about DiffuseVAE's FID on
ImageNet" (close, unanswerable) from a paraphrase that shares no words with
its paper (far, answerable). So support combines three signals:

- ``similarity``: cosine of the paper's closest sentence to the question;
- ``coverage``: the IDF-weighted share of the question's terms the paper contains
  (words that frame the request, "summarize", "here", "each one", do not count);
- ``missing``: named things the question asks about (``ImageNet``, ``CIFAR-100``,
  ``BigGAN``, ``wav2vec``) that the paper never mentions. Acronyms count as
  present when the paper spells them out ("VAE" ~ "variational autoencoder");
- ``margin``: how far the paper's similarity stands above the next papers'; a
  question about something the collection lacks tends to match several
  neighbouring papers equally weakly;
- ``outside``: how much better the closest paper *outside* the collection fits
  the question (``rag/background.py``); "neural video compression" fits an image
  compression paper well, and video compression papers elsewhere better;
- ``outside_terms``: how much more of the question's rare words (IDF-weighted;
  words in 5% or more of the background's papers do not count) the best of the
  closest papers outside the collection contains than the paper does: the word
  the paper lacks ("social media") is where a neighbouring topic shows, while a
  paraphrase's other words are in no paper at all;
- ``length``: how far past ten words the question runs, since a long question's
  incidental words lower coverage without saying anything about the paper.

A logistic model over these, fitted on the labeled validation questions
(``bench/calibrate.py``), gives the probability that the paper answers. Rules
override it where one word decides: a paper does not answer a question that asks
to choose between two rare words of the field ("random forests or gradient
boosting?") when it names neither; that is about a kind of data or detail (video,
speech, graphs, 3D, molecules, LLMs, learning rates, GPU hours: ``MODALITIES``)
when it has no word for it; that states a number it never gives ("10,000
programmers", "a 10x speed-up") or a change it reports the other way round; that
asks why it needs what it says it does without ("why does it need labeled data?" of
a paper that works "without the need for labels") or why it does badly where it
reports doing well; that asks which datasets it used when it names none; that asks
for a comparison with a method it never names; or that asks who wrote it, or when
or where it appeared (abstracts never say).
"""

from __future__ import annotations

import functools
import itertools
import math
import re
import sys
from bisect import bisect_left
from collections import Counter
from collections.abc import Container, Iterable, Iterator, KeysView, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .corpus import Paper
from .facets import (
    OR_RE,
    SENTENCE_END,
    asked,
    asks_code,
    asks_definition,
    asks_details,
    asks_in_general,
    asks_which_data,
    changes,
    contrasts,
    counts_data,
    data_sentences,
    defines,
    describes_data,
    extension_subject,
    extension_targets,
    gives_code,
    gives_detail,
    number_choices,
    numbers_in,
    reverses,
    stated_numbers,
)
from .glossary import Entry, Glossary
from .lexical import LexicalIndex, stopwords, terms, within_one_edit
from .lexical import words as raw_words
from .premises import (
    OPPOSITES,
    bad_outcomes,
    preferences,
    prefers_other,
    presupposed_contraries,
    presupposed_drops,
    presupposed_modifiers,
    presupposed_uses,
    presupposes_without,
    reports_opposite,
    says_opposite,
    states_contrary,
    still_uses,
)

if TYPE_CHECKING:
    import numpy as np

    from .background import Background

# Fitted by bench/calibrate.py on the 528 validation questions; see README. WEIGHTS when
# a background is available (the default), WEIGHTS_ALONE when not (another embedding
# model). Fitted before misspellings were read (``_spelling``): a refit after it moves
# no weight by more than 0.3 and abstains the same when a set is left out, but turns
# "What datasets are used for evaluating unlearning?" into a refusal, so this fit stays.
WEIGHTS = {
    "bias": -3.41, "similarity": 1.18, "coverage": 6.91, "missing": -2.64, "margin": -2.28, "length": 2.38,
    "outside": -5.22, "outside_terms": -1.76,
}  # fmt: skip
WEIGHTS_ALONE = {
    "bias": -5.81, "similarity": 2.92, "coverage": 8.64, "missing": -2.61, "margin": 1.7, "length": 2.74
}  # fmt: skip
FEATURES = ("similarity", "coverage", "missing", "margin", "length", "outside", "outside_terms")
THRESHOLD = 0.5
# How many of its words a place a question asks a method to reach must lack in a paper
# (``QuestionProfile.reach``).
REACH_MISSING = 2
# Questions up to this many words count as short; coverage is diluted only in longer ones.
SHORT = 10

# A term of this many letters or more that no paper has may abbreviate a longer word
# of a paper, one that runs at least ``ABBREVIATED`` letters further ("dim": "dimension").
ABBREVIATION = 3
ABBREVIATED = 3
_WORD_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9+\-_.']*[A-Za-z0-9+]|[A-Za-z0-9]")
_ACRONYM_RE = re.compile(r"\(([A-Za-z][A-Za-z0-9\-]{1,11}?)s?\)")
# What may follow a name and still mean it: "CelebA-HQ-128", "github.com/...".
_NAME_SUFFIX = re.compile(r"\d+|com|io|org")
_FAMILY_RE = re.compile(r"([A-Za-z]{3,})-\d")
_SIZE_RE = re.compile(r"(\d+)x(\d+)")
_SENTENCE_START = re.compile(r"(?:^|[.?!:;]\s+|\n)(\w+)")
# "I'd", "I've": capitalized, never a name.
_MULTIPLIER_RE = re.compile(r"\d+(?:\.\d+)?[xX×]")
_CONTRACTION_RE = re.compile(r"I'(?:m|d|ve|ll)", re.I)
# An acronym as a question writes it: "PDE", "PDEs", "EM".
_INITIALISM_RE = re.compile(r"[A-Z]{2,6}s?")
_INITIAL_WORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*")
# What a two-letter acronym may stand for: "Expectation-Maximization", "Monte Carlo".
_TWO_WORDS_RE = re.compile(r"\b([A-Za-z])[a-z]*-([A-Za-z])|\b([A-Z])[a-z]+\s+([A-Z])[a-z]")


def entity_key(token: str) -> str:
    """Normalize a name for matching: lower case, alphanumerics only, no plural s."""
    token = re.sub(r"-(like|based|style|type|driven|inspired)$", "", token.lower())
    key = re.sub(r"[^a-z0-9]", "", token)
    return key[:-1] if len(key) > 3 and key.endswith("s") and not key.endswith("ss") else key


def _is_entity(token: str, sentence_initial: bool) -> bool:
    """A token that names a specific thing: mixed case, digits, or a capitalized non-initial word."""
    core = token.strip("-_.'")
    if len(core) < 2 or not any(c.isalpha() for c in core):
        return False
    if any(c.isdigit() for c in core):
        return True
    if any(c.isupper() for c in core[1:]):
        return True
    return core[0].isupper() and not sentence_initial


# Initialisms of the whole field or of the asker's world, which name nothing a paper
# must mention: "AI image generators", "debiased ML estimators", "I'm a PM".
_GENERIC_NAMES = frozenset({"ai", "ais", "ml", "pm", "phd", "ceo", "faq"})
# A word of plain English in a hyphenated name: "VAE-plus-diffusion", "AI-generated".
_PLAIN_PART = re.compile(r"[a-z]{3,}")


def _name_part(token: str) -> str:
    """The named part of a hyphenated token: "VAE-plus-diffusion" -> "VAE".

    The parts before its first plain lower-case word; the whole token when it
    starts with one ("non-IID") or has none ("CelebA-HQ-128").
    """
    parts = token.split("-")
    for i, part in enumerate(parts):
        if _PLAIN_PART.fullmatch(part):
            return "-".join(parts[:i]) if i else token
    return token


def question_entities(question: str, cased: Container[str] = ()) -> list[str]:
    """Named things in a question, as entity keys ("CIFAR-100" -> "cifar100").

    In a question typed all in lower case, a word some paper writes in mixed case
    (``cased``: "celeba" for "CelebA") is a name too.
    """
    initial = {m.start(1) for m in _SENTENCE_START.finditer(question)}
    # All-caps or all-lower questions carry no case signal; only digits count then.
    no_case = question.upper() == question or question.lower() == question
    out = []
    for m in _WORD_RE.finditer(question):
        token = m.group(0)
        if _CONTRACTION_RE.fullmatch(token) or _MULTIPLIER_RE.fullmatch(token):
            continue  # "I'm"; "10x" is a stated number (``facets.stated_numbers``), not a name
        if no_case:
            keep = (any(c.isdigit() for c in token) and any(c.isalpha() for c in token)) or (
                question.lower() == question and entity_key(token) in cased
            )
        else:
            keep = _is_entity(token, m.start() in initial)
        if keep:
            key = entity_key(_name_part(token))
            if key and key not in out and key not in _GENERIC_NAMES:
                out.append(key)
    return out


def _long_form(words: list[str], acronym: str) -> list[str] | None:
    """Schwartz-Hearst: the shortest run of words ending here that spells ``acronym``."""
    text = " ".join(words)
    s, lf = len(acronym) - 1, len(text) - 1
    acronym = acronym.lower()
    text_l = text.lower()
    while s >= 0:
        c = acronym[s]
        if not c.isalnum():
            s -= 1
            continue
        while lf >= 0 and (text_l[lf] != c or (s == 0 and lf > 0 and text_l[lf - 1].isalnum())):
            lf -= 1
        if lf < 0:
            return None
        lf -= 1
        s -= 1
    start = text.rfind(" ", 0, lf + 1) + 1
    found = text[start:].split()
    return found if len(found) <= len(acronym) + 2 else None


def acronyms(texts: list[str]) -> dict[str, frozenset[str]]:
    """Map acronym keys to the stemmed terms of their long forms, from "long form (LF)" text."""
    out: dict[str, set[str]] = {}
    for text in texts:
        for m in _ACRONYM_RE.finditer(text):
            acronym = m.group(1)
            if sum(c.isupper() for c in acronym) < 2:
                continue
            before = text[: m.start()].split()[-(len(acronym) + 2) :]
            long_form = _long_form(before, acronym)
            if long_form:
                out.setdefault(entity_key(acronym), set()).update(terms(" ".join(long_form)))
    return {k: frozenset(v) for k, v in out.items() if v}


@dataclass(frozen=True, slots=True)
class Evidence:
    """The support signals of one paper for one question."""

    similarity: float
    coverage: float
    missing: tuple[str, ...]
    margin: float
    probability: float
    length: float = 0.0
    outside: float = 0.0
    outside_terms: float = 0.0
    fitted: float = 0.0  # the model's probability, before a rule set it to 0 (see ``judge``)
    false_premise: bool = False  # the paper states otherwise than the question takes as given

    def features(self) -> tuple[float, ...]:
        """The model's inputs, in ``FEATURES`` order."""
        missing = float(len(self.missing))
        outside = (self.outside, self.outside_terms)
        return (self.similarity, self.coverage, missing, self.margin, self.length, *outside)

    @property
    def supported(self) -> bool:
        """True when the paper is judged to answer the question."""
        return self.probability >= THRESHOLD


class _LongForms(Mapping[str, frozenset[str]]):
    """Acronym -> terms of its long forms over the live papers, kept by reference counts."""

    def __init__(self) -> None:
        self._counts: dict[str, Counter[str]] = {}
        self._frozen: dict[str, frozenset[str]] = {}

    def change(self, found: dict[str, frozenset[str]], sign: int) -> None:
        for key, words in found.items():
            counts = self._counts.setdefault(key, Counter())
            counts.update({w: sign for w in words})
            for w in words:
                if counts[w] <= 0:
                    del counts[w]
            if not counts:
                del self._counts[key]
            self._frozen.pop(key, None)

    def __getitem__(self, key: str) -> frozenset[str]:
        if key not in self._frozen:
            self._frozen[key] = frozenset(self._counts[key])
        return self._frozen[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._counts)

    def __len__(self) -> int:
        return len(self._counts)


class _Words(tuple):
    """A paper's distinct words, sorted and interned: a set in a quarter of a frozenset's memory.

    At 20,000 papers the per-paper word sets were the largest thing a serving
    process held after the vectors; membership is a binary search instead.
    """

    __slots__ = ()

    def __new__(cls, words: Iterable[str]) -> _Words:
        return super().__new__(cls, sorted({sys.intern(w) for w in words}))

    def __contains__(self, word: object) -> bool:
        i = bisect_left(self, word)
        return i < len(self) and self[i] == word

    def extends(self, prefix: str) -> bool:
        """True when a word starts with ``prefix`` and runs ``ABBREVIATED`` letters past it."""
        i = bisect_left(self, prefix)
        while i < len(self) and self[i].startswith(prefix):
            if len(self[i]) >= len(prefix) + ABBREVIATED:
                return True
            i += 1
        return False


class SupportModel:
    """Scores how well a paper supports a question, over a collection that changes.

    Per-paper facts (terms, names, acronyms) are computed once when a paper is
    added, so an update of n papers costs n papers, not the collection.
    """

    def __init__(
        self, lexical: LexicalIndex, background: Background | None = None, glossary: Glossary | None = None
    ) -> None:
        """Start empty; ``add`` papers as they are indexed.

        ``background``: see ``rag/background.py``; ``glossary``: everyday words for the
        field's terms (``rag/glossary.py``), ``None`` for none.
        """
        self._lexical = lexical
        self.background = background
        self.glossary = glossary
        self._terms: dict[str, _Words] = {}
        self._names: dict[str, _Words] = {}
        self._paper_acronyms: dict[str, dict[str, frozenset[str]]] = {}
        self._papers: dict[str, Paper] = {}
        self.long_forms = _LongForms()
        self._title_names: Counter[str] = Counter()
        self._paper_names: Counter[str] = Counter()  # one-word names papers go by (``_single_names``)
        self._name_terms: dict[str, frozenset[str]] = {}  # their terms, per paper
        self._cased = _CasedNames()
        self._last_profile: tuple[tuple[str, bytes | None], QuestionProfile] | None = None

    @classmethod
    def build(
        cls,
        papers: Iterable[Paper],
        lexical: LexicalIndex,
        background: Background | None = None,
        glossary: Glossary | None = None,
    ) -> SupportModel:
        """A model over ``papers`` (for scripts; the index adds papers one by one)."""
        model = cls(lexical, background, glossary)
        for paper in papers:
            model.add(paper)
        return model

    def add(self, paper: Paper, tokens: Sequence[str] | None = None) -> None:
        """Take in a paper (``tokens``: its ``terms``, when already computed)."""
        self._last_profile = None  # term weights change with the collection
        text = f"{paper.title} {paper.abstract}"
        pid = paper.paper_id
        self._papers[pid] = paper
        self._terms[pid] = _Words(terms(text) if tokens is None else tokens)
        words = _WORD_RE.findall(text)
        # "Llama-3-8B-Instruct" is a Llama model: its family is a name the paper gives.
        families = (m[1] for t in words if (m := _FAMILY_RE.match(t)))
        self._names[pid] = _Words(entity_key(t) for t in (*words, *families))
        found = acronyms([paper.abstract])
        self._paper_acronyms[pid] = found
        self.long_forms.change(found, +1)
        self._title_names.update(set(_title_names(paper.title)))
        single = _single_words(paper)
        self._paper_names.update({entity_key(n) for n in single})
        self._name_terms[pid] = frozenset(t for n in single for t in terms(n))
        self._cased.add(words)

    def remove(self, paper: Paper) -> None:
        """Forget a paper (the same object or version that was added)."""
        self._last_profile = None
        pid = paper.paper_id
        self._papers.pop(pid, None)
        self._terms.pop(pid, None)
        self._names.pop(pid, None)
        self.long_forms.change(self._paper_acronyms.pop(pid, {}), -1)
        _discount(self._title_names, set(_title_names(paper.title)))
        _discount(self._paper_names, _single_names(paper))
        self._name_terms.pop(pid, None)
        self._cased.remove(_WORD_RE.findall(f"{paper.title} {paper.abstract}"))

    @property
    def title_names(self) -> KeysView[str]:
        """Names in some title: a question naming one is about that paper, not a follow-up."""
        return self._title_names.keys()

    def _mentions(self, paper_id: str, name: str, initialism: bool = False, typo: bool = False) -> bool:
        """True when the paper names ``name``; an ``initialism`` also counts when spelled out.

        A ``typo`` (a name no paper of the field has, "Linkdin") also counts when the
        paper has a name one edit from it ("LinkedIn").
        """
        names = self._names[paper_id]
        if name in names or (typo and any(within_one_edit(name, n) for n in names)):
            return True
        # "CelebA-HQ" is mentioned by a paper that says "CelebA", or "CelebA-HQ-128".
        if len(name) >= 6 and any(len(n) >= 5 and name.startswith(n) for n in names):
            return True
        longer = (n[len(name) :] for n in names if len(name) >= 4 and n.startswith(name))
        if any(_NAME_SUFFIX.fullmatch(rest) for rest in longer):
            return True
        if self._spells_out(paper_id, name):
            return True
        paper = self._papers[paper_id]
        size = _SIZE_RE.fullmatch(name)
        if size and re.search(rf"\b{size[1]}\s*(?:x|×|\*|times|by)\s*{size[2]}\b", paper.abstract):
            return True  # "1024x1024" as an abstract writes it: "1024 × 1024", "1024 times 1024"
        return initialism and spells_out(f"{paper.title} {paper.abstract}", name)

    def judge(self, profile: QuestionProfile, paper_id: str, similarity: float, margin: float) -> Evidence:
        """Judge whether a paper answers a question.

        Args:
            profile: The question's terms and names (``profile``).
            paper_id: The paper.
            similarity: Cosine of the paper's closest chunk to the question.
            margin: ``similarity`` minus the mean of the next papers' similarities.

        """
        coverage = self.coverage(profile, paper_id)
        missing = tuple(
            n
            for n in profile.names
            if not self._mentions(paper_id, n, n in profile.initialisms, n in profile.misspelled)
        )
        paper = self._papers[paper_id]
        if "comparison" in profile.facets and missing and set(profile.names) & set(_title_names(paper.title)):
            # "VLUCI vs Causal Diffusion Autoencoders": in a paper the question names, the
            # other paper's name is not missing; each answers its part.
            missing = tuple(n for n in missing if n not in self._title_names)
        elif missing and names_paper(profile.question, paper.title, own_names(paper.abstract)):
            # "The code for DiffuseVAE and for CycleDiffusion": the name of another paper
            # (not a word of its title: "RNN") is not missing from the one named beside it.
            missing = tuple(n for n in missing if n not in self._paper_names)
        # "on CIFAR-10 or ImageNet": naming one of the alternatives is enough.
        for group in profile.alternatives:
            if any(n not in missing for n in group):
                missing = tuple(n for n in missing if n not in group)
        known = profile.outside is not None
        outside = profile.outside - similarity if known else 0.0
        outside_terms = 0.0
        if known and profile.topical:
            have = self._terms[paper_id]
            mine = _coverage(profile.topical, profile.term_alternatives, have, profile.glossary)
            outside_terms = profile.outside_coverage - mine
        values = (similarity, coverage, float(len(missing)), margin, profile.length, outside, outside_terms)
        weights = WEIGHTS if known else WEIGHTS_ALONE
        z = weights["bias"] + sum(weights.get(f, 0.0) * v for f, v in zip(FEATURES, values, strict=True))
        p = 1.0 / (1.0 + math.exp(-z))
        # "Were random forests or gradient boosting used?" asks the paper to choose, and
        # "video diffusion models" are not image diffusion models: a paper that names
        # neither alternative, or not the kind of data asked about, does not answer,
        # however well it fits the rest.
        has = self._has
        unanswered = tuple("/".join(g) for g in profile.required if not any(has(paper_id, t) for t in g))
        premise: tuple[str, ...] = ()
        if (
            profile.numbers
            or profile.changes
            or profile.uses
            or profile.bad
            or profile.modifiers
            or profile.contraries
            or profile.preferred
            or profile.dropped
        ):
            # "a user study with 10,000 programmers" (it had 535), "raised it from 33.4% to
            # 74.4%" (it fell from 74.4% to 33.4%): a premise the paper does not state.
            paper = self._papers[paper_id]
            text = f"{paper.title} {paper.abstract}"
            stated = numbers_in(text)
            unstated = profile.numbers - stated
            for left, right in profile.number_choices:
                if left <= stated or right <= stated:  # "a 3.18x speed-up or a 10x one?"
                    unstated -= left | right
            premise = tuple(sorted(unstated))
            if reverses(profile.changes, text):
                premise += ("reversed change",)
            # "Why does LAF need fully labeled data?" of a paper that works "without labels".
            if presupposes_without(profile.uses, text):
                premise += ("done without",)
            if reports_opposite(profile.bad, paper.abstract):
                premise += ("reports the opposite",)
            if says_opposite(profile.modifiers, text):
                premise += ("says the opposite",)
            if states_contrary(profile.contraries, text):
                premise += ("states the contrary",)
            if prefers_other(profile.preferred, text):
                premise += ("uses the other",)
            if still_uses(profile.dropped, text):
                premise += ("still uses it",)
            unanswered += premise
        if profile.metadata:
            unanswered += ("authors or date",)
        if profile.general:
            unanswered += ("a general question",)
        # "How does NoiseCLR compare with Prompt-to-Prompt and SDEdit?": an abstract that
        # never names them cannot say. (A paper of the collection named there is left to
        # the comparison of the two papers.)
        unanswered += tuple(n for n in missing if n in profile.compared and n not in self._title_names)
        abstract = self._papers[paper_id].abstract
        if profile.code and not gives_code(abstract):
            unanswered += ("code",)
        unanswered += tuple(kind for kind, said in profile.details if not gives_detail(kind, said, abstract))
        # "Can inverse dynamics pretraining be used for offline RL with reward labels?" of a
        # paper on imitation: the place lacks two of its words or more. One word the paper
        # lacks is often a paraphrase ("can DiffuseVAE be used for faster sampling?" of its
        # "speed vs quality tradeoff"), so it is not enough.
        lacking = (sum(not has(paper_id, t) for t in g) for g in profile.reach)
        if profile.reach and all(n >= REACH_MISSING for n in lacking):
            unanswered += ("not applied there",)
        # "Does the concept space analysis of hidden capabilities carry over to RL agents?" is
        # not answered by an RL paper that has no concept space: the paper must have at
        # least half of what is asked to reach.
        elif profile.reach and 2 * sum(has(paper_id, t) for t in profile.subject) < len(profile.subject):
            unanswered += ("about another method",)
        if profile.definition and not self._defines(profile, paper_id):
            unanswered += ("not defined there",)
        if profile.which_data and not self._names_data(paper_id, counted=profile.which_data == "any"):
            unanswered += ("datasets",)
        fitted = p
        if unanswered:
            missing, p = missing + unanswered, 0.0
        values = (similarity, coverage, missing, margin, p, profile.length, outside, outside_terms)
        return Evidence(*values, fitted=fitted, false_premise=bool(premise))

    def _defines(self, profile: QuestionProfile, paper_id: str) -> bool:
        """True when the paper answers a textbook question (``facets.asks_definition``).

        It does when the thing asked about is the paper's own (its name, or a name
        the paper uses, in the thing or beside it), or when the paper says what it is;
        "the difference between A and B" needs a sentence with both, unless one of them
        is the paper.
        """
        paper = self._papers[paper_id]
        own = own_names(paper.abstract)
        if any(names_paper(thing, paper.title, own) for thing in profile.definition):
            return True
        if len(profile.definition_terms) == 2:
            return contrasts(paper.title, paper.abstract, *profile.definition_terms)
        # A name of the thing ("the MM-GPVAE model"), or of where it is asked about ("the
        # intervention extrapolation task studied in Rep4Ex"), that the paper gives.
        if any(
            self._mentions(paper_id, n, n in profile.initialisms, n in profile.misspelled)
            for n in profile.names
        ):
            return True
        return defines(paper.title, paper.abstract, profile.definition[0], profile.definition_terms[0])

    def _names_data(self, paper_id: str, counted: bool) -> bool:
        """True when the paper names a dataset or (``counted``) says how many (``facets``).

        A name counts in a sentence about data or experiments when it is written
        like one ("MNIST", "CelebA-HQ", "CIFAR-10": capitals inside a word, or
        digits; "Drosophila": a capitalized word inside a sentence; not
        "Click-Through-Rate"), unless it is the paper's own (in its title, or an
        acronym it defines: "LAF").
        """
        paper = self._papers[paper_id]
        own = set(_title_names(paper.title)) | set(self._paper_acronyms[paper_id])
        return any(
            (counted and counts_data(s)) or any(entity_key(t) not in own for t in _dataset_like(s))
            for s in data_sentences(paper.abstract)
        ) or (counted and describes_data(paper.abstract))

    def _has(self, paper_id: str, term: str) -> bool:
        """True when the paper has the term, or spells out the acronym it is ("rl")."""
        return term in self._terms[paper_id] or self._spells_out(paper_id, term)

    def _spells_out(self, paper_id: str, acronym: str) -> bool:
        """True when the paper has every term of the acronym's long form in the collection."""
        long_form = self.long_forms.get(acronym)
        have = self._terms[paper_id]
        return bool(long_form) and all(t in have for t in long_form)

    def coverage(self, profile: QuestionProfile, paper_id: str) -> float:
        """The IDF-weighted share of the question's terms that the paper contains.

        A term no paper has that begins a word of this one ("dim" of "dimension",
        "nets" of "network") is the word, abbreviated as search-box queries do; one
        that is a name this paper writes with a hyphen ("PVRNN": "PV-RNN") is the name.
        """
        weights = profile.content or profile.weights
        have, names = self._terms[paper_id], self._names[paper_id]
        read_as = [t for t in profile.unknown if t in weights and (have.extends(t) or t in names)]
        return _coverage(weights, profile.term_alternatives, have, profile.glossary, read_as)

    def name_terms(self, paper_id: str) -> frozenset[str]:
        """The terms of the one-word names the paper goes by ("CausalDiffAE" -> causaldiffa)."""
        return self._name_terms.get(paper_id, frozenset())

    def has_term(self, paper_id: str, term: str) -> bool:
        """True when the paper's title or abstract contains the (stemmed) term."""
        return term in self._terms[paper_id]

    def topic_term(self, profile: QuestionProfile, paper_id: str) -> str | None:
        """The question's rarest term that the paper contains (None if it has none)."""
        shared = [t for t in profile.weights if t in self._terms[paper_id]]
        return max(shared, key=profile.weights.__getitem__, default=None)

    def profile(self, question: str, vector: np.ndarray | None = None) -> QuestionProfile:
        """Work out a question's weighted terms and names once for several papers.

        ``vector``: the question's embedding; with it (and a background) the
        profile knows how well papers outside the collection fit the question.
        The last profile is kept: retrieval's re-ranker and the composer ask for the
        same question's, and it costs more than a millisecond. (One tuple, swapped
        whole, so concurrent questions never read each other's.)
        """
        key = (question, None if vector is None else vector.tobytes())
        last = self._last_profile
        if last is None or last[0] != key:
            made = _profile(question, self._lexical, self.background, vector, self._cased, self.glossary)
            last = (key, made)
            self._last_profile = last
        return last[1]


def _coverage(
    weights: Mapping[str, float],
    alternatives: Sequence[Sequence[str]],
    have: Container[str],
    glossary: Sequence[Entry] = (),
    read_as: Iterable[str] = (),
) -> float:
    """The share of ``weights`` (term -> IDF) whose terms are in ``have`` (or ``read_as`` present)."""
    total = sum(weights.values())
    found = {t for t in weights if t in have}
    found.update(read_as)
    # "pictures taken from orbit" of a paper on "satellite imagery" (``rag/glossary.py``).
    for entry in glossary:
        if entry.covered_by(have):
            found.update(entry.everyday)
    # "with MNIST or with SVHN", "speech or vision": one alternative present is enough.
    for group in alternatives:
        if found.intersection(group):
            found.update(group)
    return sum(w for t, w in weights.items() if t in found) / total if total else 0.0


def _title_names(title: str) -> list[str]:
    return [entity_key(t) for t in _WORD_RE.findall(title)]


def _mixed_case_words(title: str) -> list[str]:
    """Words of a title with capitals inside, not all capitals: "CycleDiffusion", "DiffuseVAE"."""
    return [t for t in _WORD_RE.findall(title) if "-" not in t and t[1:].lower() != t[1:] != t[1:].upper()]


def _discount(counter: Counter[str], keys: Iterable[str]) -> None:
    """Take one off each key's count, dropping the keys that reach zero (a paper removed)."""
    for key in keys:
        counter[key] -= 1
        if counter[key] <= 0:
            del counter[key]


class _CasedNames(Container[str]):
    """Names papers write in mixed case ("CelebA", "StyleGAN"), as keys, counted per paper.

    A key is in it when more papers write it so than all in lower case: "generating"
    is no name because one abstract writes "GENeRATinG".
    """

    def __init__(self) -> None:
        self._mixed: Counter[str] = Counter()
        self._lower: Counter[str] = Counter()

    @staticmethod
    def _split(words: Iterable[str]) -> tuple[set[str], set[str]]:
        long = [w for w in words if len(w) >= 4]
        mixed = {entity_key(w) for w in long if re.search(r"[a-z][A-Z]", w)}
        return mixed, {entity_key(w) for w in long if w.islower()}

    def add(self, words: Iterable[str]) -> None:
        mixed, lower = self._split(words)
        self._mixed.update(mixed)
        self._lower.update(lower)

    def remove(self, words: Iterable[str]) -> None:
        mixed, lower = self._split(words)
        _discount(self._mixed, mixed)
        _discount(self._lower, lower)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._mixed.get(key, 0) > self._lower.get(key, 0)


def _single_names(paper: Paper) -> set[str]:
    """The one-word names a question may call the paper by ("DiffuseVAE", "CycleDiffusion"), as keys."""
    return {entity_key(n) for n in _single_words(paper)}


def _single_words(paper: Paper) -> list[str]:
    head = paper.title.split(":")[0]
    found = [head] if " " not in head.strip() else []
    found += _mixed_case_words(paper.title)
    return found + [n for n in own_names(paper.abstract) if " " not in n]


def _phrase(text: str) -> str:
    """Lower-case words joined by single spaces and padded, for whole-word phrase search."""
    words = (w.removesuffix("'s") for w in _WORD_RE.findall(text.lower().replace("-", " ")))
    return f" {' '.join(words)} "


# How an abstract names its own method: "we propose Householder Projector, ...", "our
# tokenizer (DiGIT)", "we propose CausalDiffAE". A name is capitalized words or a word
# with capitals inside it; "we propose a novel ..." names nothing.
_CAPITALIZED = r"[A-Z][\w+-]*(?:\s+[A-Z][\w+-]*){0,3}"
_OWN_NAME_RE = re.compile(
    rf"\b(?i:we (?:propose|introduce|present|call|name|dub|term)|called|dubbed|named|termed)\s+"
    rf"({_CAPITALIZED})|"
    rf"\b(?i:our|proposed|novel|we (?:propose|introduce|present))\s+(?:[\w,-]+\s+){{0,8}}?"
    rf"\(([A-Za-z][\w+-]{{1,15}})\)"
)


@functools.lru_cache(maxsize=4096)
def own_names(abstract: str) -> tuple[str, ...]:
    """The names an abstract gives its own method ("Householder Projector", "DiGIT")."""
    found = (m[1] or m[2] for m in _OWN_NAME_RE.finditer(abstract))
    named = (n for n in found if " " in n or n[1:].lower() != n[1:] or (len(n) >= 3 and n.isupper()))
    return tuple(dict.fromkeys(named))


def names_paper(question: str, title: str, own: Sequence[str] = ()) -> bool:
    """True when the question names the paper.

    A paper's names: the part of its title before a colon ("DiffuseVAE", "Smooth
    Diffusion") or a short title itself, mixed-case words in it ("CycleDiffusion"),
    and the ``own_names`` its abstract gives its method. Hyphens count as spaces
    ("Adapt-then-Unlearn" names "Adapt then Unlearn").
    """
    head = title.split(":")[0]
    names = [head] if len(head.split()) <= 4 else []
    names += _mixed_case_words(title)
    asked = _phrase(question)
    return any(_phrase(name) in asked for name in (*names, *own))


@dataclass(frozen=True, slots=True)
class QuestionProfile:
    """A question's content terms (IDF-weighted) and named things."""

    weights: dict[str, float]
    names: tuple[str, ...]
    alternatives: tuple[tuple[str, ...], ...] = ()
    term_alternatives: tuple[tuple[str, ...], ...] = ()
    initialisms: frozenset[str] = frozenset()
    misspelled: frozenset[str] = frozenset()  # names that look like typos (see ``_spelling``)
    outside: float | None = None  # cosine of the closest background paper, when known
    topical: dict[str, float] = field(default_factory=dict)  # weights of the terms rare in the background
    outside_coverage: float = 0.0  # the best coverage of those among the closest background papers
    length: float = 0.0  # log(words / SHORT), 0 if shorter: a long question's terms are partly incidental
    content: dict[str, float] = field(default_factory=dict)  # ``weights`` without the framing words
    # Term groups a paper must have one of to answer: "A or B" asked between rare words,
    # and the kinds of data the question is about (``MODALITIES``; see ``judge``).
    required: tuple[tuple[str, ...], ...] = ()
    numbers: frozenset[str] = frozenset()  # numbers the question states (``facets.stated_numbers``)
    number_choices: tuple[tuple[frozenset[str], frozenset[str]], ...] = ()  # either side of "or"
    changes: tuple[tuple[str, str], ...] = ()  # "from A to B" (``facets.changes``)
    metadata: bool = False  # asks who wrote the paper, or when or where it appeared
    uses: frozenset[str] = frozenset()  # what a why/how question takes the paper to need (``facets``)
    compared: frozenset[str] = frozenset()  # names it asks the paper to be compared with
    which_data: str = ""  # asks which datasets: "any" or by "names" (``facets.asks_which_data``)
    bad: tuple[frozenset[str], ...] = ()  # what a why-question takes to go badly (``facets``)
    facets: frozenset[str] = frozenset()  # what it asks of a paper (``facets.asked``)
    code: bool = False  # asks whether or where the code is available (``facets.asks_code``)
    # Where a yes/no question asks a method to reach ("... for speech or video?"), as the
    # terms of each alternative (``facets.extension_targets``); a paper must have one's all.
    reach: tuple[tuple[str, ...], ...] = ()
    subject: tuple[str, ...] = ()  # the terms of what it asks to reach (``facets.extension_subject``)
    general: bool = False  # asks for a claim about everything (``facets.asks_in_general``)
    # "a very low weight decay" taken as given: (low, weight) (``premises.presupposed_modifiers``).
    modifiers: frozenset[tuple[str, str]] = frozenset()
    # "A instead of B" taken as given, as the terms of each (``premises.preferences``).
    preferred: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()
    contraries: tuple[int, ...] = ()  # contrasts it takes one side of (``premises.presupposed_contraries``)
    dropped: tuple[str, ...] = ()  # names it says the paper dropped (``premises.presupposed_drops``)
    # The things a textbook question asks to define or tell apart, as written and as
    # (spelling-corrected) terms (``facets.asks_definition``).
    definition: tuple[str, ...] = ()
    definition_terms: tuple[tuple[str, ...], ...] = ()
    # Details abstracts seldom give, with the terms the question already says (``facets.asks_details``).
    details: tuple[tuple[str, frozenset[str]], ...] = ()
    question: str = ""  # as asked
    glossary: tuple[Entry, ...] = ()  # its everyday words the glossary knows (``rag/glossary.py``)
    unknown: frozenset[str] = frozenset()  # its terms no paper has, nor writes often in the field


# Questions about the collection rather than one paper: "Which papers ...", "Is there ...".
_SEARCH_RE = re.compile(
    r"\bpapers?\b|\bany (?:work|method|study|approach)\b|\bis there\b|\bwhich ones\b", re.I
)
_OR_RE = re.compile(r"\s*(?:,\s*)?\bor\b\s*|\s*/\s*", re.I)


def or_alternatives(question: str) -> tuple[tuple[str, ...], ...]:
    """Names the question offers as alternatives: "on CIFAR-10 or ImageNet" -> (cifar10, imagenet)."""
    parts = _OR_RE.split(question)
    groups = []
    for left, right in itertools.pairwise(parts):
        before, after = question_entities(left)[-1:], question_entities(right)[:1]
        if before and after:
            groups.append((*before, *after))
    return tuple(groups)


_OPEN_CHOICE = re.compile(r"(?:\w+\s+)?(?:other|another|else|not|something|anything|neither)\b", re.I)


def or_term_alternatives(question: str, *, choices: bool = False) -> tuple[tuple[str, ...], ...]:
    """The content terms either side of each "or": "speech or vision models" -> (speech, vision).

    ``choices``: only a spelled-out "or", not a slash ("chosen/rejected pairs" is one
    thing), and the words that tell the two sides apart: "a humanoid robot or an
    industrial robot arm" -> (humanoid, industrial), not (robot, industrial).
    """
    parts = (OR_RE if choices else _OR_RE).split(question)
    groups = []
    for left, right in itertools.pairwise(parts):
        if choices and _OPEN_CHOICE.match(right):
            continue  # "beam search or some other procedure" leaves the choice open
        tail, head = terms(left)[-3:], terms(right)[:3]
        if choices:
            tail, head = [t for t in tail if t not in head], [t for t in head if t not in tail]
        before, after = tail[-1:], head[:1]
        if before and after and before != after:
            groups.append((*before, *after))
    return tuple(groups)


def joined(words: Sequence[str], cased: Container[str], lexical: LexicalIndex) -> list[str]:
    """``words`` with neighbours joined where they spell a name the collection writes as one.

    Dictated and hurried questions split names: "part slip" for PartSLIP, "car
    racing" for CarRacing, "causal diff ae" for CausalDiffAE. Two or three words are
    joined when papers write them as one word in mixed case (``_CasedNames``) that is
    one term too (CelebA-HQ is two: "celeba", "hq"); "pre trained" stays apart, since
    "pretrained" is no name.
    """

    def name(run: Sequence[str]) -> bool:
        word = "".join(run)
        return word.isalpha() and entity_key(word) in cased and lexical.known(next(iter(terms(word)), ""))

    out: list[str] = []
    i = 0
    while i < len(words):
        size = next((n for n in (3, 2) if i + n <= len(words) and name(words[i : i + n])), 1)
        out.append("".join(words[i : i + size]))
        i += size
    return out


def _spelling(
    term: str, lexical: LexicalIndex, background: Background | None, word: str | None = None
) -> str | None:
    """The collection's term a misspelled question term stands for ("serach" -> "search"), if any.

    Only a word that neither the collection nor the field's papers (the
    background) ever use is taken for a typo: "video" is a real word that the
    collection lacks, which is what abstention must see. ``word``: the term's
    unstemmed word, corrected itself when the term has no near neighbour
    ("modalites" -> "modalities" -> "modal").
    """
    if background is None or len(term) < 5 or not term.isalpha() or term in background.words:
        return None
    if lexical.known(term):
        return None
    return lexical.nearest_known(term) or (lexical.nearest_known_word(word) if word else None)


# Words that frame a request rather than name its content: "Summarize what X is
# designed to do", "which papers here tackle ...", "what does each one focus on".
# A paper need not contain them to answer, so coverage does not count them (sentence
# choice still does: "compared" asks for a comparison sentence).
_FRAME = frozenset(
    terms(
        "summarize summary summarise overview nutshell gist briefly brief main idea here collection "
        "tackle tackles deal deals handle focus focuses seem seems each one two three both change changes "
        "original compared compare comparison differ difference differences designed design propose "
        "proposes contribution contributions aim aims goal mention mentions discuss discusses cover "
        "covers exactly actually really basically specifically particular report reports reported get gets "
        "make makes need needs my our lot lots just anyone anybody somebody someone worry worries worried "
        "check wonder wondering curious kind kinds sort sorts run runs ran put somewhere anywhere think "
        "end ends fix fixes solve solves address addresses"
    )
)


# Words that qualify a place rather than name it ("real clinical data", "better image
# editing", "smaller embedding tables"): the reach rule does not count them.
_GENERIC = frozenset(
    terms(
        " ".join(OPPOSITES)
        + " real new other different various best good similar same many across over under also "
        "actual general specific standard typical common existing whole entire happen occur"
    )
)


# The words of a request that a rule checks instead of coverage: "is the source code
# publically available, where's the repo" is answered by an abstract that gives its code
# (``gives_code``) in whatever words; "what does VLUCI stand for" by one that spells it out.
_CODE_WORDS = frozenset(
    terms("code source available publicly public open repo repository github release released link where")
)
_STANDS_FOR = re.compile(r"\bstands?\s+for\b", re.I)


def _requested(question: str) -> frozenset[str]:
    """The question's request words that a rule, not coverage, checks (``_CODE_WORDS``, "stand for")."""
    found = _CODE_WORDS if asks_code(question) else frozenset()
    return found | ({"stand"} if _STANDS_FOR.search(question) else frozenset())


# Kinds of data a neighbouring topic swaps in ("video" for an image paper's "image",
# "speech" for a vision model): how a question names the kind, and the words of which
# a paper about it has at least one. Only unambiguous names: "frames", "text",
# "network", a "causal graph" or "factor graph" do not say what data it is about.
MODALITIES = tuple(
    (re.compile(asked, re.I), tuple(sorted(set(terms(words)))))
    for asked, words in (
        (r"\bvideos?\b(?! track)", "video videos"),  # "video tracking of the legs" records behaviour
        (
            r"\b(audio|speech|speakers?|acoustic|waveforms?|spectrograms?|music|voices?)\b",
            "audio speech speaker acoustic waveform spectrogram music voice",
        ),
        (
            r"\b(graph neural|gnns?|graph data|graph-structured|on graphs|node embeddings?)\b",
            "graph gnn node",
        ),
        (r"\b(3d|3-d|point clouds?|meshe?s?|voxels?)\b", "3d mesh voxel cloud"),
        (r"\b(molecul\w*|proteins?|drugs?)\b", "molecule molecular protein drug"),
        (r"\b(llms?|(?:large )?language models?|nlp|chatbots?)\b", "llm llms language nlp chatbot text"),
        # Training details an abstract seldom gives: a paper that gives them has their words.
        (
            r"\b(learning rates?|batch sizes?|hyper-?parameters?|epochs?|optimi[sz]ers?|weight decay|"
            r"warm-?up)\b",
            "hyperparameter hyperparameters epoch epochs batch warmup decay",
        ),
        (r"\b(gpus?|gpu[- ]hours?|tpus?)\b", "gpu gpus tpu hours"),
        (r"\b(fmri|eeg|meg|mri|brain scans?)\b", "fmri eeg meg mri scan"),
        (
            r"\b(ehrs?|electronic health records?|medical records?|patient records?|"
            r"clinical (?:trials?|data))\b",
            "ehr health medical patient clinical",
        ),
        (
            r"\b(ct|x-rays?|ultrasound|radiolog\w*|medical imag\w*)\b",
            "ct x ray ultrasound radiolog medical scan",
        ),
    )
)
# "Click-Through-Rate": capitalized words spelling out a term, not a name.
_TITLE_CASE_COMPOUND = re.compile(r"[A-Z][a-z]+(?:-[A-Z][a-z]+)+")


def _dataset_like(sentence: str) -> Iterator[str]:
    """The sentence's names that may be datasets (see ``SupportModel._names_data``)."""
    for m in _WORD_RE.finditer(sentence):
        word = m.group(0)
        if _is_entity(word, m.start() == 0) and not _TITLE_CASE_COMPOUND.fullmatch(word):
            yield word


# What a question compares a paper with: "compared to a plain DDIM", "better than MAML".
_COMPARED_RE = re.compile(r"\b(?:compar\w*\s+(?:\w+\s+)?(?:with|to|against)|than|versus|vs\.?)\s+(.*)", re.I)
# Who wrote a paper, and when or where it appeared: abstracts never say.
_METADATA_RE = re.compile(
    r"\bwho (?:wrote|writes|authored|is (?:the )?(?:author|writ\w*)|are the authors)\b|\bwhich authors?\b|"
    r"\bwritten by\b|(?:^|:\s*)authors?\b|"
    r"\b(?:what|which) (?:year|venue|conference|journal)\b|"
    r"\bwhen was\b.{0,80}\b(?:published|released|written|submitted)\b|\bpublication (?:year|date|venue)\b",
    re.I,
)


def _profile(
    question: str,
    lexical: LexicalIndex,
    background: Background | None,
    vector: np.ndarray | None,
    cased: Container[str] = (),
    glossary: Glossary | None = None,
) -> QuestionProfile:
    def corrected(raw: list[str], stems: list[str]) -> list[str]:
        return [_spelling(t, lexical, background, w) or t for w, t in zip(raw, stems, strict=True)]

    def fixed_terms(text: str) -> list[str]:
        words = raw_words(text)
        return corrected(words, terms(" ".join(words)))

    raw = joined(raw_words(question), cased, lexical)
    stems = terms(" ".join(raw))  # one term per word, in order
    question_terms = corrected(raw, stems)
    fix = dict(zip(stems, question_terms, strict=True))
    weights = {t: lexical.idf(t) for t in dict.fromkeys(question_terms)}
    framing = _FRAME | _requested(question)
    content = {t: w for t, w in weights.items() if t not in framing} or weights
    names = tuple(question_entities(question, cased))
    misspelled = frozenset(n for n in names if _spelling(n, lexical, background))
    alternatives = or_alternatives(question), or_term_alternatives(question)
    everyday = glossary.matches(question, fix) if glossary is not None else ()
    outside, topical, covered, choices = None, {}, 0.0, ()
    if background is not None and vector is not None:
        outside, neighbours = background.nearest(vector)
        topical = {t: w for t, w in content.items() if t not in background.common}
        covered = max(
            (_coverage(topical, alternatives[1], have, everyday) for have in neighbours), default=0.0
        )
        # "random forests or gradient boosting?": a choice between things rare in the field.
        # Asked of a named method, one rare side is enough ("Is the MPNP predictive
        # distribution a transformer or a DeepSets model?"); of the collection ("which
        # papers ... a policy or program"), "better or worse" would be choices.
        rare = any if names and not _SEARCH_RE.search(question) else all
        choices = tuple(
            g
            for g in (tuple(fix.get(t, t) for t in g) for g in or_term_alternatives(question, choices=True))
            if rare(t in topical for t in g)
            and all(t in content for t in g)
            and not _DIRECTIONS.issuperset(g)
        )
    # "Is it about audio synthesis or image generation?" offers the kind; it does not ask for it.
    offers = OR_RE.search(question)
    asked_kinds, kind_names = (
        ((), frozenset()) if offers else _kinds_asked(question, stems, lexical, background)
    )
    # "EHR", "fMRI", "GNNs" name a kind of data: the kind rule judges them (a paper on
    # "health settings" speaks of it), not the name rule.
    names = tuple(n for n in names if n not in kind_names)
    return QuestionProfile(
        weights,
        names,
        *alternatives,
        initialisms=_initialisms(question),
        misspelled=misspelled,
        outside=outside,
        topical=topical,
        outside_coverage=covered,
        glossary=everyday,
        unknown=frozenset(
            t
            for t in question_terms
            if len(t) >= ABBREVIATION
            and t.isalpha()
            and not lexical.known(t)
            and (background is None or t not in background.familiar)
        ),
        length=math.log(max(len(question.split()), SHORT) / SHORT),
        content=content,
        required=choices + asked_kinds,
        numbers=stated_numbers(question),
        number_choices=number_choices(question),
        changes=changes(question),
        metadata=bool(_METADATA_RE.search(question)),
        uses=frozenset(fix.get(t, t) for t in presupposed_uses(question)),  # "text promts": prompt
        compared=frozenset(n for m in _COMPARED_RE.finditer(question) for n in question_entities(m[1]))
        - misspelled,
        which_data=asks_which_data(question),
        bad=bad_outcomes(question),
        facets=asked(question),
        code=asks_code(question),
        details=asks_details(question),
        modifiers=presupposed_modifiers(question),
        contraries=presupposed_contraries(question),
        dropped=presupposed_drops(question),
        preferred=preferences(question),
        general=asks_in_general(question),
        question=question,
        definition=(things := asks_definition(question)),
        definition_terms=tuple(tuple(fixed_terms(t)) for t in things),
        subject=tuple(
            t for t in fixed_terms(extension_subject(question)) if t not in _FRAME and t not in _GENERIC
        ),
        reach=tuple(
            group
            for part in extension_targets(question)
            if (group := tuple(t for t in fixed_terms(part) if t not in _FRAME and t not in _GENERIC))
        ),
    )


# "Did it raise or lower the refusal rate?" asks which way, and "reducing the refusal rate
# from 74.4% to 33.4%" answers in neither word: a choice of direction is no choice of things.
_DIRECTIONS = frozenset(terms("raise lower increase decrease rise fall improve worsen higher more less"))
# A sentence about the asker's own work that asks nothing: "I'm trying to ...", "we record
# ...", "my data" (not "I know Householder reflections are slow on GPUs").
_CONTEXT = re.compile(
    r"^(?!.*\?)(?=.*(?:\b(?:I|we)(?:'m|'re|'ve| am| are| have)?\s+(?:\w+ing|work|do|record|collect|have|use|"
    r"run|build|study|analy[sz]e)\b|\b(?:my|our)\b))",
    re.S,
)


def _kinds_asked(
    question: str, stems: Sequence[str], lexical: LexicalIndex, background: Background | None
) -> tuple[tuple[tuple[str, ...], ...], frozenset[str]]:
    """The ``MODALITIES`` a question is about, and the names it gives them ("EHR" -> ehr).

    A misspelled kind counts too ("speach signals"). ``stems``: the question's terms
    before spelling correction.
    """
    # "I'm clustering medical images from several hospitals. ... Can someone walk me
    # through the steps of its algorithm?": the asker's own data is context, not asked.
    # (A name it gives its data, "my EHR data", is still a kind, not a name papers lack.)
    asked = " ".join(s for s in SENTENCE_END.split(question) if not _CONTEXT.search(s)) or question
    if asked != question:
        stems = terms(" ".join(raw_words(asked)))
    known = background.words if background is not None else frozenset()
    unknown = [t for t in stems if len(t) >= 4 and t.isalpha() and t not in known]
    unknown = [t for t in unknown if not lexical.known(t)]
    kinds, names = [], set()
    for pattern, words in MODALITIES:
        names.update(entity_key(m[0]) for m in pattern.finditer(question))
        if pattern.search(asked) or any(within_one_edit(u, w) for u in unknown for w in words if len(w) >= 5):
            kinds.append(words)
    return tuple(kinds), frozenset(names)


def _initialisms(question: str) -> frozenset[str]:
    """Keys of the acronyms a question writes in capitals ("PDEs" -> "pde"), unless all of it is capitals."""
    if question.upper() == question:
        return frozenset()
    parts = (part for t in _WORD_RE.findall(question) for part in t.split("-"))  # "EM-like"
    return frozenset(entity_key(part) for part in parts if _INITIALISM_RE.fullmatch(part))


def spells_out(text: str, acronym: str) -> bool:
    """True when ``text`` has consecutive words whose initials spell ``acronym`` (a key).

    Papers often never define the acronym a reader uses: "PDEs" for "partial
    differential equations", "EM" for "Expectation-Maximization". Stopwords may
    count or not ("BoW", "bag of words"; "GAN", "generative adversarial
    networks"). A two-letter acronym must come from
    one hyphenated word or two capitalized ones, since any two words have some
    initials.
    """
    if len(acronym) == 2:
        pairs = _TWO_WORDS_RE.finditer(text)
        return any("".join(c for c in m.groups() if c).lower() == acronym for m in pairs)
    stop = stopwords()
    words = _INITIAL_WORD_RE.findall(text.replace("-", " "))
    every = "".join(w[0] for w in words).lower()
    content = "".join(w[0] for w in words if w.lower() not in stop).lower()
    # Skipping stopwords finds some three-letter run in any long abstract ("SAC" in
    # "sampled ... a curriculum"); only longer acronyms may skip them.
    return acronym in every or (len(acronym) > 3 and acronym in content)
