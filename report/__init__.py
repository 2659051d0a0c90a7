"""See what the agents did: the HTML run report, the terminal trace view, prompt export and diff."""

from .data import OUTCOMES, RunData, load_run
from .errors import ReportError
from .html import render_report, write_report

__all__ = ["OUTCOMES", "ReportError", "RunData", "load_run", "render_report", "write_report"]
