"""The error type agents/ raises for a user's mistake (a bad prompt file)."""

from ..errors import AdvqaError


class PromptError(AdvqaError):
    """A prompt file cannot be used; the message names the file and the problem."""
