"""Errors the core raises on purpose, each with a message fit to show a person."""

from __future__ import annotations


class PeerbotError(Exception):
    """Base class: ``str(error)`` is a complete, polite, one-line explanation."""


class BadInput(PeerbotError):
    """Input that peerbot refuses: a malformed file, an unknown person, a bad argument.

    Nothing has been changed when this is raised. The CLI exits with status 2.
    """


class ConfigError(BadInput):
    """The configuration file is missing, malformed or names something wrong.

    ``problems`` lists every problem found, one line each (the message shows the first).
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = list(problems) if problems else [message]
        super().__init__(message)


class ImportProblems(BadInput):
    """An import found one or more bad rows; nothing was imported.

    ``problems`` are complete ``FILE:LINE: what is wrong`` lines.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        first = self.problems[0] if self.problems else "the import failed"
        more = len(self.problems) - 1
        suffix = f" (and {more} more problem{'s' if more != 1 else ''}; nothing was imported)" if more else ""
        super().__init__(first + suffix)


class NotFound(BadInput):
    """Something named by the user (a school, a person, an entry) does not exist."""
