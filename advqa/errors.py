"""The base of every error advqa reports to a user as one line; the command line catches this type."""


class AdvqaError(Exception):
    """Something the user can fix or must know (bad input, a missing file, a model that cannot be
    used, a campaign whose every probe failed); the message is one line that says what and why."""
