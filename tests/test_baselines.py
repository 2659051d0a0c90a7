"""Baseline corpora (raw, paraphrase, EntiGraph): token budgets, coverage, prompts, files, errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from typer.testing import CliRunner

from advqa.baselines import BaselineError, TokenCounter, build_baseline, read_items, stats_path, traces_path
from advqa.baselines.build import document_headers
from advqa.baselines.commands import baseline_command
from advqa.baselines.entities import code_entities, entities_in_document, mentions, parse_entity_list
from advqa.baselines.generation import clean_reply
from advqa.baselines.order import round_robin
from advqa.baselines.prompts import load_styles
from advqa.retrieval import load_documents
from advqa.retrieval.files import read_jsonl

CONTRACTS = {
    "lease.md": (
        "# Equipment Lease\n\n"
        "1. Parties. Northwind Logistics Ltd (the \"Lessee\") leases forklifts from Harbor Equipment "
        "Finance (the \"Lessor\"). The lease starts on 1 March 2025 and runs for thirty-six months.\n\n"
        "2. Early Termination. The Lessee may end the lease after month twelve by giving ninety "
        "days' written notice and paying the Early Termination Fee, equal to three monthly "
        "instalments, except where the Lessor is in material breach, in which case no Early "
        "Termination Fee is payable.\n\n"
        "3. Maintenance. The Lessor maintains the equipment at its own cost, but the Lessee pays "
        "for repairs caused by misuse.\n"
    ),
    "services.md": (
        "# Services Agreement\n\n"
        "1. Fees. The \"Client\" pays 12,000 euros per quarter to the \"Provider\", invoiced in "
        "advance. Late payments carry interest of two percent per month.\n\n"
        "2. Liability Cap. Each party's liability is capped at the fees paid in the twelve months "
        "before the claim. The Liability Cap does not apply to breaches of Confidential "
        "Information or to indemnities under Section 5.\n\n"
        "3. Confidentiality. Confidential Information survives termination for five years. The "
        "Provider may disclose Confidential Information to its auditors.\n"
    ),
    "supply.md": (
        "# Supply Agreement\n\n"
        "1. Volumes. The \"Buyer\" orders at least 40,000 components per Contract Year from the "
        "\"Supplier\". If the Buyer orders fewer, it pays a Shortfall Fee of two euros per "
        "missing component.\n\n"
        "2. Delivery. The Supplier delivers within thirty days of each purchase order. A delay of "
        "more than ten days entitles the Buyer to Liquidated Damages of one percent of the order "
        "value per week.\n"
    ),
}
REWRITE = ("The tenant can end the lease after one year with ninety days' notice and a fee of "
           "three monthly payments, unless the landlord is in material breach.")
RELATION = ("The Lessee and the Lessor are the two parties to the lease: the Lessor maintains "
            "the equipment, and the Lessee pays for misuse and may end the lease early for a fee.")
PASSAGE_BLOCK = re.compile(r"<passage[^>]*>\n(.*?)\n</passage>", re.DOTALL)


@pytest.fixture()
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in CONTRACTS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    return TokenCounter()


def scripted(*responses: str) -> FakeListChatModel:
    return FakeListChatModel(responses=list(responses))


def entity_list(*names: str) -> str:
    return "Here are the entities:\n" + "\n".join(f"- {name}" for name in names)


def model_calls(out: Path, role: str | None = None) -> list[dict]:
    events = [e for e in read_jsonl(traces_path(out)) if e["kind"] == "model_call"]
    return [e for e in events if role is None or e["role"] == role]


def body_of(item: dict) -> str:
    """An item's text after the header that names its document ("From the Equipment Lease:")."""
    header, body = item["text"].split("\n", 1)
    assert header.startswith("From the ") and header.endswith(":")
    return body


def assert_within_budget(out: Path, budget: int, counter: TokenCounter, slack: int) -> list[dict]:
    items = read_items(out)
    recounted = [counter.count(item["text"]) for item in items]
    assert recounted == [item["meta"]["tokens"] for item in items]
    assert budget - slack <= sum(recounted) <= budget
    return items


# Token counting


def test_counter_uses_the_student_tokenizer_and_cuts_at_token_boundaries(counter):
    from transformers import AutoTokenizer

    from advqa.models import checkpoint_path

    text = CONTRACTS["supply.md"]
    tokenizer = AutoTokenizer.from_pretrained(checkpoint_path(None))
    assert counter.count(text) == len(tokenizer(text, add_special_tokens=False)["input_ids"])
    for limit in (1, 7, 50):
        cut = counter.truncate(text, limit)
        assert text.startswith(cut) and 0 < counter.count(cut) <= limit
    assert counter.truncate(text, 10_000) == text
    assert counter.truncate(text, 0) == ""


def test_counter_falls_back_to_a_regex_count_for_remote_specs():
    remote = TokenCounter("openai:gpt-4o-mini")
    assert remote.label == "regex"
    assert remote.count("The Buyer pays 40,000 euros.") == 8
    assert remote.truncate("The Buyer pays 40,000 euros.", 3) == "The Buyer pays"


# raw


def test_raw_stops_exactly_at_the_budget_and_covers_every_document(docs, tmp_path, counter):
    out = tmp_path / "raw.jsonl"
    stats = build_baseline("raw", docs, 120, out)
    items = assert_within_budget(out, 120, counter, slack=0)
    assert {item["meta"]["document"] for item in items} == set(CONTRACTS)
    assert [item["meta"]["document"] for item in items[:3]] == sorted(CONTRACTS)  # round-robin
    for item in items:
        source = CONTRACTS[item["meta"]["document"]]
        assert body_of(item) in source and item["meta"]["kind"] == "raw"
    assert items[-1]["meta"]["truncated"] is True
    assert stats["calls"] == 0 and stats["generator"] is None


def test_a_small_budget_reaches_all_of_a_long_document(tmp_path, counter):
    """With budget for a few passages of a long contract, raw text and paraphrases come from its
    start, middle and quarters, not from its first pages only (where a small paraphrase corpus of
    the sample-efficiency run ended)."""
    folder = tmp_path / "long"
    folder.mkdir()
    sections = [f"Section {n}. The Supplier shall keep record number {n} of the account for the "
                f"Buyer, and the Buyer may inspect that record on reasonable notice in writing."
                for n in range(1, 121)]
    (folder / "long.md").write_text("\n\n".join(sections), encoding="utf-8")

    def sections_in(items: list[dict]) -> list[int]:
        return sorted(int(n) for item in items for n in re.findall(r"Section (\d+)\.", body_of(item)))

    raw = tmp_path / "raw.jsonl"
    build_baseline("raw", folder, 1000, raw)
    covered = sections_in(read_items(raw))
    assert covered[0] <= 10 and any(50 <= n <= 70 for n in covered) and covered[-1] >= 85
    assert len(covered) < 60  # a few chunks, not the whole document

    para = tmp_path / "para.jsonl"
    build_baseline("paraphrase", folder, 4 * counter.count("From the Long:\n" + REWRITE) + 10, para,
                   generator=scripted(REWRITE), workers=1)
    rewritten = sorted(int(n) for call in model_calls(para, "paraphrase")
                       for n in re.findall(r"Section (\d+)\.", call["prompt"]))
    assert len(model_calls(para, "paraphrase")) <= 5
    assert rewritten[0] <= 10 and any(50 <= n <= 70 for n in rewritten) and rewritten[-1] >= 85


def test_raw_budget_above_the_corpus_gives_each_document_once(docs, tmp_path, counter):
    out = tmp_path / "raw.jsonl"
    stats = build_baseline("raw", docs, 100_000, out)
    items = read_items(out)
    assert len({chunk for item in items for chunk in item["meta"]["source_chunks"]}) == len(items)
    for document, text in CONTRACTS.items():  # each document's chunks, in order, give its whole text
        bodies = [body_of(item) for item in items if item["meta"]["document"] == document]
        assert " ".join(" ".join(bodies).split()) == " ".join(text.split())
    assert stats["synthetic_tokens"] == sum(counter.count(item["text"]) for item in items)
    assert not any(item["meta"]["truncated"] for item in items)


# paraphrase


def test_paraphrase_stops_at_the_budget(docs, tmp_path, counter):
    out = tmp_path / "para.jsonl"
    headers = document_headers(docs, load_documents(docs))
    first, second = (counter.count(headers[name] + REWRITE) for name in sorted(CONTRACTS)[:2])
    budget = first + second + 20
    build_baseline("paraphrase", docs, budget, out, generator=scripted(REWRITE), workers=4)
    items = assert_within_budget(out, budget, counter, slack=0)
    assert len(items) == 3 and items[-1]["meta"]["truncated"] is True
    assert [item["meta"]["tokens"] for item in items] == [first, second, 20]
    assert [item["text"] for item in items[:2]] == [headers[name] + REWRITE for name in sorted(CONTRACTS)[:2]]
    assert len(model_calls(out, "paraphrase")) == len(items)


def test_paraphrase_cycles_styles_over_passages(docs, tmp_path):
    out = tmp_path / "para.jsonl"
    build_baseline("paraphrase", docs, 100_000, out, generator=scripted(REWRITE), workers=1,
                   paraphrases_per_passage=3)
    items = read_items(out)
    styles = [style.name for style in load_styles()]
    by_passage: dict[str, list[str]] = {}
    for item in items:
        by_passage.setdefault(item["meta"]["source_chunks"][0], []).append(item["meta"]["style"])
    assert len(items) == 3 * len(by_passage)
    for passage_styles in by_passage.values():
        assert len(set(passage_styles)) == 3  # three different styles per passage
    assert set(item["meta"]["style"] for item in items) == set(styles)
    # Consecutive passages start on consecutive styles; first round covers every document.
    first_round = items[: len(by_passage)]
    assert [item["meta"]["style"] for item in first_round[:2]] == styles[:2]
    assert {item["meta"]["document"] for item in first_round[:3]} == set(CONTRACTS)
    calls = model_calls(out, "paraphrase")
    instruction = {style.name: style.instruction for style in load_styles()}
    for item, call in zip(items, calls):
        assert instruction[item["meta"]["style"]] in call["prompt"]


def test_a_cut_off_build_goes_on_from_the_items_it_kept(docs, tmp_path):
    """A build killed mid-corpus leaves `<out>.partial`; started again, it keeps those items and
    calls the model only for the jobs after them. A partial that these jobs did not make (other
    settings) is not reused."""
    replies = [f"Rewrite number {n} of the passage." for n in range(1, 40)]
    whole = tmp_path / "whole.jsonl"
    build_baseline("paraphrase", docs, 100_000, whole, generator=scripted(*replies), workers=1)
    items = read_items(whole)
    assert len(items) > 5

    out = tmp_path / "para.jsonl"
    partial = out.with_name(out.name + ".partial")
    lines = whole.read_text(encoding="utf-8").splitlines(keepends=True)
    partial.write_text("".join(lines[:4]) + lines[4][:30], encoding="utf-8")  # torn fifth line
    stats = build_baseline("paraphrase", docs, 100_000, out, generator=scripted(*replies[4:]), workers=1)
    assert read_items(out) == items
    assert stats["resumed_items"] == 4 and stats["calls"] == len(items) - 4
    assert not partial.exists()

    other = tmp_path / "other.jsonl"
    foreign = [json.loads(line) for line in lines[:4]]
    for item in foreign:
        item["meta"]["style"] = "no such style"
    other.with_name(other.name + ".partial").write_text(
        "".join(json.dumps(item) + "\n" for item in foreign), encoding="utf-8")
    stats = build_baseline("paraphrase", docs, 100_000, other, generator=scripted(*replies), workers=1)
    assert read_items(other) == items
    assert stats["resumed_items"] == 0 and stats["calls"] == len(items)


def test_blank_replies_of_an_api_generator_are_counted_not_retried(docs, tmp_path, monkeypatch):
    """An `openai:` generator's empty reply is counted in empty_replies and skipped: not
    retried, and not an error that stops the build."""
    from advqa.models.mock_server import MockOpenAIServer

    def blank(body) -> bool:  # the supply contract's passages get an empty reply
        return "Buyer" in body["messages"][-1]["content"]

    out = tmp_path / "para.jsonl"
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with MockOpenAIServer(reply=lambda body: "" if blank(body) else REWRITE) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        stats = build_baseline("paraphrase", docs, 100_000, out, generator="openai:mock",
                               tokenizer="regex", workers=2, paraphrases_per_passage=1)
    blanks = sum(1 for request in server.requests if blank(request.body))
    assert blanks and stats["empty_replies"] == blanks
    assert stats["calls"] == len(server.requests) == len(model_calls(out))  # one request per call
    assert stats["items"] == stats["calls"] - blanks and stats["generator"] == "openai:mock"
    assert {item["meta"]["document"] for item in read_items(out)} == {"lease.md", "services.md"}


def test_round_robin_interleaves_and_drops_exhausted_sequences():
    assert list(round_robin([[1, 2, 3], [], ["a"], [10, 20]])) == [1, "a", 10, 2, 20, 3]


def test_chatty_preamble_and_code_wrappers_are_removed():
    assert clean_reply("Sure! Here is a summary:\nThe tenant pays.") == "The tenant pays."
    assert clean_reply("  The tenant pays.  ") == "The tenant pays."
    assert clean_reply("```text\n<pre>The tenant pays.</pre>\n```") == "The tenant pays."


# entigraph


def test_entigraph_pairs_document_entities_with_a_passage_mentioning_both(docs, tmp_path, counter):
    out = tmp_path / "enti.jsonl"
    model = scripted(
        entity_list("Lessee", "Lessor", "Early Termination Fee", "Moon Base"),  # lease.md
        entity_list("Client", "Provider", "Confidential Information", "Liability Cap"),  # services.md
        entity_list("Buyer", "Supplier", "Shortfall Fee", "Liquidated Damages"),  # supply.md
        *[RELATION] * 6,
    )
    budget = 4 * counter.count(RELATION)
    stats = build_baseline("entigraph", docs, budget, out, generator=model, workers=1, seed=3)
    items = assert_within_budget(out, budget, counter, slack=0)
    assert {item["meta"]["document"] for item in items[:3]} == set(CONTRACTS)
    assert stats["entities"]["lease.md"] == {"source": "model", "count": 3}  # Moon Base dropped
    calls = model_calls(out, "entigraph")
    assert len(calls) == len(items)
    for item, call in zip(items, calls):
        first, second = item["meta"]["entities"]
        assert "Moon Base" not in (first, second)
        text = CONTRACTS[item["meta"]["document"]]
        assert mentions(text, first) and mentions(text, second)
        passages = PASSAGE_BLOCK.findall(call["prompt"])
        assert any(mentions(p, first) and mentions(p, second) for p in passages)
        assert f'"{first}"' in call["prompt"] and f'"{second}"' in call["prompt"]


def test_a_cut_off_entigraph_build_goes_on_with_its_own_entity_lists(docs, tmp_path, counter):
    """The entity lists are kept beside the corpus: extracted again, they could differ, and the
    kept texts (about pairs of them) would not be the new jobs' output."""
    first_lists = [entity_list("Lessee", "Lessor", "Early Termination Fee"),
                   entity_list("Client", "Provider", "Confidential Information"),
                   entity_list("Buyer", "Supplier", "Shortfall Fee")]
    other_lists = [entity_list("Lessor", "Equipment", "Lessee"),
                   entity_list("Provider", "Client", "Services"),
                   entity_list("Supplier", "Buyer", "Products")]
    budget = 6 * counter.count(RELATION)
    whole = tmp_path / "whole.jsonl"
    build_baseline("entigraph", docs, budget, whole, generator=scripted(*first_lists, *[RELATION] * 9),
                   workers=1)
    items = read_items(whole)
    assert len(items) >= 5 and whole.with_suffix(".entities.json").is_file()

    def cut_off(name: str, with_lists: bool) -> Path:
        out = tmp_path / name
        lines = whole.read_text(encoding="utf-8").splitlines(keepends=True)
        out.with_name(out.name + ".partial").write_text("".join(lines[:3]), encoding="utf-8")
        if with_lists:
            out.with_suffix(".entities.json").write_text(whole.with_suffix(".entities.json").read_text())
        return out

    out = cut_off("resumed.jsonl", with_lists=True)  # a model asked for lists would get relation texts
    stats = build_baseline("entigraph", docs, budget, out, generator=scripted(*[RELATION] * 9), workers=1)
    assert stats["resumed_items"] == 3 and read_items(out) == items
    assert not model_calls(out, "entities")  # the kept lists, not new ones

    out = cut_off("fresh.jsonl", with_lists=False)  # a partial without its lists: made anew
    stats = build_baseline("entigraph", docs, budget, out, generator=scripted(*other_lists, *[RELATION] * 9),
                           workers=1)
    assert stats["resumed_items"] == 0 and len(model_calls(out, "entities")) == 3


def test_entigraph_pair_order_is_seeded(docs, tmp_path):
    def pairs(seed: int, name: str) -> list[list[str]]:
        out = tmp_path / name
        build_baseline("entigraph", docs, 100_000, out, generator=scripted("No entities."),
                       workers=1, seed=seed)
        return [item["meta"]["entities"] for item in read_items(out)]

    assert pairs(0, "a.jsonl") == pairs(0, "b.jsonl")
    assert pairs(0, "a.jsonl") != pairs(1, "c.jsonl")


def test_unusable_entity_lists_fall_back_to_code_extraction(docs, tmp_path):
    out = tmp_path / "enti.jsonl"
    stats = build_baseline("entigraph", docs, 200, out,
                           generator=scripted(*["I am sorry, I cannot do that."] * 3, RELATION),
                           workers=1)
    assert {entry["source"] for entry in stats["entities"].values()} == {"code"}
    items = read_items(out)
    assert items and all(item["meta"]["entity_source"] == "code" for item in items)
    for item in items:
        assert all(mentions(CONTRACTS[item["meta"]["document"]], e) for e in item["meta"]["entities"])


def test_entity_list_parsing_and_code_extraction():
    reply = ("Entities:\n1. **Lessee** (the tenant)\n- \"Lessor\"\n* Early Termination Fee.\n- The\n"
             "- 4.1\n- the Lessee may end the lease\n- The Lessor\n")
    assert parse_entity_list(reply) == ["Lessee", "Lessor", "Early Termination Fee"]
    listed = parse_entity_list("Entities: Buyer, supplier; order, and Shortfall Fee, Moon Base")
    assert entities_in_document(listed, CONTRACTS["supply.md"]) == ["Buyer", "Supplier", "Shortfall Fee"]
    found = code_entities(CONTRACTS["supply.md"], limit=10)
    assert found[:2] == ["Buyer", "Supplier"]  # quoted defined terms first
    assert {"Shortfall Fee", "Liquidated Damages", "Contract Year"} <= set(found)
    assert mentions("the early\ntermination fee", "Early Termination Fee")
    assert not mentions("terminated", "Term")


# shared output


@pytest.mark.parametrize("kind", ["raw", "paraphrase", "entigraph"])
def test_stats_and_traces_agree_with_the_jsonl(kind, docs, tmp_path):
    out = tmp_path / f"{kind}.jsonl"
    stats = build_baseline(kind, docs, 150, out, generator=scripted(entity_list("Buyer", "Supplier",
                           "Shortfall Fee"), RELATION, REWRITE), workers=2)
    items = read_items(out)
    assert json.loads(stats_path(out).read_text()) == stats
    assert stats["kind"] == kind and stats["documents"] == len(CONTRACTS)
    assert stats["items"] == len(items)
    assert stats["synthetic_tokens"] == sum(item["meta"]["tokens"] for item in items) <= 150
    assert stats["calls"] == len(model_calls(out))
    for item in items:
        assert set(item) == {"text", "meta"}
        assert {"kind", "document", "style", "tokens"} <= set(item["meta"])
        assert "source_chunks" in item["meta"] or "entities" in item["meta"]
    if kind != "raw":
        assert len(model_calls(out, kind)) == len(items)
        assert all(call["probe"] and call["round"] == 0 for call in model_calls(out))


@pytest.mark.parametrize("kind, folder, tokens, message", [
    ("raw", "missing", 100, "documents folder does not exist"),
    ("raw", "docs", 0, "--tokens must be a positive"),
    ("raw", "docs", -5, "--tokens must be a positive"),
    ("summaries", "docs", 100, "unknown baseline kind 'summaries'"),
])
def test_bad_input_raises_baseline_error(kind, folder, tokens, message, docs, tmp_path):
    with pytest.raises(BaselineError, match=re.escape(message)) as caught:
        build_baseline(kind, tmp_path / folder, tokens, tmp_path / "out.jsonl", generator=scripted("x"))
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "out.jsonl").exists()


def test_command_prints_one_summary_line_and_one_error_line(docs, tmp_path):
    app = typer.Typer()
    app.command("baseline")(baseline_command)
    app.command("other")(lambda: None)  # two commands, so `baseline` stays a subcommand
    runner = CliRunner()
    out = tmp_path / "raw.jsonl"
    result = runner.invoke(app, ["baseline", "raw", "--docs", str(docs), "--tokens", "90",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().startswith("raw: ") and "90 of 90 tokens" in result.stdout
    assert len(result.stdout.strip().splitlines()) == 1
    bad = runner.invoke(app, ["baseline", "nope", "--docs", str(docs), "--tokens", "90",
                              "--out", str(out)])
    assert bad.exit_code == 2 and "unknown baseline kind 'nope'" in bad.stderr


# The real bundled model


@pytest.mark.integration
def test_bundled_model_builds_paraphrase_and_entigraph_within_budget(tmp_path, counter):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "supply.md").write_text(CONTRACTS["supply.md"], encoding="utf-8")
    for kind in ("paraphrase", "entigraph"):
        out = tmp_path / f"{kind}.jsonl"
        stats = build_baseline(kind, folder, 40, out, workers=2)
        items = assert_within_budget(out, 40, counter, slack=16)
        assert stats["generator"] == "bundled:smollm2-135m"
        assert all(item["text"].strip() for item in items)
        assert len(model_calls(out, kind)) == len(items)


def test_entity_extraction_asks_at_most_a_few_evenly_spread_sections_per_document():
    from advqa.baselines.entigraph import MAX_SECTIONS, spread

    assert spread(list(range(3)), MAX_SECTIONS) == [0, 1, 2]
    picked = spread(list(range(60)), 6)
    assert picked == [5, 15, 25, 35, 45, 55]


def test_entigraph_on_a_long_document_extracts_from_max_sections(tmp_path):
    from advqa.baselines.entigraph import MAX_SECTIONS

    folder = tmp_path / "long"
    folder.mkdir()
    clauses = [f"{n}. The Supplier Alpha{n} Limited shall deliver Widget{n} to the Buyer each month."
               for n in range(1, 800)]
    (folder / "long.txt").write_text("\n\n".join(clauses), encoding="utf-8")
    model = FakeListChatModel(responses=["Supplier, Buyer, Widget1"])
    build_baseline("entigraph", folder, 200, tmp_path / "out.jsonl", generator=model)
    calls = [e for e in read_jsonl(traces_path(tmp_path / "out.jsonl")) if e.get("role") == "entities"]
    assert len(calls) == MAX_SECTIONS


def test_each_text_names_its_contract_as_documents_json_gives_it(docs, tmp_path, counter):
    card = {"title": "Equipment Lease", "parties": ["Northwind Logistics Ltd", "Harbor Equipment Finance"]}
    (docs / "documents.json").write_text(json.dumps({"lease.md": card}), encoding="utf-8")
    out = tmp_path / "raw.jsonl"
    build_baseline("raw", docs, 100_000, out)
    items = read_items(out)
    lease = [item["text"] for item in items if item["meta"]["document"] == "lease.md"]
    others = [item["text"] for item in items if item["meta"]["document"] != "lease.md"]
    assert lease and all(text.startswith("From the Equipment Lease between Northwind Logistics Ltd and "
                                         "Harbor Equipment Finance:\n") for text in lease)
    assert others and all(text.startswith("From the ") for text in others)  # read from the text
