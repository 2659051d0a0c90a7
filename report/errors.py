"""The one error type report/ raises for a user's mistake (not a run folder, unreadable file)."""


class ReportError(Exception):
    """A folder or file the user gave cannot be read as a run; the one-line message says why."""
