"""Exceptions raised by efficacy.

Every error that a user can cause by bad input is an :class:`EfficacyError`
(a :class:`ValueError`), whose message names the file, the place in it (key,
row or column), what was found and what was expected.
"""

from __future__ import annotations

__all__ = ["EfficacyError", "CodebookError", "DataError", "ConfigError"]


class EfficacyError(ValueError):
    """Base class for input errors, with a location-aware message.

    Parameters
    ----------
    message : str
        What is wrong.
    file : str, optional
        The file in which the problem was found.
    where : str, optional
        The key, row or column (e.g. ``"scales.efficacy.items[2]"`` or
        ``"row 14, column 'se3'"``).
    found, expected : str, optional
        What was found and what was expected instead.
    """

    def __init__(self, message, *, file=None, where=None, found=None, expected=None):
        self.file = None if file is None else str(file)
        self.where = where
        self.found = found
        self.expected = expected
        self.detail = message
        parts = []
        if self.file:
            parts.append(self.file)
        if where:
            parts.append(str(where))
        head = ": ".join(parts)
        text = f"{head}: {message}" if head else message
        if found is not None:
            text += f" (found {found}"
            text += f"; expected {expected})" if expected is not None else ")"
        elif expected is not None:
            text += f" (expected {expected})"
        super().__init__(text)


class CodebookError(EfficacyError):
    """A codebook is malformed, breaks the schema or contradicts its data."""


class DataError(EfficacyError):
    """A data file is unreadable, empty or holds values the codebook forbids."""


class ConfigError(EfficacyError):
    """The workflow configuration is invalid."""
