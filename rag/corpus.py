"""Sources to papers: read page dumps, JSON Lines and CSV into ``Paper`` records.

Every reader validates its whole file before anything reaches the index, and
its errors name the file and line so a user can fix the input and retry.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import logging
import re
import unicodedata
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import IngestError

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".jsonl", ".jsonl.gz", ".csv")

# Field names accepted for each part of a paper; the first match wins. The
# arXiv metadata snapshot and the Kaggle arXiv CSV use the later aliases.
_TITLE_KEYS = ("title", "titles")
_ABSTRACT_KEYS = ("abstract", "summary", "summaries")
_ID_KEYS = ("id", "arxiv_id", "paper_id")
_SKIP_KEYS = {*_TITLE_KEYS, *_ABSTRACT_KEYS, *_ID_KEYS}

# A page-dump paragraph this long is an abstract; titles and page chrome are shorter.
_MIN_ABSTRACT_CHARS = 200
_MAX_TITLE_CHARS = 400
# JSON's \\u escapes can spell half a surrogate pair, which no UTF-8 text (or encoder) accepts.
_SURROGATE = re.compile("[\\ud800-\\udfff]")


@dataclass(frozen=True, slots=True)
class Paper:
    """One paper as read from an input file.

    Attributes:
        paper_id: Stable id: the source's id (e.g. the arXiv id) when given,
            otherwise derived from the normalized title.
        title: Title with whitespace collapsed.
        abstract: Abstract as written, with whitespace runs collapsed.
        metadata: Extra string fields the reader found (authors, categories, ...).
        source: The file the paper came from.

    """

    paper_id: str
    title: str
    abstract: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    source: str = ""

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict."""
        return {
            "paper_id": self.paper_id,
            "title": self.title,
            "abstract": self.abstract,
            "metadata": dict(self.metadata),
            "source": self.source,
        }


def collapse(text: str) -> str:
    """Collapse every whitespace run (line breaks included) into one space."""
    return " ".join(text.split())


def normalize_title(title: str) -> str:
    """Return the comparison key of a title: NFKD, lower case, alphanumerics only."""
    folded = unicodedata.normalize("NFKD", title).lower()
    return " ".join(re.findall(r"[a-z0-9]+", folded))


def title_id(title: str) -> str:
    """Derive a readable, stable paper id from a title (slug plus short hash)."""
    key = normalize_title(title)
    slug = "-".join(key.split()[:8])[:60].strip("-") or "paper"
    digest = hashlib.sha1(key.encode()).hexdigest()[:8]
    return f"{slug}-{digest}"


def _make_paper(
    title: str,
    abstract: str,
    source: str,
    where: str,
    raw_id: str = "",
    metadata: Mapping[str, str] | None = None,
) -> Paper:
    title, abstract = collapse(title), collapse(abstract)
    if not title:
        raise IngestError(f"{where}: the title is empty — give every paper a title")
    if not abstract:
        raise IngestError(f"{where}: the abstract is empty — give every paper an abstract")
    paper_id = collapse(raw_id) or title_id(title)
    meta = {k: collapse(v) for k, v in (metadata or {}).items() if v and collapse(v)}
    named = [("title", title), ("abstract", abstract), ("id", paper_id), *meta.items()]
    for name, value in named + [(k, k) for k in meta]:
        if bad := _SURROGATE.search(value):
            raise IngestError(
                f"{where}: {name!r} holds invalid Unicode (an unpaired surrogate "
                f"\\u{ord(bad.group()):04x}) — fix that \\u escape or remove the record"
            )
    return Paper(paper_id, title, abstract, meta, source)


def _as_text(value: object) -> str:
    """Metadata as text: lists of plain values joined with "; ", anything nested as JSON."""
    if value is None:
        return ""
    if not isinstance(value, dict | list | tuple):
        return str(value)
    if isinstance(value, list | tuple) and all(not isinstance(v, dict | list | tuple) for v in value):
        return "; ".join(_as_text(v) for v in value if v is not None)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _field_text(record: Mapping[str, object], keys: Iterable[str], where: str) -> str:
    """The title, abstract or id: text (a list of strings is joined), never a nested object."""
    for key in keys:
        if key in record:
            value = record[key]
            if isinstance(value, dict) or (
                isinstance(value, list | tuple) and any(isinstance(v, dict | list | tuple) for v in value)
            ):
                raise IngestError(
                    f"{where}: {key!r} is a JSON {type(value).__name__}, not text — "
                    f"give the {key} as a string"
                )
            return _as_text(value)
    return ""


def _record_paper(record: Mapping[str, object], source: str, where: str) -> Paper:
    lowered = {str(k).strip().lower(): v for k, v in record.items()}
    if not any(k in lowered for k in _TITLE_KEYS) or not any(k in lowered for k in _ABSTRACT_KEYS):
        raise IngestError(
            f"{where}: needs 'title' and 'abstract' fields, found {sorted(lowered)[:8]} — "
            "add them (or rename the fields that hold them)"
        )
    # Every other field is metadata, whatever its name: it is kept apart from
    # PaperChat's own fields (id, title, abstract, source), so it cannot replace them.
    extra = {k: _as_text(v) for k, v in lowered.items() if k not in _SKIP_KEYS and k}
    return _make_paper(
        _field_text(lowered, _TITLE_KEYS, where),
        _field_text(lowered, _ABSTRACT_KEYS, where),
        source,
        where,
        raw_id=_field_text(lowered, _ID_KEYS, where),
        metadata=extra,
    )


def _read_text(path: Path) -> str:
    """Read a file as UTF-8, naming the first undecodable line on failure."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IngestError(
            f"{path}: cannot read it ({exc.strerror}) — check the path and permissions"
        ) from None
    if path.name.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise IngestError(f"{path}: not a valid gzip file ({exc}) — re-download or unzip it") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise IngestError(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x}) — "
            "convert the file to UTF-8 and ingest again"
        ) from None


def read_page_dump(path: Path) -> list[Paper]:
    """Read a daily-papers page dump: page chrome, then title/abstract paragraphs.

    Short paragraphs that are not followed by an abstract-length paragraph are
    page chrome ("Subscribe", a date, ...) and are skipped before the first and
    after the last paper; in between they mean the file is malformed.
    """
    text = _read_text(path)
    paragraphs: list[tuple[int, str]] = []
    line_no, start, buf = 0, 0, []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            if not buf:
                start = line_no
            buf.append(line)
        elif buf:
            paragraphs.append((start, collapse(" ".join(buf))))
            buf = []
    if buf:
        paragraphs.append((start, collapse(" ".join(buf))))

    def is_abstract(p: str) -> bool:
        return len(p) >= _MIN_ABSTRACT_CHARS

    def is_title(p: str) -> bool:
        return len(p) <= _MAX_TITLE_CHARS and not is_abstract(p)

    papers: list[Paper] = []
    pending_chrome: list[int] = []
    i = 0
    while i < len(paragraphs):
        line, para = paragraphs[i]
        nxt = paragraphs[i + 1][1] if i + 1 < len(paragraphs) else ""
        if is_title(para) and is_abstract(nxt):
            if papers and pending_chrome:
                raise IngestError(
                    f"{path}:{pending_chrome[0]}: a short paragraph between papers has no "
                    "abstract after it — put a blank line between each title and its abstract"
                )
            papers.append(_make_paper(para, nxt, str(path), f"{path}:{line}"))
            pending_chrome.clear()
            i += 2
        elif is_abstract(para):
            raise IngestError(
                f"{path}:{line}: an abstract-length paragraph has no title before it — "
                "put each title on its own paragraph directly above its abstract"
            )
        else:
            pending_chrome.append(line)
            i += 1
    return papers


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, text)`` of a UTF-8 (optionally gzipped) file, one line in memory at a time."""
    try:
        fh = gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")  # noqa: SIM115
    except OSError as exc:
        raise IngestError(
            f"{path}: cannot read it ({exc.strerror}) — check the path and permissions"
        ) from None
    line_no = 0
    with fh:
        try:
            for line_no, raw in enumerate(fh, start=1):
                try:
                    text = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    raise IngestError(
                        f"{path}:{line_no}: not UTF-8 text (byte 0x{raw[exc.start]:02x}) — "
                        "convert the file to UTF-8 and ingest again"
                    ) from None
                yield line_no, text
        except (OSError, EOFError, zlib.error) as exc:
            raise IngestError(
                f"{path}:{line_no + 1}: not a valid gzip file ({exc}) — re-download or unzip it"
            ) from None


def read_jsonl(path: Path) -> Iterator[Paper]:
    """Stream JSON Lines with ``title`` and ``abstract`` (arXiv snapshot names accepted)."""
    try:
        yield from _read_jsonl(path)
    except IngestError:
        # A damaged .gz often still inflates, into garbage that fails as a bad record long
        # before the checksum at the end is read: blame the download, not the line.
        if path.name.endswith(".gz") and (damage := _gzip_damage(path)):
            raise IngestError(f"{path}: not a valid gzip file ({damage}) — re-download or unzip it") from None
        raise


def _gzip_damage(path: Path) -> str:
    """Why a gzip file is damaged (read to its end), or "" when it is intact."""
    try:
        with gzip.open(path, "rb") as fh:
            while fh.read(1 << 20):
                pass
    except (OSError, EOFError, zlib.error) as exc:
        return str(exc)
    return ""


def _read_jsonl(path: Path) -> Iterator[Paper]:
    for line_no, line in _lines(path):
        if not line.strip():
            continue
        where = f"{path}:{line_no}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise IngestError(f"{where}: not valid JSON ({exc.msg}) — fix or remove that line") from None
        if not isinstance(record, dict):
            raise IngestError(
                f"{where}: expected a JSON object per line, got {type(record).__name__} — "
                'put one {"title": ..., "abstract": ...} object on each line'
            )
        yield _record_paper(record, str(path), where)


def read_csv(path: Path) -> Iterator[Paper]:
    """Stream CSV with a header row that has title and abstract columns."""
    reader = csv.DictReader((text for _, text in _lines(path)))
    try:
        columns = [str(c).strip().lower() for c in reader.fieldnames or ()]
        missing = [
            need
            for need, keys in (("title", _TITLE_KEYS), ("abstract", _ABSTRACT_KEYS))
            if columns and not set(keys) & set(columns)
        ]
        if missing:
            raise IngestError(
                f"{path}:1: the header row has no {' or '.join(missing)} column "
                f"(it has {', '.join(columns)[:200]}) — name the columns title and abstract"
            )
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if None in row:
                raise IngestError(
                    f"{where}: more fields than header columns — quote fields that contain commas"
                )
            yield _record_paper(row, str(path), where)
    except csv.Error as exc:
        raise IngestError(f"{path}:{reader.line_num}: malformed CSV ({exc})") from None


def _reader_for(path: Path):
    name = path.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz")):
        return read_jsonl
    if name.endswith(".csv"):
        return read_csv
    if name.endswith(".txt"):
        return read_page_dump
    return None


def input_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and folders into the supported input files, in a stable order.

    Raises:
        IngestError: A path does not exist, or a named file has an unsupported type.

    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and _reader_for(p)
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            files.extend(found)
        elif path.is_file():
            if _reader_for(path) is None:
                raise IngestError(f"{path}: unsupported file type — use {', '.join(SUPPORTED_SUFFIXES)}")
            files.append(path)
        else:
            raise IngestError(f"{path}: no such file or folder — check the path")
    return files


def read_papers(paths: Iterable[str | Path]) -> Iterator[Paper]:
    """Read every paper from files and folders, each paper once.

    The same paper (same id, or same normalized title) seen twice is kept the
    first time it is seen.

    Raises:
        IngestError: An input is missing, unreadable or malformed (file and line named).

    """
    seen_ids: set[str] = set()
    seen_titles: set[str] = set()
    for path in input_files(paths):
        reader = _reader_for(path)
        assert reader is not None
        for paper in reader(path):
            key = normalize_title(paper.title)
            if paper.paper_id in seen_ids or key in seen_titles:
                log.debug("skipping duplicate paper %s from %s", paper.paper_id, path)
                continue
            seen_ids.add(paper.paper_id)
            seen_titles.add(key)
            yield paper
