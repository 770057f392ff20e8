"""Errors a user can act on. The CLI prints them as one line; the web layer as JSON."""


class TroikaError(Exception):
    """Base class: the message says what went wrong and what to do."""


class ConfigError(TroikaError):
    """A setting is missing or invalid."""


class DataError(TroikaError):
    """An input file or payload is unusable (missing column, empty, unknown label...)."""


class IntegrityError(TroikaError):
    """A saved artifact does not match its manifest, or contains a forbidden file type."""


class NotFoundError(TroikaError):
    """A model, index or file that was asked for does not exist."""


class ConflictError(TroikaError):
    """The action does not fit the record's current state (a handoff already claimed by someone else)."""
