"""Nudge dispatch under load: 2,000 networks, 50,000 nudges due over a simulated week.

    .venv/bin/python -m bench.nudges.run                       # SQLite in a temporary folder
    .venv/bin/python -m bench.nudges.run --database-url postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python -m bench.nudges.run --networks 200 --nudges 5000   # a quick look

What it does:

- creates the networks (10 people each) and queues the nudges as outbox rows, exactly as
  the meetings code does: meetings on weekdays at usual times, each with the default
  14-day / 2-day / 1-hour nudges placed by :func:`bot.meetings.nudges.meeting_nudges`,
  and action-review reminders placed by :func:`bot.meetings.nudges.reminder_time`, keeping
  those due inside the simulated week (Mon 23 Nov 2026 00:00 to Mon 30 Nov, London);
- runs ONE deliverer (the real :class:`bot.delivery.Deliverer`, batch 50, 8 in flight)
  against a fake platform that accepts at most one message per second per channel and
  answers HTTP-429-style :class:`RateLimited` (Retry-After) otherwise;
- the clock is simulated time that runs at wall speed while there is work and jumps to
  the next due time when there is none, so idle nights cost nothing but every burst is
  processed in real time.

It prints the dispatch lag (from each nudge's due time to its send, in seconds), the
throughput while busy, the resident memory through the run, 429s received, and checks
that every nudge was delivered exactly once with no channel over its limit.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text

from bot import outbox
from bot.app import PeerBot
from bot.calendar import HalfTerm, SchoolCalendar
from bot.config import config_from_dict
from bot.db.engine import Database
from bot.delivery import Address, RateLimited
from bot.events import MessageRef
from bot.meetings.nudges import meeting_nudges, reminder_time
from bot.models import Network, OutboxMessage, Person, School
from bot.replies import Message, ToGroup, ToPerson, target_to_json

WEEK_START = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # Monday; London is on GMT
WEEK_END = WEEK_START + timedelta(days=7)
TERMS = [
    HalfTerm("Autumn 2", date(2026, 11, 2), date(2026, 12, 18)),
    HalfTerm("Spring 1", date(2027, 1, 5), date(2027, 2, 12)),
]
SLOTS = [
    dtime(9, 0),
    dtime(9, 30),
    dtime(10, 0),
    dtime(13, 30),
    dtime(14, 0),
    dtime(15, 30),
    dtime(16, 0),
    dtime(16, 30),
]
PEOPLE_PER_NETWORK = 10
CHANNEL_INTERVAL = float(
    __import__("os").environ.get("BENCH_CHANNEL_INTERVAL", "1.0")
)  # seconds between messages in one channel (Slack: 1/s)


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class SkipClock:
    """Simulated time: runs at wall speed, jumps forward over idle gaps."""

    def __init__(self, start: datetime) -> None:
        self.sim = start
        self.real = time.monotonic()

    def now(self) -> datetime:
        return self.sim + timedelta(seconds=time.monotonic() - self.real)

    def jump_to(self, when: datetime) -> None:
        if when > self.now():
            self.sim, self.real = when, time.monotonic()


class RateLimitedPlatform:
    """Accepts one message per second per channel; records every accepted send."""

    platform = "console"

    def __init__(self, clock: SkipClock, channel_of: dict[str, str], due: dict[str, datetime]) -> None:
        self.clock = clock
        self.channel_of = channel_of
        self.due = due
        self.last: dict[str, datetime] = {}
        self.lags: list[float] = []
        self.sent: Counter[str] = Counter()
        self.limited = 0
        self.violations = 0
        self.first_send: float | None = None
        self.last_send = 0.0

    async def send(self, address: Address, message: Message, *, key: str | None, attempt: int) -> MessageRef:
        assert key is not None
        now = self.clock.now()
        channel = self.channel_of[key]
        previous = self.last.get(channel)
        if previous is not None and (now - previous).total_seconds() < CHANNEL_INTERVAL:
            self.limited += 1
            raise RateLimited(CHANNEL_INTERVAL - (now - previous).total_seconds())
        if previous is not None and (now - previous).total_seconds() < CHANNEL_INTERVAL - 1e-6:
            self.violations += 1
        self.last[channel] = now
        self.sent[key] += 1
        self.lags.append((now - self.due[key]).total_seconds())
        wall = time.monotonic()
        self.first_send = self.first_send or wall
        self.last_send = wall
        return MessageRef(platform="console", channel_id=channel, message_id=key)


def spread_key(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest(), "big")


async def populate(db: Database, networks: int, nudges: int, seed: int) -> tuple[dict[str, datetime], dict[str, str]]:
    """Networks, people and outbox rows; returns each key's due time and channel."""
    rng = random.Random(seed)
    config = config_from_dict({"network": {"name": "bench"}})
    cal = SchoolCalendar.from_config(config, TERMS)
    rules = config.settings.nudges
    due: dict[str, datetime] = {}
    channel_of: dict[str, str] = {}
    per_network = nudges // networks
    async with db.session() as session:
        net_rows = [
            {"name": f"Network {i:05d}", "timezone": "Europe/London", "created_at": WEEK_START} for i in range(networks)
        ]
        await session.execute(insert(Network), net_rows)
        net_ids = list((await session.execute(select(Network.id).order_by(Network.id))).scalars())
        await session.execute(
            insert(School),
            [
                {
                    "network_id": n,
                    "name": "School",
                    "name_key": "school",
                    "phase": "primary",
                    "extra": {},
                    "active": True,
                    "created_at": WEEK_START,
                    "updated_at": WEEK_START,
                }
                for n in net_ids
            ],
        )
        school_of = dict((await session.execute(select(School.network_id, School.id))).all())
        await session.execute(
            insert(Person),
            [
                {
                    "network_id": n,
                    "school_id": school_of[n],
                    "name": f"Person {p}",
                    "email": f"p{p}@n{n}.sch.uk",
                    "active": True,
                    "extra": {},
                    "created_at": WEEK_START,
                    "updated_at": WEEK_START,
                }
                for n in net_ids
                for p in range(PEOPLE_PER_NETWORK)
            ],
        )
        people: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for pid, nid, email in (await session.execute(select(Person.id, Person.network_id, Person.email))).all():
            people[nid].append((pid, email))
        rows: list[dict[str, Any]] = []
        booked_at = WEEK_START - timedelta(days=20)
        for n in net_ids:
            made = 0
            meeting = 0
            while made < per_network:
                meeting += 1
                if rng.random() < 0.5:
                    # A meeting 0-15 days after the week starts: its nudges that fall in the week.
                    day = (WEEK_START + timedelta(days=rng.randrange(0, 16))).date()
                    if not cal.is_term_day(day):
                        continue
                    start = cal.at(day, rng.choice(SLOTS))
                    for plan in meeting_nudges(cal, rules, start, now=booked_at, seed=f"meeting:{n}.{meeting}"):
                        if WEEK_START <= plan.at < WEEK_END and made < per_network:
                            key = f"meeting:{n}.{meeting}:nudge:{plan.label}:0"
                            rows.append(_row(n, key, ToGroup("heads"), plan.at, plan.expires_at + timedelta(days=30)))
                            due[key], channel_of[key] = plan.at, f"{n}:heads"
                            made += 1
                else:
                    review = (WEEK_START + timedelta(days=rng.randrange(0, 14))).date()
                    key = f"action:{n}.{meeting}:review:0"
                    at = reminder_time(cal, rules, review, rules.action_review_before, now=booked_at, seed=key)
                    if at is None or not (WEEK_START <= at < WEEK_END):
                        continue
                    pid, email = rng.choice(people[n])
                    rows.append(_row(n, key, ToPerson(pid), at, None))
                    due[key], channel_of[key] = at, f"dm:{email}"
                    made += 1
        for i in range(0, len(rows), 5000):
            await session.execute(insert(OutboxMessage), rows[i : i + 5000])
    return due, channel_of


def _row(
    network_id: int, key: str, target: ToGroup | ToPerson, at: datetime, expires: datetime | None
) -> dict[str, Any]:
    return {
        "network_id": network_id,
        "key": key,
        "platform": "console",
        "target": target_to_json(target),
        "message": Message(text="Heads meeting: starts at 09:30 today.").to_json(),
        "status": "pending",
        "not_before": at,
        "expires_at": expires,
        "attempts": 0,
        "created_at": WEEK_START - timedelta(days=20),
    }


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(args: argparse.Namespace) -> int:
    folder = tempfile.mkdtemp(prefix="peerbot-bench-")
    url = args.database_url or f"sqlite:///{folder}/bench.sqlite3"
    schema = None
    if url.startswith("postgres"):
        schema = f"bench_{int(time.time())}"
    db = Database(url, schema=schema)
    if schema:
        async with db.engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        await db.upgrade()
        t0 = time.monotonic()
        due, channel_of = await populate(db, args.networks, args.nudges, args.seed)
        print(
            f"queued {len(due):,} nudges for {args.networks:,} networks in {time.monotonic() - t0:.1f}s ({db.dialect})"
        )
        clock = SkipClock(WEEK_START)
        config = config_from_dict({"network": {"name": "Network 00000"}})
        bot = await PeerBot.open(config, db=db, clock=clock, migrate=False, platforms=["console"], modules=())
        platform = RateLimitedPlatform(clock, channel_of, due)
        bot.deliverer.register(platform)
        bot.deliverer.concurrency = args.concurrency
        bot.deliverer.batch = args.batch
        rss_start = rss_mib()
        samples: list[tuple[int, float]] = [(0, rss_start)]
        busy = 0.0
        while True:
            started = time.monotonic()
            handled = await bot.deliverer.run_once()
            if handled:
                busy += time.monotonic() - started
                total = sum(platform.sent.values())
                if total - samples[-1][0] >= max(1, len(due) // 20):
                    samples.append((total, rss_mib()))
                continue
            async with db.session() as session:
                nxt = await outbox.next_due(session, platforms=["console"])
            if nxt is None:
                break
            clock.jump_to(nxt)
            if nxt > clock.now():
                await asyncio.sleep((nxt - clock.now()).total_seconds())
        samples.append((sum(platform.sent.values()), rss_mib()))
        await bot.close()
    finally:
        if schema:
            cleanup = Database(url)
            async with cleanup.engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            await cleanup.dispose()
        else:
            await db.dispose()
    lags = platform.lags
    twice = [k for k, n in platform.sent.items() if n > 1]
    missing = len(due) - len(platform.sent)
    print(f"delivered {len(platform.sent):,} of {len(due):,}; sent twice: {len(twice)}; missing: {missing}")
    print(
        f"dispatch lag (s): p50 {statistics.median(lags):.3f}  p90 {pct(lags, 90):.3f}  "
        f"p99 {pct(lags, 99):.3f}  max {max(lags):.3f}"
    )
    print(f"throughput while busy: {len(lags) / busy:,.0f} nudges/s ({busy:.1f}s busy)")
    print(
        f"rate limits: {platform.limited:,} HTTP-429 answers, waited out; channel over its limit: {platform.violations}"
    )
    growth = samples[-1][1] - samples[1][1] if len(samples) > 2 else 0.0
    print(
        f"memory (RSS MiB): before delivery {rss_start:.0f}, peak {max(m for _, m in samples):.0f}, "
        f"end {samples[-1][1]:.0f}; growth from 5% to 100% of sends {growth:+.1f}"
    )
    print("rss by sends: " + ", ".join(f"{n:,}:{m:.0f}" for n, m in samples[:: max(1, len(samples) // 8)]))
    ok = not twice and missing == 0 and platform.violations == 0
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--networks", type=int, default=2000)
    parser.add_argument("--nudges", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--database-url", help="default: SQLite in a temporary folder")
    parser.add_argument("--concurrency", type=int, default=8, help="sends in flight (the Deliverer's default: 8)")
    parser.add_argument("--batch", type=int, default=50, help="rows claimed at a time (the Deliverer's default: 50)")
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
