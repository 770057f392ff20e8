"""The knowledge base the bot falls back to, as passages with a source to cite.

    read_faq("faq.csv")          # CSV/JSONL question,answer[,url][,id]: one passage per row
    read_markdown("docs/cards.md")   # a document split into passages by heading and paragraph
    read_knowledge(["faq.csv", "docs/"])   # any mix of files and folders of .csv/.jsonl/.md

A ``Passage`` has a stable ``id`` (for the vector index), a ``title`` (the FAQ question or the
section's heading path), its ``text`` and a ``source`` (the row's URL, or ``path#anchor`` with a
GitHub-style heading anchor, so a reply can link to the very section).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from shared.datafiles import RowReport, good_rows, readable_rows
from shared.errors import DataError

FAQ_SUFFIXES = (".csv", ".jsonl", ".ndjson")
MARKDOWN_SUFFIXES = (".md", ".markdown")
# Sections longer than this are cut at paragraph boundaries: a passage should be about one thing,
# and the encoder reads at most ~128 word pieces of it with the default settings.
MAX_PASSAGE_CHARS = 1000


@dataclass(frozen=True)
class Passage:
    id: str
    title: str  # the FAQ question, or the heading path ("Cards > Delivery")
    text: str  # the answer, or the section's paragraphs
    source: str  # a URL, "path#anchor", or "path" for text before the first heading

    @property
    def search_text(self) -> str:
        """What to embed: the title gives a short passage its context."""
        return f"{self.title}\n{self.text}" if self.title else self.text


def read_faq(path: str | Path, report: RowReport | None = None) -> list[Passage]:
    """Question/answer rows; ``url`` (optional) becomes the source, ``id`` (optional) the id.
    A bad row (an empty question or answer, an id used before, a broken line) goes into
    ``report``, else it is an error; missing columns are always one."""
    path = Path(path)
    report = report if report is not None else RowReport(str(path), strict=True)
    columns, rows = readable_rows(path, report)
    missing = [c for c in ("question", "answer") if c not in columns]
    if missing:
        raise DataError(f"{path}: no column {missing[0]!r} (a knowledge base needs question,answer[,url]; columns: {', '.join(columns)})")
    # Without an id column a passage is named by its row's place ("faq-3": the third row), bad rows
    # counted, so skipping one does not rename the passages after it.
    place = {number: i for i, (number, _) in enumerate(rows, 1)}
    passages, seen = [], set()
    for number, row in good_rows(rows, report):
        question, answer = str(row.get("question") or "").strip(), str(row.get("answer") or "").strip()
        pid = str(row.get("id") or "").strip() or f"{path.stem}-{place[number]}"
        if not question or not answer:
            report.skip(number, f"empty {'question' if not question else 'answer'}")
        elif pid in seen:
            report.skip(number, f"passage id {pid!r} occurs twice; ids must be unique")
        else:
            seen.add(pid)
            passages.append(Passage(pid, question, answer, str(row.get("url") or "").strip() or f"{path.name}:{number}"))
    report.finish(len(passages))
    return passages


def heading_anchor(heading: str, seen: dict[str, int]) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens, and
    "-1", "-2"... for repeats within a document (``seen`` tracks them)."""
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
    count = seen.get(slug, 0)
    seen[slug] = count + 1
    return slug if count == 0 else f"{slug}-{count}"


_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def _blocks(lines: list[str]):
    """(heading level, heading text) or (None, paragraph) in document order; fenced code stays whole."""
    paragraph, fence = [], None
    for line in lines:
        fence_mark = _FENCE.match(line)
        if fence is not None:
            paragraph.append(line)
            if fence_mark and fence_mark.group(1) == fence:
                fence = None
            continue
        if fence_mark:
            fence = fence_mark.group(1)
            paragraph.append(line)
            continue
        heading = _HEADING.match(line)
        if heading or not line.strip():
            if paragraph:
                yield None, "\n".join(paragraph).strip()
                paragraph = []
            if heading:
                yield len(heading.group(1)), heading.group(2)
            continue
        paragraph.append(line)
    if paragraph:
        yield None, "\n".join(paragraph).strip()


def read_markdown(path: str | Path, *, root: str | Path | None = None, max_chars: int = MAX_PASSAGE_CHARS) -> list[Passage]:
    """A Markdown document as passages: each section's paragraphs, joined up to ``max_chars``.

    Sections start at ATX headings (``## Title``); underlined (setext) headings are read as text.

    The source is the file's path (relative to ``root`` when given) plus the section's anchor.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None
    name = path.relative_to(root).as_posix() if root else path.as_posix()
    passages: list[Passage] = []
    headings: list[tuple[int, str]] = []  # the open headings, outermost first
    anchors: dict[str, int] = {}
    anchor, chunk, part = "", [], 0

    def flush():
        nonlocal chunk, part
        if chunk:
            part += 1
            source = f"{name}#{anchor}" if anchor else name
            title = " > ".join(text for _, text in headings) or path.stem
            passages.append(Passage(source if part == 1 else f"{source}:{part}", title, "\n\n".join(chunk), source))
            chunk = []

    for level, text in _blocks(lines):
        if level is not None:
            flush()
            headings = [h for h in headings if h[0] < level] + [(level, text)]
            anchor, part = heading_anchor(text, anchors), 0
        else:
            if chunk and sum(len(c) for c in chunk) + len(text) > max_chars:
                flush()
            chunk.append(text)
    flush()
    if not passages:
        raise DataError(f"{path}: no text to use (empty, or headings only)")
    return passages


def _unique(passages: list[Passage], where: str) -> list[Passage]:
    seen = set()
    for p in passages:
        if p.id in seen:
            raise DataError(f"{where}: passage id {p.id!r} occurs twice; ids must be unique")
        seen.add(p.id)
    return passages


def read_knowledge(paths, reports: list[RowReport] | None = None, strict: bool = False) -> list[Passage]:
    """Passages from files and folders (searched recursively for .csv/.jsonl/.md, in name order).

    With ``reports`` (a list to fill, one RowReport per FAQ file) bad FAQ rows are skipped and
    counted unless ``strict``; without it they are errors. Markdown has no rows to skip."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    passages = []
    for given in map(Path, paths):
        if given.is_dir():
            files = sorted(p for p in given.rglob("*") if p.is_file() and p.suffix.lower() in FAQ_SUFFIXES + MARKDOWN_SUFFIXES)
            if not files:
                raise DataError(f"{given}: no .csv, .jsonl or .md files in this folder")
            for file in files:
                passages += _read_one(file, root=given, reports=reports, strict=strict)
        else:
            # Ids relative to the file's folder ("guide.md#fees"): the same on every machine.
            passages += _read_one(given, root=given.parent, reports=reports, strict=strict)
    return _unique(passages, "knowledge base")


def _read_one(path: Path, root: Path | None, reports: list[RowReport] | None, strict: bool) -> list[Passage]:
    suffix = path.suffix.lower()
    if suffix in MARKDOWN_SUFFIXES:
        return read_markdown(path, root=root)
    if suffix in FAQ_SUFFIXES:
        return read_faq(path, RowReport.added_to(reports, path, strict))
    raise DataError(f"{path}: unsupported knowledge-base file type {suffix or '(none)'}; use .csv, .jsonl or .md")


def read_questions(path: str | Path, report: RowReport | None = None) -> list[tuple[str, str | None]]:
    """Visitors' questions for a knowledge base, CSV/JSONL ``text,passage_id``: the passage that
    answers each, or an empty ``passage_id`` for a question none does (it must be handed off).
    They tune the retrieval encoder and choose the retrieval threshold. Rows with an empty text go
    into ``report``, else they are errors."""
    report = report if report is not None else RowReport(str(path), strict=True)
    columns, rows = readable_rows(path, report)
    if "text" not in columns or "passage_id" not in columns:
        raise DataError(f"{path}: expected the columns text,passage_id")
    questions = []
    for number, row in good_rows(rows, report):
        text = str(row.get("text") or "").strip()
        if text:
            questions.append((text, str(row.get("passage_id") or "").strip() or None))
        else:
            report.skip(number, "empty 'text'")
    report.finish(len(questions))
    return questions
