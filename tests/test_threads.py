"""Torch's thread count during a campaign's probes: one when no role runs on torch, restored after."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from conftest import counting_campaign_models, critic_json
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from advqa.campaign import CampaignSettings, run_campaign
from advqa.campaign.threads import probe_torch_threads, torch_threads
from advqa.graph import ProbeSettings
from advqa.models import load_chat_model
from advqa.models.llamacpp_chat import LlamaCppChatModel

SEEN: list[int] = []


class ThreadsSeen(FakeListChatModel):
    """A scripted model that notes torch's thread count (in SEEN) in the thread that calls it."""

    def _call(self, *args: Any, **kwargs: Any) -> str:
        SEEN.append(torch.get_num_threads())
        return super()._call(*args, **kwargs)


def served(name: str = "mock"):
    return load_chat_model(f"openai:{name}", base_url="http://127.0.0.1:9/v1", api_key="x")


def test_one_thread_when_every_role_is_served_elsewhere():
    roles = {role: served() for role in ("questioner", "student", "expert", "critic")}
    assert probe_torch_threads(None, roles) == 1
    # llama.cpp runs on threads of its own (an instance without a GGUF file loaded is enough here)
    roles["critic"] = LlamaCppChatModel.__new__(LlamaCppChatModel)
    assert probe_torch_threads(None, roles) == 1


def test_torch_default_when_a_role_may_run_on_torch_here():
    # A model advqa cannot place (a scripted one here, a user's pipeline in practice) may use
    # torch in this process: its threads are left alone.
    roles = {"questioner": served(), "student": FakeListChatModel(responses=["x"])}
    assert probe_torch_threads(None, roles) is None
    assert probe_torch_threads(3, roles) == 3  # an explicit setting wins


def test_the_count_holds_inside_and_is_restored_after():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before


def test_a_campaign_runs_its_probes_with_the_setting_and_restores_it(small_index, tmp_path):
    if torch.get_num_threads() < 2:
        pytest.skip("needs torch with at least two threads to tell the setting apart")
    before = torch.get_num_threads()
    models = counting_campaign_models(critic_json(0.9, feedback="f", reason="r"))
    models["student"] = ThreadsSeen(responses=["It depends on general law."])
    SEEN.clear()
    settings = CampaignSettings(seeds=2, concurrency=2, torch_threads=1,
                                probe=ProbeSettings(scorer="judge", max_rounds=1))
    stats = run_campaign(small_index, tmp_path / "run", models=models, settings=settings)
    assert stats["finished"] == 2
    assert SEEN and set(SEEN) == {1}  # in the probes' threads
    assert torch.get_num_threads() == before


def test_torch_threads_must_be_positive():
    with pytest.raises(ValueError, match="torch threads"):
        CampaignSettings(torch_threads=0)
