"""Workers of one campaign agree on its seeds, settings, models and prompts, or are refused."""

from dataclasses import replace

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from advqa.agents import PromptSet, load_prompts
from advqa.campaign import CampaignSettings
from advqa.campaign.agreement import CampaignMismatchError, agreement, check_agreement
from advqa.graph import ProbeSettings
from advqa.retrieval import Chunk

SEEDS = [Chunk(id=f"lease.md#{i}-abc", document="lease.md", index=i, text="Clause.", start=8 * i,
               end=8 * i + 7) for i in range(3)]
MODELS = {"questioner": "bundled:smollm2-135m", "expert": None, "critic": None, "student": None}


def test_the_first_worker_records_the_campaign_and_an_equal_one_is_let_in():
    saver, settings, prompts = InMemorySaver(), CampaignSettings(), load_prompts()
    check_agreement(saver, agreement(SEEDS, settings, MODELS, prompts))
    check_agreement(saver, agreement(SEEDS, replace(settings, concurrency=16), MODELS, prompts))


def briefer_critic(prompts: PromptSet) -> PromptSet:
    critic = prompts.templates["critic"] + " Be brief."
    return PromptSet({**prompts.templates, "critic": critic}, prompts.sources)


@pytest.mark.parametrize("change, named", [
    (lambda s, m, p: (SEEDS[:2], s, m, p), "seeds"),
    (lambda s, m, p: (SEEDS, replace(s, probe=ProbeSettings(threshold=0.9)), m, p), "probe"),
    (lambda s, m, p: (SEEDS, replace(s, dedup_threshold=0.8), m, p), "dedup_threshold"),
    (lambda s, m, p: (SEEDS, s, {**m, "student": "openai:other"}, p), "models"),
    (lambda s, m, p: (SEEDS, s, m, briefer_critic(p)), "prompts"),
])
def test_a_worker_whose_campaign_differs_is_refused_naming_what_differs(change, named):
    saver, settings, prompts = InMemorySaver(), CampaignSettings(), load_prompts()
    check_agreement(saver, agreement(SEEDS, settings, MODELS, prompts))
    with pytest.raises(CampaignMismatchError, match=f"holds in ([a-z_]+, )*{named}[,;]"):
        check_agreement(saver, agreement(*change(settings, MODELS, prompts)))
