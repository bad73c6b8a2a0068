"""What a question asks of a paper, and which sentences of an abstract carry it.

A question asks for one or more *facets* of a paper: what it does, how, its
results and numbers, the datasets and benchmarks, the problem it addresses,
its limitations, its code, or how it compares. Abstract sentences play the
same roles ("We propose ..." is the contribution, "... outperforms ... by 3.2%"
a result). The composer quotes, for each supporting paper, the sentences whose
role is the facet asked for; "What does X do?" gets the contribution, the how
and the headline result.

Both sides are read with cue patterns: abstracts are written in a small,
conventional vocabulary, and a question's facet is in a handful of words.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .chunking import split_sentences
from .lexical import terms

FACETS = ("what", "how", "results", "datasets", "problem", "limitations", "code", "comparison")

_I = re.I
# Facts of a paper's text that the support rules read for each question it is judged
# for (its numbers, what it does without): kept for this many texts, the papers that
# recent questions retrieved.
PER_PAPER = 2048
# What the question asks for. Several may match ("how well ... on which datasets").
_ASKS = {
    "code": re.compile(
        r"\b(code|github|implementation|repositor\w*|open[- ]sourced?|source|released?|download)\b", _I
    ),
    "datasets": re.compile(
        r"\b(datasets?|data ?sets?|benchmarks?|corpus|corpora|environments?|evaluat\w* (?:on|in|with)|"
        r"tested on|test(?:ed)? (?:it|them) on|experiments? on|empirical data|real(?:-world)? data|"
        r"applied to|trials?|which data|what data|domains?|tasks?)\b",
        _I,
    ),
    "results": re.compile(
        r"\b(results?|perform\w*|accura\w*|fid|bleu|auc|scores?|how (?:well|much|many|fast)|achiev\w*|"
        r"improv\w*|outperform\w*|gains?|numbers?|best|speed-?ups?|faster|errors?|finds?|found|"
        r"happens?|effects?|show|shows|showed|observ\w*|conclu\w*|findings?|enable\w*|benefits?)\b",
        _I,
    ),
    "limitations": re.compile(
        r"\b(limitations?|limits?|drawbacks?|weakness\w*|shortcomings?|downsides?|fail\w*|caveats?|"
        r"restrict\w*|assum\w*)\b",
        _I,
    ),
    "problem": re.compile(
        r"\b(problems?|challenges?|motivat\w*|why|issues?|wrong|gap|puzzl\w*|address\w*|struggl\w*|"
        r"difficult\w*|tackl\w*|solv\w*|avoid\w*|overcome)\b",
        _I,
    ),
    "comparison": re.compile(
        r"\b(compar\w*|differ\w*|versus|vs\.?|better than|worse than|relative to|against|baselines?)\b", _I
    ),
    "how": re.compile(
        r"\b(how (?:does|do|is|are|can|did)|approach\w*|methods?|mechanism|ingredients?|techniques?|"
        r"architecture|procedure|trick|idea|works?|trained|learns?|uses?|using|rel(?:y|ies)|based on|"
        r"instead|steps?|stages?|modules?|components?|design choices?|"
        # "What regularization does Smooth Diffusion introduce ...?": the thing it uses.
        r"what (?:[\w-]+\s+){1,3}(?:does|do|did)\b.{0,80}\b(?:introduce|use|propose|employ|adopt|add|devise|"
        r"design|apply|build on|rely on))\b",
        _I,
    ),
    "what": re.compile(
        r"(\bwhat (?:does|do|did) .{1,80}\b(?:do|propose|introduce|contribute|offer)\b|"
        r"\bwhat(?: is|'s| are)\b|\bsummar\w*|\boverview\b|\btell me about\b|\bmain (?:idea|point)|"
        r"\bcontribut\w*|\bexplain\b|\bdescribe\b|\bwhich paper\b|\bis there a paper\b|\bpropos\w*)",
        _I,
    ),
}

# The roles sentences of an abstract play.
# A dataset-like name: CIFAR-10, CelebA-HQ, MNIST, ImageNet (case matters here).
_NAME = re.compile(r"(?<!^)(?<![.!?] )\b(?:[A-Z][a-z]*[A-Z0-9][A-Za-z0-9\-]*|[A-Z]{3,}[A-Za-z0-9\-]*)")
_ROLES = {
    "what": re.compile(
        r"\b(we (?:propose|introduce|present|develop|design|describe|formulate|name|call|extend|"
        r"offer|provide|review|study|investigate|explore)|"
        r"this (?:paper|work|study|article) (?:\w+ )?(?:propos|introduc|present|stud|explor|"
        r"investigat|develop|review|extend|establish|aim)\w*|in this (?:paper|work|study|article)|"
        r"here,? we|our (?:method|approach|model|framework|work)|called|dubbed|novel|a new)\b",
        _I,
    ),
    "how": re.compile(
        r"\b(by (?:\w+ing)|via|through|leverag\w*|based on|consist\w*|compris\w*|combin\w*|"
        r"we (?:use|train|employ|adopt|learn|apply|first|then|also|design|construct|replace|model|"
        r"treat|derive|introduce)|specifically|module|encoder|decoder|loss|objective|regulariz\w*|"
        r"which (?:uses|learns|allows|enables)|allow\w*|enabl\w*|replac\w*|instead)\b",
        _I,
    ),
    "results": re.compile(
        r"(\d|\b(outperform\w*|achiev\w*|state-of-the-art|sota|improv\w*|surpass\w*|results?|"
        r"demonstrat\w*|significant\w*|competitive|superior|better|faster|fewer|gains?|effective\w*|"
        r"empirical\w*|experiments?|we (?:show|find|observe)|show that|find that|reveal\w*|"
        r"consistently)\b)",
        _I,
    ),
    "datasets": re.compile(
        r"(\b(datasets?|benchmarks?|corpus|corpora|data from|evaluat\w* (?:on|in)|experiments? on|"
        r"environments?|simulat\w*|real-world|trials?|tasks?|suite)\b)",
        _I,
    ),
    "problem": re.compile(
        r"\b(however|but|challeng\w*|problems?|issues?|limited|lack\w*|suffer\w*|difficult\w*|remains?|"
        r"despite|existing|prior|traditional\w*|often|struggl\w*|bottlenecks?|costly|expensive|"
        r"hinder\w*|gaps?|restrict\w*|fail\w*|ignore\w*|unclear|key|crucial|important)\b",
        _I,
    ),
    "limitations": re.compile(
        r"\b(limitations?|however|but|fail\w*|cannot|unable|only|future work|drawbacks?|restrict\w*|"
        r"assum\w*|sensitive|costly|expensive|degrad\w*|trade-?off)\b",
        _I,
    ),
    "code": re.compile(
        r"(https?://|www\.|github|\b(code|available|released?|open-source\w*|publicly)\b)", _I
    ),
    "comparison": re.compile(
        r"(\d|\b(compar\w*|than|outperform\w*|baselines?|versus|vs\.?|relative to|surpass\w*|"
        r"state-of-the-art|competitive|prior (?:work|methods?)|existing (?:methods?|approaches))\b)",
        _I,
    ),
}
# "Which paper has X?" and "what does X do?" are about the paper as a whole.
_WHOLE = re.compile(r"\b(what (?:does|do|did|is|are)\b|summar\w*|overview|tell me about|explain)", _I)


def asked(question: str) -> frozenset[str]:
    """The facets a question asks for (empty: nothing in particular)."""
    found = {name for name, pattern in _ASKS.items() if pattern.search(question)}
    # A pointed question ("which datasets", "what limitations") is not a request
    # for a summary, though it starts with "what".
    if found - {"what", "how"}:
        found.discard("what")
    if not found and _WHOLE.search(question):
        found.add("what")
    return frozenset(found)


def roles(sentence: str) -> dict[str, float]:
    """How strongly an abstract sentence plays each role, 0-1 (two cues or more: 1)."""
    return dict(_roles(sentence))


@lru_cache(maxsize=65_536)
def _roles(sentence: str) -> tuple[tuple[str, float], ...]:
    # Cached: the candidates' sentences recur across questions, and a dozen regexes
    # per sentence were a tenth of a question's time at 20,000 papers.
    found = {name: min(1.0, len(pattern.findall(sentence)) / 2) for name, pattern in _ROLES.items()}
    names = len(_NAME.findall(sentence))  # "on MNIST and AFHQ"
    described = 0.5 if _DESCRIBED_DATA.search(sentence) else 0.0  # "with longitudinal ... data"
    found["datasets"] = min(1.0, found["datasets"] + names / 2 + described)
    return tuple((name, v) for name, v in found.items() if v > 0)


# Settings a question may ask the value of ("what is the codebook size", keywords
# "... latent dimension").
_SETTINGS = r"size|dimension|dimensionality|temperature|threshold|weight|coefficient"
# Measures a question may ask for by name ("what mIoU ...", "which FID ...").
# A named measure may follow its qualifiers ("what attribute classification accuracy").
_NAMED_METRICS = (
    r"accuracy|fid|score|percentage|speed-?up|error|number|miou|iou|auroc|auc|bleu|rouge|f1|psnr|ssim|lpips|bpp|"
    r"precision|recall|perplexity|latency|throughput|success rate|win rate"
)
_METRICS = rf"(?:[\w-]+ ){{0,2}}?(?:{_NAMED_METRICS})|(?:[\w-]+ )?(?:{_SETTINGS}|value)"
_NAMED_METRIC = re.compile(rf"\b(?:{_NAMED_METRICS})$", _I)
# "what accuracy", "what is the exact sample size"
_WHAT_METRIC = r"(?:what|which)(?: (?:is|was|are|were) the)?(?: exact)?(?: numeric(?:al)?)? "
_QUANTITY = re.compile(
    r"\b(how (?:many|much(?! (?:that|the|this|these|those|it|they)\b)|long|fast|large)|by how (?:much|many)|"
    rf"{_WHAT_METRIC}(?:{_METRICS})|how (?:high|low) (?:is|was|are))\b",
    _I,
)
# "What controls how fast a model learns a concept?" asks for a cause, not a number.
_CAUSE_OF = re.compile(
    r"\b(?:controls?|governs?|determines?|affects?|drives?|influences?|explains?|decides?|shapes?)\s+$", _I
)
# What a number that answers must be about: "how many GPU hours" -> GPU or hours.
_MEASURED = re.compile(
    rf"\bhow (many|much|long)\b\s*(.*)|\b{_WHAT_METRIC}({_METRICS})\b",
    _I,
)
_AUXILIARY = re.compile(r"\b(?:does|did|do|is|are|was|were|can|could|will|would|has|have|had)\b", _I)
# "how many fewer", "how much faster": a comparison, which any reported number may answer.
_COMPARATIVE = frozenset(
    terms("more fewer less faster slower better worse larger smaller higher lower improvement gain speedup")
)
_DURATION = frozenset(terms("time hours minutes seconds days weeks faster speed speedup wall clock GPU"))
# A number that reports something: not a year, a citation or part of a link or a name.
_MEASURE = re.compile(r"(?<![\w./-])\d+(?:[.,]\d+)?\s*(?:%|x\b|×|times\b|-?fold\b)?(?![\w-])")
_NOT_A_MEASURE = re.compile(r"https?://\S+|\(\D*\d{4}\w?\)|\b(?:19|20)\d\d\b")


# Keywords typed instead of a question ("Binary Latent Diffusion codebook size") that
# name a setting: that asks for its value.
_QUESTION_WORD = re.compile(
    r"^\W*(?:what|which|who|why|how|when|where|is|are|was|were|do|does|did|can|could|"
    r"should|would|will|has|have|had|any|give|tell|list|explain|describe|compare|summari[sz]e)\b|\?",
    _I,
)
_SETTING = re.compile(
    rf"\b((?:[\w-]+ )?(?:{_SETTINGS}|percentage|accuracy|speed-?up)\s*$|number of [\w-]+(?: [\w-]+)?|"
    rf"(?:{_NAMED_METRICS})(?= (?:numbers?|values?)\s*$))",  # "... fid numbers", "... auc value"
    _I,
)


def _keyword_setting(question: str) -> re.Match[str] | None:
    return None if _QUESTION_WORD.search(question) else _SETTING.search(question)


SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")  # between a question's sentences


def asking_part(question: str) -> str:
    """The sentences that ask (end in "?"), where others only set the scene.

    "Back in grad school I always wondered how much randomness to allow. ... What
    happens to its behaviour when that knob is high or low?" asks what happens, not
    how much.
    """
    parts = SENTENCE_END.split(question.strip())
    asking = [p for p in parts if p.endswith("?")]
    return " ".join(asking) if asking and len(asking) < len(parts) else question


def asks_quantity(question: str) -> bool:
    """True when the question asks for a number ("how many ...", "what accuracy ...").

    "How much that dependence damages the estimates" asks for a degree, which words
    answer ("largely inconsequential"); "how much does it improve" still wants a number.
    """
    asked_for = (m for m in _QUANTITY.finditer(question) if not _CAUSE_OF.search(question, 0, m.start()))
    return any(asked_for) or bool(_keyword_setting(question))


def measured(question: str) -> frozenset[str]:
    """The terms a sentence must have for its number to answer the question (empty: any term of it).

    "How many GPU hours did it take?" is not answered by "improves FID by 3.2",
    although that sentence states a number and shares "it" words with the question;
    the number must be about GPU hours. "How long" asks for a duration, "what
    mIoU" for that measure; comparisons ("how many fewer ...") take any number.
    """
    m = _MEASURED.search(question)
    if m is None:
        setting = _keyword_setting(question)
        return frozenset(terms(re.sub(r"^number of ", "", setting[1], flags=_I))) if setting else frozenset()
    kind, rest, metric = m.groups()
    if metric:
        named = _NAMED_METRIC.search(metric)  # "attribute classification accuracy": accuracy
        metric = named[0] if named else metric
        return frozenset(["percent", "%"] if metric.lower() == "percentage" else terms(metric))
    if kind.lower() == "long":
        return _DURATION
    words = terms(_AUXILIARY.split(rest, maxsplit=1)[0])  # "anchors do ...": anchors
    if not words or words[0] in _COMPARATIVE:
        return frozenset()
    return frozenset(words[:2])


def reports_quantity(sentence: str) -> bool:
    """True when the sentence states a number (years, citations and links do not count)."""
    return bool(_MEASURE.search(_NOT_A_MEASURE.sub(" ", sentence)))


def counted(sentence: str) -> frozenset[str]:
    """The terms a sentence counts: "on three public real-world datasets" -> {public, ..., dataset}."""
    return frozenset(t for m in _COUNTED.finditer(sentence) for t in terms(m[1]))


# A number a question states: 10 or more, or with a decimal point or a percent sign
# ("10,000 programmers", "33.4%", "a 10x speed-up"); small counts ("two stages", "0/1 bits")
# and years do not count.
_STATED = re.compile(r"(?<![\w.,=/-])(\d+(?:[.,]\d+)*)(\s*%|(?:[xX]|×|-fold)(?!\w))?(?![\w/-]|[.,]\d)")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_FROM_TO = re.compile(r"\bfrom\s+(\d+(?:\.\d+)?)\s*%?\s+to\s+(\d+(?:\.\d+)?)\s*%?", _I)


def _plain(number: str) -> str:
    return number.replace(",", "")


_NUMBER_WORDS = dict(
    zero="0",
    one="1",
    two="2",
    three="3",
    four="4",
    five="5",
    six="6",
    seven="7",
    eight="8",
    nine="9",
    ten="10",
    twenty="20",
    hundred="100",
    thousand="1000",
)
_WORD_NUMBER = re.compile(rf"\b({'|'.join(_NUMBER_WORDS)})\b", _I)
# A count and the words after it: "three public real-world datasets", "535 programmers"
# (not "one" or "zero": "one of the", "zero-shot"; not "two-stage").
_COUNT = "|".join(w for w in _NUMBER_WORDS if w not in ("zero", "one"))
_COUNTED = re.compile(rf"\b(?:{_COUNT}|\d+)\b(?!-)((?:\s+[\w-]+){{1,4}})", _I)
# "ten times the original steps", "a three-fold speed-up": a multiplier in words.
_WORD_MULTIPLIER = re.compile(rf"\b({'|'.join(_NUMBER_WORDS)})[\s-]+(?:times|fold)\b", _I)


_ROUGHLY = re.compile(r"\b(?:around|about|roughly|approximately|nearly|almost|circa)\s*$|~\s*$", _I)


def stated_numbers(question: str) -> frozenset[str]:
    """The numbers a question states as given, without thousands separators ("10,000" -> "10000")."""
    text = _NOT_A_MEASURE.sub(" ", question)
    # "around 3x" of "3.18times": a rounded number, which the paper need not state.
    found = ((_plain(m[1]), m[2]) for m in _STATED.finditer(text) if not _ROUGHLY.search(text, 0, m.start()))
    words = (_NUMBER_WORDS[m[1].lower()] for m in _WORD_MULTIPLIER.finditer(question))
    return frozenset(n for n, unit in found if unit or "." in n or len(n) >= 2) | frozenset(words)


# An "or" between alternatives, with the comma and spaces around it.
OR_RE = re.compile(r"\s*(?:,\s*)?\bor\b\s*", _I)


def number_choices(question: str) -> tuple[tuple[frozenset[str], frozenset[str]], ...]:
    """The numbers either side of each "or": "a 3.18x speed-up or a 10x one?" -> ((3.18,), (10,)).

    A paper that states one side's numbers answers the choice; the other side's
    are not a premise it fails to support.
    """
    found = []
    for match in OR_RE.finditer(question):
        left = stated_numbers(question[max(0, match.start() - 60) : match.start()])
        right = stated_numbers(question[match.end() : match.end() + 60])
        if left and right:
            found.append((left, right))
    return tuple(found)


@lru_cache(maxsize=PER_PAPER)
def numbers_in(text: str) -> frozenset[str]:
    """Every number a text writes, in digits or words, without thousands separators.

    A decimal also counts as its whole part: "a 3x speed-up" is the "3.18 times" one.
    """
    words = (_NUMBER_WORDS[m[1].lower()] for m in _WORD_NUMBER.finditer(text))
    digits = {_plain(n) for n in _NUMBER.findall(text)}
    return frozenset(digits | {n.split(".")[0] for n in digits} | set(words))


def changes(question: str) -> tuple[tuple[str, str], ...]:
    """The changes a question states, "from 33.4% to 74.4%" -> (("33.4", "74.4"),)."""
    return tuple(_FROM_TO.findall(question))


def reverses(stated: tuple[tuple[str, str], ...], text: str) -> bool:
    """True when the text reports one of the ``stated`` changes the other way round (from B to A)."""
    reported = set(changes(text))
    return any((b, a) in reported for a, b in stated)


# "Can the Householder projector be used to find directions in diffusion models?" asks
# whether a method reaches somewhere new; only an abstract that speaks of that place
# answers. The place is what follows the verb and its preposition.
_EXTENDS = re.compile(
    r"^\W*(?:can|could|does|do|did|would|will|is|are|has|have)\b(.{2,80}?)\b(?:(?:"
    r"be (?:used|applied|extended|adapted|generali[sz]ed|transferred)|been (?:used|applied|extended|tried)|"
    r"work|works|apply|applies|extend|generali[sz]e|transfer|scale|carry over|also \w+(?: up| out)?"
    r")\b(?:\s+(?:well|also|equally))?\s+(?:to|for|on|with|in|beyond|into|when)|"
    r"(?:also )?(?:handle|support|cope with|deal with))\b(.+)$",
    _I,
)
# "..., and what caveat comes with them?" starts another question.
_CLAUSE_END = re.compile(
    r"[,;:]\s*(?:and|but)\b|[;?!]|\s(?:and|but)\s+(?:what|how|why|which|where|when|who|does|do|is|are|can)\b",
    _I,
)


def extension_targets(question: str) -> tuple[str, ...]:
    """Where a yes/no question asks a method to reach: "can X work for speech or video?" -> (speech, video).

    Empty when the question is not of that form. A paper answers only if it
    speaks of one of them.
    """
    match = _EXTENDS.search(question)
    if not match or re.search(r"\b(?:there|any)\s*$", match[1], _I):
        return ()  # "Is there work on ...": a search, not a reach
    place = _CLAUSE_END.split(match[2], maxsplit=1)[0]
    return tuple(part for part in OR_RE.split(place.strip(" ?.!")) if part)


def extension_subject(question: str) -> str:
    """What a yes/no reach question asks to reach: "can X work for Y?" -> X.

    Meaningful only where ``extension_targets`` finds a place.
    """
    match = _EXTENDS.search(question)
    return match[1] if match else ""


# "Which datasets was it evaluated on?" is answered by a paper that names them ("MNIST
# and AFHQ") or says what they are ("three public real-world datasets"), not by
# "experimental results across various unlearning tasks".
_WHICH_DATA = re.compile(
    r"\b(?:which|what|names? of)\s+(?:[\w-]+\s+){0,3}?(?:datasets?|datsets?|benchmarks?|data ?sets?)\b", _I
)
_DATA_WORDS = re.compile(
    r"\b(?:datasets?|data ?sets?|benchmarks?|corpus|corpora|experiment\w*|evaluat\w*|tested)\b", _I
)


_KIND_OF = re.compile(r"\b(?:kinds?|types?|sorts?)\s+of\b", _I)
_COUNT_OF = re.compile(rf"\b(?:\d+|{_COUNT}|a few|several)\b", _I)
_BY_NAME = re.compile(r"\b(?:by name|names?|named|specific|exact)\b", _I)


def asks_which_data(question: str) -> str:
    """What a question asks of the data a paper used.

    ``names``: which datasets, by name ("which specific datasets"); ``any``: which
    (a count answers: "three public real-world datasets"); empty: neither.
    """
    match = _WHICH_DATA.search(question)
    # "On what kind of benchmark was it tested?" is answered by "simulated visuomotor
    # manipulation problems": a kind, not a name or a count.
    if not match or _KIND_OF.search(match[0]):
        return ""
    # "Which three public datasets?" knows how many already: it asks for their names.
    return "names" if _BY_NAME.search(question) or _COUNT_OF.search(match[0]) else "any"


@lru_cache(maxsize=PER_PAPER)
def data_sentences(abstract: str) -> tuple[str, ...]:
    """The abstract's sentences that speak of datasets, benchmarks or experiments."""
    return tuple(s for s in text_sentences(abstract) if _DATA_WORDS.search(s))


@lru_cache(maxsize=PER_PAPER)
def text_sentences(text: str) -> tuple[str, ...]:
    """The text's sentences, split as chunks are (``chunking.split_sentences``)."""
    return tuple(split_sentences(text))


@lru_cache(maxsize=PER_PAPER)
def sentence_terms(text: str) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """The text's sentences, and the terms of each in order."""
    sentences = text_sentences(text)
    return sentences, tuple(tuple(terms(s)) for s in sentences)


def counts_data(sentence: str) -> bool:
    """True when the sentence says how many datasets: "three public real-world datasets"."""
    return not counted(sentence).isdisjoint(("dataset", "benchmark"))


# "We illustrate how to ... construct the proposed model with longitudinal mathematics
# achievement data": the data described, where no sentence says "dataset".
_DESCRIBED_DATA = re.compile(
    r"^We\s+(?:\w+\s+)?(?:illustrat|validat|demonstrat|evaluat|test|appl)\w*\b.*"
    r"\b(?:with|on|using)\s+(?:[\w-]+\s+){1,4}data\b(?!-)",
    _I,
)


def describes_data(abstract: str) -> bool:
    """True when the abstract says what data it was shown on ("with longitudinal ... data")."""
    return any(_DESCRIBED_DATA.search(s) for s in text_sentences(abstract))


# "Is the Householder projector code available?" is answered by an abstract that gives
# its code ("Our source code is publicly available at https://..."), not by one that
# never speaks of it.
_AVAILABLE = r"available|released?|public\w*|open[- ]sourced?|shared|link|find|download"
_ASKS_CODE = re.compile(
    rf"\b(?:code|implementation)\b.{{0,40}}\b(?:{_AVAILABLE})\b|"
    rf"\b(?:{_AVAILABLE})\b.{{0,40}}\b(?:code|implementation)\b|\bgithub\b|\brepo(?:sitory)?\b|"
    r"\bwhere\b.{0,40}\b(?:code|implementation)\b|\bsource code\b|\bthe (?:code|implementation) (?:for|of)\b",
    _I,
)
# Its own code, not a "latent code".
_GIVES_CODE = re.compile(
    r"https?://|www\.|github|open[- ]source|\b(?:our|the|source) code\b|\bcode\s+(?:is\s+|will\s+be\s+)?"
    r"(?:publicly\s+)?(?:available|released)",
    _I,
)


# "What is the single best clustering algorithm for any dataset?", "the most widely used
# metric in the community", "explain in general how ...": a claim about everything, which
# no abstract makes. (A superlative alone is a paper's: "which paper has the best FID?";
# a scope alone too: "the same embedding size for every feature", "pretraining in general".)
_SUPERLATIVE = re.compile(
    r"\b(?:best|most (?:widely |commonly )?(?:used|popular|common|successful|effective|important)|optimal)\b",
    _I,
)
_UNIVERSAL = re.compile(
    r"\b(?:(?:any|every|all) (?:[\w-]+ ){0,2}(?:datasets?|problems?|tasks?|networks?|models?|domains?|"
    r"settings?|situations?|cases?|applications?)|in general|no matter|in the (?:community|field)|"
    r"next decade|of all time)\b",
    _I,
)
_IN_GENERAL = re.compile(
    r"\b(?:explain|describe)\s+in general\b|\bin general terms\b|\b(?:in )?your (?:view|opinion)\b",
    _I,
)


def asks_in_general(question: str) -> bool:
    """True when the question asks for a claim about everything ("the best X for any Y")."""
    return bool(_SUPERLATIVE.search(question) and _UNIVERSAL.search(question)) or bool(
        _IN_GENERAL.search(question)
    )


def asks_code(question: str) -> bool:
    """True when the question asks whether or where the code is available."""
    return bool(_ASKS_CODE.search(question))


def gives_code(text: str) -> bool:
    """True when the text speaks of its code (a link, "code", "open-source")."""
    return bool(_GIVES_CODE.search(text))


# "What is calcium imaging?", "what's the difference between a factor graph and a
# Bayesian network?": a textbook question. A paper that merely uses calcium imaging data
# does not answer it; one whose title has the thing, or whose abstract says what it is
# (a sentence that opens with it, "the notion of X", "X refers to"), does.
_THING = r"(?:an?\s+|the\s+)?([\w'+-]+(?:\s+[\w'+-]+){0,3}?)"
_DEFINE = re.compile(
    rf"^\W*(?:so\s+|and\s+|ok\s+)?(?:what\s+(?:is|are|was|were)|what's|define|explain|describe)\s+{_THING}"
    r"(?:\s+(?:and|in|for|within|when)\b.*|\s*[?.!]*\s*$)",
    _I,
)
_DIFFER = re.compile(
    rf"\bdifferences?\s+between\s+{_THING}\s+(?:and|vs\.?|versus)\s+{_THING}(?:\s+(?:in|for|when|as)\b.*|\s*[?.!]*\s*$)|"
    rf"^\W*how\s+(?:does|do|is|are)\s+{_THING}\s+differ(?:ent)?\s+from\s+{_THING}(?:\s+(?:in|for|when)\b.*|\s*[?.!]*\s*$)",
    _I,
)
# Words that make "what is the X" a question about a paper, not about a thing.
_ABOUT_A_PAPER = frozenset(terms(
    "main key core central idea contribution limitation result step shown wrong goal purpose point "
    "novelty advantage benefit role effect improvement change difference proposed introduced used "
    "presented described studied considered addressed tackled discussed "
    "paper work study one two three four five several first second"
))  # fmt: skip


_LINKS = re.compile(
    r"\b(?:of|with|to|from|by|about|behind|between|on|at|that|which|this|these|its|their)\b", _I
)


def asks_definition(question: str) -> tuple[str, ...]:
    """The things a textbook question asks to define: "what is calcium imaging?" -> (calcium imaging,).

    Two for "the difference between A and B"; empty for other questions, and
    when the thing is the paper's ("what is the main idea", "the two constraints").
    """
    match = _DIFFER.search(question) or _DEFINE.search(question)
    if not match:
        return ()
    things = tuple(t for t in match.groups() if t)
    # "the problem with plain likelihood" is a paper's problem, not a thing's name.
    if any(not terms(t) or _ABOUT_A_PAPER.intersection(terms(t)) or _LINKS.search(t) for t in things):
        return ()
    return things


_HEADS = frozenset(terms("learning model models method approach framework technique estimation"))
_DEFINING = re.compile(
    r"\b(?:notion|concept|definition) of\b|\b(?:called|termed|dubbed|known as|refer(?:s|red)? to|"
    r"defined? as|we define|we call|we term|we introduce|we propose)\b",
    _I,
)


def defines(title: str, abstract: str, written: str, thing: tuple[str, ...]) -> bool:
    """True when the title has the ``thing``'s terms, or the abstract says what it is.

    Saying what it is: a sentence opens with it ("Machine unlearning aims to ..."),
    speaks of it with a defining cue ("we introduce the notion of concept signal"), or
    gives it as an acronym ("the multi-modal GP-VAE (MM-GPVAE)"). ``written``: the
    thing as the question writes it; ``thing``: its terms.
    """
    wanted = set(thing)
    # "invariant representation learning" is what "PAC Generalization via Invariant
    # Representations" is about.
    if wanted - _HEADS <= set(terms(title)) or f"({written.lower()})" in abstract.lower():
        return True
    for sentence, found in zip(*sentence_terms(abstract), strict=True):
        if wanted <= set(found[: len(wanted) + 3]):
            return True
        if wanted.issubset(found) and _DEFINING.search(sentence):
            return True
    return False


def contrasts(title: str, abstract: str, first: tuple[str, ...], second: tuple[str, ...]) -> bool:
    """True when one sentence has both things, each by the terms the other lacks."""
    own_first, own_second = set(first) - set(second), set(second) - set(first)
    found = (set(terms(title)), *map(set, sentence_terms(abstract)[1]))
    return any(own_first <= have and own_second <= have for have in found)


# Details an abstract seldom gives: "What neural network architecture does VLUCI use for
# its inference networks?", "Which deep learning framework is the code written in?". A
# paper answers only if it names one: for an architecture, a part more specific than the
# question's own words ("an encoder ... and reverse diffusion" answers "what architecture
# does CausalDiffAE use?"; "attention" does not answer "what attention architecture, e.g.
# how many heads?"); for software, a language or library. "Which GAN architectures does it
# use?" asks of several the paper names, and stays with the other rules.
_ARCHITECTURE_ASKED = re.compile(
    r"\b(?:what|which)\s+((?:[\w-]+\s+){0,3}?)architecture\b(?!s)|\barchitecture details?\b", _I
)
_ARCHITECTURE_PARTS = re.compile(
    r"\b(?:architectures?|transformers?|CNNs?|convolution\w*|ResNet\w*|U-?Nets?|MLPs?|LSTMs?|RNNs?|"
    r"GRUs?|ViTs?|perceptrons?|encoders?|decoders?|autoencoders?|VAEs?|GANs?|generators?|"
    r"discriminators?|attention|recurrent|diffusion models?|denoisers?|normalizing flows?|"
    r"Gaussian process\w*|graph neural networks?|GNNs?|StyleGAN\w*|BigGAN|VQ-?GAN|GPT[\w-]*|BERT|DeepSets|"
    r"neural networks?|layers?|heads?|backbones?|CLIP|GLIP|SAM|Stable Diffusion|LDMs?|DDPMs?|DDIMs?|VQ-?VAE|"
    r"Llama[\w-]*|T5)\b",
    _I,
)
_SOFTWARE_ASKED = re.compile(
    r"\b(?:written|implemented|coded|programmed)\s+in\b|\bprogramming language\b|"
    r"\b(?:deep learning|software|ml)\s+(?:framework|library)\b|\bwhich (?:library|libraries)\b",
    _I,
)
_SOFTWARE = re.compile(
    r"\b(?:PyTorch|TensorFlow|JAX|Keras|Python|Julia|MATLAB|C\+\+|Stan|PyMC\d?|Pyro|scikit-learn|"
    r"R package|Rust|Java)\b",
    _I,
)


def asks_details(question: str) -> tuple[tuple[str, frozenset[str]], ...]:
    """The details abstracts seldom give that a question asks for, each with the terms it already says.

    ("architecture", {attent}) for "what attention architecture ...", ("software", {})
    for "which language is it written in".
    """
    found = []
    match = _ARCHITECTURE_ASKED.search(question)
    if match:
        found.append(("architecture", frozenset(terms(match[1] or ""))))
    if _SOFTWARE_ASKED.search(question):
        found.append(("software", frozenset()))
    return tuple(found)


def gives_detail(kind: str, said: frozenset[str], text: str) -> bool:
    """True when the text names a detail of that kind beyond the question's own terms (``said``)."""
    if kind == "software":
        return bool(_SOFTWARE.search(text))
    return any(not said.issuperset(terms(m[0])) for m in _ARCHITECTURE_PARTS.finditer(text))
