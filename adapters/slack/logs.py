"""Logging for the Slack libraries: never a payload, so never message text.

slack-bolt and slack_sdk put request bodies into some of their log lines (an unhandled
request, debug dumps). peerbot's logs must never contain message text, so their loggers
are based on one that is at least at INFO and whose filter cuts anything that looks like a
payload out of a line before it is written.
"""

from __future__ import annotations

import logging
import re

_DICT = re.compile(r"[\{\[].*[\}\]]", re.S)
_BODY = re.compile(r"(body|payload|data|text)\s*[:=].*", re.S | re.I)


# Warnings about how peerbot builds the app on purpose (a shared client; SLACK_BOT_TOKEN
# read from the environment by Bolt itself), which would only puzzle a convenor.
_QUIET = ("As you gave `client` as well", "As `installation_store` or `authorize` has been used")


class RedactPayloads(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        if message.startswith(_QUIET):
            return False
        redacted = _DICT.sub("{…}", message)
        redacted = _BODY.sub(r"\1: …", redacted)
        if redacted != message:
            record.msg = redacted
            record.args = ()
        if record.exc_info and not record.levelno >= logging.ERROR:
            record.exc_info = None
        return True


_FILTER = RedactPayloads()


def library_logger(*, allow_text: bool = False) -> logging.Logger:
    """The logger handed to Bolt and slack_sdk (Bolt copies its level and filters)."""
    logger = logging.getLogger("peerbot.slack.lib")
    if not allow_text:
        if logger.level == logging.NOTSET or logger.level < logging.INFO:
            logger.setLevel(logging.INFO)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    return logger
