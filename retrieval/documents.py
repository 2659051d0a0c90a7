"""Load reference documents (.txt, .md, .pdf, .docx, .html) from a folder as plain text."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import stat
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .cards import METADATA_FILE
from .decoding import SNIFF_BYTES, BinaryContent, binary_reason, decode_text
from .errors import RetrievalError

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = frozenset({".txt", ".md"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | {".pdf", ".docx"}
DEFAULT_MAX_FILE_MB = 50.0
MB = 1024 * 1024

HTML_BLOCK_TAGS = tuple(
    "address article aside blockquote dd div dl dt figcaption figure footer h1 h2 h3 h4 h5 h6 "
    "header hr li main nav ol p pre section table tr ul".split()
)
HTML_DROPPED_TAGS = ("script", "style", "noscript", "template", "head")
# A page's mark or footer: "Page 1", "-2-", "12", "Source: ACME CORP, 10-Q, 1/9/2020" (EDGAR's).
PAGE_MARK = r"(?i:(?:page\s+)?-?\s*\d+\s*-?|source:[^\n]*)"
# A page mark on a line of its own between blank lines where a sentence goes on over the page: the
# text before has no end mark and the text after starts with a lowercase word (not a list mark "a. ").
PAGE_BREAK_IN_SENTENCE = re.compile(
    rf"(?<=[^\s.;:!?])[ \t]*\n[ \t]*\n\s*?(?:[ \t]*{PAGE_MARK}[ \t]*\n[ \t]*\n\s*?)+"
    r"(?=[ \t]*(?![a-z]{1,4}[.)]\s)[a-z])")
# A running footer is glued to a page's last line ("... this agreement. ODM Supply Agreement 2 Organic
# Preparations INC. & Agape ATP International Holding Limited"): the same words ending at least
# FOOTER_MIN_PAGES lines, with a page number that grows from one to the next, and lines a page
# apart (a table's rows, one after another, can share an ending with growing numbers too).
FOOTER_MIN_PAGES = 4
FOOTER_MAX_WORDS = 16
FOOTER_MIN_WORDS = 3  # words of two letters or more, so that a bare page number is not a footer
FOOTER_MEDIAN_GAP = 500  # characters between footers; fewer than a page holds
FOOTER_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class Document:
    """One reference document; `id` is its path relative to the loaded folder, posix style."""

    id: str
    path: Path
    text: str
    sha256: str


@dataclass(frozen=True)
class FileNote:
    """A file that was skipped (`skipped`), or read with a caveat, and why."""

    path: str
    problem: str
    skipped: bool = True

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


@dataclass
class LoadedDocuments:
    """The documents of a folder, and a note for every file skipped or read with a caveat."""

    documents: list[Document]
    notes: list[FileNote] = field(default_factory=list)


class SkipFile(Exception):
    """This one file cannot be used (binary, broken, too big, unreadable); the others still can."""


class MissingReaderError(SkipFile):
    """The optional library needed for a file type is not installed."""


def find_document_files(root: Path) -> tuple[list[Path], list[FileNote]]:
    """Supported files under `root`, recursively, sorted; skip hidden entries and note folders that
    cannot be listed, symbolic links that loop, are broken or lead to folders (not followed), and
    files seen twice."""
    paths: list[Path] = []
    notes: list[FileNote] = []
    unsupported: Counter[str] = Counter()
    seen: dict[Path, Path] = {}
    errors: list[OSError] = []
    candidates = []
    for folder, folders, files in os.walk(root, onerror=errors.append):  # never follows links
        folders[:] = [name for name in folders if not name.startswith(".")]
        candidates += [Path(folder, name) for name in folders if Path(folder, name).is_symlink()]
        # "~$" files are the lock files Office keeps next to open .docx files.
        candidates += [Path(folder, name) for name in files if not name.startswith((".", "~$"))]
    notes += [FileNote(str(error.filename), f"cannot list the folder ({error.strerror or error})")
              for error in errors]
    # Real files first, so that a link to a file is the one reported as a repeat.
    for path in sorted(candidates, key=lambda path: (path.is_symlink(), path)):
        supported = path.suffix.lower() in SUPPORTED_SUFFIXES
        if path.is_symlink():
            problem = symlink_problem(path)
            if problem and (supported or "broken" not in problem):
                notes.append(FileNote(str(path), problem))
            if problem:
                continue
        if not path.is_file() or (path.name == METADATA_FILE and path.parent == root):
            continue  # the documents' metadata (retrieval/cards.py) is read, not indexed
        if not supported:
            unsupported[path.suffix.lower() or "(no extension)"] += 1
            continue
        real = path.resolve()
        if real in seen:  # a symbolic link to a file that is read already
            notes.append(FileNote(str(path), f"same file as {seen[real]}, read once"))
            continue
        seen[real] = path
        paths.append(path)
    if unsupported:
        kinds = ", ".join(sorted(unsupported))
        notes.append(FileNote(str(root), f"{sum(unsupported.values())} files of unsupported types "
                                         f"ignored ({kinds})", skipped=False))
    return sorted(paths), notes


def is_empty_folder(folder: Path) -> bool:
    with os.scandir(folder) as entries:
        return not any(entries)


def symlink_problem(path: Path) -> str | None:
    """Why a symbolic link is not read (a loop, broken, or leading to a folder), or None."""
    try:
        mode = path.stat().st_mode
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "symbolic link loop"
        return "broken symbolic link"
    if stat.S_ISDIR(mode):
        return "symbolic link to a folder, not followed (it could loop)"
    return None


def scan_documents(folder: str | Path, *, max_file_mb: float = DEFAULT_MAX_FILE_MB) -> LoadedDocuments:
    """Load every usable document under `folder` (or one file), sorted by id, with a note per file
    skipped (binary, empty, broken, unreadable, over `max_file_mb`) or decoded with a fallback.

    Raises RetrievalError when nothing usable is left.
    """
    if not max_file_mb > 0:
        raise RetrievalError(f"--max-file-mb must be positive, not {max_file_mb}")
    root = Path(folder)
    if root.is_file():
        if root.suffix.lower() not in SUPPORTED_SUFFIXES:
            raise RetrievalError(f"{root}: unsupported file type {root.suffix!r}")
        paths, notes, base = [root], [], root.parent
    elif root.is_dir():
        (paths, notes), base = find_document_files(root), root
    elif root.is_symlink():
        raise RetrievalError(f"{root}: {symlink_problem(root) or 'not a file or folder'}")
    elif root.exists():
        raise RetrievalError(f"{root}: not a file or folder")
    else:
        raise RetrievalError(f"{root}: documents folder does not exist")
    if not paths:
        if not notes and is_empty_folder(root):
            raise RetrievalError(f"{root}: the documents folder is empty")
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        found = "".join(f"; {note.problem if note.path == str(root) else note}" for note in notes[:3])
        raise RetrievalError(f"{root}: no supported documents found (supported: {supported}{found})")

    documents = []
    for path in paths:
        try:
            text, caveat = read_file(path, int(max_file_mb * MB), max_file_mb)
        except SkipFile as exc:
            notes.append(FileNote(str(path), str(exc)))
            continue
        except OSError as exc:
            notes.append(FileNote(str(path), f"cannot read the file ({exc.strerror or exc})"))
            continue
        if caveat:
            notes.append(FileNote(str(path), caveat, skipped=False))
        if not text.strip():
            notes.append(FileNote(str(path), "no text in the file"))
            continue
        document_id = path.relative_to(base).as_posix()
        documents.append(Document(document_id, path, text, sha256_of(text)))
    if not documents:
        skipped = [note for note in notes if note.skipped]
        if root.is_file():
            raise RetrievalError(str(skipped[0]))
        more = f"; and {len(skipped) - 1} more" if len(skipped) > 1 else ""
        raise RetrievalError(f"{root}: no readable documents ({skipped[0]}{more})")
    documents.sort(key=lambda document: document.id)
    return LoadedDocuments(documents, notes)


def load_documents(folder: str | Path, *, max_file_mb: float = DEFAULT_MAX_FILE_MB) -> list[Document]:
    """scan_documents' documents; each note is logged as a warning."""
    loaded = scan_documents(folder, max_file_mb=max_file_mb)
    for note in loaded.notes:
        logger.warning("%s%s", "skipping " if note.skipped else "", note)
    return loaded.documents


def sha256_of(text: str) -> str:
    """Hex SHA-256 of the UTF-8 encoding of `text`."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_file(path: Path, max_bytes: int, max_mb: float) -> tuple[str, str | None]:
    """(text, caveat) of one file, newlines normalised to '\\n'; SkipFile when it cannot be used."""
    size = path.stat().st_size
    if size > max_bytes:  # checked before reading: a huge file is never loaded
        raise SkipFile(f"{size / MB:.1f} MB, over the {max_mb:g} MB limit (--max-file-mb)")
    if size == 0:
        raise SkipFile("empty file")
    text, caveat = read_text(path)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return without_page_breaks(without_running_footers(text)), caveat


def without_running_footers(text: str) -> str:
    """`text` without the running footers glued to the ends of its lines (up to three kinds, the
    most frequent first), so that a page's last sentence does not run on into "ODM Supply Agreement
    13 Organic Preparations INC." and a footer is not asked about as the contract's text."""
    for _ in range(3):
        footer = running_footer(text)
        if footer is None:
            break
        text = footer_pattern(whole_footer(text, footer)).sub("", text)
    return text


def footer_pattern(footer: str) -> re.Pattern[str]:
    """Matches `footer` (its page numbers as '#') at the end of a line, with the spaces before it."""
    words = [r"\d+".join(map(re.escape, word.split("#"))) for word in footer.split()]
    return re.compile(r"(?m)(?:^[ \t]*|[ \t]+)" + r"[ \t]+".join(words) + r"[ \t]*$")


def whole_footer(text: str, footer: str) -> str:
    """`footer` grown by the words that come before it on every line it ends: running_footer looks
    at a line's last FOOTER_MAX_WORDS words only, and a confidentiality legend can be longer."""
    while True:
        before = {word_before(text, match.start()) for match in footer_pattern(footer).finditer(text)}
        if len(before) != 1 or "" in before:
            return footer
        footer = f"{before.pop()} {footer}"


def word_before(text: str, index: int) -> str:
    """The word before `index` on its line, page numbers as '#'; '' at the line's start."""
    words = text[text.rfind("\n", 0, index) + 1:index].split()
    return FOOTER_NUMBER.sub("#", words[-1]) if words else ""


def running_footer(text: str) -> str | None:
    """The words (page numbers as '#') that end the most lines as a running footer, or None."""
    endings: dict[str, list[tuple[int, list[int]]]] = defaultdict(list)
    offset = 0
    for line in text.split("\n"):
        words = line.split()
        for size in range(1, min(FOOTER_MAX_WORDS, len(words)) + 1):
            ending = " ".join(words[-size:])
            numbers = [int(number) for number in FOOTER_NUMBER.findall(ending)]
            if numbers:
                endings[FOOTER_NUMBER.sub("#", ending)].append((offset, numbers))
        offset += len(line) + 1
    candidates = [(len(lines), len(ending.split()), ending) for ending, lines in endings.items()
                  if is_running_footer(ending, lines)]
    return max(candidates)[2] if candidates else None


def is_running_footer(ending: str, lines: list[tuple[int, list[int]]]) -> bool:
    if len(lines) < FOOTER_MIN_PAGES or re.search(r"[.;:,]$", ending):
        return False
    if sum(1 for word in ending.split() if re.search(r"[^\W\d_]{2}", word)) < FOOTER_MIN_WORDS:
        return False
    gaps = sorted(later[0] - earlier[0] for earlier, later in zip(lines, lines[1:]))
    if gaps[len(gaps) // 2] < FOOTER_MEDIAN_GAP:
        return False
    numbers = [line_numbers for _, line_numbers in lines]
    if len({len(line_numbers) for line_numbers in numbers}) > 1:  # a '#' of the text's own ("No. ##3")
        return False
    return any(all(earlier[at] < later[at] for earlier, later in zip(numbers, numbers[1:]))
               for at in range(len(numbers[0])))


def without_page_breaks(text: str) -> str:
    """`text` without the page marks that cut its sentences ("... if any such changes in the
    Specifications", a page's "-9-", then "shall render ..."): the paragraph break stays, so that the
    sentence is read whole and an answer quoting it is the contract's own sentence."""
    return PAGE_BREAK_IN_SENTENCE.sub("\n\n", text)


def read_text(path: Path) -> tuple[str, str | None]:
    """Extract the text of one file, and a caveat when it was decoded with a fallback."""
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        try:
            return decode_text(path.read_bytes())
        except BinaryContent as exc:
            raise SkipFile(f"{exc}") from None
    if suffix in HTML_SUFFIXES:
        return read_html(path), None
    if suffix == ".pdf":
        return read_pdf(path), None
    if suffix == ".docx":
        return read_docx(path), None
    raise RetrievalError(f"{path}: unsupported file type {path.suffix!r}")


def read_html(path: Path) -> str:
    """Visible text of an HTML file, one blank line between block elements."""
    try:
        from bs4 import BeautifulSoup, NavigableString
    except ImportError as exc:
        raise MissingReaderError("reading .html needs `pip install beautifulsoup4`") from exc

    data = path.read_bytes()
    reason = binary_reason(data[:SNIFF_BYTES])
    if reason:
        raise SkipFile(f"{reason}")
    soup = BeautifulSoup(data, "html.parser")
    for tag in soup.find_all(HTML_DROPPED_TAGS):
        tag.decompose()
    # Source line wrapping is not a paragraph break: collapse whitespace inside text nodes first.
    for node in soup.find_all(string=True):
        if type(node) is NavigableString and node.find_parent("pre") is None:
            node.replace_with(re.sub(r"\s+", " ", str(node)))
    for tag in soup.find_all("br"):
        tag.replace_with("\n")
    for tag in soup.find_all(HTML_BLOCK_TAGS):
        tag.insert_before("\n\n")
        tag.insert_after("\n\n")
    lines = (line.strip() for line in soup.get_text().split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def read_pdf(path: Path) -> str:
    """Text of every page of a PDF, pages separated by a blank line."""
    try:
        from pypdf import PdfReader
    except ImportError as exc:
        raise MissingReaderError("reading .pdf needs `pip install pypdf`") from exc

    try:
        pages = [page.extract_text() or "" for page in PdfReader(path).pages]
    except OSError:
        raise
    except Exception as exc:  # pypdf raises assorted types (KeyError, TypeError, ...) on broken files
        raise SkipFile(f"cannot read PDF ({one_line(exc)})") from exc
    text = "\n\n".join(page.strip() for page in pages if page.strip())
    if not text:
        raise SkipFile("PDF has no text layer (a scanned PDF needs OCR first)")
    return text


def read_docx(path: Path) -> str:
    """Paragraphs and table rows of a .docx file, in document order, one per paragraph."""
    try:
        import docx
        from docx.opc.exceptions import PackageNotFoundError
        from docx.table import Table
    except ImportError as exc:
        raise MissingReaderError("reading .docx needs `pip install python-docx`") from exc

    try:
        word_document = docx.Document(str(path))
    except OSError:
        raise
    except PackageNotFoundError:  # python-docx's message for a file that is not a zip package
        raise SkipFile("cannot read .docx (not a Word zip package)") from None
    except Exception as exc:  # python-docx raises assorted zip/xml/ValueError types
        raise SkipFile(f"cannot read .docx ({one_line(exc)})") from exc
    blocks = []
    for item in word_document.iter_inner_content():
        if isinstance(item, Table):
            blocks.extend(" | ".join(cell.text.strip() for cell in row.cells) for row in item.rows)
        else:
            blocks.append(item.text.strip())
    return "\n\n".join(block for block in blocks if block)


def one_line(error: Exception) -> str:
    text = " ".join(str(error).split())[:200]
    return text or type(error).__name__
