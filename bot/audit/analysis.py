"""The Audit Analysis: every school's need paired with the providers of support whose
strengths answer it — the same matcher as routing — ranked, each with its reason; needs
nobody offers are the network's gaps; strengths nobody needs are listed too.

This is the "Audit Analysis" tool of the Partnership Audit (area of need, provider of
support, additional notes), computed rather than typed up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.audit.export import Sheet
from bot.models.network import Audit, AuditItem, Person
from bot.network import store
from bot.network.owners import carriers
from bot.routing.matcher import ItemIndex, Matcher
from bot.routing.select import MIN_SCORE, phase_factor

MAX_PROVIDERS = 4
# An analysis lists real options, where routing may cast a wider net: a strength that only
# comes near a need (a related concept, or a broad one such as "SEND support") is not one,
# and a provider is listed only if close to the best one, unless it answers a part of the
# need that no better-placed provider does (Castlefield's KS2 writing moderation is not
# hidden behind a handwriting programme that scored higher on "writing" alone). A strength
# written for one phase ("restorative justice in a large secondary") is for schools of that
# phase first, when the need itself names none.
# (Measured on the demo and the labelled network, tests/test_audit_network.py.)
RELATIVE_CUTOFF = 0.75


@dataclass(frozen=True)
class Provider:
    school: str
    strength: str
    score: float
    why: str
    audited: bool
    contacts: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "school": self.school,
            "strength": self.strength,
            "score": round(self.score, 3),
            "why": self.why,
            "audited": self.audited,
            "contacts": list(self.contacts),
        }


@dataclass(frozen=True)
class Need:
    school: str
    need: str
    item_id: int | None
    owners: tuple[str, ...]
    notes: str | None
    providers: tuple[Provider, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.item_id,
            "school": self.school,
            "need": self.need,
            "owners": list(self.owners),
            "notes": self.notes,
            "providers": [p.to_json() for p in self.providers],
        }


@dataclass
class AuditAnalysis:
    needs: list[Need] = field(default_factory=list)
    unused_strengths: list[tuple[str, str]] = field(default_factory=list)

    @property
    def gaps(self) -> list[Need]:
        return [n for n in self.needs if not n.providers]

    def to_json(self) -> dict[str, Any]:
        """formats.md: ``{"needs": [...], "gaps": [...], "unused_strengths": [...]}``."""
        return {
            "needs": [n.to_json() for n in self.needs],
            "gaps": [{"school": n.school, "need": n.need} for n in self.gaps],
            "unused_strengths": [{"school": s, "strength": t} for s, t in self.unused_strengths],
        }

    def sheets(self) -> list[Sheet]:
        """The analysis as printable tables: one row per area of need, then gaps and unused strengths."""
        main = Sheet(
            title="Audit Analysis",
            headers=["School", "Area of need", "Carried by", "Provider of support", "Why", "Additional notes"],
            widths=[26, 40, 20, 48, 40, 36],
        )
        for n in self.needs:
            providers = "\n".join(
                f"{p.school}: {p.strength}" + (f" ({', '.join(p.contacts)})" if p.contacts else "") for p in n.providers
            )
            why = "\n".join(p.why for p in n.providers)
            main.rows.append(
                [n.school, n.need, ", ".join(n.owners), providers or "No provider in the network yet", why, n.notes]
            )
        gaps = Sheet(title="Gaps", headers=["School", "Area of need", "Carried by"], widths=[26, 50, 24])
        gaps.rows = [[n.school, n.need, ", ".join(n.owners)] for n in self.gaps]
        unused = Sheet(title="Unused strengths", headers=["School", "Strength offered"], widths=[26, 60])
        unused.rows = [[s, t] for s, t in self.unused_strengths]
        return [main, gaps, unused]


async def analyse(session: AsyncSession, network_id: int, matcher: Matcher | None = None) -> AuditAnalysis:
    """The analysis of the network's current audits."""
    audits = await store.current_audits(session, network_id)
    people = await store.people(session, network_id)
    return analyse_audits(audits, people, matcher)


def analyse_audits(audits: Sequence[Audit], people: Sequence[Person], matcher: Matcher | None = None) -> AuditAnalysis:
    """The analysis of these audits (one current audit per school), with no database."""
    matcher = matcher or Matcher()
    # Schools are told apart by their name key, so that unsaved (test) objects work too.
    by_school: dict[str, list[Person]] = {}
    for p in people:
        by_school.setdefault(p.school.name_key, []).append(p)
    strengths: dict[int, tuple[Audit, AuditItem]] = {}
    for audit in audits:
        for item in audit.strengths():
            strengths[len(strengths)] = (audit, item)
    index = ItemIndex.build(matcher, ((item_id, pair[1].text) for item_id, pair in strengths.items()))
    result = AuditAnalysis()
    used: set[int] = set()
    for audit in audits:
        school = audit.school
        for need in audit.needs():
            analysis = matcher.analyse(need.text)
            scored: list[tuple[float, int, str]] = []
            for m in index.search(analysis, limit=60, min_score=MIN_SCORE * 0.8):
                provider_audit, item = strengths[m.key]
                if provider_audit.school.name_key == school.name_key or not m.direct:
                    continue
                factor = phase_factor(analysis.phase, provider_audit.school.phase, school.phase)
                offered_for = index.phase_of(m.key)  # "restorative justice in a large secondary"
                if analysis.phase is None and offered_for is not None:  # is for schools of that phase first
                    factor *= phase_factor(offered_for, school.phase, provider_audit.school.phase)
                factor *= 1.0 if item.audited else 0.9
                scored.append((m.score * factor, m.key, m.reason()))
            scored.sort(key=lambda x: (-x[0], x[1]))
            providers: list[Provider] = []
            if scored:
                floor = max(MIN_SCORE, RELATIVE_CUTOFF * scored[0][0])
                seen_schools: set[str] = set()
                answered: set[str] = set()  # the need's concepts the providers listed so far answer
                for score, item_id, reason in scored:
                    provider_audit, item = strengths[item_id]
                    provider = provider_audit.school.name_key
                    if score < MIN_SCORE or provider in seen_schools:
                        continue
                    answers = index.answered(analysis, item_id)
                    if score < floor and answers <= answered:
                        continue
                    answered |= answers
                    seen_schools.add(provider)
                    used.add(item_id)
                    contacts = tuple(p.name for p in carriers(item.owner, by_school.get(provider, [])))
                    providers.append(
                        Provider(
                            school=provider_audit.school.name,
                            strength=item.text,
                            score=score,
                            why=reason,
                            audited=item.audited,
                            contacts=contacts,
                        )
                    )
                    if len(providers) == MAX_PROVIDERS:
                        break
            owners = tuple(p.name for p in carriers(need.owner, by_school.get(school.name_key, [])))
            result.needs.append(
                Need(
                    school=school.name,
                    need=need.text,
                    item_id=need.id,
                    owners=owners,
                    notes=audit.notes,
                    providers=tuple(providers),
                )
            )
    result.unused_strengths = [
        (audit.school.name, item.text) for item_id, (audit, item) in strengths.items() if item_id not in used
    ]
    return result


def summary(analysis: AuditAnalysis, *, limit: int = 8, numbered: bool = False) -> str:
    """A short summary for chat."""
    needs = analysis.needs
    matched = [n for n in needs if n.providers]
    lines = [
        f"**Audit Analysis**: {len(needs)} needs across the network; {len(matched)} have a provider of support, "
        f"{len(analysis.gaps)} are gaps; {len(analysis.unused_strengths)} strengths are not yet needed."
    ]
    for i, n in enumerate(matched[:limit], 1):
        p = n.providers[0]
        more = f" (+{len(n.providers) - 1} more)" if len(n.providers) > 1 else ""
        mark = f"{i}." if numbered else "-"
        lines.append(f"{mark} {n.school}: _{n.need}_ → **{p.school}**: {p.strength}{more}")
    if len(matched) > limit:
        lines.append(f"- … and {len(matched) - limit} more")
    if analysis.gaps:
        lines.append(
            "**Gaps** (no school offers this yet): " + "; ".join(f"{n.need} ({n.school})" for n in analysis.gaps)
        )
    lines.append("The convenor can export it all: `peerbot audit analysis --xlsx analysis.xlsx`.")
    return "\n".join(lines)
