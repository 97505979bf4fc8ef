"""The CSV writer every campaign uses: append-only, one flush per row (a killed run keeps its rows).

Imports only the standard library, so a campaign run as a script (``python3 campaigns/X.py``) takes it as
``csv_sink`` and one run as a module of the installed package as ``archsim.campaigns.csv_sink``.
"""

from __future__ import annotations

import csv


class Sink:
    """Append-only CSV writer that flushes every row; ``None`` is written as an empty cell."""

    def __init__(self, path: str, fields: list[str]) -> None:
        self.fh = open(path, "w", newline="")
        self.w = csv.DictWriter(self.fh, fieldnames=fields, extrasaction="raise")
        self.w.writeheader()

    def row(self, **kw) -> None:
        self.w.writerow({k: ("" if v is None else v) for k, v in kw.items()})
        self.fh.flush()
