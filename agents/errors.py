"""The error type agents/ raises for a user's mistake (a bad prompt file)."""


class PromptError(Exception):
    """A prompt file cannot be used; the message names the file and the problem."""
