"""A document's card: its title and parties, from a metadata file beside the documents or its first lines."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import RetrievalError

if TYPE_CHECKING:
    from .documents import Document

METADATA_FILE = "documents.json"  # {"<document id>": {"title": "...", "parties": ["...", "..."]}}
HEAD_CHARS = 3000  # how much of a document's start is read for its title and parties
_TITLE_WORDS = re.compile(
    r"\b(agreement|contract|licen[cs]e|lease|deed|memorandum|understanding|terms|amendment|"
    r"addendum|covenant|undertaking|plan|policy)\b", re.I)
# "Acme Ltd., a company incorporated in ... ("Supplier")." - a party paragraph names the party first.
_PARTY_PARAGRAPH = re.compile(r"^\s*([^,\n(]{3,120}?),\s+(?:a|an|of|the)\b[^\n]*"
                              r"\(\s*(?:the\s+)?[\"“][^\"”]+[\"”]\s*\)",
                              re.I | re.M)
# "... between Acme Ltd. ("Acme") and Beta Inc. ("Beta")", "by and between X, a ..., and Y, a ..."
_BETWEEN = re.compile(r"\bbetween\s+(.{3,160}?)\s+(?:\(|,|and\b)(.{0,400}?)\band\s+(.{3,160}?)"
                      r"\s*(?:\(|,|\.|$)",
                      re.I | re.S)
_NOT_A_PARTY = re.compile(r"^(the\s+)?(following|parties|undersigned)\b", re.I)


@dataclass(frozen=True)
class DocumentCard:
    """How a question names its document: the title and parties of a contract."""

    title: str
    parties: tuple[str, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        """"the Exclusive Distribution Agreement between A and B" (the parties when known)."""
        title = self.title if re.match(r"(?i)the\b", self.title) else f"the {self.title}"
        if len(self.parties) >= 2:
            return f"{title} between {self.parties[0]} and {self.parties[1]}"
        if self.parties:
            return f"{title} of {self.parties[0]}"
        return title

    def as_dict(self) -> dict:
        return {"title": self.title, "parties": list(self.parties)}


def card_from_text(text: str, document_id: str) -> DocumentCard:
    """Read a contract's title and parties from its first lines; the file name stands in for
    a title that cannot be found."""
    head = text[:HEAD_CHARS]
    return DocumentCard(_title(head) or _title_from_name(document_id), tuple(_parties(head)))


def _title(head: str) -> str:
    for line in head.splitlines()[:15]:
        line = re.sub(r"^[#\s*]+|[*\s]+$", "", line).strip()
        if 2 <= len(line.split()) <= 12 and _TITLE_WORDS.search(line) and not line.endswith((".", ",", ";")):
            return _tidy(line.title() if line.isupper() else line)
    return ""


def _title_from_name(document_id: str) -> str:
    stem = Path(document_id).stem
    return _tidy(re.sub(r"[_\-]+", " ", stem)) or document_id


def _parties(head: str) -> list[str]:
    parties = [_tidy(m.group(1)) for m in _PARTY_PARAGRAPH.finditer(head)]
    parties = [p for p in parties if not _NOT_A_PARTY.match(p) and not _TITLE_WORDS.search(p)]
    if len(parties) >= 2:
        return parties[:2]
    match = _BETWEEN.search(" ".join(head.split()))
    if match:
        found = [_party_name(match.group(1)), _party_name(match.group(3))]
        if all(p and len(p) <= 80 and not _NOT_A_PARTY.match(p) for p in found):
            return found
    return parties


def _party_name(text: str) -> str:
    """"Acme Inc., a Delaware corporation with offices at ..." -> "Acme Inc."."""
    return _tidy(re.split(r",\s+(?:a|an|with|of|having)\s|\s+\(|\s+with\s+its\s", text, maxsplit=1)[0])


def _tidy(text: str) -> str:
    return " ".join(text.replace("*", " ").split()).strip(" ,;:")


def document_cards(docs: str | Path, documents: Iterable[Document]) -> dict[str, DocumentCard]:
    """Each document's card: from the metadata file in `docs` (a folder) when it has one, else from
    the document's first lines."""
    metadata = read_metadata(Path(docs)) if Path(docs).is_dir() else {}
    return {doc.id: metadata.get(doc.id) or card_from_text(doc.text, doc.id) for doc in documents}


def read_metadata(folder: Path) -> dict[str, DocumentCard]:
    """The cards a metadata file beside the documents gives (none when there is no file)."""
    path = folder / METADATA_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RetrievalError(f"{path}: cannot read the documents' metadata ({error})") from None
    if not isinstance(data, dict):
        raise RetrievalError(f"{path}: the documents' metadata must be a JSON object keyed by document")
    cards = {}
    for document, entry in data.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("title"), str):
            raise RetrievalError(f"{path}: {document}: needs a \"title\" (and optionally \"parties\")")
        parties = entry.get("parties") or []
        if not isinstance(parties, list) or not all(isinstance(p, str) for p in parties):
            raise RetrievalError(f"{path}: {document}: \"parties\" must be a list of names")
        cards[document] = DocumentCard(_tidy(entry["title"]), tuple(_tidy(p) for p in parties))
    return cards
