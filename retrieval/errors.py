"""The one exception type the retrieval package raises for user-facing problems."""

from ..errors import AdvqaError


class RetrievalError(AdvqaError):
    """A problem the user can fix (bad folder, corrupt index, missing package); one-line message."""
