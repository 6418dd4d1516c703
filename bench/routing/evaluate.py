"""Routing quality on the labelled question set: ``python -m bench.routing.evaluate``.

The set (``tests/data/routing/``) is a fictional network of 24 schools and 99 people with a
Partnership Audit written in an auditor's register, and 178 questions written the way
heads write in chat (acronyms, situations, typos), each labelled with the schools that
could genuinely help, ``none`` (nobody in the network offers it, or only the asker's own
school does), or ``pupil_data``. Every third question is held out: it was written with the
rest but never looked at while the vocabulary and weights were tuned.

Prints Success@3, MRR, the abstention rate on no-provider questions, and pupil-data recall,
precision and false-alarm rate, for the whole set and the held-out third.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot import pupil_data
from bot.app import PeerBot
from bot.clock import FrozenClock
from bot.config import config_from_dict
from bot.network import store
from bot.network.importer import import_network, read_source
from bot.routing.select import Router
from bot.routing.service import router_of

DATA = Path(__file__).resolve().parents[2] / "tests" / "data" / "routing"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
TARGETS = {"success_at_3": 0.90, "mrr": 0.80, "pupil_recall": 1.0, "false_alarm_rate": 1 / 50}


@dataclass
class Outcome:
    index: int
    question: dict[str, Any]
    schools: list[str] = field(default_factory=list)
    flagged: bool = False

    @property
    def heldout(self) -> bool:
        return self.index % 3 == 2


def load_questions(path: Path = DATA / "questions.jsonl") -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


async def open_network(folder: Path) -> PeerBot:
    config = config_from_dict(
        {
            "network": {"name": "Thamesmead Schools Partnership"},
            "database": {"url": f"sqlite:///{folder / 'eval.sqlite3'}"},
        }
    )
    bot = await PeerBot.open(config, clock=FrozenClock(NOW), platforms=["console"])
    async with bot.db.session() as session:
        await import_network(
            session,
            bot.network_id,
            now=NOW,
            schools=read_source(DATA / "schools.csv", "schools"),
            people=read_source(DATA / "people.csv", "people"),
            audit=read_source(DATA / "audit.csv", "audit"),
        )
    return bot


async def run(questions: list[dict[str, Any]]) -> list[Outcome]:
    with tempfile.TemporaryDirectory() as tmp:
        bot = await open_network(Path(tmp))
        try:
            router: Router = router_of(bot)
            outcomes = []
            async with bot.db.session() as session:
                for i, q in enumerate(questions):
                    out = Outcome(i, q, flagged=pupil_data.check(q["text"], today=NOW.date()).found)
                    asker = await store.person_by_email(session, bot.network_id, q["asker"])
                    assert asker is not None, q["asker"]
                    plan = await router.plan(
                        session, asker=asker, text=q["text"], group=q.get("channel"), when=NOW, apply_load=False
                    )
                    out.schools = [p.school for p in plan.peers]
                    outcomes.append(out)
            return outcomes
        finally:
            await bot.close()


def metrics(outcomes: list[Outcome]) -> dict[str, float]:
    routed = [o for o in outcomes if not o.question.get("pupil_data") and not o.question.get("none")]
    nones = [o for o in outcomes if not o.question.get("pupil_data") and o.question.get("none")]
    hits, rr = 0, 0.0
    for o in routed:
        good = set(o.question.get("suitable", []))
        ranks = [i for i, s in enumerate(o.schools, 1) if s in good]
        if ranks and ranks[0] <= 3:
            hits += 1
        rr += 1 / ranks[0] if ranks else 0.0
    pupil = [o for o in outcomes if o.question.get("pupil_data")]
    clean = [o for o in outcomes if not o.question.get("pupil_data")]
    flagged = [o for o in outcomes if o.flagged]
    return {
        "questions": len(outcomes),
        "routed": len(routed),
        "success_at_3": hits / len(routed) if routed else 0.0,
        "mrr": rr / len(routed) if routed else 0.0,
        "no_provider": len(nones),
        "abstention": sum(1 for o in nones if not o.schools) / len(nones) if nones else 1.0,
        "pupil_data": len(pupil),
        "pupil_recall": sum(1 for o in pupil if o.flagged) / len(pupil) if pupil else 1.0,
        "pupil_precision": sum(1 for o in flagged if o.question.get("pupil_data")) / len(flagged) if flagged else 1.0,
        "false_alarm_rate": sum(1 for o in clean if o.flagged) / len(clean) if clean else 0.0,
    }


def failures(outcomes: list[Outcome]) -> list[str]:
    lines = []
    for o in outcomes:
        q = o.question
        if q.get("pupil_data"):
            if not o.flagged:
                lines.append(f"[{o.index}] pupil data missed: {q['text']}")
            continue
        if o.flagged:
            lines.append(f"[{o.index}] false pupil-data alarm: {q['text']}")
        if q.get("none"):
            if o.schools:
                lines.append(f"[{o.index}] should abstain, got {o.schools}: {q['text']}")
            continue
        good = set(q.get("suitable", []))
        ranks = [i for i, s in enumerate(o.schools, 1) if s in good]
        if not ranks or ranks[0] > 1:
            lines.append(
                f"[{o.index}] rank {ranks[0] if ranks else '-'} got {o.schools} want {sorted(good)}: {q['text']}"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--verbose", "-v", action="store_true", help="list every miss")
    parser.add_argument("--all", action="store_true", help="with -v, list held-out misses too")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    outcomes = asyncio.run(run(load_questions()))
    report = {
        "all": metrics(outcomes),
        "heldout": metrics([o for o in outcomes if o.heldout]),
        "dev": metrics([o for o in outcomes if not o.heldout]),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for name, m in report.items():
            print(
                f"{name:8} n={m['questions']:<4} Success@3={m['success_at_3']:.3f} MRR={m['mrr']:.3f} "
                f"abstention={m['abstention']:.3f} (of {m['no_provider']}) pupil-data recall={m['pupil_recall']:.3f} "
                f"precision={m['pupil_precision']:.3f} false-alarms={m['false_alarm_rate']:.3f}"
            )
    if args.verbose:
        for line in failures([o for o in outcomes if args.all or not o.heldout]):
            print(line, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
