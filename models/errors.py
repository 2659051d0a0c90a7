"""The one error type models/ raises: a model that cannot be used, or a call that failed."""

from ..errors import AdvqaError


class ModelError(AdvqaError):
    """A model spec or model file the user gave cannot be used, or a call to a model server
    failed after its retries; the one-line message says why (and names the endpoint).

    `retries`: the retries a failed call made before giving up (0 when it was not retried),
    so that they are counted like those of a call that got an answer.
    """

    def __init__(self, message: str, *, retries: int = 0):
        super().__init__(message)
        self.retries = retries
