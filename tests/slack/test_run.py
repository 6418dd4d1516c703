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
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(config), "run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
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
