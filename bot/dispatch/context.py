"""What a handler gets: the event, who sent it, a session, and ways to answer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin_log import person_ref
from bot.events import AnyEvent
from bot.models.messaging import AdminLog
from bot.models.network import Person
from bot.replies import Button, DurableTarget, Message, Outgoing, OutgoingFile, Respond

if TYPE_CHECKING:
    from bot.app import PeerBot
    from bot.config import Config


class Context:
    """One event being handled, inside one database transaction.

    Immediate answers (:meth:`reply`, :meth:`private`) go back to the adapter once the
    transaction commits. Anything else (:meth:`send`) is queued in the outbox in the same
    transaction, so it goes out exactly when the change it reports is saved.
    """

    def __init__(
        self,
        *,
        bot: PeerBot,
        event: AnyEvent,
        session: AsyncSession,
        person: Person | None,
        group: str | None,
        args: str = "",
    ) -> None:
        self.bot = bot
        self.event = event
        self.session = session
        self.person = person
        self.group = group
        self.args = args
        self.replies: list[Outgoing] = []
        self.queued = 0
        self._after_commit: list[Callable[[], Any]] = []

    @property
    def now(self) -> datetime:
        return self.bot.clock.now()

    @property
    def config(self) -> Config:
        return self.bot.config

    @property
    def network_id(self) -> int:
        return self.bot.network_id

    def reply(
        self,
        text: str,
        *,
        buttons: Sequence[Button] = (),
        files: Sequence[OutgoingFile] = (),
        private: bool = False,
        in_thread: bool = True,
    ) -> None:
        """Answer whoever sent the event, where they sent it (privately if asked)."""
        message = Message(text=text, buttons=tuple(buttons), files=tuple(files))
        self.replies.append(Outgoing(Respond(private=private, in_thread=in_thread), message))

    def private(self, text: str, *, buttons: Sequence[Button] = ()) -> None:
        """A notice only the sender sees (Slack ephemeral, Discord ephemeral or DM)."""
        self.reply(text, buttons=buttons, private=True)

    async def send(
        self,
        target: DurableTarget,
        message: Message | str,
        *,
        key: str,
        not_before: datetime | None = None,
        expires_at: datetime | None = None,
    ) -> int:
        """Queue a message durably; returns how many outbox rows were added."""
        msg = Message(text=message) if isinstance(message, str) else message
        added = await self.bot.queue(
            self.session,
            target,
            msg,
            key=key,
            not_before=not_before,
            expires_at=expires_at,
            prefer=self.event.place.platform,
        )
        self.queued += added
        return added

    def after_commit(self, callback: Callable[[], Any]) -> None:
        """Run ``callback`` once this event's changes are committed (refresh an index)."""
        self._after_commit.append(callback)

    def log_admin(self, action: str, subject: str | None = None, **detail: Any) -> None:
        """Append to the administrative log (who did what; never message text). People are
        named by number (``person #12``, :func:`bot.admin_log.person_ref`), in ``detail`` too."""
        if self.person is not None:
            actor = person_ref(self.person)
        else:
            actor = f"{self.event.sender.platform}:{self.event.sender.user_id}"
        self.session.add(
            AdminLog(
                network_id=self.network_id, at=self.now, actor=actor, action=action, subject=subject, detail=detail
            )
        )

    def run_after_commit(self) -> None:
        for callback in self._after_commit:
            callback()
