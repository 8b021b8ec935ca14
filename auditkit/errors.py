"""Errors that the kit reports to its users in one line: what went wrong and where."""


class AuditkitError(Exception):
    """Base class: a problem the user can fix, reported without a traceback."""


class InputError(AuditkitError):
    """An input file or object that the kit cannot read (unreadable, not JSON, unknown shape)."""
