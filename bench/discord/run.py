"""MESSAGE_CREATE dispatches per second: peerbot's Discord adapter beside a bare client.

    .venv/bin/python -m bench.discord.run [--messages 20000] [--questions 1000] [--rounds 3] [--database URL]

A local fake of Discord (``tests/support/discord_fake.py``) runs in its own process and
floods one gateway session with MESSAGE_CREATE dispatches (zlib-stream, as Discord sends
them) from network members. In the same run, in alternating rounds after a warm-up:

- **bare**: a plain ``discord.Client`` with peerbot's intents whose ``on_message`` only
  counts: the ceiling discord.py itself sets.
- **peerbot, unwatched channel** (``#general``): chatter the adapter filters out on the
  gateway path, as it does everything outside the group channels that does not mention it.
- **peerbot, group channel, through the client** (the heads' channel): the rate at which
  the real ``DiscordAdapter`` takes a flood in on its gateway path (server, channel and
  author checks, then queued for the core, or — once the bounded queues are full — left to
  be read back from the channel's history). Not yet handled: the fake keeps no history for
  this flood, and the adapter is stopped afterwards with its queues dropped.
- **peerbot, group channel, chatter handled through the core**: ``--messages`` messages
  of ordinary chatter ("morning all 17", kept in the fake's history), timed from the start
  of the flood until the core has handled every one, whether it came through the queues
  or, past them, from a history read — the bulk of a real server's traffic. The core
  drops chatter before the database (no message handler's ``when`` wants it and it is not
  addressed to the bot); the adapter still orders it per channel and moves the channel's
  catch-up cursor past it.
- **peerbot, group channel, questions handled through the core**: ``--questions``
  messages that need the core (a question, routed for real: ``seen_events``, the sender
  looked up, the question saved and routed, in one database transaction each), timed the
  same way. This is the rate for what the bot acts on: do not read the chatter figure as
  the question rate. (The bench network has heads and no audits, so routing finds no peer
  to ask: a question with peers to ask costs more.)

The issue's target (peerbot keeps at least half the bare client's throughput) is checked
on the gateway path and for chatter handled through the core; questions are a database
transaction each and far below it. Each phase's CPU time per message is reported (this
process only: the fake runs in its own), since wall-clock rates on a shared machine are
noisy. Prints one line per round and a JSON summary of medians.

Measured (``.venv/bin/python -m bench.discord.run``: 20,000 messages and 1,000 questions a
round, 3 rounds, SQLite, 2 shared cores; medians): bare 10,951/s (85 µs CPU each); chatter
handled through the core 9,194/s (84% of bare, worst round 82%; 108 µs CPU each, none read
from history); the group channel through the client 7,663/s (70%; 114 µs); the unwatched
channel 8,116/s (74%; 91 µs); questions handled through the core 102/s (0.9%; 8.9 ms CPU
each, half of each flood read back from history past the queues). Before chatter was
dropped ahead of the database it was handled at about 121/s (7 ms CPU each), as a question.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import discord
from sqlalchemy import text

from adapters.discord import DiscordAdapter
from adapters.discord.adapter import intents
from bot.app import PeerBot
from bot.clock import SystemClock
from bot.config import config_from_dict
from bot.db.engine import Database
from bot.network.importer import import_network
from bot.network.parse import SourceFile

ROOT = Path(__file__).resolve().parents[2]


async def start_fake() -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.discord_fake", cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    port = (await proc.stdout.readline()).decode().strip()
    if not port.isdigit():
        proc.kill()
        raise SystemExit("the fake Discord did not start")
    return proc, f"http://127.0.0.1:{port}"


def point_at(base: str) -> None:
    import discord.gateway
    import discord.http
    import yarl

    discord.http.Route.BASE = base + "/api/v10"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(base.replace("http", "ws") + "/gateway")


async def control(http: aiohttp.ClientSession, base: str, what: str, body: dict[str, Any] | None = None) -> Any:
    async with http.post(f"{base}/_fake/{what}", json=body or {}) as response:
        return await response.json(content_type=None)


async def wait_until(predicate: Any, seconds: float = 300.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark timed out")
        await asyncio.sleep(0.001)


FLOODS: set[asyncio.Task[Any]] = set()
CHATTER = "morning all"  # what no handler wants: dropped before the database
QUESTION = "does anyone have a phonics scheme they would recommend for year"  # a question: routed


async def flood(
    http: aiohttp.ClientSession,
    base: str,
    world: dict[str, Any],
    count: int,
    channel: str = "heads",
    *,
    store: bool = False,
    text: str = CHATTER,
) -> float:
    """Ask the fake to start dispatching; returns when it was asked (the clock's start)."""
    started = time.perf_counter()
    authors = [uid for name, uid in world["users"].items() if name.startswith("Head ")]
    body = {
        "channel_id": world["channels"][channel],
        "authors": authors,
        "count": count,
        "text": text,  # the fake numbers them: "morning all 17"
        "store": store,
    }
    task = asyncio.ensure_future(control(http, base, "flood", body))
    FLOODS.add(task)
    task.add_done_callback(FLOODS.discard)
    return started


async def bare_round(http: aiohttp.ClientSession, base: str, world: dict[str, Any], count: int) -> tuple[float, float]:
    received = 0
    ready = asyncio.Event()

    class Bare(discord.Client):
        async def on_ready(self) -> None:
            ready.set()

        async def on_message(self, message: discord.Message) -> None:
            nonlocal received
            received += 1

    client = Bare(intents=intents(), guild_ready_timeout=0.1)
    task = asyncio.create_task(client.start(world["token"]))
    try:
        await asyncio.wait_for(ready.wait(), 30)
        gc.collect()  # what earlier rounds left behind is not this round's cost
        cpu = time.process_time()
        started = await flood(http, base, world, count)
        await wait_until(lambda: received >= count)
        return count / (time.perf_counter() - started), (time.process_time() - cpu) / count * 1e6
    finally:
        await client.close()
        with contextlib.suppress(Exception):
            await task


async def drop_schema(url: str, schema: str) -> None:
    db = Database(url)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await db.dispose()


async def open_bot(world: dict[str, Any], url: str, schema: str | None) -> PeerBot:
    heads = {name: uid for name, uid in world["users"].items() if name.startswith("Head ")}
    schools = "name,phase\n" + "".join(f"School {i},primary\n" for i in range(len(heads)))
    people = "name,email,school,roles,discord_id\n" + "".join(
        f"{name},head{i}@school{i}.sch.uk,School {i},head,{uid}\n" for i, (name, uid) in enumerate(heads.items())
    )
    config = config_from_dict(
        {
            "network": {"name": "Bench Network"},
            "platforms": {"run": ["discord"]},
            "discord": {"guild_id": world["guild_id"], "channels": {"heads": world["channels"]["heads"]}},
        }
    )
    db = Database(url, schema=schema)
    if schema:
        async with db.engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    bot = await PeerBot.open(config, db=db, clock=SystemClock(), migrate=True, platforms=["discord"])
    async with bot.db.session() as session:
        await import_network(
            session,
            bot.network_id,
            now=bot.clock.now(),
            schools=SourceFile(name="schools.csv", data=schools.encode()),
            people=SourceFile(name="people.csv", data=people.encode()),
        )
    bot.settle()  # start-up is over, as ``peerbot run`` says once it has built everything (gc.freeze)
    return bot


async def start_adapter(bot: PeerBot, world: dict[str, Any]) -> tuple[DiscordAdapter, asyncio.Task[None]]:
    adapter = DiscordAdapter(bot, token=world["token"], guild_ready_timeout=0.1)
    task = asyncio.create_task(adapter.run())
    await asyncio.wait_for(adapter.ready.wait(), 30)
    await adapter.intake.join()
    gc.collect()  # what earlier rounds left behind is not this round's cost
    return adapter, task


async def stop_adapter(bot: PeerBot, adapter: DiscordAdapter, task: asyncio.Task[None]) -> None:
    await adapter.stop()  # what is still queued is dropped (a restart would read it from history)
    with contextlib.suppress(Exception):
        await task
    bot.deliverer.transports.pop("discord", None)  # let this adapter's client go


async def peerbot_round(
    http: aiohttp.ClientSession, base: str, world: dict[str, Any], count: int, core_count: int, bot: PeerBot
) -> dict[str, float]:
    adapter, task = await start_adapter(bot, world)
    try:
        # Unwatched chatter: filtered on the gateway path, never reaches the core.
        base_dispatches, base_received = adapter.dispatches, adapter.received
        cpu = time.process_time()
        started = await flood(http, base, world, count, channel="general")
        await wait_until(lambda: adapter.dispatches - base_dispatches >= count)
        unwatched = count / (time.perf_counter() - started)
        unwatched_cpu = (time.process_time() - cpu) / count * 1e6
        assert adapter.received == base_received  # none of it was queued for the core
        # The group channel, through the client: taken in (queued, or left to history).
        base_received, cpu = adapter.received, time.process_time()
        started = await flood(http, base, world, count)
        await wait_until(lambda: adapter.received - base_received >= count)
        received = count / (time.perf_counter() - started)
        received_cpu = (time.process_time() - cpu) / count * 1e6
    finally:
        await stop_adapter(bot, adapter, task)
    # The group channel, through the core: every message handled, live or from history.
    chatter, chatter_cpu, chatter_history = await core_flood(http, base, world, bot, count, CHATTER)
    questions, question_cpu, question_history = await core_flood(http, base, world, bot, core_count, QUESTION)
    return {
        "received": received,
        "received_cpu_us": received_cpu,
        "handled": chatter,
        "handled_cpu_us": chatter_cpu,
        "from_history": chatter_history,
        "questions": questions,
        "question_cpu_ms": question_cpu / 1000,
        "questions_from_history": question_history,
        "unwatched": unwatched,
        "unwatched_cpu_us": unwatched_cpu,
    }


async def core_flood(
    http: aiohttp.ClientSession, base: str, world: dict[str, Any], bot: PeerBot, count: int, text: str
) -> tuple[float, float, int]:
    """``count`` messages into the group channel (kept in the fake's history), timed from the
    start of the flood until the core has handled every one, live or read back from history:
    (messages a second, µs of CPU each, how many were read from history)."""
    adapter, task = await start_adapter(bot, world)

    def done() -> int:  # handed to the core, or passed over as chatter once the core said so
        return adapter.core_handled + adapter.passed_over

    try:
        base_done, cpu = done(), time.process_time()
        started = await flood(http, base, world, count, store=True, text=text)
        await wait_until(lambda: done() - base_done >= count)
        rate = count / (time.perf_counter() - started)
        return rate, (time.process_time() - cpu) / count * 1e6, adapter.overflowed
    finally:
        await stop_adapter(bot, adapter, task)


async def main(messages: int, rounds: int, database: str | None, questions: int = 1000) -> dict[str, Any]:
    proc, base = await start_fake()
    point_at(base)
    tmp = tempfile.TemporaryDirectory()
    url = database or f"sqlite:///{Path(tmp.name) / 'bench.sqlite3'}"
    # PostgreSQL: a schema of the benchmark's own, dropped afterwards.
    schema = f"bench_discord_{os.getpid()}" if not Database(url).is_sqlite else None
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/_fake/world") as response:
                world = await response.json(content_type=None)
            bot = await open_bot(world, url, schema)
            bare: list[float] = []
            bare_cpu: list[float] = []
            rounds_out: list[dict[str, float]] = []
            try:
                await bare_round(http, base, world, min(messages, 2000))  # warm-up, not counted
                await peerbot_round(http, base, world, min(messages, 200), min(questions, 50), bot)
                for i in range(rounds):
                    b, bc = await bare_round(http, base, world, messages)
                    p = await peerbot_round(http, base, world, messages, questions, bot)
                    bare.append(b)
                    bare_cpu.append(bc)
                    rounds_out.append(p)
                    r, h, q, u = p["received"], p["handled"], p["questions"], p["unwatched"]
                    print(
                        f"round {i + 1}: bare {b:,.0f}/s ({bc:.0f} µs CPU each) | peerbot, group channel: "
                        f"through the client {r:,.0f}/s ({r / b:.0%}, {p['received_cpu_us']:.0f} µs CPU each); "
                        f"chatter handled through the core {h:,.0f}/s ({h / b:.0%}, {p['handled_cpu_us']:.0f} µs "
                        f"CPU each, {p['from_history']:.0f} read from history); questions handled through the core "
                        f"{q:,.0f}/s ({q / b:.1%}, {p['question_cpu_ms']:.2f} ms CPU each, "
                        f"{p['questions_from_history']:.0f} read from history) | unwatched channel {u:,.0f}/s "
                        f"({u / b:.0%}, {p['unwatched_cpu_us']:.0f} µs CPU each)",
                        flush=True,
                    )
            finally:
                await bot.close()
    finally:
        proc.terminate()
        await proc.wait()
        tmp.cleanup()
        if schema:
            await drop_schema(url, schema)

    def median(key: str, digits: int = 0) -> float:
        return round(statistics.median(r[key] for r in rounds_out), digits or None)

    summary: dict[str, Any] = {
        "messages_per_round": messages,
        "questions_per_round": questions,
        "rounds": rounds,
        "database": Database(url).display_url if database else "sqlite (temporary file)",
        "bare_per_s": round(statistics.median(bare)),
        "peerbot_through_client_per_s": median("received"),
        "peerbot_chatter_handled_through_core_per_s": median("handled"),
        "peerbot_questions_handled_through_core_per_s": median("questions"),
        "peerbot_unwatched_per_s": median("unwatched"),
        "bare_cpu_us_per_message": round(statistics.median(bare_cpu), 1),
        "peerbot_through_client_cpu_us_per_message": median("received_cpu_us", 1),
        "peerbot_chatter_through_core_cpu_us_per_message": median("handled_cpu_us", 1),
        "peerbot_question_cpu_ms_per_message": median("question_cpu_ms", 2),
        "peerbot_unwatched_cpu_us_per_message": median("unwatched_cpu_us", 1),
        "worst_round_through_client_ratio": round(
            min(r["received"] / b for r, b in zip(rounds_out, bare, strict=True)), 3
        ),
        "worst_round_chatter_through_core_ratio": round(
            min(r["handled"] / b for r, b in zip(rounds_out, bare, strict=True)), 3
        ),
    }
    bare_rate = summary["bare_per_s"]
    summary["through_client_ratio"] = round(summary["peerbot_through_client_per_s"] / bare_rate, 3)
    summary["chatter_through_core_ratio"] = round(summary["peerbot_chatter_handled_through_core_per_s"] / bare_rate, 3)
    summary["questions_through_core_ratio"] = round(
        summary["peerbot_questions_handled_through_core_per_s"] / bare_rate, 4
    )
    summary["unwatched_ratio"] = round(summary["peerbot_unwatched_per_s"] / bare_rate, 3)
    summary["question_ms_per_message"] = round(1000 / summary["peerbot_questions_handled_through_core_per_s"], 2)
    # The target: chatter (most of a server's traffic) handled through the core. A
    # question is a transaction of its own and is not expected to keep up with a bare client.
    summary["through_client_target_met"] = summary["through_client_ratio"] >= 0.5
    summary["chatter_through_core_target_met"] = summary["chatter_through_core_ratio"] >= 0.5
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=20_000, help="per flood of chatter")
    parser.add_argument("--questions", type=int, default=1_000, help="per flood of questions (through the core)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", help="a database URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.messages, args.rounds, args.database, args.questions)), indent=2))
