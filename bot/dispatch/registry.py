"""Decorators that only tag a function, and the registry that discovers them."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.events import MessagePosted

HandlerKind = Literal["command", "message", "button", "join", "startup", "background", "home", "left"]
Where = Literal["channel", "direct", "thread", "any"]
HandlerFunc = Callable[..., Awaitable[Any]]
MessageTest = Callable[[MessagePosted, str | None], bool]
"""Whether a message handler wants a message, decided from what is known before the
database is opened: the message itself and the group of the channel it is in (``None``
outside the group channels). A message that is not addressed to the bot (no DM, no
mention) and that no handler's test wants is chatter, dropped without a transaction."""

_ATTR = "__peerbot_handlers__"

# What an event handler may ask for by parameter name.
EVENT_PARAMS = frozenset({"ctx", "event", "person", "args", "session", "bot", "group", "now", "config"})
# What a start-up or background function may ask for.
LIFECYCLE_PARAMS = frozenset({"bot", "stop"})
# What a home-section provider (and a person-left hook) may ask for.
HOME_PARAMS = frozenset({"bot", "session", "person", "now", "config"})

NOT_HANDLED = object()
"""A message handler returns this to let the next matching handler try."""


@dataclass(frozen=True)
class HandlerSpec:
    kind: HandlerKind
    func: HandlerFunc
    name: str = ""
    aliases: tuple[str, ...] = ()
    usage: str = ""
    where: Where = "any"
    when: MessageTest | None = None
    convenor_only: bool = False
    hidden: bool = False
    priority: int = 0
    params: tuple[str, ...] = field(default=())

    @property
    def help(self) -> str:
        doc = inspect.getdoc(self.func) or ""
        return doc.split("\n\n", 1)[0].replace("\n", " ").strip()

    @property
    def details(self) -> str:
        return inspect.getdoc(self.func) or ""


def _tag(spec: HandlerSpec) -> Callable[[HandlerFunc], HandlerFunc]:
    def decorate(func: HandlerFunc) -> HandlerFunc:
        if not inspect.iscoroutinefunction(func):
            raise TypeError(f"{func.__qualname__}: handlers must be async functions")
        allowed = (
            LIFECYCLE_PARAMS
            if spec.kind in ("startup", "background")
            else HOME_PARAMS
            if spec.kind in ("home", "left")
            else EVENT_PARAMS
        )
        params = tuple(inspect.signature(func).parameters)
        unknown = [p for p in params if p not in allowed]
        if unknown:
            raise TypeError(
                f"{func.__qualname__}: cannot inject {', '.join(unknown)} (available: {', '.join(sorted(allowed))})"
            )
        tagged = getattr(func, _ATTR, [])
        tagged.append(HandlerSpec(**{**spec.__dict__, "func": func, "params": params}))
        setattr(func, _ATTR, tagged)
        return func

    return decorate


def _noop() -> Awaitable[None]:  # placeholder until decorate() fills func in
    raise AssertionError


def command(
    name: str, *, aliases: Iterable[str] = (), usage: str = "", convenor_only: bool = False, hidden: bool = False
) -> Callable[[HandlerFunc], HandlerFunc]:
    """A command: ``/peerbot NAME ...`` anywhere, or ``NAME ...`` typed to the bot."""
    return _tag(
        HandlerSpec(
            kind="command",
            func=_noop,
            name=name.lower(),
            aliases=tuple(a.lower() for a in aliases),
            usage=usage or name,
            convenor_only=convenor_only,
            hidden=hidden,
        )
    )


def on_message(
    *, where: Where = "any", when: MessageTest | None = None, priority: int = 0
) -> Callable[[HandlerFunc], HandlerFunc]:
    """A message that is not a command. ``when(event, group)`` (a :data:`MessageTest`: no
    database, no person) says whether the handler wants it; without one it wants every
    message ``where`` it is. The highest ``priority`` wanting handler runs first; it may
    return :data:`NOT_HANDLED` to pass the message on."""
    return _tag(HandlerSpec(kind="message", func=_noop, where=where, when=when, priority=priority))


def on_button(action: str) -> Callable[[HandlerFunc], HandlerFunc]:
    """A press of a button whose ``action`` is exactly this."""
    return _tag(HandlerSpec(kind="button", func=_noop, name=action))


def on_join() -> Callable[[HandlerFunc], HandlerFunc]:
    return _tag(HandlerSpec(kind="join", func=_noop))


def on_startup() -> Callable[[HandlerFunc], HandlerFunc]:
    """Runs once when the bot opens (``bot`` injectable): build indexes, check state."""
    return _tag(HandlerSpec(kind="startup", func=_noop))


def background(name: str) -> Callable[[HandlerFunc], HandlerFunc]:
    """A long-running task (``bot`` and ``stop`` injectable) run while adapters run."""
    return _tag(HandlerSpec(kind="background", func=_noop, name=name))


def home_section(order: int = 50) -> Callable[[HandlerFunc], HandlerFunc]:
    """Provides one section of a person's home view (Slack App Home, the ``home`` command):
    an async function returning a :class:`bot.home.HomeSection`, or ``None`` to show nothing."""
    return _tag(HandlerSpec(kind="home", func=_noop, priority=order))


def on_person_left() -> Callable[[HandlerFunc], HandlerFunc]:
    """Runs in the same transaction when someone leaves the network (removed in chat, erased,
    or missing from a re-imported people file): re-route what was waiting for them."""
    return _tag(HandlerSpec(kind="left", func=_noop))


class Registry:
    """Every handler of a set of modules, indexed for dispatch."""

    def __init__(self, specs: Iterable[HandlerSpec]) -> None:
        self.commands: dict[str, HandlerSpec] = {}
        self.messages: list[HandlerSpec] = []
        self.buttons: dict[str, HandlerSpec] = {}
        self.joins: list[HandlerSpec] = []
        self.startups: list[HandlerSpec] = []
        self.backgrounds: list[HandlerSpec] = []
        self.homes: list[HandlerSpec] = []
        self.lefts: list[HandlerSpec] = []
        for spec in specs:
            if spec.kind == "command":
                for n in (spec.name, *spec.aliases):
                    if n in self.commands:
                        raise ValueError(f"command '{n}' is registered twice")
                    self.commands[n] = spec
            elif spec.kind == "message":
                self.messages.append(spec)
            elif spec.kind == "button":
                if spec.name in self.buttons:
                    raise ValueError(f"button action '{spec.name}' is registered twice")
                self.buttons[spec.name] = spec
            elif spec.kind == "join":
                self.joins.append(spec)
            elif spec.kind == "startup":
                self.startups.append(spec)
            elif spec.kind == "home":
                self.homes.append(spec)
            elif spec.kind == "left":
                self.lefts.append(spec)
            else:
                self.backgrounds.append(spec)
        self.messages.sort(key=lambda s: -s.priority)
        self.homes.sort(key=lambda s: s.priority)

    @classmethod
    def discover(cls, modules: Iterable[str]) -> Registry:
        specs: list[HandlerSpec] = []
        for module_name in modules:
            module = importlib.import_module(module_name)
            for _, obj in inspect.getmembers(module, inspect.isfunction):
                if obj.__module__ == module.__name__:
                    specs.extend(getattr(obj, _ATTR, []))
        return cls(specs)

    def wanting(self, event: MessagePosted, group: str | None) -> list[HandlerSpec]:
        """The message handlers that want ``event`` (posted in a channel of ``group``),
        highest priority first — decided before the database is touched."""
        where = "direct" if event.place.is_direct else ("thread" if event.place.thread_id else "channel")
        return [s for s in self.messages if s.where in ("any", where) and (s.when is None or s.when(event, group))]

    def visible_commands(self) -> list[HandlerSpec]:
        seen: dict[str, HandlerSpec] = {}
        for spec in self.commands.values():
            if not spec.hidden:
                seen.setdefault(spec.name, spec)
        return sorted(seen.values(), key=lambda s: s.name)
