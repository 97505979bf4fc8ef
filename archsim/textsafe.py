"""Making user-supplied names safe to print and to put in a spreadsheet.

Names of workloads, operators and hardware come from YAML a user may not have written. Three
places interpret text they are handed:

- the terminal interprets escape sequences (ANSI CSI/OSC: colours, cursor moves, window titles,
  hyperlinks) and other control characters; :func:`clean` removes them, and the bidirectional
  overrides that make text display in a different order than it is stored;
- rich interprets ``[...]`` as markup (``[/bogus]`` raises MarkupError, ``[link=...]`` makes a
  link); :func:`for_terminal` cleans and then escapes markup;
- spreadsheets run a cell that starts with ``=``, ``+``, ``-``, ``@`` (or a tab/CR before one)
  as a formula (CSV injection, e.g. ``=HYPERLINK(...)``); :func:`csv_cell` prefixes such a cell
  with an apostrophe, as OWASP recommends, so it reads as text.

Only strings change; numbers and other values pass through untouched.
"""

from __future__ import annotations

import re
from typing import Any

# ESC-introduced sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), and two-byte ESC x;
# the 8-bit C1 forms (0x9b CSI, 0x9d OSC) likewise.
_ANSI = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI
    r"|(?:\x1b\]|\x9d).*?(?:\x07|\x1b\\|\x9c)"  # OSC, terminated
    r"|\x1b[PX^_].*?(?:\x1b\\|\x9c)"  # DCS / SOS / PM / APC strings
    r"|\x1b[@-_]?",  # any other ESC (and a lone ESC)
    re.DOTALL,
)
# C0 and C1 controls and DEL; bidi embeddings/overrides/isolates (Trojan Source, CVE-2021-42574).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def clean(text: str) -> str:
    """``text`` without terminal escape sequences and control characters (tabs and newlines become spaces)."""
    text = _ANSI.sub("", text)
    text = text.replace("\t", " ").replace("\n", " ").replace("\r", " ")
    return _CONTROL.sub("", text)


def for_terminal(value: Any) -> str:
    """A value as text safe to hand to rich: cleaned, with ``[`` escaped so it never reads as markup."""
    from rich.markup import escape

    return escape(clean(str(value)))


def csv_cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet shows as text: strings cleaned, formula starts prefixed with ``'``."""
    if not isinstance(value, str):
        return value
    text = clean(value)
    if value.startswith(_FORMULA_START) or text.startswith(_FORMULA_START):
        return "'" + text
    return text
