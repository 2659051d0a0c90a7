"""The one error type training/ raises for a user's mistake (bad dataset line, setting or run folder)."""

from ..errors import AdvqaError


class TrainingError(AdvqaError):
    """A dataset, config file or option the user gave cannot be used; the one-line message says why."""
