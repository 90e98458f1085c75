"""User-facing errors: raised for a user's mistake, printed as one clear message without a traceback."""


class UserError(Exception):
    """A mistake the user can fix (bad option, bad data, missing file). The message says how."""
