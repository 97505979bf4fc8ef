"""The output folder of one run: ``summary.json``, ``ops.csv``, ``timeline.json``, ``report.html``.

The folder is checked, locked and swapped in atomically by :class:`archsim.outdir.OutputFolder`:
a folder archsim did not write is refused (ConfigError) unless ``force``. A caller that holds an
``OutputFolder`` already (``archsim run`` locks it before simulating) passes it instead of a path.
A result holding a NaN or infinity is refused before anything is written.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from archsim.errors import ConfigError
from archsim.outdir import OutputFolder
from archsim.result import Result


def write_run(result: Result, out_dir: str | Path | OutputFolder, *, report: bool = True,
              force: bool = False) -> Path:
    """Write ``result``'s files into ``out_dir``; returns the folder's real path."""
    summary = result.summary()
    bad = non_finite(summary) + non_finite(result.timeline or [], "timeline")
    if bad:
        raise ConfigError.single(
            f"the result of {result.workload} on {result.hardware} holds non-finite numbers "
            f"({'; '.join(bad[:3])}); nothing was written: an input drives the model outside its range",
            key_path=bad[0].split(" ")[0])
    summary_text = json.dumps(summary, indent=2, allow_nan=False)

    def files(folder: Path) -> None:
        (folder / "summary.json").write_text(summary_text + "\n")
        result.to_frame().to_csv(folder / "ops.csv", index=False)
        if result.timeline is not None:
            (folder / "timeline.json").write_text(json.dumps({"traceEvents": result.timeline}, allow_nan=False))
        if report:
            from archsim.reporting import write_run_report

            write_run_report(result, folder / "report.html")

    if isinstance(out_dir, OutputFolder):
        return out_dir.replace(files)
    with OutputFolder(out_dir, kind="run", force=force) as target:
        return target.replace(files)


def non_finite(value: Any, where: str = "") -> list[str]:
    """Key paths (``ops[3].time_s = nan``) of every NaN or infinity inside nested dicts and lists."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [f"{where or '<value>'} = {value}"]
    if isinstance(value, dict):
        return [hit for k, v in value.items() for hit in non_finite(v, f"{where}.{k}" if where else str(k))]
    if isinstance(value, list | tuple):
        return [hit for i, v in enumerate(value) for hit in non_finite(v, f"{where}[{i}]")]
    return []
