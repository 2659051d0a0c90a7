"""A campaign: many probes over a corpus, checkpointed per probe, resumable, shardable over workers."""

from .dedup import deduplicate
from .run import run_campaign
from .seeds import plan_seeds
from .settings import CampaignSettings

__all__ = ["CampaignSettings", "deduplicate", "plan_seeds", "run_campaign"]
