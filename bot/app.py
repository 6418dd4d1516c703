"""The bot: configuration, database, handlers and delivery, wired together once.

Adapters receive a :class:`PeerBot`, turn platform events into :mod:`bot.events`, call
:meth:`PeerBot.handle`, send back the immediate replies, and register a transport with
:attr:`PeerBot.deliverer` for everything queued. Nothing here is global: tests open as
many bots as they like.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import logging
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.clock import Clock, SystemClock
from bot.config import Config
from bot.db.engine import Database
from bot.delivery import Deliverer, choose_platform
from bot.dispatch.dispatcher import Dispatcher, Handled
from bot.dispatch.registry import HandlerSpec, Registry
from bot.events import AnyEvent
from bot.handlers import MODULES
from bot.models.messaging import OutboxMessage
from bot.models.network import Person
from bot.network.store import get_or_create_network
from bot.replies import DurableTarget, EditMessage, Message, Outgoing, ToGroup, ToPerson, ToThread
from bot.services import KnowledgeService

log = logging.getLogger(__name__)

T = TypeVar("T")


class PeerBot:
    def __init__(
        self,
        config: Config,
        db: Database,
        *,
        clock: Clock | None = None,
        modules: Sequence[str] = MODULES,
        platforms: Sequence[str] | None = None,
    ) -> None:
        self.config = config
        self.db = db
        self.clock: Clock = clock or SystemClock()
        self.registry_modules: tuple[str, ...] = tuple(modules)
        self.registry = Registry.discover(modules)
        self.dispatcher = Dispatcher(self)
        self.deliverer = Deliverer(self)
        self.platforms: list[str] = list(platforms if platforms is not None else config.settings.platforms.run)
        self.knowledge: KnowledgeService | None = None  # installed by the knowledge base
        self._network_id: int | None = None
        self._services: dict[type, object] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()

    @classmethod
    async def open(
        cls,
        config: Config,
        *,
        clock: Clock | None = None,
        db: Database | None = None,
        migrate: bool | None = None,
        modules: Sequence[str] = MODULES,
        platforms: Sequence[str] | None = None,
    ) -> PeerBot:
        """Connect, check (or, for SQLite, bring up to date) the schema, run start-up hooks."""
        database = db or Database(config.database_url())
        try:
            await database.ensure_schema(migrate=database.is_sqlite if migrate is None else migrate)
            bot = cls(config, database, clock=clock, modules=modules, platforms=platforms)
            async with database.session() as session:
                network = await get_or_create_network(session, config.network_name, config.settings.network.timezone)
                bot._network_id = network.id
            for spec in bot.registry.startups:
                await bot._call_lifecycle(spec)
        except BaseException:
            if db is None:
                await database.dispose()
            raise
        return bot

    @property
    def network_id(self) -> int:
        if self._network_id is None:
            raise RuntimeError("PeerBot.open() has not run")
        return self._network_id

    # -- services: one typed slot per kind of thing (an index, a scheduler) -------------
    def provide(self, service: object) -> None:
        self._services[type(service)] = service

    def service(self, kind: type[T]) -> T:
        found = self._services.get(kind)
        if found is None:
            raise LookupError(f"no {kind.__name__} has been provided")
        assert isinstance(found, kind)
        return found

    def maybe_service(self, kind: type[T]) -> T | None:
        found = self._services.get(kind)
        return found if isinstance(found, kind) else None

    # -- events in ---------------------------------------------------------------------
    async def handle(self, event: AnyEvent, *, inbox_row: int | None = None) -> list[Outgoing]:
        """Handle one event; its immediate replies are returned (see
        :class:`bot.dispatch.dispatcher.Dispatcher`; ``inbox_row``: the event's row in the
        inbox, where its transaction keeps them until they have gone)."""
        return await self.dispatcher.handle(event, inbox_row=inbox_row)

    async def handle_keeping(self, event: AnyEvent) -> Handled:
        """Handle one event, keeping its immediate replies until the adapter says they have
        gone; a repeat returns those still kept (see
        :meth:`bot.dispatch.dispatcher.Dispatcher.handle_keeping`)."""
        return await self.dispatcher.handle_keeping(event)

    async def takes_files(self, event: AnyEvent) -> bool:
        """Whether ``event``'s shared files are worth fetching (see
        :meth:`bot.dispatch.dispatcher.Dispatcher.takes_files`)."""
        return await self.dispatcher.takes_files(event)

    # -- messages out ------------------------------------------------------------------
    async def queue(
        self,
        session: AsyncSession,
        target: DurableTarget,
        message: Message,
        *,
        key: str,
        not_before: datetime | None = None,
        expires_at: datetime | None = None,
        prefer: str | None = None,
    ) -> int:
        """Queue ``message`` for ``target`` on the platform(s) that reach it.

        A group's message goes to each running platform with a channel for the group; a
        person's to the platform they can be reached on (``prefer`` first); a thread or
        an edit to the platform the original lives on. Returns the rows added (0 when
        the key was already queued, or nobody can be reached).
        """
        when = not_before or self.clock.now()
        platforms: list[str]
        match target:
            case ToGroup(group):
                platforms = [p for p in self.platforms if self.config.group_channel(p, group)]
            case ToPerson(person_id, _):
                person = await session.get(Person, person_id)
                chosen = choose_platform(person, self.platforms, prefer) if person and person.active else None
                platforms = [chosen] if chosen else []
            case ToThread(ref):
                platforms = [ref.platform]
            case EditMessage(ref, key_of_original):
                if ref is not None:
                    platforms = [ref.platform]
                else:
                    q = select(OutboxMessage.platform).where(
                        OutboxMessage.network_id == self.network_id, OutboxMessage.key == key_of_original
                    )
                    platforms = sorted(set((await session.execute(q)).scalars()))
        if not platforms:
            log.info("nobody to deliver %s to on %s", key, ", ".join(self.platforms) or "no platform")
            return 0
        added = 0
        for platform in platforms:
            added += await outbox.enqueue(
                session,
                network_id=self.network_id,
                platform=platform,
                key=key,
                target=target,
                message=message,
                not_before=when,
                expires_at=expires_at,
                now=self.clock.now(),
            )
        return added

    async def queued(self, keys: Sequence[str]) -> set[str]:
        """Those of ``keys`` a message has been queued under in the outbox, on any platform:
        an adapter sending kept replies again after a restart leaves those to the outbox
        (an immediate reply that could not go then was handed to it under its key)."""
        if not keys:
            return set()
        async with self.db.reading() as session:
            return await outbox.queued_keys(session, network_id=self.network_id, keys=keys)

    async def person_left(self, session: AsyncSession, person: Person) -> None:
        """Tell every ``@on_person_left`` hook, in the caller's transaction."""
        for spec in self.registry.lefts:
            available: dict[str, Any] = {
                "bot": self,
                "session": session,
                "person": person,
                "now": self.clock.now(),
                "config": self.config,
            }
            await spec.func(**{p: available[p] for p in spec.params})

    # -- running -----------------------------------------------------------------------
    def start_background(self, only: Collection[str] | None = None) -> None:
        """Start delivery and every ``@background`` task (adapters call this once); ``only``:
        just the ``@background`` tasks of those names (benchmarks)."""
        self._stop.clear()
        if only is None:
            self._tasks.append(asyncio.create_task(self.deliverer.run_forever(self._stop), name="deliverer"))
        for spec in self.registry.backgrounds:
            if only is not None and spec.name not in only:
                continue
            self._tasks.append(asyncio.create_task(self._supervise(spec), name=spec.name))

    async def _supervise(self, spec: HandlerSpec) -> None:
        delay = 1.0
        while not self._stop.is_set():
            try:
                await self._call_lifecycle(spec)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background task %s failed; restarting in %.0fs", spec.name, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=delay)
                delay = min(delay * 2, 300)

    async def _call_lifecycle(self, spec: HandlerSpec) -> Any:
        available: dict[str, Any] = {"bot": self, "stop": self._stop}
        result = spec.func(**{p: available[p] for p in spec.params})
        if inspect.isawaitable(result):
            return await result
        return result

    def settle(self) -> None:
        """Start-up is over: what it built (models, vocabulary, indexes) lives as long as the
        process, so take it out of the garbage collector's full passes (``gc.freeze``), which
        would otherwise walk all of it now and then — a pause of tens of milliseconds in the
        middle of answering someone. For the long-running bot (``peerbot run``)."""
        gc.collect()
        gc.freeze()

    async def close(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.db.dispose()
