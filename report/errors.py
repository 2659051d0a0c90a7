"""The one error type report/ raises for a user's mistake (not a run folder, unreadable file)."""

from ..errors import AdvqaError


class ReportError(AdvqaError):
    """A folder or file the user gave cannot be read as a run; the one-line message says why."""
