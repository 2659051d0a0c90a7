"""The probe graph (one seed, several rounds) and the campaign that runs many probes."""

from .context import ProbeContext, probe_context
from .probe import build_probe_graph, probe_graph
from .settings import ProbeSettings
from .state import FINAL_OUTCOMES, ProbeInput, ProbeOutput, ProbeState, RoundRecord, best_round

__all__ = ["FINAL_OUTCOMES", "ProbeContext", "ProbeInput", "ProbeOutput", "ProbeSettings", "ProbeState",
           "RoundRecord", "best_round", "build_probe_graph", "probe_context", "probe_graph"]
