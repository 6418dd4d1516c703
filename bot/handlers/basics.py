"""The basics: help, who am I, the network, and its audited strengths and needs."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy.ext.asyncio import AsyncSession

from bot.dispatch import Context, command, home_section, on_join
from bot.errors import NotFound
from bot.home import HomeSection, build_home, render_text
from bot.models.network import Audit, AuditItem, Person, name_key
from bot.network import store
from bot.network.owners import carriers
from bot.roles import in_group, role_label
from knowledge.vocabulary import default_vocabulary

PER_SCHOOL = 4  # items per school in a network-wide list; the rest are counted


@command("help", aliases=("?", "commands"), usage="help [command]")
async def help_(ctx: Context, args: str) -> None:
    """Show what I can do, or how to use one command."""
    registry = ctx.bot.registry
    name = args.strip().lower().split(" ")[0] if args.strip() else ""
    if name:
        spec = registry.commands.get(name)
        if spec is None or spec.hidden:
            ctx.private(f"There is no command '{name[:40]}'. Type **help** for the list.")
            return
        ctx.private(f"**{spec.usage}**\n{spec.details}")
        return
    is_convenor = bool(ctx.person and ctx.person.is_convenor)
    lines = [f"**peerbot** — the {ctx.config.network_name} network's assistant. Commands:"]
    for spec in registry.visible_commands():
        if spec.convenor_only and not is_convenor:
            continue
        lines.append(f"- **{spec.usage}** — {spec.help}")
    lines.append("Type **help** and a command's name for more about it.")
    ctx.private("\n".join(lines))


@command("whoami", aliases=("me",))
async def whoami(ctx: Context, person: Person) -> None:
    """Show who I think you are, your school, roles and groups."""
    groups = [name for name, g in ctx.config.enabled_groups().items() if in_group(person.roles, g.roles)]
    roles = ", ".join(role_label(r) for r in person.roles)
    ctx.private(
        f"You are **{person.name}** ({person.email}) at **{person.school.name}**.\n"
        f"Roles: {roles}.\nGroups: {', '.join(groups) or 'none yet'}."
    )


@command("network", aliases=("schools",))
async def network(ctx: Context) -> None:
    """List the network's schools and how many people each has here."""
    schools = await store.schools(ctx.session, ctx.network_id)
    people = await store.people(ctx.session, ctx.network_id)
    if not schools:
        ctx.private("The network has no schools yet: the convenor imports them with `peerbot network import`.")
        return
    per_school: dict[int, int] = defaultdict(int)
    for p in people:
        per_school[p.school_id] += 1
    lines = [f"**{ctx.config.network_name}**: {len(schools)} schools, {len(people)} people."]
    for s in schools:
        size = f", {s.pupils} pupils" if s.pupils else ""
        lines.append(f"- {s.name} ({s.phase}{size}) — {per_school[s.id]} here")
    ctx.private("\n".join(lines))


@command("strengths", aliases=("strength", "offers"), usage="strengths [school or topic]")
async def strengths(ctx: Context, args: str) -> None:
    """Show what schools offer the network from their audit: one school's, or on a topic (e.g. SEND)."""
    await _audit_items(ctx, args, "strength")


@command("needs", aliases=("need",), usage="needs [school or topic]")
async def needs(ctx: Context, args: str) -> None:
    """Show schools' development needs from their audit: one school's, or on a topic (e.g. attendance)."""
    await _audit_items(ctx, args, "need")


async def _audit_items(ctx: Context, args: str, kind: str) -> None:
    plural = "strengths" if kind == "strength" else "needs"
    if args.strip():
        try:
            school = await store.find_school(ctx.session, ctx.network_id, args)
        except NotFound as not_a_school:
            if not await _by_topic(ctx, args, kind, plural):
                raise not_a_school from None
            return
        audit = await store.current_audit(ctx.session, school.id)
        items = [i for i in audit.items if i.kind == kind] if audit else []
        if audit is None or not items:
            ctx.private(f"**{school.name}** has no {plural} in its audit yet.")
            return
        people = [p for p in await store.people(ctx.session, ctx.network_id) if p.school_id == school.id]
        lines = [f"**{school.name}** — {plural} ({_provenance(audit)}):"]
        for item in items:
            who = ", ".join(f"{p.name}" for p in carriers(item.owner, people))
            lines.append(f"- {item.text}" + (f" — {who}" if who else ""))
        ctx.private("\n".join(lines))
        return
    audits = await store.current_audits(ctx.session, ctx.network_id)
    with_items = [(a, [i for i in a.items if i.kind == kind]) for a in audits]
    with_items = [(a, items) for a, items in with_items if items]
    if not with_items:
        ctx.private(
            f"No school has recorded {plural} yet: the convenor imports the audit with `peerbot network import`."
        )
        return
    title = "What schools offer" if kind == "strength" else "What schools are working on"
    lines = [f"**{title}** (type **{plural} <school>** for one school in full):"]
    for audit, items in with_items:
        lines.append(f"- **{audit.school.name}**{'' if audit.audited else ' (self-declared)'}: {_summary(items)}")
    ctx.private("\n".join(lines))


async def _by_topic(ctx: Context, words: str, kind: str, plural: str) -> bool:
    """List items on the topics ``words`` name ("send", "attendance", "EBSA"); False if none."""
    vocab = default_vocabulary()
    wanted_topics = {t for t in vocab.topics if name_key(words) in (t, name_key(vocab.topics[t].label))}
    wanted_concepts = set(vocab.concept_ids(words))
    wanted_topics |= {vocab.concepts[c].topic for c in wanted_concepts}
    if not wanted_topics:
        return False
    lines: list[str] = []
    for audit in await store.current_audits(ctx.session, ctx.network_id):
        for item in audit.items:
            if item.kind != kind:
                continue
            found = set(vocab.concept_ids(item.text))
            if found & wanted_concepts or {vocab.concepts[c].topic for c in found} & wanted_topics:
                lines.append(f"- **{audit.school.name}**: {item.text}")
    labels = ", ".join(vocab.topics[t].label for t in sorted(wanted_topics))
    if not lines:
        ctx.private(f"No school lists {plural} about {labels} yet.")
    else:
        ctx.private("\n".join([f"**{plural.capitalize()} about {labels}:**", *lines]))
    return True


def _provenance(audit: Audit) -> str:
    if audit.audited_by:
        when = f" on {audit.audited_on:%-d %B %Y}" if audit.audited_on else ""
        return f"audited by {audit.audited_by}{when}"
    return "self-declared"


def _summary(items: list[AuditItem]) -> str:
    shown = "; ".join(i.text for i in items[:PER_SCHOOL])
    more = len(items) - PER_SCHOOL
    return shown + (f" (+{more} more)" if more > 0 else "")


@command("home", aliases=("waiting", "mine"))
async def home(ctx: Context, person: Person) -> None:
    """Show what is waiting for you: your questions, requests for your help, meetings."""
    sections = await build_home(ctx.bot, ctx.session, person)
    ctx.private(render_text(sections))


@home_section(order=90)
async def school_strengths(session: AsyncSession, person: Person) -> HomeSection:
    """Your school's strengths, as the network sees them."""
    audit = await store.current_audit(session, person.school_id)
    items = [i.text for i in audit.strengths()] if audit else []
    return HomeSection(
        title=f"{person.school.name}'s strengths",
        lines=tuple(items),
        empty="Your school has no strengths in the audit yet: ask your convenor to add them.",
    )


@on_join()
async def welcome(ctx: Context, person: Person, group: str | None) -> None:
    """Greet a network member who joins one of the network's channels."""
    if group is None:
        return
    ctx.private(f"Welcome to the {group} channel, {person.name.split(' ')[0]}! Type **help** to see what I can do.")
