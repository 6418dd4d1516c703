"""Meetings in chat: the poll's buttons, RSVPs, the agenda, the action plan, term dates."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime

from rapidfuzz import fuzz, process
from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin_log import person_ref
from bot.audit.plan import ActionChange, review_day, update_action
from bot.calendar import SchoolCalendar
from bot.config import Config
from bot.dispatch import Context, background, command, home_section, on_button, on_startup
from bot.errors import BadInput, NotFound
from bot.events import ButtonPressed
from bot.home import HomeSection
from bot.meetings import service
from bot.meetings.nudges import retime_overdue
from bot.meetings.scheduler import MeetingScheduler
from bot.meetings.terms import sync_config_terms
from bot.meetings.text import day_text, long_date, parse_when, span_text, when_text
from bot.models.meetings import Action, Meeting, MeetingOption
from bot.models.network import Person
from bot.network import store
from bot.numbers import MAX_ID, MAX_TIMESTAMP, whole_number
from bot.replies import Button

log = logging.getLogger(__name__)

_ACTION_ADD = re.compile(r"^(?P<owner>.+?)\s+by\s+(?P<date>[^:]+?)\s*:\s*(?P<text>.+)$", re.I | re.S)


# -- helpers -------------------------------------------------------------------------------
def _int(text: str, what: str) -> int:
    text = text.strip().lstrip("#")
    number = whole_number(text)
    if number is None:
        raise BadInput(f"which {what}? Give its number, e.g. 12")
    return number


async def find_person(session: AsyncSession, network_id: int, query: str) -> Person:
    """The active person a convenor means: an email, a full name, or a close spelling."""
    q = " ".join(query.strip().lstrip("@").split())
    if not q:
        raise BadInput("who owns it? Give their name or email")
    people = await store.people(session, network_id)
    if "@" in q:
        for p in people:
            if p.email == q.lower():
                return p
        raise NotFound(f"nobody in the network has the email {q}")
    key = q.casefold()
    exact = [p for p in people if p.name.casefold() == key]
    if len(exact) == 1:
        return exact[0]
    partial = exact or [p for p in people if key in p.name.casefold()]
    if len(partial) == 1:
        return partial[0]
    if len(partial) > 1:
        names = ", ".join(f"{p.name} ({p.school.name})" for p in partial[:4])
        raise NotFound(f"'{q}' could be {names}: use their email")
    best = process.extract(key, {p.id: p.name.casefold() for p in people}, scorer=fuzz.WRatio, limit=1, score_cutoff=80)
    if best:
        close = next(p for p in people if p.id == best[0][2])
        raise NotFound(f"there is nobody called '{q}' in the network — did you mean {close.name} ({close.email})?")
    raise NotFound(f"there is nobody called '{q}' in the network")


def _groups_for(ctx: Context, person: Person) -> list[str]:
    if ctx.group is not None:
        return [ctx.group]
    return service.person_groups(ctx.bot, person)


def _meeting_line(m: Meeting, *, now: datetime) -> str:
    zone = service._zone(m)
    if m.status == "booked" and m.start and m.end:
        return f"#{m.id} **{m.title}**: {span_text(m.start, m.end, zone)}"
    if m.status == "polling" and m.poll_closed_at is None:
        closes = f" until {when_text(m.poll_closes_at, zone)}" if m.poll_closes_at else ""
        return f"#{m.id} **{m.title}**: poll open{closes}"
    if m.status == "polling":
        return f"#{m.id} **{m.title}**: poll closed, waiting for the convenor to choose a date"
    if m.problem:
        return f"#{m.id} **{m.title}**: can't be planned — {m.problem}"
    opens = f", poll opens {when_text(m.poll_opens_at, zone)}" if m.poll_opens_at and m.poll_opens_at > now else ""
    return f"#{m.id} **{m.title}**: {len(m.options)} possible dates{opens}"


# -- meetings ------------------------------------------------------------------------------
@command("meetings", aliases=("meeting",), usage="meetings [book|close|cancel N ...]")
async def meetings_(ctx: Context, person: Person, args: str, session: AsyncSession, now: datetime) -> None:
    """List your groups' coming meetings. Convenor: **meeting book N 2** books poll date 2
    (or **meeting book N 2026-12-02 16:00** any time, which also moves a booked meeting),
    **meeting close N** closes a poll now, **meeting cancel N** cancels."""
    verb, _, rest = args.strip().partition(" ")
    verb = verb.lower()
    if verb in ("book", "move", "close", "cancel"):
        if not person.is_convenor:
            ctx.private(f"Only the network's convenor can {verb} meetings.")
            return
        number, _, when = rest.strip().partition(" ")
        meeting = await service.get_meeting(session, ctx.network_id, _int(number, "meeting"), lock=True)
        if verb == "close":
            outcome = await service.close_poll(session, ctx.bot, meeting, now)
            ctx.private(f"Closed the poll for the **{meeting.title}**: {outcome}.")
        elif verb == "cancel":
            await service.cancel_meeting(session, ctx.bot, meeting, now)
            ctx.log_admin("meeting.cancel", meeting.title)
            ctx.private(f"Cancelled the **{meeting.title}**; the group has been told.")
        else:
            await _book(ctx, session, meeting, when, now)
        return
    groups = service.person_groups(ctx.bot, person)
    rows = await service.meetings(ctx.session, ctx.network_id, statuses=service.OPEN_STATUSES)
    shown = [m for m in rows if person.is_convenor or m.group_name in groups]
    if not shown:
        cal = await SchoolCalendar.load(session, ctx.network_id, ctx.config)
        if not cal.has_terms:
            ctx.private("No meetings yet: no term dates are loaded (see **terms**).")
        else:
            ctx.private("None of your groups has a meeting coming up.")
        return
    ctx.private("**Coming meetings**\n" + "\n".join(f"- {_meeting_line(m, now=now)}" for m in shown))


async def _book(ctx: Context, session: AsyncSession, meeting: Meeting, when: str, now: datetime) -> None:
    when = when.strip()
    if not when:
        raise BadInput(f"book it when? **meeting book {meeting.id} 2** (poll date 2) or a date and time")
    n = whole_number(when)
    if n is not None:
        if not 1 <= n <= len(meeting.options):
            raise BadInput(
                f"the {meeting.title} has {len(meeting.options)} poll dates; choose 1 to {len(meeting.options)}"
            )
        option = meeting.options[n - 1]
        start, end = option.start, option.end
    else:
        zone = service._zone(meeting)
        start = parse_when(when, zone=zone, today=now.astimezone(zone).date())
        duration = service.group_settings(ctx.bot, meeting.group_name).meetings.duration
        end = start + ((meeting.end - meeting.start) if meeting.start and meeting.end else duration)
        problems = await service.booking_problems(session, ctx.bot, meeting, start, end) if start > now else []
        if problems:
            value = f"{meeting.id}:{int(start.timestamp())}:{int(end.timestamp())}"
            ctx.private(
                f"I haven't booked it: {service.refusal(meeting, start, problems)}. "
                "Choose another time, or press **Book it anyway** if you mean it.",
                buttons=(Button(label="Book it anyway", action="meeting.force", value=value, style="danger"),),
            )
            return
    await _book_at(ctx, session, meeting, start, end, now)


async def _book_at(
    ctx: Context, session: AsyncSession, meeting: Meeting, start: datetime, end: datetime, now: datetime, **log: str
) -> None:
    moving = meeting.status == "booked"
    await service.book(session, ctx.bot, meeting, start, end, now)
    ctx.log_admin("meeting.move" if moving else "meeting.book", meeting.title, start=start.isoformat(), **log)
    ctx.private(
        f"{'Moved' if moving else 'Booked'} the **{meeting.title}** for "
        f"{span_text(start, end, service._zone(meeting))}; the group gets the invitation."
    )


@on_button("meeting.force")
async def book_anyway(ctx: Context, person: Person, event: ButtonPressed, session: AsyncSession, now: datetime) -> None:
    """The convenor books a time they were warned about (a bank holiday, outside term...)."""
    if not person.is_convenor:
        ctx.private("Only the network's convenor can book meetings.")
        return
    parts = event.value.split(":")
    numbers = [whole_number(p, most=MAX_TIMESTAMP if i else MAX_ID) for i, p in enumerate(parts)]
    if len(numbers) != 3 or None in numbers:
        raise BadInput("that button is out of date: type **meeting book N DATE TIME** again")
    meeting_id, starts, ends = (n for n in numbers if n is not None)
    start, end = (datetime.fromtimestamp(t, tz=UTC) for t in (starts, ends))
    meeting = await service.get_meeting(session, ctx.network_id, meeting_id, lock=True)
    if meeting.status == "booked" and meeting.start == start and meeting.end == end:
        ctx.private(f"The **{meeting.title}** is already booked for that time.")
        return
    await _book_at(ctx, session, meeting, start, end, now, forced="yes")


@on_button("meeting.vote")
async def vote(ctx: Context, person: Person, event: ButtonPressed, session: AsyncSession, now: datetime) -> None:
    value = event.value
    result = await service.toggle_vote(session, ctx.bot, person, _int(value, "date"), now)
    zone = service._zone(result.meeting)
    if result.ticked:
        dates = ", ".join(day_text(o.start.astimezone(zone).date()) for o in result.ticked)
        ctx.private(f"Thanks — you can make: {dates}. Press a date again to untick it.")
    else:
        ctx.private("Noted: you can't make any of the dates so far.")


@on_button("meeting.rsvp")
async def rsvp(ctx: Context, person: Person, event: ButtonPressed, session: AsyncSession, now: datetime) -> None:
    number, _, answer = event.value.partition(":")
    meeting = await service.rsvp(session, ctx.bot, person, _int(number, "meeting"), answer, now)
    assert meeting.start is not None
    when = when_text(meeting.start, service._zone(meeting))
    if answer == "yes":
        ctx.private(f"Thanks — you're down as coming to the **{meeting.title}** ({when}).")
    else:
        ctx.private(f"Thanks for letting us know you can't make the **{meeting.title}** ({when}).")


@on_button("meeting.book")
async def book_button(ctx: Context, person: Person, event: ButtonPressed, session: AsyncSession, now: datetime) -> None:
    if not person.is_convenor:
        ctx.private("Only the network's convenor can choose the date.")
        return
    option = await session.get(MeetingOption, _int(event.value, "date"))
    if option is None:
        raise BadInput("that date is no longer on offer")
    meeting = await service.get_meeting(session, ctx.network_id, option.meeting_id, lock=True)
    if meeting.status == "booked" and meeting.start == option.start:
        ctx.private(f"The **{meeting.title}** is already booked for that date.")
        return
    if meeting.status == "booked":
        assert meeting.start is not None
        raise BadInput(
            f"the {meeting.title} is already booked for {when_text(meeting.start, service._zone(meeting))}; "
            f"to move it, type **meeting book {meeting.id}** and the new date and time"
        )
    await service.book(session, ctx.bot, meeting, option.start, option.end, now)
    ctx.log_admin("meeting.book", meeting.title, start=option.start.isoformat())
    ctx.private(f"Booked the **{meeting.title}** for {span_text(option.start, option.end, service._zone(meeting))}.")


@on_button("meeting.cancel")
async def cancel_button(
    ctx: Context, person: Person, event: ButtonPressed, session: AsyncSession, now: datetime
) -> None:
    if not person.is_convenor:
        ctx.private("Only the network's convenor can cancel a meeting.")
        return
    meeting = await service.get_meeting(session, ctx.network_id, _int(event.value, "meeting"))
    await service.cancel_meeting(session, ctx.bot, meeting, now)
    ctx.log_admin("meeting.cancel", meeting.title)
    ctx.private(f"Cancelled the **{meeting.title}**.")


# -- the agenda ----------------------------------------------------------------------------
@command("agenda", usage="agenda [add ITEM | remove N]")
async def agenda(ctx: Context, person: Person, args: str, session: AsyncSession, now: datetime) -> None:
    """Show the agenda of your group's next meeting; **agenda add** your item to add one
    (in a DM with several groups: **agenda add dsl: your item**); **agenda remove N**."""
    verb, _, rest = args.strip().partition(" ")
    verb = verb.lower()
    groups = _groups_for(ctx, person)
    if verb == "add":
        head, colon, tail = rest.partition(":")
        if colon and head.strip().lower() in ctx.config.enabled_groups():
            groups, rest = [head.strip().lower()], tail
        elif ctx.group is None and len(groups) > 1:
            meetings = [m for g in groups if (m := await service.next_meeting(session, ctx.bot, [g], now))]
            if len(meetings) > 1:
                names = ", ".join(m.group_name for m in meetings)
                raise BadInput(
                    f"you're in several groups with meetings ({names}): say which, e.g. "
                    f"**agenda add {meetings[0].group_name}: your item**"
                )
    meeting = await service.next_meeting(session, ctx.bot, groups, now)
    if meeting is None:
        ctx.private("There's no meeting coming up for your group yet, so there's no agenda to add to.")
        return
    if verb == "add":
        n = await service.add_agenda_item(session, ctx.bot, meeting, person, rest, now)
        ctx.private(f"Added to the **{meeting.title}** agenda as item {n}. Type **agenda** to see it all.")
        return
    if verb == "remove":
        text = await service.remove_agenda_item(session, ctx.bot, meeting, person, _int(rest, "item"), now)
        ctx.private(f"Removed “{text[:60]}” from the agenda.")
        return
    if verb:
        raise BadInput("type **agenda** to see it, **agenda add** and your item, or **agenda remove N**")
    lines = await service.agenda_lines_for(session, meeting)
    zone = service._zone(meeting)
    when = span_text(meeting.start, meeting.end, zone) if meeting.start and meeting.end else "date not yet booked"
    body = "\n".join(lines) if lines else "No items yet. Add one with **agenda add** and your item."
    ctx.private(f"**{meeting.title}** ({when})\n{body}")


# -- the action plan -----------------------------------------------------------------------
@command("actions", aliases=("action",), usage="actions [mine | add OWNER by DATE: ACTION | done N | owner N WHO]")
async def actions(ctx: Context, person: Person, args: str, session: AsyncSession, now: datetime) -> None:
    """The Partnership Action Plan: open actions with owners and review dates.
    **action add Jo Khan by 15 Jan: share the plan** adds one; **action done N** marks it
    done; **action review N 1 Feb** moves its review date; **action owner N Jo Khan** hands it
    to someone else; **actions mine** shows yours."""
    verb, _, rest = args.strip().partition(" ")
    verb = verb.lower()
    if verb == "add":
        m = _ACTION_ADD.match(rest.strip())
        if not m:
            raise BadInput("add an action like this: **action add Jo Khan by 15 Jan: share the phonics plan**")
        owner = await find_person(session, ctx.network_id, m.group("owner"))
        today = now.astimezone(ctx.config.zone).date()
        review_on = review_day(m.group("date"), today=today)
        groups = _groups_for(ctx, person)
        meeting = await service.last_held(session, ctx.bot, groups)
        if meeting is None and not groups and not person.is_convenor:
            raise BadInput("you're not in a group with meetings, so I can't tell which plan this belongs to")
        row = await service.add_action(
            session,
            ctx.bot,
            owner=owner,
            review_on=review_on,
            action=m.group("text"),
            now=now,
            meeting=meeting,
            group=meeting.group_name if meeting else (groups[0] if groups else None),
            created_by=person,
        )
        ctx.log_admin("action.add", str(row.id), owner=person_ref(owner))
        ctx.private(
            f"Added action {row.id} for **{owner.name}**, review on {long_date(review_on)}. "
            "I'll remind them before then."
        )
        return
    if verb in ("done", "review"):
        number, _, when = rest.strip().partition(" ")
        row = await service.get_action(session, ctx.network_id, _int(number, "action"))
        if verb == "done":
            await service.complete_action(session, ctx.bot, row, person, now)
            ctx.private(f"Marked action {row.id} done — thank you.")
        else:
            if person.id not in (row.owner_id, row.created_by) and not person.is_convenor:
                raise BadInput("only the action's owner (or the convenor) can move its review date")
            review_on = review_day(when, today=now.astimezone(ctx.config.zone).date())
            await service.move_review(session, ctx.bot, row, review_on, now)
            ctx.private(f"Action {row.id} will now be reviewed on {long_date(review_on)}.")
        return
    if verb == "owner":
        number, _, who = rest.strip().partition(" ")
        row = await service.get_action(session, ctx.network_id, _int(number, "action"))
        if person.id not in (row.owner_id, row.created_by) and not person.is_convenor:
            raise BadInput("only the action's owner (or the convenor) can hand it to someone else")
        owner = await find_person(session, ctx.network_id, who)
        changed = await update_action(session, ctx.bot, row, ActionChange(owner=owner), now=now, by=person)
        if not changed:
            ctx.private(f"{owner.name} already carries action {row.id}.")
            return
        ctx.log_admin("action.update", str(row.id), changed=changed, owner=person_ref(owner))
        ctx.private(
            f"Action {row.id} is now carried by **{owner.name}** ({owner.school.name}), review on "
            f"{long_date(row.review_on)}. I've told them."
            if owner.id != person.id
            else f"Action {row.id} is now yours, review on {long_date(row.review_on)}."
        )
        return
    if verb and verb != "mine":
        raise BadInput(
            "try **actions**, **actions mine**, **action add ...**, **action done N** or **action owner N** and a name"
        )
    await _list_actions(ctx, person, session, mine=verb == "mine", group=ctx.group)


async def _list_actions(ctx: Context, person: Person, session: AsyncSession, *, mine: bool, group: str | None) -> None:
    rows = await service.open_actions(session, ctx.network_id, owner_id=person.id if mine else None, group=group)
    if not rows:
        ctx.private("No open actions." if not mine else "You have no open actions.")
        return
    ctx.private("**Open actions**\n" + "\n".join(f"- {action_line(a)}" for a in rows[:30]))


def action_line(a: Action) -> str:
    owner = f"{a.owner.name} ({a.owner.school.name})" if a.owner else "no owner"
    return f"{a.id}. {a.action} — {owner}, review {day_text(a.review_on)} {a.review_on.year}"


@on_button("action.done")
async def action_done(ctx: Context, person: Person, event: ButtonPressed, session: AsyncSession, now: datetime) -> None:
    row = await service.get_action(session, ctx.network_id, _int(event.value, "action"))
    if row.status == "done":
        ctx.private(f"Action {row.id} is already marked done.")
        return
    await service.complete_action(session, ctx.bot, row, person, now)
    ctx.private(f"Marked “{row.action[:60]}” done — thank you.")


@on_button("actions.list")
async def actions_list(ctx: Context, person: Person, event: ButtonPressed, session: AsyncSession) -> None:
    group = event.value or None
    await _list_actions(ctx, person, session, mine=False, group=group if group in ctx.config.enabled_groups() else None)


# -- term dates ----------------------------------------------------------------------------
@command("terms", aliases=("term", "holidays"))
async def terms(ctx: Context, session: AsyncSession, now: datetime) -> None:
    """Show this academic year's half-terms and INSET days."""
    cal = await SchoolCalendar.load(session, ctx.network_id, ctx.config)
    year = cal.academic_year_of(cal.local(now).date())
    halves = cal.half_terms_in(year)
    if not halves:
        ctx.private(
            f"No term dates are loaded for {year}-{(year + 1) % 100:02d}, so I can't plan meetings yet. "
            "Your convenor can import them (terms.csv or an .ics calendar)."
        )
        return
    lines = [f"**Half-terms {year}-{(year + 1) % 100:02d}**"]
    for t in halves:
        inset = f"; INSET {', '.join(day_text(d) for d in t.inset)}" if t.inset else ""
        lines.append(f"- {t.name}: {day_text(t.start)} to {day_text(t.end)} {t.end.year}{inset}")
    ctx.private("\n".join(lines))


# -- home ------------------------------------------------------------------------------------
@home_section(order=30)
async def meetings_home(session: AsyncSession, person: Person, now: datetime, config: Config) -> HomeSection | None:
    groups = [
        g
        for g, s in config.enabled_groups().items()
        if s.meetings.cadence != "none" and set(person.roles) & set(s.roles)
    ]
    lines: list[str] = []
    buttons: list[Button] = []
    rows = [
        m
        for m in await service.meetings(session, person.network_id, statuses=service.OPEN_STATUSES)
        if m.group_name in groups
    ]
    for m in rows[:4]:
        lines.append(_meeting_line(m, now=now).split(" ", 1)[1])
        if m.status == "booked" and len(buttons) < 2:
            buttons.extend(service.rsvp_buttons(m))
    mine = await service.open_actions(session, person.network_id, owner_id=person.id)
    lines += [f"Your action: {a.action} (review {day_text(a.review_on)})" for a in mine[:3]]
    if not groups and not mine:
        return None
    return HomeSection(
        title="Meetings and actions", lines=tuple(lines), buttons=tuple(buttons), empty="Nothing booked yet."
    )


@home_section(order=5)
async def convenor_home(session: AsyncSession, person: Person, now: datetime) -> HomeSection | None:
    """For the convenor: decisions waiting and messages that could not be delivered."""
    if not person.is_convenor:
        return None
    lines: list[str] = []
    for m in await service.meetings(session, person.network_id, statuses=("planned", "polling")):
        if m.status == "polling" and m.poll_closed_at is not None:
            lines.append(f"Choose a date for the {m.title} (**meeting book {m.id} N**)")
        elif m.problem:
            lines.append(f"{m.title}: {m.problem} (**meeting book {m.id} DATE TIME**)")
    failed = await service.failed_deliveries(session, person.network_id)
    for row in failed[-5:]:
        lines.append(f"Not delivered: {service.describe_delivery(row)}")
    if len(failed) > 5:
        lines.append(f"…and {len(failed) - 5} more undelivered (`peerbot outbox failed`)")
    return HomeSection(title="Needs your attention", lines=tuple(lines), empty="Nothing needs you right now.")


# -- lifecycle -------------------------------------------------------------------------------
@on_startup()
async def meetings_startup(bot: object) -> None:
    """Load terms written in the config; move nudges that fell due while the bot was down
    out of the night (see :mod:`bot.meetings.nudges`)."""
    from bot.app import PeerBot

    assert isinstance(bot, PeerBot)
    try:
        async with bot.db.session() as session:
            await sync_config_terms(session, bot)
    except BadInput as exc:  # the dates already loaded stay; the bot runs on
        log.warning("the config's [[terms]] were not loaded: %s", exc)
    async with bot.db.session() as session:
        cal = await SchoolCalendar.load(session, bot.network_id, bot.config)
        moved = await retime_overdue(
            session, cal, bot.config.settings.nudges, network_id=bot.network_id, now=bot.clock.now()
        )
    if moved:
        log.info("moved %d overdue nudges to the next allowed time", moved)


@background("meetings")
async def meetings_scheduler(bot: object, stop: asyncio.Event) -> None:
    """Sweep meetings when the rows say so; wake the deliverer when the next nudge is due."""
    from bot.app import PeerBot

    assert isinstance(bot, PeerBot)
    await MeetingScheduler(bot).run(stop)
