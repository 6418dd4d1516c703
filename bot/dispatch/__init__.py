"""Handlers and how events reach them.

Handlers are plain async functions tagged by the decorators in :mod:`bot.dispatch.registry`
and discovered from the modules listed in :data:`bot.handlers.MODULES`. They receive what
they need by parameter name (``ctx``, ``event``, ``person``, ``args``, ``session``, ``bot``,
``group``, ``now``, ``config``), and a command's help text is its docstring.
"""

from bot.dispatch.context import Context
from bot.dispatch.registry import (
    NOT_HANDLED,
    Registry,
    background,
    command,
    home_section,
    on_button,
    on_join,
    on_message,
    on_person_left,
    on_startup,
)

__all__ = [
    "NOT_HANDLED",
    "Context",
    "Registry",
    "background",
    "command",
    "home_section",
    "on_button",
    "on_join",
    "on_message",
    "on_person_left",
    "on_startup",
]
