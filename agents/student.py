"""The student: the model being adapted answers the question alone, exactly as at test time."""

from __future__ import annotations

import math

from langchain_core.language_models.chat_models import BaseChatModel

from .calls import CallContext, CallResult, invoke_model
from .prompts import PromptSet
from .roundtrip import compare_answers

SAMPLE_TEMPERATURE = 0.7


def answer_as_student(model: BaseChatModel, prompts: PromptSet, ctx: CallContext,
                      question: str, max_tokens: int | None = None) -> CallResult:
    return invoke_model("student", model, prompts.render("student", question=question), ctx,
                        max_tokens=max_tokens)


def student_failure_rate(model: BaseChatModel, prompts: PromptSet, ctx: CallContext, *, question: str,
                         own_answer: str, expert_answer: str, embedder, samples: int = 3,
                         base_seed: int = 0, max_tokens: int | None = None) -> tuple[float, str]:
    """How reliably the student fails the question: (rate in [0, 1], how it was measured).

    A local student ("likelihood"): the chance it picks its own answer over the expert's when
    both are scored by its length-normalised log-likelihood as the reply to the question, which
    is how the closed-book evaluation scores it: sigmoid(mean log p(own) - mean log p(expert)).
    Any other student ("samples"): the share of `samples` sampled answers that do not agree with
    the expert's (roundtrip.compare_answers).
    """
    engine = getattr(model, "engine", None)
    prompt = prompts.render("student", question=question)
    if engine is not None and hasattr(engine, "model_and_tokenizer"):
        from ..models.likelihood import mean_logprobs

        lm, tokenizer = engine.model_and_tokenizer()
        text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}],
                                             add_generation_prompt=True, tokenize=False)
        own, expert = mean_logprobs(lm, tokenizer, text, [own_answer, expert_answer])
        return 1.0 / (1.0 + math.exp(min(expert - own, 50.0))), "likelihood"
    failures = 0
    for number in range(samples):
        sampled = invoke_model("student", model, prompt, ctx, attempt=number + 2, max_tokens=max_tokens,
                               temperature=SAMPLE_TEMPERATURE, seed=base_seed + 31 * number + ctx.round)
        failures += not compare_answers(expert_answer, sampled.text, embedder, question).agree
    return failures / max(samples, 1), "samples"
