"""Load reference documents (.txt, .md, .pdf, .docx, .html) from a folder as plain text."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import RetrievalError

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = frozenset({".txt", ".md"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | {".pdf", ".docx"}

HTML_BLOCK_TAGS = tuple(
    "address article aside blockquote dd div dl dt figcaption figure footer h1 h2 h3 h4 h5 h6 "
    "header hr li main nav ol p pre section table tr ul".split()
)
HTML_DROPPED_TAGS = ("script", "style", "noscript", "template", "head")


@dataclass(frozen=True)
class Document:
    """One reference document; `id` is its path relative to the loaded folder, posix style."""

    id: str
    path: Path
    text: str
    sha256: str


class MissingReaderError(Exception):
    """The optional library needed for a file type is not installed."""


def iter_document_paths(folder: str | Path) -> Iterator[Path]:
    """Yield supported files under `folder`, recursively, in sorted order; skip hidden entries."""
    root = Path(folder)
    for path in sorted(root.rglob("*")):
        relative_parts = path.relative_to(root).parts
        if any(part.startswith(".") for part in relative_parts):
            continue
        if path.name.startswith("~$"):  # Office lock files sit next to open .docx files
            continue
        if path.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES:
            yield path


def load_documents(folder: str | Path) -> list[Document]:
    """Load every supported, non-empty document under `folder` (or one file), sorted by id."""
    root = Path(folder)
    if not root.exists():
        raise RetrievalError(f"{root}: documents folder does not exist")
    if root.is_file():
        if root.suffix.lower() not in SUPPORTED_SUFFIXES:
            raise RetrievalError(f"{root}: unsupported file type {root.suffix!r}")
        paths, base = [root], root.parent
    else:
        paths, base = list(iter_document_paths(root)), root
    if not paths:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise RetrievalError(f"{root}: no supported documents found ({supported})")

    documents = []
    for path in paths:
        try:
            text = read_text(path)
        except MissingReaderError as exc:
            logger.warning("skipping %s: %s", path, exc)
            continue
        except OSError as exc:
            raise RetrievalError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
        if not text.strip():
            logger.warning("skipping %s: the file has no text", path)
            continue
        document_id = path.relative_to(base).as_posix()
        documents.append(Document(document_id, path, text, sha256_of(text)))
    if not documents:
        raise RetrievalError(f"{root}: no readable documents (all files were empty or skipped)")
    return sorted(documents, key=lambda document: document.id)


def sha256_of(text: str) -> str:
    """Hex SHA-256 of the UTF-8 encoding of `text`."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_text(path: Path) -> str:
    """Extract the text of one file, with newlines normalised to '\\n'."""
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        text = decode_bytes(path.read_bytes(), path)
    elif suffix in HTML_SUFFIXES:
        text = read_html(path)
    elif suffix == ".pdf":
        text = read_pdf(path)
    elif suffix == ".docx":
        text = read_docx(path)
    else:
        raise RetrievalError(f"{path}: unsupported file type {path.suffix!r}")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def decode_bytes(data: bytes, path: Path) -> str:
    """Decode as UTF-8 (BOM allowed), else fall back to cp1252 / latin-1 and log it."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        encoding, text = "cp1252", data.decode("cp1252")
    except UnicodeDecodeError:  # cp1252 leaves five bytes undefined; latin-1 maps every byte
        encoding, text = "latin-1", data.decode("latin-1")
    logger.warning("%s is not valid UTF-8; decoded it as %s", path, encoding)
    return text


def read_html(path: Path) -> str:
    """Visible text of an HTML file, one blank line between block elements."""
    try:
        from bs4 import BeautifulSoup, NavigableString
    except ImportError as exc:
        raise MissingReaderError("reading .html needs `pip install beautifulsoup4`") from exc

    soup = BeautifulSoup(path.read_bytes(), "html.parser")
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
        from pypdf.errors import PyPdfError
    except ImportError as exc:
        raise MissingReaderError("reading .pdf needs `pip install pypdf`") from exc

    try:
        pages = [page.extract_text() or "" for page in PdfReader(path).pages]
    except (PyPdfError, OSError, ValueError) as exc:
        raise RetrievalError(f"{path}: cannot read PDF ({exc})") from exc
    return "\n\n".join(page.strip() for page in pages if page.strip())


def read_docx(path: Path) -> str:
    """Paragraphs and table rows of a .docx file, in document order, one per paragraph."""
    try:
        import docx
        from docx.table import Table
    except ImportError as exc:
        raise MissingReaderError("reading .docx needs `pip install python-docx`") from exc

    try:
        word_document = docx.Document(str(path))
    except Exception as exc:  # python-docx raises assorted zip/xml/ValueError types
        raise RetrievalError(f"{path}: cannot read .docx ({exc})") from exc
    blocks = []
    for item in word_document.iter_inner_content():
        if isinstance(item, Table):
            blocks.extend(" | ".join(cell.text.strip() for cell in row.cells) for row in item.rows)
        else:
            blocks.append(item.text.strip())
    return "\n\n".join(block for block in blocks if block)
