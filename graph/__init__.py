"""The probe graph (one seed, several rounds) and the campaign that runs many probes."""

from .probe import build_probe_graph
from .settings import ProbeSettings
from .state import FINAL_OUTCOMES, ProbeState, RoundRecord, best_round

__all__ = ["FINAL_OUTCOMES", "ProbeSettings", "ProbeState", "RoundRecord", "best_round",
           "build_probe_graph"]
