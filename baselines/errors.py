"""The error type advqa.baselines raises for a user's mistake."""

from ..errors import AdvqaError


class BaselineError(AdvqaError):
    """A baseline cannot be built as asked; the one-line message names the file or setting."""
