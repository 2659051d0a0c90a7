"""Shared fixtures: the real bundled embedder, a tiny contract corpus and its index."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from advqa.retrieval import Embedder, build_index, load_index

CORPUS = {
    "lease.md": (
        "# Equipment Lease\n\n"
        "1. Term. The lease starts on 1 March 2025 and runs for thirty-six months.\n\n"
        "2. Early termination. The Lessee may end the lease after month twelve by giving ninety "
        "days' written notice and paying a fee equal to three monthly instalments, except "
        "where the Lessor is in material breach, in which case no fee is payable.\n\n"
        "3. Maintenance. The Lessor maintains the equipment at its own cost, but the Lessee pays "
        "for repairs caused by misuse.\n"
    ),
    "services.md": (
        "# Services Agreement\n\n"
        "1. Fees. The Client pays 12,000 euros per quarter, invoiced in advance.\n\n"
        "2. Liability cap. Each party's liability is capped at the fees paid in the twelve months "
        "before the claim. The cap does not apply to breaches of confidentiality or to "
        "indemnities under Section 5.\n\n"
        "3. Confidentiality survives termination for five years.\n"
    ),
}


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder()


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    for name, text in CORPUS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def small_index(corpus_dir, embedder, tmp_path_factory):
    out = tmp_path_factory.mktemp("index")
    build_index(corpus_dir, out, embedder=embedder, max_tokens=60, overlap_tokens=10)
    return load_index(out, embedder=embedder)


def scripted(*responses: str) -> FakeListChatModel:
    """A chat model that replies with `responses` in order (and then cycles)."""
    return FakeListChatModel(responses=list(responses))


def question_json(question: str, answer: str, kind: str = "lookup") -> str:
    """A questioner's reply in its schema (agents.schemas.QuestionReply)."""
    return json.dumps({"answer": answer, "question": question, "type": kind})


def expert_json(answer: str, *quotes: tuple[str, str]) -> str:
    """An expert's reply in its schema: (passage label, quoted words) pairs, then the answer."""
    return json.dumps({"quotes": [{"passage": p, "text": t} for p, t in quotes], "answer": answer})


def critic_json(divergence: float = 0.9, grounded: bool = True, consistent: bool = True,
                feedback: str = "", reason: str = "") -> str:
    """A critic's reply in its schema."""
    return json.dumps({"divergence": divergence, "grounded": grounded, "consistent": consistent,
                       "feedback": feedback, "reason": reason})


# A round on CORPUS's lease that passes every check: the question names its contract, the intended
# answer and the expert's come from the early-termination clause, and the student misses the fee.
LEASE_QUESTION = "Under the Equipment Lease, what fee does the Lessee pay to end the lease early?"
LEASE_ANSWER = "a fee equal to three monthly instalments"
LEASE_EXPERT = expert_json("The Lessee pays a fee equal to three monthly instalments.",
                           ("P1", "paying a fee equal to three monthly instalments"))


def lease_questions(n: int) -> list[str]:
    """`n` distinct well-formed questions about the lease's early-termination fee."""
    return [question_json(f"Under the Equipment Lease, what fee does the Lessee pay to end the lease "
                          f"early in case {i}?", LEASE_ANSWER) for i in range(1, n + 1)]


@pytest.fixture(scope="session", autouse=True)
def _response_cache_of_its_own(tmp_path_factory):
    """`advqa generate` caches replies by default: in tests, in a file of the session's own,
    never in the user's cache directory."""
    path = tmp_path_factory.mktemp("response-cache") / "responses.sqlite"
    previous = os.environ.get("ADVQA_RESPONSE_CACHE")
    os.environ["ADVQA_RESPONSE_CACHE"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("ADVQA_RESPONSE_CACHE", None)
    else:
        os.environ["ADVQA_RESPONSE_CACHE"] = previous


class CountingChat(FakeListChatModel):
    """A scripted chat model that counts the calls that reach it."""

    calls: int = 0

    def _call(self, *args: Any, **kwargs: Any) -> str:
        self.calls += 1
        return super()._call(*args, **kwargs)


def counting(*responses: str) -> CountingChat:
    return CountingChat(responses=list(responses))


SUBJECTS = ["notice period", "fee", "liability cap", "survival", "maintenance", "invoice",
            "term", "breach", "repairs", "indemnity", "quarter", "confidentiality"]


def counting_campaign_models(*critic_replies: str) -> dict[str, CountingChat]:
    """Counting models for the four roles: questions over SUBJECTS, a generic student, an expert
    whose claim-less citation stands as grounded, and a critic replying `critic_replies` in turn."""
    return {
        "questioner": counting(*[f"Question: Under this agreement, what rule governs the {s}?"
                                 for s in SUBJECTS]),
        "student": counting("It depends on general law."),
        "expert": counting("Yes, it does [P1]."),
        "critic": counting(*critic_replies),
    }
