"""Code that validates model output: questions, verdicts, scorers, grounding, prompts."""

from __future__ import annotations

import pytest

from advqa.agents import (
    PromptError,
    check_grounding,
    combine,
    embedding_divergence,
    extract_question,
    facts_divergence,
    leading_verdict,
    load_prompts,
    parse_score,
    parse_verdict,
    verdict_divergence,
)
from advqa.agents.prompts import export_prompts
from advqa.graph.samples import strip_citations
from advqa.retrieval import Passage


@pytest.mark.parametrize("reply, expected", [
    ("Question: Can the Licensee assign the licence after a merger?",
     "Can the Licensee assign the licence after a merger?"),
    ("1. **Question:** When does the notice period start under Section 4?",
     "When does the notice period start under Section 4?"),
    ('Sure! Here is one.\n"What fee is payable on early termination of the lease?" Hope it helps.',
     "What fee is payable on early termination of the lease?"),
    ("What survives termination of the NDA? What else?", "What survives termination of the NDA?"),
])
def test_extract_question(reply, expected):
    assert extract_question(reply) == (expected, "")


def test_extract_question_rejects_bad_replies():
    assert extract_question("A statement without a question mark.")[0] is None
    assert "too short" in extract_question("Why?")[1]
    again = "Can the Licensee assign the licence after a merger?"
    question, why = extract_question(again, previous=[again.upper()])
    assert question is None and "repeats" in why


@pytest.mark.parametrize("text, divergence, grounded", [
    ('{"divergence": 0.8, "grounded": true, "feedback": "x", "reason": "y"}', 0.8, True),
    ("{'divergence': '70%', 'grounded': 'no', 'feedback': 'x',}", 0.7, False),
    ("Divergence: 0.35\nGrounded: yes\nFeedback: ask about the cap\nReason: close", 0.35, True),
    ("**Divergence**: 7/10\n**Grounded**: No\nFeedback: a", 0.7, False),
    ("divergence = 8\ngrounded: Yes.", 0.8, True),
    ("Score: high\nGrounded: y", 0.75, True),
])
def test_parse_verdict_repairs_near_misses(text, divergence, grounded):
    verdict = parse_verdict(text)
    assert verdict.divergence == pytest.approx(divergence)
    assert verdict.grounded is grounded


def test_parse_verdict_keeps_multiline_feedback_and_rejects_junk():
    verdict = parse_verdict("Divergence: 0.6\nFeedback: the student missed the carve-out\n"
                            "for gross negligence.\nReason: different caps")
    assert verdict.feedback == "the student missed the carve-out for gross negligence."
    assert verdict.reason == "different caps"
    assert parse_verdict("The answers are sort of different.").parsed_with == "none"
    assert parse_score("150") is None and parse_score("-0.2") is None
    assert parse_score("8.5") == pytest.approx(0.85)  # read as a 10-point scale


def test_verdict_scorer():
    assert leading_verdict("Yes, because of Section 4.") == "yes"
    assert leading_verdict("(B) thirty days") == "b"
    assert leading_verdict("It depends.") is None
    assert verdict_divergence("Yes, it can.", "No. It cannot [P1].") == 1.0
    assert verdict_divergence("No.", "False, it cannot.") == 0.0
    assert verdict_divergence("It depends.", "No.") is None


def test_embedding_scorer(embedder):
    same = embedding_divergence(embedder, "The notice period is ninety days.",
                                "The notice period is ninety days.")
    far = embedding_divergence(embedder, "The notice period is ninety days.",
                               "Bananas are rich in potassium.")
    assert same == pytest.approx(0.0, abs=1e-4)
    assert 0.5 < far <= 1.0


def test_facts_scorer():
    passages = "The minimum purchase is 40,000 components per contract year."
    question = "What is the minimum purchase per contract year?"
    expert = "The minimum purchase is 40,000 components."
    assert facts_divergence(question, "It is 10,000 units.", expert, passages) == 1.0
    assert facts_divergence(question, "40,000 components.", expert, passages) == 0.0
    assert facts_divergence(question, "40,000.", expert, passages) == 0.5
    assert facts_divergence(question, "Anything.", "It is the minimum purchase.", passages) is None


def test_combined_scorer_formula():
    value, used = combine({"judge": 0.9, "embedding": 0.3, "verdict": 1.0})
    assert value == pytest.approx((2 * 0.9 + 0.3 + 1.0) / 4)
    assert used == "combined(embedding+judge+verdict)"
    assert combine({"judge": None, "embedding": 0.4, "verdict": None}) == (0.4, "combined(embedding)")
    value, used = combine({"judge": None, "embedding": 0.4, "verdict": None}, "judge")
    assert value == 0.4 and "judge unavailable" in used
    assert combine({"judge": 0.2, "embedding": 0.9, "verdict": None}, "judge") == (0.2, "judge")


PASSAGES = [
    Passage("a#1", "a.md", "The Lessee may end the lease after month twelve by giving ninety days' "
            "written notice. A fee of three instalments is payable.", 0, 100),
    Passage("b#2", "b.md", "Each party's liability is capped at the fees paid in the prior twelve "
            "months.", 0, 80),
]


def test_grounding_by_citation_similarity_and_refusal(embedder):
    cited = check_grounding("Ninety days' notice is needed [P1].", PASSAGES, embedder)
    assert (cited.grounded, cited.method, cited.passage_ids) == (True, "citation", ["a#1"])
    similar = check_grounding("The lessee can end the lease after month twelve with ninety days' "
                              "written notice.", PASSAGES, embedder)
    assert similar.grounded and similar.method == "similarity" and similar.passage_ids[0] == "a#1"
    assert similar.score >= 0.65
    unrelated = check_grounding("Photosynthesis turns sunlight into sugar in green leaves.",
                                PASSAGES, embedder)
    assert not unrelated.grounded and unrelated.method == "unsupported"
    refused = check_grounding("Not answerable from the documents.", PASSAGES, embedder)
    assert not refused.grounded and refused.method == "abstained"
    fake = check_grounding("The fee is zero [P7].", PASSAGES, embedder)
    assert fake.fabricated == ["P7"] and fake.method != "citation"


def test_strip_citations():
    assert strip_citations("No fee is due [P1]. The cap applies (P2, P3).") == \
        "No fee is due. The cap applies."


def test_prompt_override_and_missing_placeholder(tmp_path):
    folder = tmp_path / "prompts"
    export_prompts(folder)
    for path in folder.iterdir():
        if path.name != "student.txt":
            path.unlink()
    (folder / "student.txt").write_text("Answer briefly: {question}", encoding="utf-8")
    prompts = load_prompts(folder)
    assert prompts.render("student", question="Why?") == "Answer briefly: Why?"
    assert prompts.sources["student"] == str(folder / "student.txt")
    assert prompts.sources["critic"] == "advqa:critic.txt"

    (folder / "critic.txt").write_text("{question} {student_answer} {passages}", encoding="utf-8")
    with pytest.raises(PromptError, match=r"critic.txt: the critic prompt is missing the "
                                          r"placeholder \{expert_answer\}"):
        load_prompts(folder)
    (folder / "critic.txt").unlink()
    (folder / "student.txt").write_text("{question} {questoin}", encoding="utf-8")
    with pytest.raises(PromptError, match="unknown placeholder"):
        load_prompts(folder)


def test_render_leaves_braces_in_values_alone():
    prompts = load_prompts()
    text = prompts.render("student", question="What does {passage} mean in clause {4}?")
    assert "{passage}" in text and "{4}" in text


def test_extract_question_must_be_about_the_passage():
    passage = "The Lessee may end the lease after month twelve by giving ninety days' notice."
    generic = "What is the purpose of this clause in the agreement?"
    assert "no specific word" in extract_question(generic, passage=passage)[1]
    specific = "How much notice must the Lessee give to end the lease early?"
    assert extract_question(specific, passage=passage) == (specific, "")
    wrapped = "What is the answer to this question: when may the Lessee end the lease?"
    assert extract_question(wrapped, passage=passage)[0] == "when may the Lessee end the lease?"
    quoted = 'The question is: "When may the Lessee end the lease?'
    assert extract_question(quoted, passage=passage)[0] == "When may the Lessee end the lease?"
    opened = 'The answer would be: "When may the Lessee end the lease?'
    assert extract_question(opened, passage=passage)[0] == "When may the Lessee end the lease?"
    term = 'What does "ninety days" mean for the Lessee ending the lease?'
    assert extract_question(term, passage=passage)[0] == term


def test_restating_the_question_is_not_grounding(embedder):
    question = "How much notice must the Lessee give to end the lease after month twelve?"
    echo = "The Lessee must give notice to end the lease after month twelve."
    assert not check_grounding(echo, PASSAGES, embedder, question=question).grounded
    copied = "The Lessee may end the lease after month twelve by giving ninety days' written notice."
    assert check_grounding(copied, PASSAGES, embedder, question=question).grounded
