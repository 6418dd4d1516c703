"""The modules whose handlers the bot runs: add a module here to add its handlers."""

MODULES: tuple[str, ...] = (
    "bot.handlers.basics",
    "bot.handlers.questions",
    "knowledge.handlers",
    "bot.handlers.audit",
    "bot.handlers.members",
    "bot.handlers.meetings",
    "bot.handlers.housekeeping",
)
