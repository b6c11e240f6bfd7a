"""The one exception tree of railwatch.

Every error the package raises derives from :class:`RailwatchError`.  Subclasses also inherit the
built-in that matches their meaning, so callers who do not know railwatch can still catch
``ValueError`` or ``OSError``.  The CLI maps :class:`UserInputError` to exit code 2 and prints the
message and hint on one line; anything else is an internal failure (exit code 1).
"""

from __future__ import annotations

__all__ = [
    "InputFileError",
    "NetworkError",
    "RailwatchError",
    "SiteError",
    "StoreError",
    "StoreUnavailableError",
    "UserInputError",
]


class RailwatchError(Exception):
    """Root of every error raised by railwatch."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}: {self.hint}" if self.hint else self.message


class UserInputError(RailwatchError, ValueError):
    """A mistake in what the user gave us: a file, a field, an option. Exit code 2."""


class InputFileError(UserInputError):
    """A user file that cannot be read or does not hold what it should."""


class SiteError(UserInputError):
    """A site definition that is invalid or unknown."""


class StoreError(RailwatchError, OSError):
    """The store could not complete an operation."""


class StoreUnavailableError(StoreError, UserInputError):
    """The store file cannot be used as it is (unreadable, locked, from a newer version)."""


class NetworkError(RailwatchError, OSError):
    """A remote service failed after retries."""
