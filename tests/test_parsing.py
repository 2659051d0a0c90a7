"""Code that checks model output: facts, grounding, round trips, questions, schemas, scorers, prompts."""

from __future__ import annotations

import json

import pytest

from advqa.agents import (
    PromptError,
    check_grounding,
    check_question,
    combine,
    compare_answers,
    facts_divergence,
    leading_verdict,
    load_prompts,
    question_focuses,
    verdict_divergence,
)
from advqa.agents.facts import Fact, defined_terms, extract_facts, missing_facts, word_number
from advqa.agents.grounding import (
    ABSTAINED,
    FACT_NOT_IN_PASSAGE,
    NO_CITATION,
    NO_CLAIM,
    OFF_TOPIC,
    OTHER_DOCUMENT,
    QUOTE_NOT_FOUND,
    SENTENCE_UNSUPPORTED,
    TERM_NOT_IN_PASSAGE,
)
from advqa.agents.prompts import export_prompts
from advqa.agents.questions import (
    ANSWER_NOT_IN_PASSAGE,
    NOT_A_QUESTION,
    NOT_STANDALONE,
    OFF_PASSAGE,
    REPEATED,
    Focus,
    clause_spans,
    fact_spans,
    name_document,
    strip_document,
)
from advqa.agents.schemas import CriticReply, QuestionReply, decode, expert_schema, question_schema
from advqa.campaign.samples import strip_citations
from advqa.retrieval import Passage


@pytest.mark.parametrize("text, expected", [
    ("capped at thirty percent (30%) of the monthly fee", {"30%"}),
    ("30%", {"30%"}),
    ("forty thousand (40,000) in the first Contract Year", {"40000"}),
    ("40,000", {"40000"}),
    ("one hundred and eighty-six thousand pounds (£186,000) per year", {"186000"}),
    ("within thirty (30) days after the invoice date", {"30 day"}),
    ("30 days", {"30 day"}),
    ("ten (10) Business Days", {"10 business day"}),
    ("six (6) months after termination", {"6 month"}),
    ("made on 15 December 2025", {"2025-12-15"}),
    ("December 15, 2025", {"2025-12-15"}),
    ("signed on 12/20/18", {"2018-12-20"}),
    ("€1.5 million", {"1500000"}),
    ("US$14.00 for each Component", {"14"}),
    ("fifty percent (50%) of the voting rights", {"50%"}),
])
def test_facts_are_normalised(text, expected):
    assert {str(f) for f in extract_facts(text)} == expected


def test_word_numbers_and_fact_matching():
    assert word_number("one hundred and eighty-six thousand") == 186000
    assert word_number("forty-five") == 45
    assert word_number("ninety lemons") is None
    # The same fact in other words matches; a bare number matches a duration of that number; a
    # duration in other units, or another percentage, does not.
    assert missing_facts(extract_facts("thirty (30) days"), extract_facts("within 30 days")) == []
    assert missing_facts(extract_facts("30"), extract_facts("thirty (30) days")) == []
    thirty_days = extract_facts("thirty (30) days")
    assert missing_facts(extract_facts("30 months"), thirty_days) == [Fact("duration", "30 month")]
    thirty_percent = extract_facts("thirty percent (30%)")
    assert missing_facts(extract_facts("10%"), thirty_percent) == [Fact("percent", "10")]


def test_defined_terms_skip_sentence_openings():
    terms = defined_terms('The Distributor buys the "Minimum Purchase Target" each Contract Year. '
                          "Under Section 5 the Change of Control rules apply.")
    assert {"distributor", "minimum purchase target", "contract year", "change of control"} <= terms
    assert "the" not in terms and "under" not in terms and "section" not in terms


PASSAGES = [
    Passage("a#1", "a.md", "The Lessee may end the lease after month twelve by giving ninety days' "
            "written notice. A fee of three monthly instalments is payable.", 0, 100),
    Passage("b#2", "b.md", "Each party's liability is capped at the fees paid in the prior twelve "
            "months.", 0, 80),
]
QUESTION = "In the Equipment Lease: how much notice must the Lessee give to end the lease?"


def grounding(answer, embedder, **options):
    options.setdefault("question", QUESTION)
    options.setdefault("question_body", strip_document(QUESTION))
    options.setdefault("document", "a.md")
    return check_grounding(answer, PASSAGES, embedder, **options)


def test_a_checked_answer_is_grounded(embedder):
    result = grounding("The Lessee must give ninety days' written notice to end the lease.", embedder,
                       cited=["P1"], quotes=[("P1", "giving ninety days' written notice")])
    assert result.grounded and result.method == "facts" and result.reasons == []
    assert result.passage_ids == ["a#1"]
    assert "ninety days" in result.evidence


@pytest.mark.parametrize("answer, options, reason", [
    ("Not answerable from the documents.", {}, ABSTAINED),
    ("Yes.", {"cited": ["P1"]}, NO_CLAIM),
    ("The Lessee gives ninety days' written notice.", {}, NO_CITATION),
    ("The Lessee gives ninety days' written notice.", {"cited": ["P2"], "document": "b.md"},
     FACT_NOT_IN_PASSAGE),
    ("The Lessee gives ninety days' written notice.", {"cited": ["P1"], "document": "b.md"}, OTHER_DOCUMENT),
    ("The Lessee gives ninety days' written notice.",
     {"cited": ["P1"], "quotes": [("P1", "sixty days of notice by fax")]}, QUOTE_NOT_FOUND),
    ("The Lessee must give sixty days' written notice to end the lease.", {"cited": ["P1"]},
     FACT_NOT_IN_PASSAGE),
    ("The Lessee must give the Landlord ninety days' written notice to end the lease.", {"cited": ["P1"]},
     TERM_NOT_IN_PASSAGE),
    ("The Lessee gives ninety days' written notice to end the lease. Photosynthesis turns sunlight "
     "into sugar in the green leaves of plants.", {"cited": ["P1"]}, SENTENCE_UNSUPPORTED),
    ("A fee of three monthly instalments is payable.", {"cited": ["P1"]}, OFF_TOPIC),
])
def test_each_grounding_rejection(answer, options, reason, embedder):
    result = grounding(answer, embedder, **options)
    assert not result.grounded
    assert reason in result.reasons


def test_round_trip_agreement(embedder):
    question = "Invoices are payable within what period?"
    same = compare_answers("within thirty (30) days after the invoice date",
                           "Invoices are payable within thirty (30) days after the invoice date.", embedder,
                           question)
    assert same.agree and same.facts is True
    other_number = compare_answers("within thirty (30) days after the invoice date",
                                   "Invoices are payable within sixty (60) days.", embedder, question)
    assert not other_number.agree and other_number.missing == ["30 day"]
    other_thing = compare_answers("only if the Landlord gives its prior written consent",
                                  "Fees are exclusive of taxes.", embedder, "When may the Tenant sublet?")
    assert not other_thing.agree and "different content" in other_thing.reason
    verdicts = compare_answers("No, the fee is waived.", "Yes, the fee is waived.", embedder)
    assert not verdicts.agree and verdicts.verdict is False
    # The critic's judgement is one more signal: it tips a borderline case, not a clear one.
    clear = compare_answers("ten (10) Business Days after the Termination Date",
                            "The Company may, by notice given no later than ten (10) Business Days after "
                            "the Termination Date, waive Section 12.2.", embedder, critic=False)
    assert clear.agree and clear.critic is False


def test_check_question_reasons():
    passage = "The Lessee may end the lease after month twelve by giving ninety days' written notice."
    good = "How much notice must the Lessee give to end the lease?"
    assert check_question(good, "ninety days' written notice", passage=passage, previous=[]) == ""
    assert check_question("Notice.", "ninety days", passage=passage, previous=[]) == NOT_A_QUESTION
    assert check_question("What does this clause say about the notice?", "ninety days",
                          passage=passage, previous=[]) == NOT_STANDALONE
    assert check_question(good, "ninety days", passage=passage,
                          previous=["In the Lease: " + good]) == REPEATED
    assert check_question("What is the capital of France and its river?", "ninety days",
                          passage=passage, previous=[]) == OFF_PASSAGE
    assert check_question(good, "sixty days' notice", passage=passage, previous=[]) == ANSWER_NOT_IN_PASSAGE


def test_questions_name_their_document():
    name = "the Equipment Lease between Acme Ltd and Beta plc"
    parties = ("Acme Ltd", "Beta plc")
    asked = name_document("How much notice must the Lessee give?", name, "Equipment Lease", parties)
    assert asked == f"In {name}: How much notice must the Lessee give?"
    assert strip_document(asked) == "How much notice must the Lessee give?"
    named = "Under the Equipment Lease, how much notice must the Lessee give?"
    assert name_document(named, name, "Equipment Lease", ("Acme Ltd", "Beta plc")) == named


def test_focuses_find_facts_conditions_and_exceptions():
    passage = ("4.1 The Executive's base salary is one hundred and eighty-six thousand pounds (£186,000) "
               "per year, payable monthly in arrears. 4.2 If Buyer purchases fewer Components than the "
               "Minimum Annual Volume, Buyer shall pay Supplier US$14.00 for each Component of shortfall. "
               "4.3 Customer shall pay all sales taxes on the Services, other than taxes on Provider's "
               "income.")
    found = {(f.type, f.answer) for f in question_focuses(passage, "p")}
    assert ("lookup", "one hundred and eighty-six thousand pounds (£186,000) per year") in found
    assert ("condition", "If Buyer purchases fewer Components than the Minimum Annual Volume") in found
    assert ("scenario", "Buyer shall pay Supplier US$14.00 for each Component of shortfall") in found
    assert ("exception", "other than taxes on Provider's income") in found
    salary = next(f for f in question_focuses(passage, "p") if "186,000" in f.answer)
    assert salary.frame() == ("The Executive's base salary is ", ", payable monthly in arrears")
    assert salary.question_phrases() == ("how much", "what amount")
    scenario = Focus("If Buyer pays an invoice late, Buyer shall pay interest of 1% per month.",
                     "Buyer shall pay interest of 1% per month", "scenario")
    assert scenario.frame() == ("If Buyer pays an invoice late, ", "")
    # A question must keep a word that says what it is about.
    assert Focus("It is so, and it shall be that.", "that", "lookup").frame() is None


def test_question_schema_holds_an_extractive_question():
    focus = Focus("The Executive's base salary is £186,000 per year, payable monthly.", "£186,000 per year",
                  "lookup")
    schema = question_schema("lookup", answers=(focus.answer,), frame=focus.frame(),
                             phrases=focus.question_phrases())
    assert schema["properties"]["answer"]["enum"] == ["£186,000 per year"]
    assert list(schema["properties"]) == ["answer", "question", "type"]
    import re
    pattern = re.compile(schema["properties"]["question"]["pattern"])
    assert pattern.match("The Executive's base salary is how much, payable monthly?")
    assert not pattern.match("The Executive's base salary is what colour, payable monthly?")
    free = question_schema("scenario", answers=("x",))
    assert re.match(free["properties"]["question"]["pattern"], "If the Buyer is late, what happens?")
    assert not re.match(free["properties"]["question"]["pattern"], "What happens if the Buyer is late?")


def test_expert_schema_limits_citations_and_extractive_answers():
    schema = expert_schema(3)
    assert schema["$defs"]["Quote"]["properties"]["passage"]["enum"] == ["P1", "P2", "P3"]
    extractive = expert_schema(2, ["First sentence here.", "Second sentence here."])
    assert extractive["properties"]["answer"]["enum"] == ["First sentence here.", "Second sentence here."]
    assert extractive["properties"]["quotes"]["maxItems"] == 0


def test_decode_is_strict_for_held_replies_and_tolerant_otherwise():
    reply = json.dumps({"divergence": 0.7, "grounded": True, "consistent": False, "feedback": "f",
                        "reason": "r"})
    assert decode(reply, CriticReply, tolerant=False).divergence == 0.7
    fenced = "Here you go:\n```json\n" + reply + "\n```"
    assert decode(fenced, CriticReply, tolerant=False) is None
    assert decode(fenced, CriticReply, tolerant=True).consistent is False
    off = json.dumps({"divergence": 3, "grounded": True, "consistent": True, "feedback": "", "reason": ""})
    assert decode(off, CriticReply, tolerant=True) is None  # out of the schema's range
    assert decode('{"type": "lookup", "question": "no question mark", "answer": "x"}', QuestionReply,
                  tolerant=True) is None


def test_verdict_scorer():
    assert leading_verdict("Yes, the Lessee may.") == "yes"
    assert leading_verdict("(b) Thirty days") == "b"
    assert leading_verdict("The Lessee may.") is None
    assert verdict_divergence("No, never.", "Yes [P1].") == 1.0
    assert verdict_divergence("Yes.", "Yes, after notice.") == 0.0
    assert verdict_divergence("It depends.", "Yes.") is None


def test_facts_divergence_sees_a_missing_number():
    passages = "Buyer shall purchase at least 40,000 components in the first Contract Year."
    question = "What is the minimum annual volume?"
    expert = "The minimum annual volume is 40,000 components."
    assert facts_divergence(question, "The minimum annual volume is 10,000 units.", expert, passages) == 1.0
    assert facts_divergence(question, "At least 40,000 components a year.", expert, passages) == 0.0
    assert facts_divergence(question, "Anything", "It depends on the parties.", passages) is None


def test_combined_scorer_weights_and_fallback():
    value, used = combine({"judge": 0.9, "embedding": 0.3, "verdict": 1.0, "facts": None, "failure": None})
    assert value == pytest.approx((2 * 0.9 + 0.3 + 1.0) / 4)
    assert used == "combined(embedding+judge+verdict)"
    value, used = combine({"judge": None, "embedding": 0.4, "failure": 0.9})
    assert value == pytest.approx((0.4 + 2 * 0.9) / 3) and used == "combined(embedding+failure)"
    value, used = combine({"judge": None, "embedding": 0.4, "verdict": None}, "judge")
    assert value == 0.4 and "judge unavailable" in used
    assert combine({"judge": 0.2, "embedding": 0.9, "verdict": None}, "judge") == (0.2, "judge")


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


def test_running_headers_and_permissions_are_not_asked_about():
    # A page header of names and a page number (CUAD's text has them) is not a sentence to ask
    # about; "the right, but not the obligation" is a permission, not an exception.
    passage = ("ODM Supply Agreement 3 Organic Preparations INC. & Agape ATP International Holding "
               "Limited\n\nGalaxy shall have the right, but not the obligation, to adjust its prices.")
    focuses = question_focuses(passage)
    assert all(not f.sentence.startswith("ODM") for f in focuses)
    assert all(f.type != "exception" for f in focuses)


def test_a_question_may_open_with_a_quoted_defined_term():
    # The extractive frame of "'Effective Date' shall mean December 5, 2014." opens with a quote:
    # the grammar allowed it, so the decoder must too (6 of 119 CUAD questions were lost to this).
    from advqa.agents.schemas import QuestionReply, decode

    reply = decode('{"answer":"December 5, 2014","question":"\'Effective Date\' shall mean when?",'
                   '"type":"lookup"}', QuestionReply, tolerant=False)
    assert reply is not None and reply.question == "'Effective Date' shall mean when?"
    assert decode('{"answer":"x","question":"effective date shall mean when?","type":"lookup"}',
                  QuestionReply, tolerant=False) is None


def test_sentences_are_not_cut_at_the_abbreviations_contracts_use():
    from advqa.agents.expert import passage_sentences
    from advqa.agents.sentences import split_sentences

    # Cut at "A.M." and "p.m.", these were accepted answers that stop mid-clause.
    text = ("Supplier shall maintain insurance with an insurer rated A.M. Best A- or better. "
            "Purchase Orders not received by 3:00 p.m. Central Time are received the next day. "
            "This Agreement is between Galaxy Telecom Inc. (\"Galaxy\") and Telnet SRL. "
            "The fees are set out in Exhibit A. Each party bears its own costs.")
    expected = ["Supplier shall maintain insurance with an insurer rated A.M. Best A- or better.",
                "Purchase Orders not received by 3:00 p.m. Central Time are received the next day.",
                "This Agreement is between Galaxy Telecom Inc. (\"Galaxy\") and Telnet SRL.",
                "The fees are set out in Exhibit A.", "Each party bears its own costs."]
    assert [s.strip() for s in split_sentences(text)] == expected
    assert split_sentences("A heading\nIts first line. Its second.") == ["A heading", "Its first line.",
                                                                       "Its second."]
    passage = Passage(id="c.md#0", document="c.md", text=text, start=0, end=len(text))
    assert passage_sentences([passage]) == expected  # the expert's extractive answers
    asked = {focus.sentence for focus in question_focuses(text)}  # what the questioner asks about
    assert asked and asked <= set(expected)
    assert "Supplier shall maintain insurance with an insurer rated A.M. Best A- or better." in asked


def test_a_clause_runs_on_over_a_paragraph_break_but_not_over_a_page_mark():
    from advqa.agents.sentences import contract_sentences

    # The MICOA agency agreement's exclusivity (A.5) had a blank line inside it, so it was never a
    # whole sentence; a page mark or a lowercase list mark still ends what comes before it.
    exclusivity = ("In return for the exclusive appointment of Agency by MICOA to sell its products "
                   "listed on the attached Schedule in Nevada, Agency agrees not to sell any competing "
                   "products.")
    text = exclusivity.replace("Schedule in", "Schedule\n\n                  in")
    assert contract_sentences(text) == [exclusivity]
    assert contract_sentences("Orders arrive Monday through Friday except on holidays\n\nPage 1\n\n"
                              "business day. Supplier confirms them.") == [
        "Orders arrive Monday through Friday except on holidays", "Page 1", "business day.",
        "Supplier confirms them."]
    assert contract_sentences("The services include\na. hosting of the site\nii) backups") == [
        "The services include", "a. hosting of the site", "ii) backups"]
    footer = "Source: ACME CORP, 10-Q, 1/9/2020"
    assert contract_sentences(f"The price is fixed\n{footer}\nwith Applicable Law.") == [
        "The price is fixed", footer, "with Applicable Law."]
    assert len(contract_sentences("Payment is due monthly.\nthe next line starts low.")) == 2


def test_a_page_mark_inside_a_sentence_is_dropped_when_a_document_loads(tmp_path):
    from advqa.agents.sentences import contract_sentences
    from advqa.retrieval import load_documents

    # Apollo's 7.10 went over a page: asked without its second half, the condition "if any such
    # changes in the Specifications" was accepted as if any change called for notice.
    whole = ("ESTABLISHMENT shall immediately notify APOLLO if any such changes in the Specifications "
             "shall render ESTABLISHMENT unable to supply the Product.")
    page = ("Supplier keeps records.\n\n-8-\n\nThe next page opens here.\n\n"
            + whole.replace("Specifications shall", "Specifications\n\n-9-\n\n\n\nshall")
            + "\n\nSource: ACME CORP, 10-Q, 1/9/2020\n\nits price is fixed\n\n3\n\na. first item")
    (tmp_path / "apollo.txt").write_text(page, encoding="utf-8")
    text = load_documents(tmp_path)[0].text
    assert whole in contract_sentences(text)
    assert "-8-" in text  # between whole sentences a page mark stays, as it does before a list mark
    assert "\n\n3\n\na. first item" in text
    assert "Source: ACME CORP" in text  # after an end mark


def test_a_running_footer_glued_to_a_page_is_dropped_when_a_document_loads(tmp_path):
    from advqa.agents.sentences import contract_sentences
    from advqa.retrieval import load_documents

    # Agape's supply agreement: each page's last line runs on into "ODM Supply Agreement 13 Organic
    # Preparations INC. & Agape ATP International Holding Limited", so that the schedule's last
    # line read "Global - All countries ODM Supply Agreement 13 Organic Preparations INC."
    footer = "ODM Supply Agreement {} Organic Preparations INC. & Agape ATP International Holding Limited"
    legend = ("[***] Confidential treatment has been requested for the bracketed portions. The confidential "
              "redacted portion has been omitted and filed separately with the Securities and Exchange "
              "Commission. -{}-")  # longer than the words a line's ending is first compared on
    filler = "The Customer keeps records of every order it places with the Manufacturer. " * 8
    table = "\n".join(f"Monthly {minutes} North America minute bundle n/a $8.95"
                      for minutes in (250, 500, 750, 1000))
    pages = [f"{filler}Clause {n} ends here. {footer.format(n + 1)} {legend.format(n + 1)}" for n in range(4)]
    pages.append(f"{table}\n\nThe Territories: Global - All countries {footer.format(6)} {legend.format(6)}")
    (tmp_path / "agape.txt").write_text("\n\n".join(pages), encoding="utf-8")
    text = load_documents(tmp_path)[0].text
    sentences = contract_sentences(text)
    assert "ODM Supply" not in text and "Confidential treatment" not in text
    assert "Clause 3 ends here." in sentences and "The Territories: Global - All countries" in sentences
    assert table in text  # a table's rows share an ending with growing numbers, but a page apart they are not


def test_table_notes_clock_times_and_a_passage_cut_mid_sentence():
    # From the audit of the sample-efficiency campaign: "Demonstration Accounts See note how many?"
    # (a price table's footnote), "not received by 3:how many?", and answers cut at a chunk's end.
    assert fact_spans("Demonstration Accounts See note 3 free free") == []
    assert fact_spans("Note 1 Co-Branding one time charge $1,350.00") == [("lookup", "$1,350.00")]
    bundle = [a for _, a in fact_spans("Monthly 750 North America minute bundle n/a $8.95")]
    assert bundle[:2] == ["750 North America minute bundle n/a", "$8.95"]  # not "... n/a $"
    clock = "Purchase Orders not received by 3:00 p.m. Eastern Time are received the next business day."
    assert fact_spans(clock) == [("lookup", "3:00 p.m.")]
    focus = Focus(clock, "3:00 p.m.", "lookup")
    assert focus.question_phrases()[0] == "what time"
    assert focus.frame() == ("Purchase Orders not received by ",
                             " Eastern Time are received the next business day")
    cut = ("Supplier shall pay within thirty (30) days. Confidential Information excludes any information "
           "which the third party is obligated to treat as")
    assert [f.sentence for f in question_focuses(cut)] == ["Supplier shall pay within thirty (30) days."]


def test_an_exception_in_brackets_ends_there_and_the_question_keeps_what_it_qualifies():
    # From the audit: "On either party for any reason (except for what?" and "Subject to Section
    # 4.03, upon termination or expiration of this Agreement, except for what?".
    bracketed = ("Either party may terminate this agreement on the other party for any reason (other "
                 "than a default of the first party) being unable to perform its obligations.")
    assert clause_spans(bracketed) == [("exception", "other than a default of the first party")]
    focus = Focus(bracketed, "other than a default of the first party", "exception")
    assert focus.frame() == (
        "Either party may terminate this agreement on the other party for any reason (",
        ") being unable to perform its obligations")
    payment = ("Upon termination of this Agreement, other than with respect to any amounts then the "
               "subject of a good faith dispute, the Company shall pay all monies due, in each case within "
               "thirty days of the date on which the termination of this Agreement takes effect in "
               "accordance with its terms and with the notice that either party has given for it.")
    disputed = "other than with respect to any amounts then the subject of a good faith dispute"
    assert Focus(payment, disputed, "exception").frame() == (
        "Upon termination of this Agreement, ", ", the Company shall pay all monies due")
    # Too long to keep what it qualifies: asked only when the words before the blank are a clause.
    long_payment = payment.replace("all monies due,", "all monies due and every other amount owed")
    assert Focus(long_payment, disputed, "exception").frame() is None
    confidence = ("The Receiving Party shall hold the other party's Confidential Information in strict "
                  "confidence, shall not use such Confidential Information, except as permitted hereunder, "
                  "and shall not disclose such Confidential Information to any third party without the prior "
                  "written consent of the other party.")
    assert Focus(confidence, "except as permitted hereunder", "exception").frame() == (
        "The Receiving Party shall hold the other party's Confidential Information in strict confidence, "
        "shall not use such Confidential Information, ", "")
    review = ("Galaxy shall have the right to review any use by Telnet of the Trademarked Material and to "
              "approve or disapprove, in its absolute discretion, Telnet's use of it and if Galaxy "
              "disapproves of Telnet's use of Trademarked Material, Telnet shall not use the Trademarked "
              "Material for such use.")
    assert Focus(review, "if Galaxy disapproves of Telnet's use of Trademarked Material",
                 "condition").frame() is None  # not "... Telnet's use of it and in what case?"
    # An answer that ends inside a list leaves only a list item after the comma: not asked.
    audit = ("PNC may enter and audit Supplier's facilities where the Ingredients are produced or processed "
             "unless food safety is at issue or PNC has a good faith reason to believe the Ingredients are "
             "being stored, packaged, or processed in a way that is inconsistent with the Specifications.")
    assert Focus(audit, "unless food safety is at issue or PNC has a good faith reason to believe the "
                 "Ingredients are being stored", "exception").frame() is None


def test_a_numbered_section_is_asked_about_without_its_run_in_heading():
    from advqa.agents.expert import passage_sentences
    from advqa.agents.sentences import contract_sentences

    # From the Galaxy Telecom reseller agreement: accepted questions began "Ownership and Privacy
    # of Records Galaxy shall own what?" and "No Removal of Logos, Trademarks & Notices except ...".
    text = ("4.2 Ownership and Privacy of Records Galaxy shall own the Records, but it shall use them "
            "only as this Agreement allows. 9.4 No Removal of Logos, Trademarks & Notices Unless "
            "Telnet first obtains written consent, it shall not remove any logo. 3.1 Term This "
            "Agreement shall commence on the Effective Date. 5.1 Limitation of Privacy The Products "
            "and Services utilize the public Internet. 6.2 Disputes Galaxy and Telnet will attempt "
            "to settle any claim by negotiation. 7.1 Payment Premier Nutrition Company shall pay "
            "each invoice in thirty days. Premier Nutrition Company may audit the invoices. "
            "8.1 The Company shall keep records for five years.")
    expected = [
        "Galaxy shall own the Records, but it shall use them only as this Agreement allows.",
        "Unless Telnet first obtains written consent, it shall not remove any logo.",
        "This Agreement shall commence on the Effective Date.",
        "The Products and Services utilize the public Internet.",
        # Unsure where the heading ends (a subject of several words; a name): kept whole.
        "Disputes Galaxy and Telnet will attempt to settle any claim by negotiation.",
        "Payment Premier Nutrition Company shall pay each invoice in thirty days.",
        "Premier Nutrition Company may audit the invoices.",
        "The Company shall keep records for five years.",
    ]
    assert contract_sentences(text) == expected
    passage = Passage(id="c.md#0", document="c.md", text=text, start=0, end=len(text))
    assert passage_sentences([passage]) == expected  # the expert's extractive answers
    asked = {focus.sentence for focus in question_focuses(text)}  # what the questioner asks about
    assert asked and asked <= set(expected)
    frames = [focus.frame() for focus in question_focuses(text)]
    openings = [frame[0] for frame in frames if frame]
    assert openings and not any(opening.startswith(("Ownership", "No Removal", "Term ", "Limitation"))
                                for opening in openings)


def test_an_article_heading_in_capitals_is_left_out_of_the_sentence():
    from advqa.agents.sentences import contract_sentences

    # From the reference contracts: the article heading, section number and section heading are
    # all run into the sentence that states the term.
    assert contract_sentences(
        "TERM AND TERMINATION 10.1 Term of the Agreement The initial term of this Agreement will be "
        "for two (2) year(s). ODM SUPPLY AGREEMENT THIS AGREEMENT is made on the 15th day of January "
        "2018. SCHEDULE C - THE TERRITORIES The Territories are all countries. DATED AS OF January "
        "20, 2014.\n-8- 9 Agreement at that time or a waiver.") == [
        "The initial term of this Agreement will be for two (2) year(s).",
        "THIS AGREEMENT is made on the 15th day of January 2018.",
        "The Territories are all countries.",
        "DATED AS OF January 20, 2014.",  # no opener or number to cut at: kept
        "-8- 9 Agreement at that time or a waiver.",  # a page mark, not a heading
    ]


def test_the_question_word_fits_what_the_answer_is():
    # From the sample-efficiency campaign: "The ultimate goal is how many?" for "zero defects",
    # "hold what number?" for "one another harmless", and the demo's "within how long to?".
    goal = Focus("The ultimate goal is zero defects in all shipments.", "zero defects in all shipments",
                 "lookup")
    assert goal.question_phrases() == ("how many defects", "what number of defects")
    hold = Focus("The parties shall hold one another harmless as follows.", "one another harmless as follows",
                 "lookup")
    assert hold.question_phrases() == ("what",)
    assert Focus("x", "three (3) years", "lookup").question_phrases() == ("what period", "how long")
    notify = Focus("The Receiving Party shall notify the Disclosing Party in writing within seventy-two (72) "
                   "hours after becoming aware of any unauthorised access to, or use or disclosure of, the "
                   "Disclosing Party's Confidential Information, and shall cooperate reasonably with the "
                   "Disclosing Party to mitigate its effects.",
                   "seventy-two (72) hours after becoming aware of any unauthorised access", "lookup")
    assert notify.frame() == ("The Receiving Party shall notify the Disclosing Party in writing within ", "")


def test_clauses_without_a_figure_are_asked_about_their_object():
    # Governing law, assignment and liability clauses of the reference contracts had no question
    # to ask: a passive verb, or a clause longer than an answer may be.
    governed = question_focuses("This Agreement will be governed by the laws of the State of Delaware "
                                "without regard to its conflicts of law principles.")
    assert [(f.answer, f.frame(), f.question_phrases()) for f in governed] == [
        ("the laws of the State of Delaware without regard to its conflicts of law principles",
         ("This Agreement will be governed by ", ""), ("what",))]
    both = question_focuses("This Agreement shall be governed by and construed in accordance with the laws "
                            "of the State of Texas.")
    assert all(not f.answer.startswith("and ") for f in both)
    liability = question_focuses(
        "Galaxy shall have no liability to Telnet, whether in contract, tort (including negligence), strict "
        "liability or otherwise, for any special, indirect or consequential damages or for lost profits, in "
        "any matter related to this Agreement, including any delay by Galaxy to furnish Products.")
    assert [f.answer for f in liability] == ["no liability to Telnet"]
    # A list's commas are not where a clause ends: too long to ask, and not cut mid-list.
    listed = question_focuses(
        "TrueLink shall perform the Hosting and Support Services and any other agreed-upon services for "
        "Client with the same degree of care, skill and prudence customarily exercised by it for its own "
        "operations and for those of its affiliates and other clients.")
    assert not [f for f in listed if f.answer.endswith("degree of care")]
    # A section number inside the answer does not make it a count.
    costs = Focus("x", "recover its actual costs and fees pursuant to California Civil Code section 1717",
                  "lookup")
    assert costs.question_phrases() == ("what",)


def test_a_partys_verb_and_its_preposition_frame_the_question():
    # Clauses behind CUAD's Yes rows that had no question (advqa_yield.md): a party's verb with no
    # modal, an object that runs into its qualification, a definition glued to its number.
    exclusive = question_focuses(
        "The Manufacturer covenants not to sell any product listed in this agreement, or product name (as "
        "listed in schedule A of this agreement) to any other party without prior written consent of the "
        "Customer.")
    assert [(f.answer, f.frame()) for f in exclusive] == [
        ("any product listed in this agreement, or product name (as listed in schedule A of this agreement) "
         "to any other party",
         ("The Manufacturer covenants not to sell ", " without prior written consent of the Customer"))]
    first_refusal = question_focuses(
        "The Manufacturer agrees to offer the Customer the first right of refusal to purchase the "
        "intellectual property for the products listed in Schedule A of this agreement based upon agreed "
        "terms.")
    assert [f.frame()[0] for f in first_refusal] == ["The Manufacturer agrees to offer "]
    # What belongs to the verb stays in the question: a preposition, a second verb, "to" and a verb.
    frames = {sentence: [f.frame()[0] for f in question_focuses(sentence)] for sentence in (
        "Agency shall refrain from admitting or denying liability on the part of the company.",
        "The Manufacturer may not transfer or assign any of its rights under this agreement.",
        "Galaxy and Telnet will attempt to settle any claim or controversy relating to this Agreement.",
        "Supplier shall cooperate in good faith with PNC during all such inspections.")}
    assert list(frames.values()) == [["Agency shall refrain from "],
                                     ["The Manufacturer may not transfer or assign "],
                                     ["Galaxy and Telnet will attempt to settle "],
                                     ["Supplier shall cooperate "]]
    # A modal verb wins over a party's verb earlier in the sentence.
    paid = question_focuses("When the Agency grants such authorization, Agency shall be paid the applicable "
                            "commission on such sales.")
    assert [f.frame()[0] for f in paid] == ["When the Agency grants such authorization, Agency shall be "]
    defined = question_focuses('1.5"Effective Date" shall mean December 5, 2014.\n1.6 Other words here are '
                               "what the next section says.")
    assert [(f.answer, f.frame()) for f in defined if "Effective" in f.sentence] == [
        ("December 5, 2014", ("'Effective Date' shall mean ", ""))]


def test_a_rival_sentence_is_one_the_question_fits_as_well():
    from advqa.agents.questions import rival_sentence

    contract = ["13.3 Neither party is liable for loss of profits, revenue or goodwill. 13.4 Each party's "
                "liability is capped.", "16.3 Neither party is liable for delay caused by events beyond "
                "its reasonable control. 16.4 Supplier may, by notice given within ninety (90) days, "
                "end this Agreement."]
    liability = "13.3 Neither party is liable for loss of profits, revenue or goodwill."
    assert rival_sentence(liability, "loss of profits, revenue or goodwill", contract).startswith(
        "Neither party is liable for delay")
    # The words after the blank count too: the buy-back question fits no other sentence.
    buy_back = "Supplier may, by notice within thirty (30) days after termination, buy back all Products."
    assert rival_sentence(buy_back, "within thirty (30) days after termination", [*contract, buy_back]) == ""
    # The sentence itself, whole or cut at a chunk's edge, is not its own rival.
    assert rival_sentence(liability, "loss of profits, revenue or goodwill",
                          [liability, "Neither party is liable for loss of profits"]) == ""


def test_a_list_announced_or_an_inclusion_is_not_asked_as_a_condition_or_exception():
    # Wrong samples of the CUAD audit: "including but not limited to Nevada" asked as an exception,
    # and "subject to the following:" / "if Supplier can show:" asked as a condition.
    included = question_focuses("Appropriate agreements must be negotiated separately for each such "
                                "territory, including but not limited to Nevada.")
    assert all(f.type != "exception" for f in included) and included
    ahead = question_focuses("Information will cease being Confidential Information if Supplier can show: "
                             "(a) it was public.\nThe Agency shall provide all usual services subject to the "
                             "following: (a) no expenses.")
    assert not [f for f in ahead if f.answer in ("if Supplier can show", "subject to the following")]
    assert not [f for f in ahead if f.sentence.startswith("Information") and f.type == "lookup"]
