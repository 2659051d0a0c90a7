"""The one error type models/ raises: a model that cannot be used, or a call that failed."""


class ModelError(Exception):
    """A model spec or model file the user gave cannot be used, or a call to a model server
    failed after its retries; the one-line message says why (and names the endpoint)."""
