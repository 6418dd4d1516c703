"""``peerbot run`` finds the Slack adapter through its entry point, connects in Socket
Mode, handles an event, and stops cleanly on SIGTERM (in a process of its own)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.slack.harness import fixture
from tests.support.slack import APP_TOKEN, BOT_TOKEN, BOT_USER, SIGNING_SECRET, FakeSlack

ROOT = Path(__file__).resolve().parents[2]


def peerbot_run(config: Path, env: dict[str, str], *, stdout: int) -> subprocess.Popen[str]:
    """``peerbot --config CONFIG run`` in a process of its own (its errors kept for the test)."""
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(config), "run"],
        cwd=ROOT,
        env=env,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_peerbot_run_serves_slack_and_stops_on_sigterm(tmp_path: Path) -> None:
    fake = FakeSlack()
    with fake.in_thread():
        fake.add_channel("C0HEADS001", "heads")
        config = tmp_path / "peerbot.toml"
        config.write_text(
            f'[network]\nname = "Run Test"\n[platforms]\nrun = ["slack"]\n[slack]\nmode = "socket"\n'
            f'api_url = "{fake.api_url}"\ndrain_seconds = 5\n[slack.channels]\nheads = "C0HEADS001"\n',
            encoding="utf-8",
        )
        env = {
            **os.environ,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_APP_TOKEN": APP_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        }
        process = peerbot_run(config, env, stdout=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 20
            while not fake.socket_connected and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.05)
            assert fake.socket_connected, process.stderr.read() if process.poll() is not None else "no connection"
            # A stranger's DM: the core's explanation comes back through the Web API.
            fake.add_user("U0STRANGER", "Stranger", "s@example.org")
            channel = fake._open_dm("U0STRANGER")
            body = fixture(
                "event_message",
                TEAM="T0TEST0001",
                APP="A0APP00001",
                BOT=BOT_USER,
                USER="U0STRANGER",
                CHANNEL=channel,
                CHANNEL_TYPE="im",
                TEXT="hello",
                TS="1764000000.000001",
                EVENT_ID="Ev0RUN0001",
            )
            fake.run_soon(fake.envelope("events_api", body))
            deadline = time.monotonic() + 10
            while not fake.called("chat.postMessage") and time.monotonic() < deadline:
                time.sleep(0.05)
            [reply] = fake.called("chat.postMessage")
            assert "don't have you on the network's list" in json.dumps(reply.args)
        finally:
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=20)
        assert process.returncode == 0, err


def test_events_acknowledged_before_a_sigkill_are_handled_once_after_the_restart(tmp_path: Path) -> None:
    """HTTP mode: five DMs are acknowledged, the process is killed (SIGKILL) while the first
    one's answer is on its way, and a new ``peerbot run`` on the same database handles the
    other four once the dead process's lease on them has run out (10 s); nothing is
    answered twice and the inbox ends empty."""
    import asyncio
    import socket
    import sqlite3
    import urllib.request

    from tests.support.slack import signed_headers

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fake = FakeSlack()
    with fake.in_thread():
        fake.add_user("U0STRANGER", "Stranger", "s@example.org")
        channel = fake._open_dm("U0STRANGER")
        database = tmp_path / "peerbot.sqlite3"
        config = tmp_path / "peerbot.toml"
        config.write_text(
            f'[network]\nname = "Kill Test"\n[database]\nurl = "sqlite:///{database}"\n'
            f'[platforms]\nrun = ["slack"]\n[slack]\nmode = "http"\nhttp_host = "127.0.0.1"\n'
            f'http_port = {port}\napi_url = "{fake.api_url}"\n',
            encoding="utf-8",
        )
        env = {**os.environ, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}

        def start() -> subprocess.Popen[str]:
            process = peerbot_run(config, env, stdout=subprocess.DEVNULL)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                        if response.status == 200:
                            return process
                except OSError:
                    time.sleep(0.1)
            process.kill()
            raise AssertionError(process.communicate(timeout=10)[1] or "peerbot did not start")

        def send(n: int) -> int:
            body = json.dumps(
                fixture(
                    "event_message",
                    TEAM="T0TEST0001",
                    APP="A0APP00001",
                    BOT=BOT_USER,
                    USER="U0STRANGER",
                    CHANNEL=channel,
                    CHANNEL_TYPE="im",
                    TEXT=f"hello {n}",
                    TS=f"1764000000.00000{n}",
                    EVENT_ID=f"Ev0KILL000{n}",
                )
            )
            headers = signed_headers(body, content_type="application/json")
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/slack/events", data=body.encode(), headers=headers, method="POST"
            )
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return int(response.status)

        async def hold() -> None:
            fake.hold = asyncio.Event()

        async def release() -> None:
            assert fake.hold is not None
            fake.hold.set()

        first = start()
        try:
            fake.run_soon(hold())  # Slack's Web API answers nothing for now
            assert [send(n) for n in range(1, 6)] == [200] * 5  # all five acknowledged
            deadline = time.monotonic() + 20
            while not fake.called("chat.postMessage") and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(fake.called("chat.postMessage")) == 1  # one DM: one at a time, in order
        finally:
            first.kill()  # SIGKILL: no shutdown, nothing drained
            first.communicate(timeout=10)
        fake.run_soon(release())
        with sqlite3.connect(database) as db:
            assert db.execute("SELECT count(*) FROM inbox").fetchone() == (5,)

        second = start()
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with sqlite3.connect(database) as db:
                    if db.execute("SELECT count(*) FROM inbox").fetchone() == (0,):
                        break
                time.sleep(0.1)
            time.sleep(0.5)  # any second answer would have been sent by now
            replies = [m for m in fake.posted(channel) if m.user == BOT_USER]
            # Four after the restart, and the first (its request was on its way when the
            # process died; the restart found its kept reply already posted, by the key in
            # its metadata, and did not post it again).
            assert len(replies) == 5 and all("don't have you on the network's list" in m.text for m in replies)
            with sqlite3.connect(database) as db:
                assert db.execute("SELECT count(*) FROM inbox").fetchone() == (0,)
                assert db.execute("SELECT count(*) FROM seen_events").fetchone() == (5,)
        finally:
            second.send_signal(signal.SIGTERM)
            _, err = second.communicate(timeout=20)
        assert second.returncode == 0, err
