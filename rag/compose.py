"""The extractive composer: choose supporting papers and quote their best sentences.

Only sentences taken verbatim from the cited paper's abstract are written, so
every citation can be checked by a string search. Which papers count as
support is the support model's call (``rag.support``); this module decides how
many to cite, which sentences to quote, and how the answer reads.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .facets import asking_part, asks_quantity, counted, measured, reports_quantity, roles
from .index import Passage
from .lexical import terms
from .support import THRESHOLD, Evidence, QuestionProfile, SupportModel, names_paper, own_names

if TYPE_CHECKING:
    import numpy as np

    from .retrieve import Hit

ABSTAIN_TEXT = "I couldn't find this in the indexed papers."
# Chosen on the dev questions (tests/data/dev_questions.jsonl and the dev split of
# fresh_questions.jsonl, each checked against the other) by bench/calibrate_compose.py:
# how many papers a list names, and how close to the best one's support a listed paper's must be
# (listed papers need not pass THRESHOLD themselves; 0.25 since the support model has the
# question-length and outside-terms features: cited-paper F1 on multi-paper questions 0.666
# against 0.655 at 0.5, on single-paper ones 0.942 against 0.947, all validation sets).
MAX_PAPERS = 5
RELATIVE_SUPPORT = 0.25
# Sentence choice, same script: weight of the question's terms next to similarity,
# the cost of a URL sentence, and how nearly as good a neighbour must be to be quoted too.
OVERLAP_WEIGHT = 1.0
URL_PENALTY = 0.3
NEIGHBOUR_RATIO = 0.5
# Facet-aware choice (rag/facets.py), same script: the bonus for a sentence playing
# the role asked for, and how strongly a sentence must play a role to be quoted for a
# "what does X do?" summary. Not fitted: at most three sentences of a paper (two when
# listed for a pointed facet, one otherwise; never all of an abstract), and the roles a
# summary covers. Three rather than two for a single paper's pointed, how and plain
# questions: facts found 0.614 -> 0.689 over the validation sets, answers 63 -> 83 words.
FACET_WEIGHT = 0.3
SENTENCES_PER_PAPER = 3
SENTENCES_PER_LISTED_PAPER = 1
SUMMARY_ROLES = ("what", "how", "results")
# Facets that ask for a particular kind of sentence: a listed paper gets one more for them.
POINTED_FACETS = frozenset({"results", "datasets", "limitations", "code", "comparison"})
SUMMARY_ROLE_MIN = 1.0
# Facets a sentence must carry to answer at all (a results or comparison question is
# often answered by the closest sentence, whatever its role).
NAMED_FACETS = frozenset({"datasets", "limitations", "code"})
_OWN_RE = re.compile(r"\b(we|our|this (?:paper|work|study|article)|proposed|the resulting|the new)\b", re.I)
_MANY_RE = re.compile(
    r"\b(papers|works|studies|articles|approaches|methods|which (?:papers?|works?))\b", re.I
)
_URL_RE = re.compile(r"https?://|www\.|github\.com", re.I)
# "the imitation-learning study", "is there a method": one paper is meant, though unnamed.
_ONE_RE = re.compile(
    r"\b(?:the|this|that) (?:[\w-]+ ){0,4}?(?:paper|study|method|approach|model|work|framework|authors|"
    r"algorithm|survey|article)\b|"
    r"\bis there (?:a|an|any) (?:[\w-]+ ){0,2}?(?:paper|method|study|work|survey)\b",
    re.I,
)
_BRACKET_RE = re.compile(r"\[\d+(?:\s*[,\u2013-]\s*\d+)*\]")
BRACKET_PENALTY = 10.0

# Questions about a paper's facets use words its abstract rarely repeats: "which
# datasets?" is answered by a sentence naming "benchmarks". Stems, both sides.
_FACETS = {
    frozenset({"dataset", "data", "benchmark"}): "dataset benchmark corpus evalu",
    frozenset({"code", "implement", "github", "sourc", "repositori"}): "code github avail releas sourc",
    frozenset(
        {"result", "perform", "outperform", "well", "good", "accuraci"}
    ): "outperform improv perform achiev better state art result",
    frozenset(
        {"experi", "evalu", "valid", "test", "empir"}
    ): "experi evalu simul empir valid demonstr benchmark",
    frozenset({"compar", "baselin", "versus", "vs"}): "compar baselin outperform than vs",
    frozenset({"limit", "drawback", "weak", "fail"}): "limit howev challeng fail lack",
}


@dataclass(frozen=True, slots=True)
class Citation:
    """One numbered source of an answer.

    Attributes:
        number: The ``[n]`` used in the answer text.
        paper_id: The cited paper.
        title: Its title.
        snippet: The stretch of the abstract, verbatim, from the first sentence the answer
            quotes from this paper to the last (one sentence when it quotes one).
        score: How strongly the paper supports the answer (0-1).

    """

    number: int
    paper_id: str
    title: str
    snippet: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "number": self.number,
            "paper_id": self.paper_id,
            "title": self.title,
            "snippet": self.snippet,
            "score": round(self.score, 4),
        }


def wants_many(question: str) -> bool:
    """True when the question asks for a list of papers rather than one answer."""
    return bool(_MANY_RE.search(question))


def _cite(sentence: str, number: int) -> str:
    """Put ``[n]`` before the sentence's final period, or after it otherwise."""
    sentence = sentence.strip()
    if sentence.endswith(".") and not sentence.endswith(".."):
        return f"{sentence[:-1]} [{number}]."
    return f"{sentence} [{number}]"


def _short_title(title: str) -> str:
    head = title.split(":")[0].strip()
    return head if len(head) <= 60 else title[:57].rstrip() + "..."


def _facet_weights(weights: dict[str, float]) -> dict[str, float]:
    """Add the facet words a question's terms imply (each at its trigger's weight)."""
    out = dict(weights)
    for triggers, expansion in _FACETS.items():
        hit = [weights[t] for t in triggers if t in weights]
        for term in expansion.split() if hit else ():
            out[term] = max(out.get(term, 0.0), max(hit))
    return out


def _sentence_scores(passages: Sequence[Passage], weights: dict[str, float]) -> list[float]:
    """Similarity plus the IDF share of question (and facet) terms a sentence contains."""
    total = sum(weights.values()) or 1.0
    expanded = _facet_weights(weights)
    wants_code = "github" in expanded
    scores = []
    for p in passages:
        have = set(terms(p.text))
        overlap = min(1.0, sum(w for t, w in expanded.items() if t in have) / total)
        penalty = URL_PENALTY if _URL_RE.search(p.text) and not wants_code else 0.0
        if _BRACKET_RE.search(p.text):
            # "StyleGAN[21]": the abstract's own reference numbers would read as
            # citations of the answer, so such a sentence is quoted only as a last resort.
            penalty += BRACKET_PENALTY
        scores.append(p.similarity + OVERLAP_WEIGHT * overlap - penalty)
    return scores


def _pick_sentences(hit: Hit, weights: dict[str, float], limit: int, facets: frozenset[str]) -> list[Passage]:
    """The paper's sentences that carry what was asked, in abstract order (at most ``limit``).

    Without a facet: the best sentence, plus its neighbours if nearly as good. With
    one: sentences are scored with a bonus for playing the asked role, and the
    next best are added while nearly as good. "What does X do?" gets the best
    contribution, how and result sentences, then more of the paper's own
    sentences while nearly as good. Never the whole abstract.
    """
    limit = min(limit, max(1, len(hit.passages) - 1))
    scores = _sentence_scores(hit.passages, weights)
    best = max(range(len(scores)), key=scores.__getitem__)
    if limit <= 1:
        return [hit.passages[best]]
    kinds = [roles(p.text) for p in hit.passages]
    chosen = [best]  # the sentence closest to the question is always quoted
    if "what" in facets:
        # A summary: the paper's own contribution, how, and result; background
        # ("X have been shown to ...") and links are not what it does.
        own = [
            i
            for i, p in enumerate(hit.passages)
            if _OWN_RE.search(p.text) and not _URL_RE.search(p.text) and not _BRACKET_RE.search(p.text)
        ]
        for role in SUMMARY_ROLES:
            if len(chosen) >= limit or any(kinds[i].get(role, 0.0) >= SUMMARY_ROLE_MIN for i in chosen):
                continue
            # The sentence playing the role most clearly ("Here, we ... proposing" has one cue).
            carriers = [i for i in own if kinds[i].get(role, 0.0) > 0 and i not in chosen]
            if carriers:
                chosen.append(max(carriers, key=lambda i: (kinds[i][role] >= SUMMARY_ROLE_MIN, scores[i])))
        rest = sorted((i for i in own if i not in chosen), key=scores.__getitem__, reverse=True)
        chosen += [i for i in rest if scores[i] >= NEIGHBOUR_RATIO * scores[best]][: limit - len(chosen)]
    else:
        bonus = [FACET_WEIGHT * max((k.get(f, 0.0) for f in facets), default=0.0) for k in kinds]
        combined = [s + b for s, b in zip(scores, bonus, strict=True)]
        if facets:
            near = [i for i in range(len(combined)) if i != best]
        else:
            near = [i for i, p in enumerate(hit.passages) if abs(p.number - hit.passages[best].number) == 1]
        near = [i for i in near if combined[i] >= NEIGHBOUR_RATIO * combined[best] and combined[i] > 0]
        near.sort(key=combined.__getitem__, reverse=True)
        chosen += near[: limit - 1]
        # "Which datasets?": the sentence that names them is quoted, however far its other
        # words are from the question's ("On CelebA, FFHQ, and Bedroom datasets, ..."). "How
        # does LAF unlearn without labels?": one of the paper's own how sentences ("we
        # introduce a contrastive loss ..."), not only those that repeat the question's words
        # (facts found +8 -3 over the validation sets; the same for problem or comparison: +1 -1).
        for facet in sorted(facets & (NAMED_FACETS | {"how"})):
            if any(kinds[i].get(facet, 0.0) >= SUMMARY_ROLE_MIN for i in chosen):
                continue
            carriers = [
                i
                for i, k in enumerate(kinds)
                if k.get(facet, 0.0) >= SUMMARY_ROLE_MIN
                and combined[i] > 0
                and (facet != "how" or _OWN_RE.search(hit.passages[i].text))
            ]
            if not carriers:
                continue
            if len(chosen) >= limit:
                # The weakest quoted sentence makes room, unless it carries another facet
                # asked for ("how does it compare ...": its comparison sentence stays).
                others = facets - {"how"} if facet == "how" else frozenset()
                spare = [i for i in chosen[1:] if not _plays(kinds[i], others)]
                if not spare:
                    continue
                chosen.remove(spare[-1])
            chosen.append(max(carriers, key=combined.__getitem__))
    return sorted((hit.passages[i] for i in chosen), key=lambda p: p.number)


def _plays(kind: dict[str, float], facets: frozenset[str]) -> float:
    """How strongly a sentence plays the most strongly played of ``facets`` (0 for none)."""
    return max((kind.get(f, 0.0) for f in facets), default=0.0)


def _named(question: str, hit: Hit) -> bool:
    """True when the question names the paper, by its title or the name its abstract gives it."""
    return names_paper(question, hit.title, own_names(hit.paper.abstract))


def _states_number(hit: Hit, weights: dict[str, float], about: frozenset[str]) -> bool:
    """True when a sentence of the paper states a number next to what was asked (``facets.measured``).

    ``about`` empty: next to any of the question's terms.
    """
    wanted = about or weights.keys()
    for p in hit.passages:
        if not wanted.isdisjoint(counted(p.text)):  # "how many datasets?": "on three public datasets"
            return True
        if reports_quantity(p.text):
            words = set(terms(p.text))
            if "%" in p.text:
                words.add("%")
            if not wanted.isdisjoint(words):
                return True
    return False


def _span(abstract: str, picked: Sequence[Passage]) -> str:
    """The verbatim stretch of the abstract from the first quoted sentence to the last."""
    start = abstract.find(picked[0].text)
    end = abstract.find(picked[-1].text, max(start, 0))
    if start < 0 or end < 0:
        return picked[0].text
    return abstract[start : end + len(picked[-1].text)]


def margin(hits: Sequence[Hit], i: int) -> float:
    """How far hit ``i``'s similarity stands above the mean of the next five hits'.

    With no other hit (``k=1``) there is nothing to stand above: 0, not the
    similarity itself, so that asking for fewer papers does not change the verdict.
    """
    others = [h.similarity for j, h in enumerate(hits) if j != i][:5]
    return hits[i].similarity - sum(others) / len(others) if others else 0.0


def compose(
    question: str,
    hits: Sequence[Hit],
    model: SupportModel,
    *,
    focus: Sequence[str] = (),
    vector: np.ndarray | None = None,
) -> tuple[str, tuple[Citation, ...]]:
    """Write the extractive answer body and its citations (empty when abstaining).

    Args:
        question: The question whose terms choose the sentences.
        hits: Retrieved papers, best first.
        model: The collection's support model.
        focus: Paper ids a follow-up refers to; when given, only they are cited.
        vector: The question's embedding, for comparing with papers outside the collection.

    """
    profile = model.profile(question, vector)
    facets = profile.facets
    # "What datasets are used for evaluating unlearning?" asks of a topic, not a
    # paper: every paper on it that reports the facet is an answer.
    pointed = bool(facets & POINTED_FACETS)
    by_name = False
    if focus:
        chosen = [(h, 1.0) for h in hits if h.paper_id in focus]
    else:
        judged: list[tuple[Hit, Evidence]] = [
            (h, model.judge(profile, h.paper_id, h.similarity, margin(hits, i))) for i, h in enumerate(hits)
        ]
        chosen = _supporting(question, judged, model, profile, pointed)
        named = [(h, e.probability) for h, e in judged if _named(question, h)]
        # "Compare DiffuseVAE and Binary Latent Diffusion": once one of them answers,
        # each named paper answers its part.
        named_ids = {h.paper_id for h, _ in named}
        by_name = len(named) >= 2 and any(h.paper_id in named_ids for h, _ in chosen)
        if by_name:
            chosen = named[:MAX_PAPERS]
    if not chosen:
        return "", ()

    citations = []
    lines = []
    many = len(chosen) > 1
    limit = SENTENCES_PER_PAPER if not many or by_name else SENTENCES_PER_LISTED_PAPER + pointed
    for number, (hit, probability) in enumerate(chosen, start=1):
        # "How does CausalDiffAE generate counterfactual images?": the paper's name picks
        # the paper, not its sentences; those that repeat it are not for that more to the point.
        names = model.name_terms(hit.paper_id)
        weights = {t: w * (0.5 if t in names else 1.0) for t, w in profile.weights.items()}
        picked = _pick_sentences(hit, weights, limit, facets)
        snippet = _span(hit.paper.abstract, picked)
        citations.append(Citation(number, hit.paper_id, hit.title, snippet, probability))
        cited = " ".join(_cite(p.text, number) for p in picked)
        lines.append(f"- **{_short_title(hit.title)}**: {cited}" if many else cited)
    return "\n".join(lines), tuple(citations)


def _supporting(
    question: str,
    judged: Sequence[tuple[Hit, Evidence]],
    model: SupportModel,
    profile: QuestionProfile,
    pointed: bool,
) -> list[tuple[Hit, float]]:
    """The papers to cite, with their support: the best one, or a list when one is asked for."""
    supported = [(h, e) for h, e in judged if e.supported]
    # The paper the question is about, found to state otherwise than the question
    # takes as given ("why does it do worse on rare items?" of a paper that does better
    # on them), is not replaced by a paper that fits less.
    ruled_out = [e.fitted for _, e in judged if e.false_premise and e.fitted >= THRESHOLD]
    if ruled_out and max(ruled_out) > max((e.probability for _, e in supported), default=0.0):
        return []
    asking = asking_part(question)
    quantity = asks_quantity(asking)
    if quantity:
        # "How many parameters does X have?" is not answered by a paper that states no number.
        # "How does it stack up against X, especially in how much experience it needs?":
        # a comparison, which any number the paper reports beside the question's words
        # answers ("requiring 500X fewer environment interactions").
        about = frozenset() if "comparison" in profile.facets else measured(asking)
        supported = [(h, e) for h, e in supported if _states_number(h, profile.weights, about)]
    if not supported:
        return []
    if not (wants_many(question) or (pointed and not profile.names and not _ONE_RE.search(question))):
        return [(h, e.probability) for h, e in supported[:1]]
    # Once the best paper answers, a list keeps the papers whose support is
    # comparable to its (measured against it, not the threshold: a GAN
    # unlearning paper that never says "machine"), that share its rarest
    # matching term ("machine unlearning" lists papers on unlearning, not
    # every paper on machine learning), and that name whatever it names of
    # what was asked ("PDEs").
    best, top = max(supported, key=lambda he: he[1].probability)
    floor = RELATIVE_SUPPORT * top.probability
    topic = model.topic_term(profile, best.paper_id)
    numbered = {h.paper_id for h, _ in supported} if quantity else None
    return [
        (h, e.probability)
        for h, e in judged
        if e.probability >= floor
        and (numbered is None or h.paper_id in numbered)
        and (topic is None or model.has_term(h.paper_id, topic))
        and set(e.missing) <= set(top.missing)
    ][:MAX_PAPERS]


def abstention(hits: Sequence[Hit]) -> str:
    """The "not in the collection" body, naming the closest papers as such."""
    body = ABSTAIN_TEXT
    if hits:
        closest = "\n".join(f"- {h.title}" for h in hits[:3])
        body += f"\n\nClosest papers (they do not answer the question):\n{closest}"
    return body
