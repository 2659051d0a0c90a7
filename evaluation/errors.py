"""The one error type evaluation/ raises for a user's mistake (bad task folder, bad option)."""


class EvaluationError(Exception):
    """A task folder, file or option the user gave cannot be used; one-line message naming it."""
