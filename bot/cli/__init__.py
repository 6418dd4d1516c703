"""``peerbot``: the command line. Each command group lives in its own module here and
adds itself in :data:`COMMAND_MODULES`; adapters add theirs through entry points."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from bot import __version__
from bot.errors import BadInput, ConfigError, ImportProblems
from bot.plugins import cli_registrars

COMMAND_MODULES: tuple[str, ...] = (
    "bot.cli.db",
    "bot.cli.network",
    "bot.cli.run",
    "bot.cli.demo",
    "bot.cli.config",
    "knowledge.cli",
    "bot.cli.privacy",
    "bot.cli.audit",
    "bot.cli.ask",
    "bot.cli.meetings",
    "bot.cli.admin",
)


class Parser(argparse.ArgumentParser):
    """Usage mistakes are bad input: one ``error: ...`` line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {message} (try: {self.prog} --help)\n")
        raise SystemExit(2)


def build_parser() -> Parser:
    parser = Parser(prog="peerbot", description="peerbot: peer support for school networks.")
    parser.add_argument("--config", metavar="FILE", help="the config file (default: $PEERBOT_CONFIG)")
    parser.add_argument("-v", "--verbose", action="store_true", help="more detail on stderr")
    parser.add_argument("--version", action="version", version=f"peerbot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    for registrar in cli_registrars():
        registrar(sub)
    return parser


def plain(text: str) -> str:
    """A message written for chat, for a terminal: no ``**bold**`` markers."""
    return text.replace("**", "")


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's last flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        result = args.func(args)
    except ImportProblems as exc:
        sys.stderr.write(f"error: {exc}\n")
        if args.verbose and len(exc.problems) > 1:
            for line in exc.problems[1:]:
                sys.stderr.write(f"  {line}\n")
        return 2
    except BadInput as exc:
        sys.stderr.write(f"error: {plain(str(exc))}\n")
        if args.verbose and isinstance(exc, ConfigError) and len(exc.problems) > 1:
            for line in exc.problems[1:]:
                sys.stderr.write(f"  {line}\n")
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`peerbot network show | head`): nothing to say, and no one to
        # say it to. Not 0: a command may have been writing before its change was saved.
        _silence_stdout()
        return 1
    except Exception as exc:
        logging.getLogger("peerbot").debug("unexpected failure", exc_info=True)
        sys.stderr.write(f"error: unexpected failure ({type(exc).__name__}: {exc}); run with -v for details\n")
        if args.verbose:
            import traceback

            traceback.print_exc()
        return 1
    return int(result or 0)
