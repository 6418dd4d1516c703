"""``python -m bot`` does what the ``peerbot`` command does."""

from bot.cli import main

raise SystemExit(main())
