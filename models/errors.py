"""The one error type models/ raises for a user's mistake (bad spec, missing package)."""


class ModelError(Exception):
    """A model spec or model file the user gave cannot be used; the message says why."""
