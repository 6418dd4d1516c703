"""Delivering the outbox through the platforms' transports, once each.

An adapter registers a :class:`Transport` for its platform. The :class:`Deliverer`
claims due rows, resolves their neutral targets (a group, a person, a thread) to an
:class:`Address` on that platform, sends, and records the outcome:

- success: ``sent`` with the platform's :class:`~bot.events.MessageRef`;
- :class:`RateLimited`: back to ``pending`` after the platform's ``Retry-After``;
- :class:`TransientError` (timeouts, 5xx): back-off 5 s, 10 s, 20 s ... capped at 15 min,
  for about nine hours (40 attempts), then ``failed``; a retry of a row that keeps to
  sending hours (:func:`bot.outbox.keeps_sending_hours`: nudges, reminders, requests) that
  would fall at night, at a weekend or in the holidays waits for the next allowed time;
- :class:`PermanentError` (the user left, the channel is archived): ``failed`` at once,
  with the reason kept for the convenor;
- past ``expires_at`` before it could go: ``skipped`` (a "starting in 1 hour" for a
  meeting that has ended).

A crash between the platform accepting a message and the row being marked sent leaves
the row ``sending`` with a lease; after the lease the row is retried with
``attempt > 1`` and its ``key``, which transports use to avoid a duplicate (a Discord
nonce, a look at the Slack channel's recent history for the key in message metadata).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.calendar import SchoolCalendar
from bot.events import MessageRef
from bot.models.messaging import OutboxMessage
from bot.models.network import Person
from bot.replies import EditMessage, Message, ToGroup, ToPerson, ToThread, target_from_json

if TYPE_CHECKING:
    from bot.app import PeerBot

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=15)
MAX_ATTEMPTS = 40  # about nine hours of back-off


EDIT_RETRY = timedelta(seconds=2)
ANONYMOUS_LABEL = "someone who asked anonymously"  # an Address label that names no one


class _NotYet(Exception):
    """An edit whose original message is still being sent: try again shortly."""


class DeliveryError(Exception):
    """A transport could not send. Say which kind, so the deliverer knows what to do."""


class RateLimited(DeliveryError):
    def __init__(self, retry_after: float, detail: str = "rate limited") -> None:
        super().__init__(f"{detail} (retry after {retry_after:.1f}s)")
        self.retry_after = max(0.0, retry_after)


class TransientError(DeliveryError):
    """Worth trying again later: a timeout, a 5xx, the connection dropped."""


class PermanentError(DeliveryError):
    """Will never succeed as it is: the person left, the channel was archived."""


@dataclass(frozen=True, slots=True)
class _Job:
    """A claimed row, ready to send."""

    row_id: int
    key: str
    attempt: int
    claim: str | None
    transport: Transport
    address: Address
    message: Message


@dataclass(frozen=True, slots=True, kw_only=True)
class Address:
    """Where on one platform a message goes, resolved from a neutral target."""

    platform: str
    kind: Literal["channel", "thread", "dm", "edit"]
    channel_id: str | None = None
    user_id: str | None = None
    thread_id: str | None = None
    message_id: str | None = None
    label: str = ""  # who or what, for logs and the console ("Jo Khan", "#heads")
    fallback: MessageRef | None = None  # for a DM: a thread to mention them in if DMs are closed


class Transport(Protocol):
    """What an adapter implements so that the core can send through it."""

    platform: str

    async def send(self, address: Address, message: Message, *, key: str | None, attempt: int) -> MessageRef:
        """Send (or, for ``kind == "edit"``, replace) a message; raise a DeliveryError subclass."""
        ...


class Deliverer:
    """Claims and sends due outbox rows. Safe to run in several processes at once."""

    def __init__(self, bot: PeerBot, *, batch: int = 50, concurrency: int = 8) -> None:
        self.bot = bot
        self.transports: dict[str, Transport] = {}
        self.batch = batch
        self.concurrency = concurrency
        self.worker = f"{os.uname().nodename}:{os.getpid()}"
        self._wake = asyncio.Event()

    def register(self, transport: Transport) -> None:
        self.transports[transport.platform] = transport

    def wake(self) -> None:
        """Something was queued: look now rather than at the next timer."""
        self._wake.set()

    async def run_once(self) -> int:
        """Claim one batch of due rows and deliver them. Returns how many were handled.

        One transaction claims the batch and prepares every row (expired → ``skipped``,
        unresolvable → ``failed``); the sends then run outside any transaction, and their
        outcomes are written as they complete, a few at a time, so a busy batch costs a
        handful of transactions rather than three per message.
        """
        if not self.transports:
            return 0
        now = self.bot.clock.now()
        jobs: list[_Job] = []
        async with self.bot.db.session() as session:
            rows = await outbox.claim(
                session, now=now, worker=self.worker, platforms=list(self.transports), limit=self.batch
            )
            for row in rows:
                job = await self._prepare(session, row, now)
                if job is not None:
                    jobs.append(job)
            claimed = len(rows)
        if not claimed:
            return 0
        if jobs:
            await self._send_all(jobs)
        return claimed

    async def drain(self, *, max_rounds: int = 100) -> int:
        """Deliver until nothing is due (tests and the console use this)."""
        total = 0
        for _ in range(max_rounds):
            n = await self.run_once()
            total += n
            if n == 0:
                break
        return total

    async def run_forever(self, stop: asyncio.Event, *, idle: float = 30.0) -> None:
        while not stop.is_set():
            try:
                handled = await self.run_once()
            except Exception:  # keep delivering whatever one bad batch did
                log.exception("outbox delivery round failed")
                handled = 0
            if handled:
                continue
            wait = idle
            with contextlib.suppress(Exception):
                async with self.bot.db.session() as session:
                    due = await outbox.next_due(session, platforms=list(self.transports))
                if due is not None:
                    wait = min(idle, max(0.05, (due - self.bot.clock.now()).total_seconds()))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                stopper = asyncio.ensure_future(stop.wait())
                waker = asyncio.ensure_future(self._wake.wait())
                try:
                    await asyncio.wait({stopper, waker}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    stopper.cancel()
                    waker.cancel()

    async def _prepare(self, session: AsyncSession, row: OutboxMessage, now: datetime) -> _Job | None:
        """Check a claimed row and resolve where it goes; ``None`` when it is settled here."""
        if row.expires_at is not None and row.expires_at <= now:
            row.status, row.lease_until = "skipped", None
            row.last_error = "expired before it could be sent"
            return None
        transport = self.transports.get(row.platform)
        if transport is None:
            row.status, row.lease_until = "pending", None
            return None
        try:
            address = await self._resolve(session, row)
        except _NotYet:
            row.status, row.lease_until = "pending", None
            row.not_before = now + EDIT_RETRY
            row.attempts -= 1
            return None
        except PermanentError as exc:
            row.status, row.last_error, row.lease_until, row.reported_at = "failed", str(exc), None, None
            log.warning("outbox %s (%s) cannot be delivered: %s", row.id, row.key, exc)
            return None
        if address is None:
            row.status, row.lease_until = "skipped", None
            row.last_error = "the message it edits was never sent"
            return None
        return _Job(row.id, row.key, row.attempts, row.claimed_by, transport, address, Message.from_json(row.message))

    async def _send_all(self, jobs: list[_Job]) -> None:
        """Send concurrently across conversations, in order within one (a thread, a DM)."""
        semaphore = asyncio.Semaphore(self.concurrency)
        done: asyncio.Queue[tuple[_Job, MessageRef | None, DeliveryError | None]] = asyncio.Queue()
        conversations: dict[tuple[str, str | None, str | None], list[_Job]] = {}
        for job in jobs:  # claimed in due order, so each list is in the order to send
            a = job.address
            where = a.user_id if a.kind == "dm" else a.channel_id
            conversations.setdefault((a.platform, where, a.thread_id), []).append(job)

        async def in_order(queue: list[_Job]) -> None:
            for job in queue:
                async with semaphore:
                    outcome = await self._send(job)
                await done.put((job, *outcome))

        senders = [asyncio.ensure_future(in_order(queue)) for queue in conversations.values()]
        try:
            recorded = 0
            while recorded < len(jobs):
                outcomes = [await done.get()]
                while not done.empty():
                    outcomes.append(done.get_nowait())
                await self._record(outcomes)
                recorded += len(outcomes)
        finally:
            for task in senders:
                task.cancel()

    async def _send(self, job: _Job) -> tuple[MessageRef | None, DeliveryError | None]:
        # Send outside any transaction: a slow platform must not hold a database lock.
        try:
            return await job.transport.send(job.address, job.message, key=job.key, attempt=job.attempt), None
        except DeliveryError as exc:
            return None, exc
        except Exception as exc:  # an adapter bug: treat as transient, keep the row
            log.exception("transport %s raised unexpectedly for outbox %s", job.transport.platform, job.row_id)
            return None, TransientError(f"{type(exc).__name__}: {exc}")

    async def _record(self, outcomes: list[tuple[_Job, MessageRef | None, DeliveryError | None]]) -> None:
        async with self.bot.db.session() as session:
            now = self.bot.clock.now()
            calendars: dict[int, SchoolCalendar] = {}
            for job, ref, error in outcomes:
                row = await session.get(OutboxMessage, job.row_id)
                if row is None or row.status != "sending" or row.claimed_by != job.claim:
                    continue  # our lease ran out and another worker took the row over
                row.lease_until = None
                self._outcome(row, job, ref, error, now)
                if row.status == "pending" and outbox.keeps_sending_hours(row.key):
                    # A retry of a nudge, a reminder or a request waits for sending hours too.
                    if row.network_id not in calendars:
                        calendars[row.network_id] = await SchoolCalendar.load(session, row.network_id, self.bot.config)
                    rules = self.bot.config.settings.nudges
                    row.not_before = calendars[row.network_id].next_nudge_time(row.not_before, rules) or row.not_before

    def _outcome(
        self, row: OutboxMessage, job: _Job, ref: MessageRef | None, error: DeliveryError | None, now: datetime
    ) -> None:
        key, attempt, row_id = job.key, job.attempt, job.row_id
        if error is None and ref is not None:
            row.status, row.sent_at, row.message_ref, row.last_error = "sent", now, ref.to_json(), None
        elif isinstance(error, RateLimited):
            row.status, row.last_error = "pending", str(error)
            row.not_before = now + timedelta(seconds=error.retry_after)
            row.attempts -= 1  # waiting our turn is not a failed attempt
        elif isinstance(error, PermanentError):
            row.status, row.last_error, row.reported_at = "failed", str(error), None
            log.warning("outbox %s (%s) failed permanently: %s", row_id, key, error)
        else:
            delay = min(MAX_BACKOFF, timedelta(seconds=5 * 2 ** min(attempt - 1, 10)))
            if attempt >= MAX_ATTEMPTS:
                row.status, row.last_error = "failed", f"gave up after {attempt} attempts: {error}"
                row.reported_at = None
                log.warning("outbox %s (%s) gave up: %s", row_id, key, error)
            else:
                row.status, row.last_error, row.not_before = "pending", str(error), now + delay

    async def _resolve(self, session: AsyncSession, row: OutboxMessage) -> Address | None:
        target = target_from_json(row.target)
        platform = row.platform
        match target:
            case ToGroup(group):
                channel = self.bot.config.group_channel(platform, group)
                if channel is None:
                    raise PermanentError(f"no {platform} channel is configured for the {group} group")
                return Address(platform=platform, kind="channel", channel_id=channel, label=f"#{group}")
            case ToPerson(person_id, fallback, anonymous):
                person = await session.get(Person, person_id)
                if person is None or not person.active:
                    raise PermanentError("that person is no longer in the network")
                # Someone who asked anonymously is never mentioned in a thread, nor named
                # in a delivery error the convenor reads.
                label = ANONYMOUS_LABEL if anonymous else person.name
                user_id = platform_user_id(person, platform)
                if user_id is None:
                    raise PermanentError(f"{label} has no {platform} id in the people file")
                return Address(
                    platform=platform,
                    kind="dm",
                    user_id=user_id,
                    label=label,
                    fallback=None if anonymous else fallback,
                )
            case ToThread(ref):
                return Address(
                    platform=platform,
                    kind="thread",
                    channel_id=ref.channel_id,
                    thread_id=ref.thread_root,
                    label="thread",
                )
            case EditMessage(ref, key):
                if ref is None and key is not None:
                    original = await outbox.find(session, network_id=row.network_id, platform=platform, key=key)
                    if original is not None and original.status in ("pending", "sending"):
                        raise _NotYet  # the message it edits is still on its way
                    ref = MessageRef.from_json(original.message_ref) if original and original.message_ref else None
                if ref is None:
                    return None
                return Address(
                    platform=platform,
                    kind="edit",
                    channel_id=ref.channel_id,
                    message_id=ref.message_id,
                    thread_id=ref.thread_id,
                    label="edit",
                )
        raise PermanentError(f"cannot deliver to {target!r}")


def platform_user_id(person: Person, platform: str) -> str | None:
    if platform == "slack":
        return person.slack_id
    if platform == "discord":
        return person.discord_id
    if platform == "console":
        return person.email
    return None


def choose_platform(person: Person, running: list[str], prefer: str | None = None) -> str | None:
    """Which running platform reaches this person: the preferred one if it can."""
    order = ([prefer] if prefer else []) + [p for p in running if p != prefer]
    for platform in order:
        if platform in running and platform_user_id(person, platform):
            return platform
    return None
