"""Storage: SQLAlchemy 2.x typed models over SQLite (embedded) or PostgreSQL."""

from bot.db.base import Base
from bot.db.engine import Database

__all__ = ["Base", "Database"]
