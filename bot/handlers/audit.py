"""The audit in chat: see a school's audit, propose a change, confirm it."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from bot.audit import changes
from bot.audit.analysis import analyse, summary
from bot.audit.plan import action_from_need
from bot.dispatch import Context, command, on_button
from bot.errors import BadInput
from bot.models.audit import AuditProposal
from bot.models.network import Audit, AuditItem, Person, School
from bot.network import store
from bot.network.owners import carriers
from bot.numbers import whole_number
from bot.replies import Button, EditMessage, Message, ToPerson

SUMMARY_LINES = 8


@command("audit", usage="audit [school:] [add|remove strength|need ...]")
async def audit(ctx: Context, person: Person, args: str) -> None:
    """See a school's Partnership Audit, or propose a change to your school's.

    **audit** shows your school's strengths and needs, numbered; **audit oakfield** another
    school's. **audit add strength Phonics rollout [senco]** or **audit remove need 2** proposes a
    change, which the convenor (or your school's auditor) confirms with one button; an item
    counts as audited only when someone outside your school confirms it.
    """
    school, rest = await _school_and_rest(ctx, person, args)
    current = await store.current_audit(ctx.session, school.id)
    if not rest:
        ctx.private(await _describe(ctx, school, current))
        return
    change = changes.parse_change(rest, current)
    proposal = await changes.propose(
        ctx.session, network_id=ctx.network_id, school=school, proposer=person, change=change, now=ctx.now
    )
    confirmers: list[Person] | None = None
    if await changes.may_confirm(ctx.session, person, school):
        # A change to your own school's audit goes to someone outside it, if there is anyone.
        outside: list[Person] = []
        if not changes.independent(person, school):
            confirmers = await _confirmers(ctx, school)
            outside = [c for c in confirmers if c.id != person.id and changes.independent(c, school)]
        if changes.independent(person, school) or not outside:
            await changes.apply(ctx.session, proposal, confirmer=person, today=_today(ctx), now=ctx.now)
            ctx.log_admin("audit.change", school.name, proposal=proposal.id, change=proposal.change, kind=proposal.kind)
            if proposal.change == "remove":
                ctx.private(f"Done: {proposal.describe()} for **{school.name}**.")
            elif changes.independent(person, school):
                ctx.private(f"Done: {proposal.describe()} for **{school.name}**, marked audited by you today.")
            else:
                ctx.private(
                    f"Done: {proposal.describe()} for **{school.name}**, as self-declared: no one outside "
                    f"{school.name} can confirm it, so it is not marked audited."
                )
            return
        confirmers = outside
    if confirmers is None:
        confirmers = await _confirmers(ctx, school)
    if not confirmers:
        raise BadInput("the network has no convenor to confirm audit changes: ask for one to be named in people.csv")
    for c in confirmers:
        await ctx.send(
            ToPerson(c.id),
            Message(
                text=f"**{person.name}** ({school.name}) proposes to {proposal.describe()}.",
                buttons=(
                    Button(label="Confirm", action="audit.confirm", value=str(proposal.id), style="primary"),
                    Button(label="Reject", action="audit.reject", value=str(proposal.id)),
                ),
            ),
            key=_key(proposal, c),
        )
    ctx.log_admin("audit.propose", school.name, proposal=proposal.id)
    ctx.private(f"Thanks — I've asked {_names(confirmers)} to confirm: {proposal.describe()}.")


@command("analysis", usage="analysis")
async def analysis(ctx: Context, person: Person) -> None:
    """The Audit Analysis: which schools can support each need, and the network's gaps.

    The convenor gets a **Plan N** button for each pairing, which turns it into an action on
    the Partnership Action Plan (owner: the provider's contact; review: the end of the half-term).
    """
    result = await analyse(ctx.session, ctx.network_id)
    buttons: list[Button] = []
    if person.is_convenor:
        shown = [n for n in result.needs if n.providers][:SUMMARY_LINES]
        buttons = [
            Button(label=f"Plan {i}", action="audit.plan", value=str(n.item_id))
            for i, n in enumerate(shown, 1)
            if n.item_id is not None
        ]
    ctx.private(summary(result, limit=SUMMARY_LINES, numbered=bool(buttons)), buttons=buttons)


@on_button("audit.plan")
async def plan_from_analysis(ctx: Context, person: Person, event: object) -> None:
    value = getattr(event, "value", "")
    if not person.is_convenor:
        raise BadInput("only the network's convenor can add to the action plan from the analysis")
    item_id = whole_number(value)
    if item_id is None:
        raise BadInput("that button no longer matches a need")
    row = await action_from_need(ctx.session, ctx.bot, item_id=item_id, now=ctx.now, created_by=person)
    ctx.log_admin("action.add", str(row.id), source="audit")
    owner = row.owner.name if row.owner else "nobody yet"
    ctx.private(
        f"Added action {row.id} to the action plan: _{row.action}_ — {owner}, review on "
        f"{row.review_on.day} {row.review_on:%B %Y}. Change the date with **action review {row.id} <date>**."
    )


@command("proposals", convenor_only=True)
async def proposals(ctx: Context) -> None:
    """List the audit changes waiting for confirmation."""
    pending = (
        await ctx.session.execute(
            select(AuditProposal)
            .where(AuditProposal.network_id == ctx.network_id, AuditProposal.status == "pending")
            .order_by(AuditProposal.created_at)
        )
    ).scalars()
    rows = list(pending)
    if not rows:
        ctx.private("No audit changes are waiting for confirmation.")
        return
    for p in rows:
        who = p.proposer.name if p.proposer else "someone who has left"
        ctx.private(
            f"{p.school.name}: {p.describe()} — proposed by {who}.",
            buttons=(
                Button(label="Confirm", action="audit.confirm", value=str(p.id), style="primary"),
                Button(label="Reject", action="audit.reject", value=str(p.id)),
            ),
        )


@on_button("audit.confirm")
async def confirm(ctx: Context, person: Person, event: object) -> None:
    await _decide(ctx, person, getattr(event, "value", ""), accept=True)


@on_button("audit.reject")
async def reject(ctx: Context, person: Person, event: object) -> None:
    await _decide(ctx, person, getattr(event, "value", ""), accept=False)


async def _decide(ctx: Context, person: Person, value: str, *, accept: bool) -> None:
    proposal_id = whole_number(value)
    proposal = await ctx.session.get(AuditProposal, proposal_id) if proposal_id is not None else None
    if proposal is None or proposal.network_id != ctx.network_id:
        raise BadInput("that proposal no longer exists")
    if not await changes.may_confirm(ctx.session, person, proposal.school):
        raise BadInput("only the network's convenor or the school's auditor can confirm audit changes")
    if proposal.status != "pending":
        ctx.private(f"That proposal was already {proposal.status}.")
        return
    if accept:
        await changes.apply(ctx.session, proposal, confirmer=person, today=_today(ctx), now=ctx.now)
        outcome = f"confirmed by {person.name}"
        if proposal.change == "add" and not changes.independent(person, proposal.school):
            outcome += " (self-declared: they are at the school)"
    else:
        proposal.status, proposal.decided_by, proposal.decided_at = "rejected", person.id, ctx.now
        outcome = f"not accepted by {person.name}"
    ctx.log_admin(f"audit.{'confirm' if accept else 'reject'}", proposal.school.name, proposal=proposal.id)
    summary = f"{proposal.school.name}: {proposal.describe()} — {outcome}."
    for c in await _confirmers(ctx, proposal.school):
        await ctx.send(EditMessage(key=_key(proposal, c)), Message(text=summary), key=f"{_key(proposal, c)}:decided")
    if proposal.proposer is not None and proposal.proposer.id != person.id:
        await ctx.send(
            ToPerson(proposal.proposer.id), Message(text=summary), key=f"audit:proposal:{proposal.id}:outcome"
        )
    ctx.private(summary)


async def _school_and_rest(ctx: Context, person: Person, args: str) -> tuple[School, str]:
    text = args.strip()
    first = text.split(" ", 1)[0].lower() if text else ""
    if not text or first in ("add", "remove"):
        return person.school, text
    head, sep, tail = text.partition(":")
    if sep:
        return await store.find_school(ctx.session, ctx.network_id, head), tail.strip()
    return await store.find_school(ctx.session, ctx.network_id, text), ""


async def _describe(ctx: Context, school: School, audit: Audit | None) -> str:
    if audit is None:
        return f"**{school.name}** has no audit yet."
    people = [p for p in await store.people(ctx.session, ctx.network_id) if p.school_id == school.id]
    by = f"audited by {audit.audited_by}" if audit.audited_by else "self-declared"
    when = f" on {audit.audited_on:%-d %B %Y}" if audit.audited_on else ""
    lines = [f"**{school.name}** — Partnership Audit ({by}{when})"]
    for title, items in (("Strengths", audit.strengths()), ("Needs", audit.needs())):
        lines.append(f"**{title}:**" if items else f"**{title}:** none recorded")
        for n, item in enumerate(items, 1):
            who = ", ".join(p.name for p in carriers(item.owner, people))
            lines.append(f"{n}. {item.text}" + (f" — {who}" if who else "") + _checked(item, audit))
    pending = (
        await ctx.session.execute(
            select(AuditProposal).where(AuditProposal.school_id == school.id, AuditProposal.status == "pending")
        )
    ).scalars()
    for p in pending:
        lines.append(f"_Waiting for confirmation: {p.describe()}_")
    lines.append("To change it: **audit add strength <text> [role]** or **audit remove need <number>**.")
    return "\n".join(lines)


def _checked(item: AuditItem, audit: Audit) -> str:
    """An item checked otherwise than the audit as a whole (added in chat since)."""
    if (item.audited_by, item.audited_on) == (audit.audited_by, audit.audited_on):
        return ""
    if not item.audited_by:
        return " _(self-declared)_"
    when = f" on {item.audited_on:%-d %B %Y}" if item.audited_on else ""
    return f" _(audited by {item.audited_by}{when})_"


async def _confirmers(ctx: Context, school: School) -> list[Person]:
    everyone = await store.people(ctx.session, ctx.network_id)
    return [p for p in everyone if await changes.may_confirm(ctx.session, p, school)]


def _key(proposal: AuditProposal, confirmer: Person) -> str:
    return f"audit:proposal:{proposal.id}:ask:{confirmer.id}"


def _names(people: list[Person]) -> str:
    names = [p.name for p in people]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _today(ctx: Context) -> date:
    return ctx.now.astimezone(ctx.config.zone).date()
