"""Half-termly meetings: planning, availability polls, invitations, agendas, actions and
the nudges around them. Every state lives in rows (:mod:`bot.models.meetings` and the
outbox); :mod:`bot.meetings.sweep` moves meetings along, and APScheduler only wakes it."""
