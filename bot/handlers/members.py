"""Membership in chat: the convenor adds, moves and removes people and schools; anyone
can say they are away. The people and schools files stay the source of truth: a change
made here should also be made there, or the next import will undo it."""

from __future__ import annotations

from datetime import date

from bot.dispatch import Context, command
from bot.errors import BadInput
from bot.models.network import Person, PersonRole, School, name_key
from bot.network import store
from bot.network.csvfile import parse_date, split_list
from bot.network.parse import is_email, normalise_phase
from bot.roles import normalise_role
from bot.routing import flow
from bot.routing.flow import Sender

FILE_REMINDER = "Remember to make the same change in {file}, or the next import will undo it."


@command("member", usage="member add|move|roles|remove ...", convenor_only=True)
async def member(ctx: Context, person: Person, args: str) -> None:
    """Add, move, re-role or remove a person in the network.

    - **member add** Name, email, School, roles (e.g. head;dsl)
    - **member move** email School
    - **member roles** email head;dsl
    - **member remove** email (they leave routing at once; what was waiting for them is re-routed)
    """
    action, _, rest = args.strip().partition(" ")
    action = action.lower()
    if action == "add":
        await _add(ctx, rest)
    elif action in ("move", "roles", "remove"):
        email, _, tail = rest.strip().partition(" ")
        who = await store.person_by_email(ctx.session, ctx.network_id, email)
        if who is None or not who.active:
            raise BadInput(f"there is no one with the email {email or '(none given)'} in the network")
        if action == "move":
            await _move(ctx, who, tail)
        elif action == "roles":
            roles = _roles(tail)
            if "convenor" not in roles:
                await _keep_a_convenor(ctx, [who])
            _set_roles(ctx, who, roles)
        else:
            await _keep_a_convenor(ctx, [who])
            who.active = False
            await ctx.bot.person_left(ctx.session, who)
            ctx.log_admin("member.remove", f"person #{who.id}")
            ctx.private(
                f"{who.name} has left the network and will not be asked again. "
                + FILE_REMINDER.format(file="people.csv")
            )
    else:
        raise BadInput(
            "say **member add**, **member move**, **member roles** or **member remove** (see **help member**)"
        )


async def _add(ctx: Context, rest: str) -> None:
    parts = [p.strip() for p in rest.split(",")]
    if len(parts) != 4 or not all(parts):
        raise BadInput("give four things separated by commas: **member add** Name, email, School, roles")
    name, email, school_name, roles_text = parts
    email = email.lower()
    if not is_email(email):
        raise BadInput(f"'{email}' is not an email address")
    school = await store.find_school(ctx.session, ctx.network_id, school_name)
    roles = _roles(roles_text)
    existing = await store.person_by_email(ctx.session, ctx.network_id, email)
    if existing is not None and existing.active:
        raise BadInput(f"{email} is already in the network ({existing.name}, {existing.school.name})")
    if existing is not None:
        existing.name, existing.school, existing.active = name, school, True
        existing.role_rows = [PersonRole(role=r) for r in roles]
        who = existing
    else:
        who = Person(
            network_id=ctx.network_id,
            school=school,
            name=name,
            email=email,
            active=True,
            role_rows=[PersonRole(role=r) for r in roles],
            extra={},
        )
        ctx.session.add(who)
    await ctx.session.flush()
    ctx.log_admin("member.add", f"person #{who.id}", school=school.name, roles=roles)
    ctx.private(
        f"Added {name} ({', '.join(roles)}) at {school.name}. They can talk to me once their Slack or "
        "Discord id is in people.csv. " + FILE_REMINDER.format(file="people.csv")
    )


async def _move(ctx: Context, who: Person, school_name: str) -> None:
    if not school_name.strip():
        raise BadInput("say which school: **member move** email School")
    school = await store.find_school(ctx.session, ctx.network_id, school_name)
    if school.id == who.school_id:
        ctx.private(f"{who.name} is already at {school.name}.")
        return
    who.school = school
    ctx.log_admin("member.move", f"person #{who.id}", school=school.name)
    ctx.private(f"{who.name} is now at {school.name}. " + FILE_REMINDER.format(file="people.csv"))


async def _keep_a_convenor(ctx: Context, leaving: list[Person]) -> None:
    """Refuse a change that would leave the network with no one to administer it."""
    ids = {p.id for p in leaving}
    convenors = [p for p in await store.people_with_roles(ctx.session, ctx.network_id, ["convenor"])]
    if convenors and all(p.id in ids for p in convenors):
        names = ", ".join(p.name for p in convenors)
        raise BadInput(f"that would leave the network with no convenor ({names}): make someone else convenor first")


def _set_roles(ctx: Context, who: Person, roles: list[str]) -> None:
    keep = [r for r in who.role_rows if r.role in roles]
    have = {r.role for r in keep}
    who.role_rows = keep + [PersonRole(role=r) for r in roles if r not in have]
    ctx.log_admin("member.roles", f"person #{who.id}", roles=roles)
    ctx.private(f"{who.name}'s roles are now: {', '.join(roles)}. " + FILE_REMINDER.format(file="people.csv"))


def _roles(text: str) -> list[str]:
    raw = split_list(text.replace(",", ";").replace(" ", ";"))
    if not raw:
        raise BadInput("give at least one role, e.g. head or dsl;senco")
    roles: list[str] = []
    for r in raw:
        try:
            role = normalise_role(r)
        except ValueError as exc:
            raise BadInput(str(exc)) from None
        if role not in roles:
            roles.append(role)
    return roles


@command("school", usage="school add|remove ...", convenor_only=True)
async def school(ctx: Context, args: str) -> None:
    """Add or remove a school.

    - **school add** Name, phase (e.g. primary)
    - **school remove** Name (its people leave the network too)
    """
    action, _, rest = args.strip().partition(" ")
    if action.lower() == "add":
        parts = [p.strip() for p in rest.split(",")]
        if len(parts) != 2 or not all(parts):
            raise BadInput("give a name and a phase: **school add** Name, phase")
        name, phase_text = parts
        try:
            phase = normalise_phase(phase_text)
        except ValueError as exc:
            raise BadInput(str(exc)) from None
        key = name_key(name)
        existing = [s for s in await store.schools(ctx.session, ctx.network_id, active_only=False) if s.name_key == key]
        if existing and existing[0].active:
            raise BadInput(f"{existing[0].name} is already in the network")
        if existing:
            found = existing[0]
            found.active, found.phase = True, phase
        else:
            found = School(network_id=ctx.network_id, name=" ".join(name.split()), name_key=key, phase=phase, extra={})
            ctx.session.add(found)
        await ctx.session.flush()
        ctx.log_admin("school.add", found.name, phase=phase)
        ctx.private(f"Added {found.name} ({phase}). " + FILE_REMINDER.format(file="schools.csv"))
    elif action.lower() == "remove":
        found = await store.find_school(ctx.session, ctx.network_id, rest)
        leavers = [p for p in await store.people(ctx.session, ctx.network_id) if p.school_id == found.id]
        await _keep_a_convenor(ctx, leavers)
        found.active = False
        for p in leavers:
            p.active = False
            await ctx.bot.person_left(ctx.session, p)
        ctx.log_admin("school.remove", found.name, people=len(leavers))
        ctx.private(
            f"{found.name} has left the network, with {len(leavers)} people. "
            + FILE_REMINDER.format(file="schools.csv and people.csv")
        )
    else:
        raise BadInput("say **school add** Name, phase or **school remove** Name")


@command("away", usage="away [until YYYY-MM-DD]")
async def away(ctx: Context, person: Person, args: str) -> None:
    """Pause requests for your help (until a date, or until you say **back**). Requests
    already waiting for you go to other peers."""
    text = args.strip().removeprefix("until").strip()
    if text:
        try:
            until = parse_date(text)
        except ValueError as exc:
            raise BadInput(str(exc)) from None
    else:
        until = date(9999, 12, 31)
    today = ctx.now.astimezone(ctx.config.zone).date()
    if until < today:
        raise BadInput(f"{until:%-d %B %Y} has already passed")
    person.away_until = until
    when = f"until {until:%-d %B %Y}" if text else "until you say **back**"
    sender = Sender(ctx.bot, ctx.session, prefer=ctx.event.place.platform)
    moved = await flow.step_aside(ctx.bot, ctx.session, sender, person)
    ctx.queued += sender.queued
    passed = ""
    if moved == 1:
        passed = " I've passed the request that was waiting for you to someone else."
    elif moved:
        passed = f" I've passed the {moved} requests that were waiting for you to other peers."
    ctx.private(f"Got it: I won't ask you for help {when}.{passed}")


@command("back")
async def back(ctx: Context, person: Person) -> None:
    """Say you are back and can be asked for help again."""
    person.away_until = None
    ctx.private("Welcome back: peers can ask for your help again.")
