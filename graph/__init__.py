"""The probe graph: one seed passage, several rounds of question, answers and judgement."""

from .context import ProbeContext, probe_context
from .probe import build_probe_graph, probe_graph
from .settings import ProbeSettings
from .state import FINAL_OUTCOMES, ProbeInput, ProbeOutput, ProbeState, RoundRecord, best_round

__all__ = ["FINAL_OUTCOMES", "ProbeContext", "ProbeInput", "ProbeOutput", "ProbeSettings", "ProbeState",
           "RoundRecord", "best_round", "build_probe_graph", "probe_context", "probe_graph"]
