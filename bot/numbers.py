"""Reading a number that a person, a button or a file gave: the one way peerbot does it.

``str.isdigit`` accepts "²" and "①", which ``int`` refuses; ``int`` reads "٣" and refuses a
string of over 4,300 digits; the database refuses an id past its integer columns. Each of
those reached a handler as an unexpected error ("something went wrong on my side") instead
of the polite answer a wrong number deserves.
"""

from __future__ import annotations

MAX_ID = 2**31 - 1  # the database's integer columns (PostgreSQL ``integer``)
SNOWFLAKE_MAX = 2**64 - 1  # a Discord id
MAX_TIMESTAMP = 253_402_300_799  # seconds since 1970 to the last second of 9999, the last year a datetime holds
MAX_PUPILS = 99_999  # a school's roll


def whole_number(text: str, *, most: int = MAX_ID) -> int | None:
    """``text`` as a whole number, when it is written in the digits 0-9 alone (no sign, no
    spaces) and is at most ``most``; otherwise ``None``."""
    if not text.isascii() or not text.isdigit() or len(text) > len(str(most)):
        return None
    value = int(text)
    return value if value <= most else None
