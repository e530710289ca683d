"""Student text, made safe for where it is shown: the terminal and spreadsheets.

Error messages and folder names come from students. In a terminal, escape sequences
could rewrite what the instructor sees; in a spreadsheet, a cell that starts with
``=``, ``+``, ``-`` or ``@`` is run as a formula. (HTML is escaped by nbconvert's
sanitiser and by the feedback summary itself.)
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def printable(text: str) -> str:
    """Control characters (escape sequences, bidi overrides) as visible ``\\x..`` escapes."""
    text = str(text).replace("\n", " ").replace("\t", " ")
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def csv_cell(text: str) -> str:
    """A value for a CSV cell: printable, and never read as a formula by a spreadsheet."""
    text = printable(text)
    return "'" + text if text.startswith(_FORMULA) else text
