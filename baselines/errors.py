"""The error type advqa.baselines raises for a user's mistake."""


class BaselineError(Exception):
    """A baseline cannot be built as asked; the one-line message names the file or setting."""
