"""The outbox: messages the core has decided to send, as rows.

A handler (or the scheduler) queues a message in the *same transaction* as the decision
that produced it, under an idempotency ``key`` — so a crash either loses both or keeps
both, and deciding twice queues once. :mod:`bot.delivery` then claims due rows, sends
them through the platform's transport and marks them sent. Nudges are simply rows with
a ``not_before`` in the future (and an ``expires_at`` after which sending is pointless).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.base import conflict_insert, rows_affected, session_dialect
from bot.events import MessageRef
from bot.models.messaging import OutboxKey, OutboxMessage
from bot.replies import DurableTarget, EditMessage, Message, target_to_json

LEASE = timedelta(minutes=5)
# Rows that must keep to sending hours (``[nudges] earliest``/``latest``, school days): a
# meeting's messages and nudges, action and knowledge-base reminders, delivery reports, and
# requests to peers (``q<question>:ref<referral>``) — when they fall due, and when retried.
NUDGE_KEY_PREFIXES = ("meeting:", "action:", "review:", "delivery-failures:")
_REQUEST_KEY = re.compile(r"q\d+:ref\d+")


def keeps_sending_hours(key: str) -> bool:
    """Does the row queued under ``key`` wait for sending hours (see :data:`NUDGE_KEY_PREFIXES`)?"""
    return key.startswith(NUDGE_KEY_PREFIXES) or _REQUEST_KEY.fullmatch(key) is not None


async def enqueue(
    session: AsyncSession,
    *,
    network_id: int,
    platform: str,
    key: str,
    target: DurableTarget,
    message: Message,
    not_before: datetime,
    now: datetime,
    expires_at: datetime | None = None,
) -> bool:
    """Queue a message unless one with the same ``key`` (for this platform) exists.

    Returns ``True`` when a row was added. An :class:`EditMessage` by key whose original
    is still waiting simply rewrites the original instead. A key whose row retention has
    removed (:class:`~bot.models.messaging.OutboxKey`) counts as queued.
    """
    if isinstance(target, EditMessage) and target.key is not None:
        original = await find(session, network_id=network_id, platform=platform, key=target.key)
        if original is not None and original.status == "pending":
            original.message = message.to_json()
            return False
    done = select(OutboxKey.key).where(
        OutboxKey.network_id == network_id, OutboxKey.platform == platform, OutboxKey.key == key
    )
    if (await session.execute(done)).first() is not None:
        return False
    values = {
        "network_id": network_id,
        "platform": platform,
        "key": key,
        "target": target_to_json(target),
        "message": message.to_json(),
        "status": "pending",
        "not_before": not_before,
        "expires_at": expires_at,
        "attempts": 0,
        "created_at": now,  # the bot's clock (retention counts from it), never the wall clock
    }
    insert = conflict_insert(session_dialect(session))
    # Bind through the ORM's column types (UTCDateTime, JSON) by naming the mapped table.
    stmt = (
        insert(OutboxMessage).values(**values).on_conflict_do_nothing(index_elements=["network_id", "platform", "key"])
    )
    result = await session.execute(stmt)
    return rows_affected(result) != 0  # -1 (the driver cannot say) counts as inserted


def addressed_to() -> ColumnElement[int]:
    """The person a row's target is, as a column (NULL for a group, a thread, an edit)."""
    return case(
        (OutboxMessage.target["kind"].as_string() == "person", OutboxMessage.target["person_id"].as_integer()),
        else_=None,
    )


async def forget(session: AsyncSession, where: ColumnElement[bool]) -> int:
    """Delete the outbox rows matching ``where``, keeping their keys (and whom they were
    for, and when) in ``outbox_keys`` so that the decisions behind them stay made.
    Returns how many rows went."""
    keep = select(
        OutboxMessage.network_id,
        OutboxMessage.platform,
        OutboxMessage.key,
        OutboxMessage.status,
        addressed_to(),
        OutboxMessage.created_at,
    ).where(where)
    insert = conflict_insert(session_dialect(session))
    columns = ["network_id", "platform", "key", "status", "person_id", "at"]
    await session.execute(insert(OutboxKey).from_select(columns, keep).on_conflict_do_nothing())
    result = await session.execute(delete(OutboxMessage).where(where))
    return rows_affected(result)


async def find(session: AsyncSession, *, network_id: int, platform: str, key: str) -> OutboxMessage | None:
    q = select(OutboxMessage).where(
        OutboxMessage.network_id == network_id, OutboxMessage.platform == platform, OutboxMessage.key == key
    )
    return (await session.execute(q)).scalar_one_or_none()


async def queued_keys(session: AsyncSession, *, network_id: int, keys: Sequence[str]) -> set[str]:
    """Those of ``keys`` the outbox has had a message queued under, on any platform (waiting,
    sent or given up on; or removed by retention, :class:`~bot.models.messaging.OutboxKey`)."""
    if not keys:
        return set()
    wanted = sorted(set(keys))
    rows = select(OutboxMessage.key).where(OutboxMessage.network_id == network_id, OutboxMessage.key.in_(wanted))
    kept = select(OutboxKey.key).where(OutboxKey.network_id == network_id, OutboxKey.key.in_(wanted))
    return set((await session.execute(rows.union(kept))).scalars())


async def sent_ref(session: AsyncSession, *, network_id: int, key: str) -> MessageRef | None:
    """Where the message queued under ``key`` landed, once it has been sent."""
    q = select(OutboxMessage.message_ref).where(
        OutboxMessage.network_id == network_id, OutboxMessage.key == key, OutboxMessage.status == "sent"
    )
    ref = (await session.execute(q)).scalars().first()
    return MessageRef.from_json(ref) if ref else None


async def cancel(session: AsyncSession, *, network_id: int, key_prefix: str) -> int:
    """Cancel every still-waiting message whose key starts with ``key_prefix``."""
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.network_id == network_id,
            OutboxMessage.key.startswith(key_prefix, autoescape=True),
            OutboxMessage.status == "pending",
        )
        .values(status="cancelled")
    )
    return rows_affected(result)


async def claim(
    session: AsyncSession,
    *,
    now: datetime,
    worker: str,
    platforms: Sequence[str],
    limit: int = 50,
    lease: timedelta = LEASE,
) -> list[OutboxMessage]:
    """Claim up to ``limit`` due messages for this worker.

    Due means pending with ``not_before`` passed, or claimed by a worker whose lease ran
    out (it crashed mid-send). On PostgreSQL rows are locked ``FOR UPDATE SKIP LOCKED``
    so concurrent workers never claim the same row; SQLite's ``BEGIN IMMEDIATE``
    serialises writers anyway.
    """
    due = or_(
        and_(OutboxMessage.status == "pending", OutboxMessage.not_before <= now),
        and_(OutboxMessage.status == "sending", OutboxMessage.lease_until < now),
    )
    q = (
        select(OutboxMessage)
        .where(due, OutboxMessage.platform.in_(list(platforms)))
        .order_by(OutboxMessage.not_before, OutboxMessage.id)
        .limit(limit)
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    rows = list((await session.execute(q)).scalars())
    token = f"{worker}:{uuid.uuid4().hex[:8]}"
    for row in rows:
        row.status = "sending"
        row.claimed_by = token
        row.lease_until = now + lease
        row.attempts += 1
    await session.flush()
    return rows


async def next_due(session: AsyncSession, *, platforms: Sequence[str]) -> datetime | None:
    q = (
        select(OutboxMessage.not_before)
        .where(OutboxMessage.status == "pending", OutboxMessage.platform.in_(list(platforms)))
        .order_by(OutboxMessage.not_before)
        .limit(1)
    )
    return (await session.execute(q)).scalar_one_or_none()
