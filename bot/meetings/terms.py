"""Term dates entered in the config file (``[[terms]]``), loaded like an imported terms.csv.

The database stays the one source of truth: on start-up the config's half-terms are
written to the terms table exactly as an import would write them — the full set for each
academic year they touch, so a corrected date replaces the old one — and re-writing them
changes nothing. If they cannot be written (they overlap dates of another year loaded
from a file), the bot says so and runs on the dates it has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from bot.network.importer import apply_term_records
from bot.network.parse import TermRecord

if TYPE_CHECKING:
    from bot.app import PeerBot


async def sync_config_terms(session: AsyncSession, bot: PeerBot) -> int:
    terms = bot.config.settings.terms
    if not terms:
        return 0
    records = [
        TermRecord(line=i, name=t.name, start=t.start, end=t.end, inset=tuple(sorted(set(t.inset))))
        for i, t in enumerate(terms, 1)
    ]
    where = f"{bot.config.path.name} [[terms]] entry" if bot.config.path else "config [[terms]] entry"
    summary = await apply_term_records(session, bot.network_id, records, where)
    counts = summary.counts.get("terms", {})
    return counts.get("added", 0) + counts.get("updated", 0)
