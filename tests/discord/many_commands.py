"""More commands than Discord allows subcommands: the last ones go under ``/peerbot other``."""

from __future__ import annotations

from bot.dispatch import Context, command


def _make(n: int) -> None:
    @command(f"extra{n:02d}")
    async def extra(ctx: Context, args: str) -> None:
        ctx.private(f"extra {n} got {args or 'nothing'}")

    extra.__doc__ = f"Extra command number {n}."
    extra.__name__ = extra.__qualname__ = f"extra{n:02d}"
    globals()[extra.__name__] = extra


for _n in range(20):
    _make(_n)
