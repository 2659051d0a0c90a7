"""Shared fixtures: the real bundled embedder, a tiny contract corpus and its index."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
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


def load_script(path: Path, name: str):
    """A module loaded from its file, as `python path` or `langgraph dev` would run it (benchmarks/
    and graph/studio.py are scripts, not package modules)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server's URL: $ADVQA_TEST_POSTGRES, else a throwaway cluster for this session
    (tests/postgres_server.py); the tests that need it skip, with the reason, where neither is."""
    if os.environ.get("ADVQA_TEST_POSTGRES"):
        yield os.environ["ADVQA_TEST_POSTGRES"]
        return
    from postgres_server import NoServer, throwaway_cluster

    try:
        cluster = throwaway_cluster()
        url = cluster.__enter__()
    except NoServer as error:
        pytest.skip(str(error))
    try:
        yield url
    finally:
        cluster.__exit__(None, None, None)


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


def counting_campaign_models(*critic_replies: str) -> dict[str, Any]:
    """Counting models for the four roles: a questioner and an expert that read their prompts
    (reading_questioner, reading_expert: every probe's question comes from its seed passage and
    the expert answers it from the passages, grounded and as intended), a generic student, and a
    critic replying `critic_replies` (JSON, see critic_json) in turn."""
    return {
        "questioner": ReadingChat(reply=reading_questioner),
        "student": counting("It depends on general law."),
        "expert": ReadingChat(reply=reading_expert),
        "critic": counting(*critic_replies),
    }


# Prompt-reading fake models (imported here, below the fixtures they serve).
import re  # noqa: E402
from collections.abc import Callable  # noqa: E402

from langchain_core.language_models.chat_models import SimpleChatModel  # noqa: E402
from langchain_core.messages import BaseMessage  # noqa: E402


class ReadingChat(SimpleChatModel):
    """A fake chat model whose reply is a function of its prompt (unlike a scripted list, it can
    answer whichever seed passage the prompt shows), counting the calls that reach it. `name`
    tells reply functions apart in the reply cache's model identity."""

    reply: Callable[[str], str]
    name: str = ""
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "reading-chat"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"reply": self.name or getattr(self.reply, "__qualname__", type(self.reply).__name__)}

    def _call(self, messages: list[BaseMessage], stop: list[str] | None = None,
              run_manager: Any = None, **kwargs: Any) -> str:
        self.calls += 1
        return self.reply(str(messages[-1].content))


_WORD = re.compile(r"[A-Za-z][A-Za-z'-]{3,}")
_DULL = frozenset("that this with from each under shall will which their there where".split())


def reading_questioner(prompt: str, opening: str = "What does the contract say about") -> str:
    """The questioner's reply to its prompt: a question about the prompt's sentence (`Sentence:
    "..."`, its last) naming up to four of its words outside the answer, and the answer the
    prompt gives (`Answer: "..."`), in its schema."""
    sentence = re.findall(r'^Sentence: "(.*)"$', prompt, re.M)[-1]
    answer = re.findall(r'^Answer: "(.*)"$', prompt, re.M)[-1]
    kind = (re.findall(r"\((\w+) question\)", prompt) or ["lookup"])[-1]
    words: list[str] = []
    for word in _WORD.findall(sentence.replace(answer, " ")):
        word = word.strip("'").lower()
        if word not in _DULL and word not in words:
            words.append(word)
    words = words[:4]
    named = " and ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words)
    return question_json(f"{opening} {named}?", answer, kind)


def reading_expert(prompt: str, cite: bool = False) -> str:
    """The expert's reply to its prompt: the passage sentence sharing most words with the question,
    quoted (its first words) with its passage's label, as the answer; with `cite`, the answer also
    cites the label inline ("... [P1].")."""
    question = {w.lower() for w in _WORD.findall(re.findall(r"^Question: (.*)$", prompt, re.M)[-1])}
    sentences = [(label, sentence.strip())
                 for label, text in re.findall(r'<passage id="(P\d+)"[^>]*>\n(.*?)\n</passage>', prompt, re.S)
                 for sentence in re.split(r"(?<=[.;!?])\s+|\n+", text) if len(sentence.split()) >= 4]
    label, best = max(sentences, key=lambda s: len(question & {w.lower() for w in _WORD.findall(s[1])}))
    quote = ""
    for word in best.split():  # its first words, well within the schema's bound on a quote
        if len(quote) + len(word) > 80:
            break
        quote = f"{quote} {word}".strip()
    quote = quote.rstrip(".,;")
    answer = f"{best.rstrip('.')} [{label}]." if cite else best
    return expert_json(answer, (label, quote))
