"""``peerbot terms|meetings|actions|outbox``: term dates, the meeting plan, the action plan,
and messages that could not be delivered."""

from __future__ import annotations

import argparse
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot import outbox
from bot.admin_log import person_ref
from bot.app import PeerBot
from bot.audit.export import Sheet, write_csv, write_xlsx
from bot.audit.plan import ActionChange, review_day, update_action
from bot.calendar import HalfTerm, SchoolCalendar
from bot.cli.common import add_config_arg, cli_actor, command, opened, print_json, row_id
from bot.errors import BadInput
from bot.meetings import service
from bot.meetings.plan import Plan, plan_network, rehomed
from bot.meetings.sweep import sweep
from bot.meetings.text import parse_when, span_text, when_text
from bot.models.meetings import Action
from bot.models.messaging import AdminLog
from bot.network import store
from bot.network.importer import remove_terms

NO_TERMS = (
    "No term dates are loaded, so no meetings can be planned. Import them with "
    "`peerbot network import --terms terms.csv` (or an .ics calendar), or add [[terms]] to the config."
)


def register(sub: argparse._SubParsersAction[Any]) -> None:
    terms = sub.add_parser("terms", help="the network's term dates")
    tsub = terms.add_subparsers(dest="terms_command", metavar="ACTION")
    tsub.required = True
    show = tsub.add_parser("show", help="the six half-terms of the academic year")
    add_config_arg(show)
    show.add_argument("--year", type=int, metavar="YYYY", help="the academic year by its first year (2026 = 2026-27)")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=terms_show)
    remove = tsub.add_parser("remove", help="remove the half-terms of one academic year (loaded by mistake)")
    add_config_arg(remove)
    remove.add_argument("--year", type=int, metavar="YYYY", required=True, help="2026 = 2026-27")
    remove.set_defaults(func=terms_remove)

    meet = sub.add_parser("meetings", help="half-termly meetings: the plan, booking, cancelling")
    msub = meet.add_subparsers(dest="meetings_command", metavar="ACTION")
    msub.required = True
    plan = msub.add_parser("plan", help="the meetings the scheduler will book, with their candidate dates")
    add_config_arg(plan)
    plan.add_argument("--group", metavar="G")
    plan.add_argument("--json", action="store_true")
    plan.set_defaults(func=meetings_plan)
    sweep_ = msub.add_parser("sweep", help="move meetings along now (the running bot does this by itself)")
    add_config_arg(sweep_)
    sweep_.add_argument("--json", action="store_true")
    sweep_.set_defaults(func=meetings_sweep)
    book = msub.add_parser("book", help="book (or move) a meeting: a poll date by number, or any time")
    add_config_arg(book)
    book.add_argument("id", type=row_id)
    when = book.add_mutually_exclusive_group(required=True)
    when.add_argument("--option", type=int, metavar="N", help="the poll's date number N (1 = the first)")
    when.add_argument("--at", metavar="'YYYY-MM-DD HH:MM'", help="a date and London time")
    book.add_argument(
        "--force",
        action="store_true",
        help="book --at a time outside term, on a bank holiday or INSET day, out of hours or at a clash",
    )
    book.set_defaults(func=meetings_book)
    for name, helptext in (("close", "close a meeting's poll now"), ("cancel", "cancel a meeting and tell the group")):
        p = msub.add_parser(name, help=helptext)
        add_config_arg(p)
        p.add_argument("id", type=row_id)
        p.set_defaults(func=meetings_close if name == "close" else meetings_cancel)

    act = sub.add_parser("actions", help="the Partnership Action Plan")
    asub = act.add_subparsers(dest="actions_command", metavar="ACTION")
    asub.required = True
    lst = asub.add_parser("list", help="open actions (with --all, done ones too)")
    add_config_arg(lst)
    lst.add_argument("--all", action="store_true")
    out_fmt = lst.add_mutually_exclusive_group()
    out_fmt.add_argument("--json", action="store_true")
    out_fmt.add_argument("--csv", metavar="FILE", help="write the action plan as CSV")
    out_fmt.add_argument("--xlsx", metavar="FILE", help="write a printable Partnership Action Plan")
    lst.set_defaults(func=actions_list)
    add = asub.add_parser("add", help="add an action with a named owner and a review date")
    add_config_arg(add)
    add.add_argument("--owner", required=True, metavar="EMAIL")
    add.add_argument("--review", required=True, metavar="YYYY-MM-DD")
    add.add_argument("--action", required=True, metavar="TEXT")
    add.add_argument("--aim", default="", metavar="TEXT")
    add.add_argument("--notes", default="", metavar="TEXT")
    add.add_argument("--group", metavar="G")
    add.add_argument("--json", action="store_true")
    add.set_defaults(func=actions_add)
    upd = asub.add_parser("update", help="change an action's owner, review date, wording or notes")
    add_config_arg(upd)
    upd.add_argument("id", type=row_id)
    upd.add_argument("--owner", metavar="EMAIL", help="who carries it now")
    upd.add_argument("--review", metavar="YYYY-MM-DD", help="the new review date")
    upd.add_argument("--action", metavar="TEXT", help="the new wording")
    upd.add_argument("--notes", metavar="TEXT", help="replace the notes")
    upd.add_argument("--json", action="store_true")
    upd.set_defaults(func=actions_update)
    done = asub.add_parser("done", help="mark an action done")
    add_config_arg(done)
    done.add_argument("id", type=row_id)
    done.set_defaults(func=actions_done)

    out = sub.add_parser("outbox", help="messages waiting, and those that could not be delivered")
    osub = out.add_subparsers(dest="outbox_command", metavar="ACTION")
    osub.required = True
    failed = osub.add_parser("failed", help="messages that failed permanently, and why")
    add_config_arg(failed)
    failed.add_argument("--json", action="store_true")
    failed.set_defaults(func=outbox_failed)
    retry = osub.add_parser("retry", help="send a failed message again (after fixing the cause)")
    add_config_arg(retry)
    retry.add_argument("id", type=row_id)
    retry.set_defaults(func=outbox_retry)


def _academic(year: int) -> str:
    return f"{year}-{(year + 1) % 100:02d}"


def _term_json(t: HalfTerm, cal: SchoolCalendar) -> dict[str, Any]:
    days = (t.end - t.start).days + 1
    term_days = sum(1 for i in range(days) if cal.is_term_day(date.fromordinal(t.start.toordinal() + i)))
    return {
        "name": t.name,
        "start": t.start.isoformat(),
        "end": t.end.isoformat(),
        "inset": [d.isoformat() for d in t.inset],
        "weeks": round(days / 7, 1),
        "school_days": term_days,
    }


@command
async def terms_show(args: argparse.Namespace) -> int:
    async with opened(args) as bot, bot.db.session() as session:
        cal = await SchoolCalendar.load(session, bot.network_id, bot.config)
        year = args.year if args.year is not None else cal.academic_year_of(cal.local(bot.clock.now()).date())
        halves = cal.half_terms_in(year)
        doc: dict[str, Any] = {"academic_year": _academic(year), "half_terms": [_term_json(t, cal) for t in halves]}
    if not halves:
        loaded = sorted({cal.academic_year_of(t.start) for t in cal.terms})
        how = (
            "Import them with `peerbot network import --terms terms.csv` (or an .ics calendar), "
            "or add [[terms]] to the config."
        )
        others = f" Loaded: {', '.join(_academic(y) for y in loaded)} (use --year)." if loaded else ""
        message = f"No term dates are loaded for {_academic(year)}.{others} {how}"
        doc["message"] = message
    if args.json:
        print_json(doc)
        return 0
    if not halves:
        print(doc["message"])
        return 0
    print(f"Half-terms {doc['academic_year']}:")
    for t in doc["half_terms"]:
        inset = f"; INSET {', '.join(t['inset'])}" if t["inset"] else ""
        print(f"  {t['name']}: {t['start']} to {t['end']} ({t['school_days']} school days{inset})")
    if len(halves) != 6:
        print(f"  (a school year usually has six half-terms; {len(halves)} are loaded)")
    return 0


@command
async def terms_remove(args: argparse.Namespace) -> int:
    async with opened(args) as bot, bot.db.session() as session:
        year = args.year
        if any(SchoolCalendar.academic_year_of(t.start) == year for t in bot.config.settings.terms):
            raise BadInput(f"the half-terms of {_academic(year)} come from the config's [[terms]]: remove them there")
        removed = await remove_terms(session, bot.network_id, year)
        if not removed:
            raise BadInput(f"no half-terms of {_academic(year)} are loaded")
        session.add(_log(bot, "terms.remove", _academic(year), removed=len(removed)))
    print(
        f"Removed the {len(removed)} half-terms of {_academic(year)}. Meetings planned in them go at the next "
        "sweep; the convenor is told about any poll or booked meeting in them."
    )
    return 0


def _iso(instant: datetime | None, zone: ZoneInfo) -> str | None:
    """ISO 8601 in the network's zone, with its UTC offset (``2026-11-11T09:30:00+00:00``)."""
    return instant.astimezone(zone).isoformat() if instant else None


def plan_json(p: Plan, zone: ZoneInfo) -> dict[str, Any]:
    """One meeting of ``meetings plan --json`` (formats.md; more keys than it names)."""
    slot = p.provisional
    return {
        "group": p.group,
        "half_term": p.term.name,
        "start": _iso(slot.start if slot else None, zone),
        "end": _iso(slot.end if slot else None, zone),
        "candidates": [_iso(c.start, zone) for c in p.candidates],
        "id": p.meeting_id,
        "status": p.status,
        "poll_opens": _iso(p.poll_opens_at, zone),
        "poll_closes": _iso(p.poll_closes_at, zone),
        "problem": p.problem,
    }


@command
async def meetings_plan(args: argparse.Namespace) -> int:
    async with opened(args) as bot, bot.db.session() as session:
        if args.group is not None:
            settings = service.group_settings(bot, args.group)
            if settings.meetings.cadence == "none":
                raise BadInput(
                    f"the {args.group} group has no meetings (set groups.{args.group}.meetings.cadence in the config)"
                )
        cal = await SchoolCalendar.load(session, bot.network_id, bot.config)
        rows = await service.meetings(session, bot.network_id)
        existing = rehomed([service.to_existing(m) for m in rows], cal.terms)  # as the next sweep will see them
        plans = plan_network(cal, bot.config, existing, bot.clock.now(), only_group=args.group)
        zone = bot.config.zone
    doc: dict[str, Any] = {"meetings": [plan_json(p, zone) for p in plans]}
    if not cal.has_terms:
        doc["problem"] = NO_TERMS
    if args.json:
        print_json(doc)
        return 0
    if not cal.has_terms:
        print(NO_TERMS)
        return 0
    if not plans:
        print("No meetings to plan: no group has a meeting cadence for the half-terms still to come.")
        return 0
    for p in plans:
        number = f"#{p.meeting_id} " if p.meeting_id else ""
        head = f"{number}{p.group} — {p.term.name} ({p.term.start:%-d %b} to {p.term.end:%-d %b %Y}): {p.status}"
        if p.status == "booked" and p.start and p.end:
            print(f"{head}, {span_text(p.start, p.end, zone)}")
            continue
        if p.problem:
            print(f"{head}: cannot plan — {p.problem}")
            continue
        window = ""
        if p.poll_opens_at and p.poll_closes_at and p.status == "planned":
            window = f", poll {when_text(p.poll_opens_at, zone)} to {when_text(p.poll_closes_at, zone)}"
        print(head + window)
        for i, c in enumerate(p.candidates, 1):
            print(f"  {i}. {span_text(c.start, c.end, zone)}")
    return 0


@command
async def meetings_sweep(args: argparse.Namespace) -> int:
    async with opened(args) as bot:
        result = await sweep(bot)
    doc = {
        "created": result.created,
        "polls_opened": result.opened,
        "polls_closed": result.closed,
        "held": result.held,
        "next": result.next_event.isoformat() if result.next_event else None,
    }
    if args.json:
        print_json(doc)
        return 0
    print(
        f"Planned {result.created} new meeting(s), opened {result.opened} poll(s), "
        f"closed {len(result.closed)}, marked {result.held} held."
    )
    for line in result.closed:
        print(f"  {line}")
    return 0


def _log(bot: PeerBot, action: str, subject: str, **detail: Any) -> AdminLog:
    return AdminLog(
        network_id=bot.network_id, at=bot.clock.now(), actor=cli_actor(), action=action, subject=subject, detail=detail
    )


@command
async def meetings_book(args: argparse.Namespace) -> int:
    async with opened(args) as bot, bot.db.session() as session:
        meeting = await service.get_meeting(session, bot.network_id, args.id, lock=True)
        now = bot.clock.now()
        if args.option is not None:
            if not 1 <= args.option <= len(meeting.options):
                n = len(meeting.options)
                raise BadInput(f"meeting {meeting.id} has {n} poll dates; --option must be 1 to {n}")
            option = meeting.options[args.option - 1]
            start, end = option.start, option.end
        else:
            zone = service._zone(meeting)
            start = parse_when(args.at, zone=zone, today=now.astimezone(zone).date())
            length = (meeting.end - meeting.start) if meeting.start and meeting.end else None
            end = start + (length or service.group_settings(bot, meeting.group_name).meetings.duration)
            problems = await service.booking_problems(session, bot, meeting, start, end) if start > now else []
            if problems and not args.force:
                raise BadInput(f"{service.refusal(meeting, start, problems)}: choose another time, or add --force")
        await service.book(session, bot, meeting, start, end, now)
        forced = {"forced": "yes"} if args.force else {}
        session.add(_log(bot, "meeting.book", meeting.title, start=start.isoformat(), **forced))
        print(f"Booked {meeting.title} for {span_text(start, end, service._zone(meeting))}; the group will be told.")
    return 0


@command
async def meetings_close(args: argparse.Namespace) -> int:
    async with opened(args) as bot, bot.db.session() as session:
        meeting = await service.get_meeting(session, bot.network_id, args.id, lock=True)
        outcome = await service.close_poll(session, bot, meeting, bot.clock.now())
        session.add(_log(bot, "meeting.close", meeting.title))
        print(f"Closed the poll for {meeting.title}: {outcome}.")
    return 0


@command
async def meetings_cancel(args: argparse.Namespace) -> int:
    async with opened(args) as bot, bot.db.session() as session:
        meeting = await service.get_meeting(session, bot.network_id, args.id, lock=True)
        await service.cancel_meeting(session, bot, meeting, bot.clock.now())
        session.add(_log(bot, "meeting.cancel", meeting.title))
        print(f"Cancelled {meeting.title}; the group will be told.")
    return 0


@command
async def actions_list(args: argparse.Namespace) -> int:
    async with opened(args) as bot, bot.db.session() as session:
        q = select(Action).where(Action.network_id == bot.network_id)
        if not args.all:
            q = q.where(Action.status == "open")
        rows = list((await session.execute(q.order_by(Action.review_on, Action.id))).unique().scalars())
        doc = {
            "actions": [
                {
                    "id": a.id,
                    "aim": a.aim,
                    "action": a.action,
                    "owner": a.owner.email if a.owner else None,
                    "owner_name": a.owner.name if a.owner else None,
                    "school": a.owner.school.name if a.owner else None,
                    "review_on": a.review_on.isoformat(),
                    "notes": a.notes,
                    "status": a.status,
                    "group": a.group_name,
                    "meeting_id": a.meeting_id,
                    "source": a.source,
                }
                for a in rows
            ]
        }
    if args.json:
        print_json(doc)
        return 0
    if args.csv or args.xlsx:
        sheet = action_plan_sheet(doc["actions"])
        path = Path(args.csv or args.xlsx)
        if args.csv:
            write_csv(sheet, path)
        else:
            write_xlsx([sheet], path)
        print(f"Wrote the action plan ({len(rows)} actions) to {path}.")
        return 0
    if not rows:
        print("No open actions." if not args.all else "No actions.")
    for a in doc["actions"]:
        print(f"{a['id']}. [{a['status']}] {a['action']} — {a['owner_name'] or 'no owner'}, review {a['review_on']}")
    return 0


def action_plan_sheet(actions: list[dict[str, Any]]) -> Sheet:
    """The Partnership Action Plan, as the research's tool lays it out."""
    sheet = Sheet(
        title="Partnership Action Plan",
        headers=[
            "Partnership aim",
            "Action/Objective",
            "Named responsibility",
            "Review date",
            "Action/Notes",
            "Status",
        ],
        widths=[36, 48, 28, 14, 40, 10],
    )
    for a in actions:
        who = f"{a['owner_name']} ({a['school']})" if a["owner_name"] else ""
        sheet.rows.append([a["aim"], a["action"], who, a["review_on"], a["notes"], a["status"]])
    return sheet


@command
async def actions_add(args: argparse.Namespace) -> int:
    async with opened(args) as bot, bot.db.session() as session:
        owner = await store.person_by_email(session, bot.network_id, args.owner)
        if owner is None or not owner.active:
            raise BadInput(f"nobody in the network has the email {args.owner}")
        now = bot.clock.now()
        review_on = review_day(args.review, today=now.astimezone(bot.config.zone).date())
        if args.group is not None:
            service.group_settings(bot, args.group)
        row = await service.add_action(
            session,
            bot,
            owner=owner,
            review_on=review_on,
            action=args.action,
            aim=args.aim,
            notes=args.notes,
            group=args.group,
            source="manual",
            now=now,
        )
        session.add(_log(bot, "action.add", str(row.id), owner=person_ref(owner)))
        action_id = row.id
    if args.json:
        print_json({"id": action_id})
    else:
        print(f"Added action {action_id} for {owner.name}, review on {review_on.isoformat()}.")
    return 0


@command
async def actions_update(args: argparse.Namespace) -> int:
    if all(getattr(args, k) is None for k in ("owner", "review", "action", "notes")):
        raise BadInput("say what to change: --owner, --review, --action and/or --notes")
    async with opened(args) as bot, bot.db.session() as session:
        row = await service.get_action(session, bot.network_id, args.id)
        now = bot.clock.now()
        owner = None
        if args.owner is not None:
            owner = await store.person_by_email(session, bot.network_id, args.owner)
            if owner is None or not owner.active:
                raise BadInput(f"nobody in the network has the email {args.owner}")
        review_on = None
        if args.review is not None:
            review_on = review_day(args.review, today=now.astimezone(bot.config.zone).date())
        change = ActionChange(owner=owner, review_on=review_on, action=args.action, notes=args.notes)
        changed = await update_action(session, bot, row, change, now=now)
        if changed:
            detail: dict[str, Any] = {"changed": changed}
            if owner is not None and "owner" in changed:
                detail["owner"] = person_ref(owner)
            session.add(_log(bot, "action.update", str(row.id), **detail))
        doc = {
            "id": row.id,
            "changed": changed,
            "action": row.action,
            "owner": row.owner.email if row.owner else None,
            "review_on": row.review_on.isoformat(),
            "notes": row.notes,
        }
    if args.json:
        print_json(doc)
    elif not changed:
        print(f"Action {doc['id']} already reads so: nothing changed.")
    else:
        who = f"{row.owner.name}" if row.owner else "no owner"
        print(f"Updated action {doc['id']} ({', '.join(changed)}): {doc['action']} — {who}, review {doc['review_on']}.")
    return 0


@command
async def actions_done(args: argparse.Namespace) -> int:
    async with opened(args) as bot, bot.db.session() as session:
        row = await service.get_action(session, bot.network_id, args.id)
        if row.status != "open":
            raise BadInput(f"action {row.id} is already {row.status}")
        row.status, row.done_at = "done", bot.clock.now()
        await outbox.cancel(session, network_id=bot.network_id, key_prefix=f"action:{row.id}:review:")
        session.add(_log(bot, "action.done", str(row.id)))
        print(f"Marked action {row.id} done.")
    return 0


@command
async def outbox_failed(args: argparse.Namespace) -> int:
    async with opened(args) as bot, bot.db.session() as session:
        rows = await service.failed_deliveries(session, bot.network_id)
        doc = {
            "failed": [
                {
                    "id": r.id,
                    "key": r.key,
                    "platform": r.platform,
                    "target": r.target,
                    "error": r.last_error,
                    "attempts": r.attempts,
                    "created_at": r.created_at.isoformat(),
                }
                for r in rows
            ]
        }
    if args.json:
        print_json(doc)
        return 0
    if not rows:
        print("Every message has been delivered (or is still waiting its turn).")
    for r in rows:
        print(f"{r.id}. {service.describe_delivery(r)}")
    return 0


@command
async def outbox_retry(args: argparse.Namespace) -> int:
    async with opened(args) as bot, bot.db.session() as session:
        row = await service.retry_delivery(session, bot.network_id, args.id, bot.clock.now())
        session.add(_log(bot, "outbox.retry", row.key))
        print(f"Message {row.id} will be sent again.")
    return 0
