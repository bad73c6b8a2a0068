"""What a question takes as given, and whether a paper says otherwise.

"Why does Label-Agnostic Forgetting need fully labeled data?" presupposes a need the
paper says it does without; "why did CLUTR need 500x more interactions?" the opposite
of its "500X fewer". Each rule here reads a premise from the question and checks it
against the paper's text; ``support`` turns a contradicted premise into a refusal.
Read with cue patterns, like ``facets``: questions state premises in a few words.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .facets import PER_PAPER, sentence_terms, text_sentences
from .lexical import terms

_I = re.I

# "Why does Label-Agnostic Forgetting need fully labeled data?" presupposes what the
# paper says it does without ("operates without the need for labels", "supervision-free").
# Only a why/how/what question presupposes; "does it need labels?" asks, and its answer
# is the "without".
_USES = re.compile(
    # Not "methods that use full supervision" (other methods), "why is relying on X limiting"
    # or "which datasets were used to test it" (what was used is the datasets).
    r"(?<!\bthat )(?<!\bwhich )(?<!\bwho )(?<!\bthan )(?<!\bis )(?<!\bare )"
    r"(?<!\bwas )(?<!\bwere )(?<!\bbeen )(?<!\bbe )"
    r"\b(?:needs?|needed|requir\w*|rel(?:y|ies|ying|ied) on|depends? on|uses?|using|"
    r"used|leverag\w*|employ\w*|must (?:keep|maintain|store|have)|keeps?|keeping|maintains?|maintaining|"
    r"stores?|storing)\b((?:\s+[\w-]+){1,5})",
    _I,
)
# "How was DiffuseVAE explicitly trained to optimise the tradeoff?" of a paper that gets
# it "without explicitly training for such an objective": the training is the premise.
_TRAINED_FOR = re.compile(r"\b(?:explicitly|directly|specifically)\s+(train\w*(?:\s+[\w-]+){0,4})", _I)
# Where a question takes something as given: a why/how/what/which question, or "why",
# "since", "given that" anywhere ("does it ...?" asks, and takes nothing). ``_PRESUPPOSES``
# reads only the question's opening; ``_ASSUMES`` the opening of any of its sentences (the
# rules read with it name their premise in a few words, so a later sentence's is as clear).
_GIVEN = r"why|how|what|which|since|given"
_ANYWHERE = r"\b(?:why|since|given that)\b"
_PRESUPPOSES = re.compile(rf"^\W*(?:{_GIVEN})\b|{_ANYWHERE}", _I)
_ASSUMES = re.compile(rf"(?:^|[.?!;]\s+)\W*(?:{_GIVEN})\b|{_ANYWHERE}", _I)
_ASKS_WITHOUT = re.compile(
    r"\b(?:without|withuot|witout|wihtout|whithout|withou|not|no|never|instead|avoid\w*|rather than|"
    r"free of)\b|n't\b",
    _I,
)
_SKIP = (
    r"(?:the|any|an?|explicit(?:ly)?|additional|extra|having|being|need(?:ing)?|for|of|requiring|using|"
    r"relying|on|involving|resorting|to|assuming|specifying|form|kind)"
)
_DONE_WITHOUT = re.compile(
    rf"\b(?:without|rather than|instead of)\s+(?:{_SKIP}\s+)*([\w-]+(?:\s+[\w-]+)?)|"
    r"\b([A-Za-z]+)-(?:free|agnostic)\b|"
    rf"\b(?:do|does|did)\s+not\s+(?:need|require|rely\s+on|use)\s+(?:{_SKIP}\s+)*([\w-]+(?:\s+[\w-]+)?)|"
    r"\brelax(?:es|ed|ing)?\s+(?:the\s+)?([\w-]+(?:\s+[\w-]+)?)|"
    rf"\bnot\s+(?:required|needed|necessary)\s+to\s+\w+\s+(?:{_SKIP}\s+)*([\w-]+(?:\s+[\w-]+)?)",
    _I,
)
# "Which text prompts does NoiseCLR rely on?": the thing used comes before the verb.
_USED_FIRST = re.compile(
    r"\b(?:which|what|how many|how much)\s+((?:[\w-]+\s+){1,4}?)(?:does|do|did)\b[\w\s-]{1,60}?"
    r"\b(?:need|require|rely on|depend on|use|leverage|employ)\b",
    _I,
)


_PHRASE_END = frozenset((
    "during", "in", "on", "at", "to", "for", "of", "from", "with", "by", "and", "or", "while", "when",
    "which", "that", "as", "across", "over", "under",
))  # fmt: skip


def presupposed_uses(question: str) -> frozenset[str]:
    """Terms a why/how question takes the paper to need or use: "why does X need labeled data" -> label, data.

    Empty for yes/no questions, and when the question itself speaks of doing
    without ("how does it work without labels?").
    """
    if not _PRESUPPOSES.search(question) or _ASKS_WITHOUT.search(question):
        return frozenset()
    used = [m[1] for pattern in (_USES, _USED_FIRST, _TRAINED_FOR) for m in pattern.finditer(question)]
    # "How does it use label-free training?" names a way of doing without.
    return frozenset(t for phrase in used for t in terms(_DONE_WITHOUT.sub(" ", phrase)))


@lru_cache(maxsize=PER_PAPER)
def done_without(text: str) -> tuple[frozenset[str], ...]:
    """What a text says it does without, each as its first two terms.

    "without the need for labels" -> {label}, "without context models involved" ->
    {context, model}, "supervision-free" -> {supervis}, "relaxes the unconfoundedness
    assumption" -> {unconfound, assumpt}. A question must name all of one to presuppose it.
    """
    found = (next(g for g in m.groups() if g).split() for m in _DONE_WITHOUT.finditer(text))
    # "labels during the unlearning process": the phrase ends before a function word.
    phrases = (words[:1] if words[1:] and words[1].lower() in _PHRASE_END else words for words in found)
    named = (frozenset(terms(" ".join(words))[:2]) for words in phrases)
    return tuple(phrase for phrase in named if phrase)


def presupposes_without(uses: frozenset[str], text: str) -> bool:
    """True when a question's ``presupposed_uses`` name something the text does without."""
    return bool(uses) and any(phrase <= uses for phrase in done_without(text))


# "Why does the Householder projector require retraining StyleGAN2 from scratch?" of a
# paper that fine-tunes a pre-trained one; "why does NoiseCLR need a large labeled
# dataset?" of one that takes "a small set of unlabeled images": the question takes as
# given one side of a contrast of which the paper states only the other side.
_CONTRARIES = (
    (
        re.compile(r"\bfrom scratch\b", _I),
        re.compile(r"\bpre-?trained\b|\bfine-?tun\w*|\bplug-and-play\b", _I),
    ),
    (re.compile(r"\bgradual\w*", _I), re.compile(r"\b(?:sudden|abrupt)\w*", _I)),
    (re.compile(r"\binconsistent\w*", _I), re.compile(r"\bconsistent\w*", _I)),
    (
        re.compile(
            r"\b(?:fully|completely|large)\s+lab(?:el|l)l?ed\b|\bevery\b[\w\s-]{0,40}?\blab(?:el|l)l?ed\b|"
            r"\bfull(?:y)? labels\b",
            _I,
        ),
        re.compile(
            r"\bunlabell?ed\b|\bwithout (?:the need for |any |using any )?labels\b|"
            r"\blabel-(?:free|agnostic)\b",
            _I,
        ),
    ),
)
_COMPARED_WITH = re.compile(r"\bcompar\w*\s+(?:\w+\s+)?(?:with|to|against)\b|\bthan\b|\bversus\b|\bvs\b", _I)
# "Why did MM-GPVAE parameterize its latents in the time domain instead of the Fourier
# domain?" of "We parameterize the latents of our model in the Fourier domain": the paper
# uses the side the question says it passed over, and never speaks of the other.
_PREFERRED = re.compile(r"((?:[\w-]+\s+){1,3}?)(?:instead of|rather than)\s+((?:[\w-]+\s*){1,4})", _I)
_CONTRASTED = re.compile(
    r"\b(?:instead of|rather than|without|unlike|not|as opposed to|compared (?:to|with))\b", _I
)


def preferences(question: str) -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
    """(chosen, passed over) as terms, for "A instead of B" in a question that takes it as given."""
    if not _ASSUMES.search(question):
        return ()
    found = []
    for m in _PREFERRED.finditer(question):
        chosen, passed = terms(m[1])[-2:], terms(m[2])[:2]
        if chosen and passed and set(chosen) != set(passed):
            found.append((tuple(chosen), tuple(passed)))
    return tuple(found)


def _says_phrase(found: tuple[str, ...], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(found[i : i + n] == phrase for i in range(len(found) - n + 1))


def prefers_other(preferred: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...], text: str) -> bool:
    """True when the text uses a passed-over side (not in a contrast) and never says the chosen one."""
    sentences, found = sentence_terms(text)
    for chosen, passed in preferred:
        if any(_says_phrase(f, chosen) for f in found):
            continue
        if any(
            _says_phrase(f, passed) and not _CONTRASTED.search(s)
            for s, f in zip(sentences, found, strict=True)
        ):
            return True
    return False


def presupposed_contraries(question: str) -> tuple[int, ...]:
    """Which ``_CONTRARIES`` a question takes one side of as given."""
    if not _ASSUMES.search(question):
        return ()
    # "How does LAF compare with unlearning methods that use full labels?": what it is
    # compared with is not taken as given of the paper.
    question = _COMPARED_WITH.split(question, maxsplit=1)[0]
    # "How does it avoid retraining from scratch?" speaks of doing without; "why must it be
    # trained from scratch instead of ...?" takes the side, whatever it says after.
    return tuple(
        i
        for i, (side, _) in enumerate(_CONTRARIES)
        if (m := side.search(question)) and not _ASKS_WITHOUT.search(question, 0, m.start())
    )


def states_contrary(asked: tuple[int, ...], text: str) -> bool:
    """True when the text states the other side of an ``asked`` contrast, and never the side asked."""
    return any(_CONTRARIES[i][1].search(text) and not _CONTRARIES[i][0].search(text) for i in asked)


# "Why does the latent quantization paper use a very low weight decay?" of a paper that
# applies "an unusually high weight decay"; "why did CLUTR need 500x more environment
# interactions" of one "requiring 500X fewer environment interactions": the question
# takes as given the opposite of what the paper says of the same thing.
_OPPOSITE_PAIRS = (
    ("low", "high"), ("lower", "higher"), ("small", "large"), ("smaller", "larger"), ("more", "fewer"),
    ("more", "less"), ("increase", "decrease"), ("increases", "decreases"), ("increased", "decreased"),
    ("fast", "slow"), ("faster", "slower"), ("better", "worse"), ("early", "late"), ("earlier", "later"),
    ("strong", "weak"), ("stronger", "weaker"), ("shallow", "deep"), ("short", "long"),
    ("dense", "sparse"), ("linear", "nonlinear"), ("discrete", "continuous"), ("online", "offline"),
    ("maximize", "minimize"), ("maximizing", "minimizing"), ("maximum", "minimum"), ("simple", "complex"),
    ("closed", "open"), ("supervised", "unsupervised"), ("labeled", "unlabeled"), ("explicit", "implicit"),
    ("deterministic", "stochastic"), ("synthetic", "real"), ("convex", "nonconvex"),
    ("parametric", "nonparametric"),
)  # fmt: skip
# Each modifier's opposites (public: the reach rule in ``support`` does not count them).
OPPOSITES = {
    word: frozenset(o for a, b in _OPPOSITE_PAIRS for w, o in ((a, b), (b, a)) if w == word)
    for word in {w for pair in _OPPOSITE_PAIRS for w in pair}
}
_MODIFIED = re.compile(
    rf"(?<![\w-])({'|'.join(sorted(OPPOSITES, key=len, reverse=True))})\b((?:[\s-]+[\w-]+){{1,2}})", _I
)
_NON = re.compile(r"\bnon-(?=\w)", _I)
_BASE = {"increases": "increase", "increased": "increase", "decreases": "decrease", "decreased": "decrease"}


# "the likelihood of preferred responses often decreases": the change after what changes.
_CHANGES_AFTER = re.compile(r"\b(increas|decreas)(?:es|ed)\b", _I)
# How many words before it may name what changes ("the likelihood of preferred responses often").
_CHANGE_WINDOW = 6


def modified(text: str) -> frozenset[tuple[str, str]]:
    """(modifier, first term of what it modifies): "500x more environment interactions" -> (more, environ).

    "The likelihood of preferred responses often decreases" -> (decrease, likelihood), as
    "decrease the likelihood" is.
    """
    found = set()
    for match in _MODIFIED.finditer(_NON.sub("non", text)):  # "non-linear" is "nonlinear"
        head = terms(match[2])
        if head:
            word = match[1].lower()
            found.add((_BASE.get(word, word), head[0]))
    for match in _CHANGES_AFTER.finditer(text):
        before = " ".join(re.split(r"[.;:,]", text[: match.start()])[-1].split()[-_CHANGE_WINDOW:])
        found.update((match[1].lower() + "e", t) for t in terms(before))
    return frozenset(found)


@lru_cache(maxsize=PER_PAPER)
def _modified_in(text: str) -> frozenset[tuple[str, str]]:
    return modified(text)


def presupposed_modifiers(question: str) -> frozenset[tuple[str, str]]:
    """The ``modified`` pairs a why/how/what question takes as given (none in a yes/no question)."""
    if not _PRESUPPOSES.search(question):
        return frozenset()
    # "higher or lower FID?" asks which; it presupposes neither.
    said = set(re.findall(r"\w+", _NON.sub("non", question).lower()))
    return frozenset((m, h) for m, h in modified(question) if not OPPOSITES[m] & said)


# "Why did PartSLIP++ drop SAM and go back to bounding boxes?" of a paper that utilizes
# SAM: what the question says was dropped is a name the paper uses and never drops.
_DROPPED = re.compile(
    r"\b(?i:drop(?:s|ped|ping)?|abandon\w*|discard\w*|remov(?:e|es|ed|ing)|ditch\w*|stop(?:s|ped)? using|"
    r"no longer us\w*|g[eo]t rid of)\s+(?i:the\s+|its\s+|their\s+)?([A-Z][\w+-]*[A-Z0-9][\w+-]*)\b"
)
_DROPS = r"drop\w*|remov\w*|replac\w*|without|instead of|rather than|abandon\w*|discard\w*|unlike"


def presupposed_drops(question: str) -> tuple[str, ...]:
    """Names a why/how/what question says the paper dropped: "why did X drop SAM" -> SAM."""
    if not _PRESUPPOSES.search(question):
        return ()
    return tuple(m[1] for m in _DROPPED.finditer(question))


def still_uses(dropped: tuple[str, ...], text: str) -> bool:
    """True when the text names a ``dropped`` thing and never speaks of doing without it."""
    return any(
        re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text)
        and not re.search(rf"\b(?:{_DROPS})\b[^.;]{{0,80}}(?<![\w-]){re.escape(name)}(?![\w-])", text, _I)
        for name in dropped
    )


def says_opposite(stated: frozenset[tuple[str, str]], text: str) -> bool:
    """True when the text gives a ``stated`` thing the opposite modifier, and never the stated one."""
    said = _modified_in(text)
    return any((m, h) not in said and any((o, h) in said for o in OPPOSITES[m]) for m, h in stated)


# "Why does DiffuseVAE get a worse FID than a standard DDIM?" of a paper that reports
# the opposite ("improves upon ... FID of 16.47 vs 34.36 using a standard DDIM"): a
# why-question takes a bad outcome as given; the paper states a good one about the
# same things and no bad one.
_WHY = re.compile(r"^\W*(?:why|how come)\b|\b(?:why|since|given that)\b|\bhow (?:much|badly) does\b", _I)
_BAD = re.compile(
    r"\b(?:worse|poorer|poorly|struggl\w*|fails?|failing|underperform\w*|degrad\w*|slower|inferior|"
    r"hurts?|lower|ruin\w*|avoided|unhelpful|useless|harmful|badly|unsuitable|bad)\b((?:\W+\w+){1,5})",
    _I,
)
_BAD_WORD = re.compile(
    r"\b(?:worse|poor\w*|struggl\w*|fail\w*|underperform\w*|degrad\w*|slow\w*|inferior|hurt\w*|lower|limit\w*|"
    r"lack\w*|ruin\w*|avoid\w*|unhelpful|useless|harmful|badly|unsuitable|bad)\b",
    _I,
)
_GOOD_WORD = re.compile(
    r"\b(?:better|improv\w*|outperform\w*|superior|surpass\w*|faster|excels?|boost\w*|good|useful|helpful|"
    r"inconsequential|negligible|beneficial|valuable|without (?:sacrific|los|hurt|compromis|degrad)\w*)\b",
    _I,
)


_SUBJECT = re.compile(r"\bthat\s+((?:[\w-]+\s+){1,5})$", _I)


def bad_outcomes(question: str) -> tuple[frozenset[str], ...]:
    """What a why-question takes to go badly: "why does it do worse on rare items" -> {rare, item}."""
    if not _WHY.search(question):
        return ()
    found = []
    for m in _BAD.finditer(question):
        about = terms(m[1])
        if m[0].lower().startswith("avoided"):  # "why should text prompts be avoided for ...": both sides
            about = terms(" ".join(question[: m.start()].split()[-4:])) + about
        elif subject := _SUBJECT.search(question, 0, m.start()):
            # "find that violating the cross-fitting assumptions ruins the estimates": what
            # does the harm is part of the outcome ("violations ... largely inconsequential").
            about = terms(subject[1]) + about
        if len(about) >= 2:
            found.append(frozenset(about))
    return tuple(found)


# A sentence may say both, in different clauses: "While we find violations ... to be
# largely inconsequential for the accuracy of the effect estimates, many of the
# considered methods fail to ...". A bad word counts only in a clause about the outcome.
_CLAUSE = re.compile(r",\s+|;\s+|\s+(?:while|whereas|but)\s+", _I)


@lru_cache(maxsize=PER_PAPER)
def _clause_terms(text: str) -> tuple[tuple[str, ...], tuple[frozenset[str], ...]]:
    """The text's ``_CLAUSE``-split clauses, and the terms of each."""
    clauses = tuple(c for s in text_sentences(text) for c in _CLAUSE.split(s) if c)
    return clauses, tuple(frozenset(terms(c)) for c in clauses)


def reports_opposite(outcomes: tuple[frozenset[str], ...], text: str) -> bool:
    """True when a sentence reports a good outcome on two terms of a stated bad one, no clause a bad one."""
    for focus in outcomes:
        good = any(
            len(focus.intersection(w)) >= 2 and _GOOD_WORD.search(s)
            for s, w in zip(*sentence_terms(text), strict=True)
        )
        if good and not any(
            len(focus & w) >= 2 and _BAD_WORD.search(c) for c, w in zip(*_clause_terms(text), strict=True)
        ):
            return True
    return False
