"""Exceptions raised by efficacy.

Every error that a user can cause by bad input is an :class:`EfficacyError`
(a :class:`ValueError`), whose message names the file, the place in it (key,
row or column), what was found and what was expected. One hierarchy for the
whole package: catch ``EfficacyError`` to catch them all, or a topic's class
(``SEMError``, ``MetaError``, ...) for one part of the library.
"""

from __future__ import annotations

__all__ = ["EfficacyError", "CodebookError", "DataError", "ConfigError", "SEMError", "MeasurementError",
           "PanelError", "MetaError", "SelectionError", "SimulationError", "PlotError"]


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


class SEMError(EfficacyError):
    """Bad model syntax or data for the SEM engine (:func:`efficacy.sem.sem`)."""


class MeasurementError(EfficacyError):
    """Bad input to a measurement-model function (CFA, invariance, HTMT)."""


class PanelError(EfficacyError):
    """Bad input to a panel model (waves, persons, occasions)."""


class MetaError(EfficacyError):
    """Bad input to a meta-analysis (names the row or column at fault)."""


class SelectionError(MetaError):
    """A publication-bias selection model cannot be fitted (an empty p-value interval, too few studies)."""


class SimulationError(EfficacyError):
    """Bad design for a Monte Carlo power or coverage study."""


class PlotError(EfficacyError):
    """A table handed to a figure function cannot be drawn (names the column or row)."""
