"""The names of a campaign's run files, in one place."""

DATASET = "dataset.jsonl"  # the accepted samples, deduplicated at the end of a campaign
DUPLICATES = "duplicates.jsonl"  # accepted samples dropped as near-duplicates of earlier ones
TRACES = "traces.jsonl"  # one event per model call, retrieval, judgement and route
CONFIG = "config.toml"  # the resolved settings the campaign ran with
CHECKPOINTS = "checkpoints.sqlite"  # the probes' LangGraph checkpoints (unless Postgres)
STATS = "stats.json"  # what the campaign did, computed from the files above
PROMPTS = "prompts"  # the prompt texts, one <role>.txt each


def worker_stats(index: int, count: int) -> str:
    """The stats file of worker `index` of `count`."""
    return f"stats-{index}-of-{count}.json"
