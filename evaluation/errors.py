"""The one error type evaluation/ raises for a user's mistake (bad task folder, bad option)."""

from ..errors import AdvqaError


class EvaluationError(AdvqaError):
    """A task folder, file or option the user gave cannot be used; one-line message naming it."""
