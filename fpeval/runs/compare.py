"""Does a rerun reproduce a reference run? Every number of ``summary.csv`` and ``ratings.csv`` is set
beside the reference's within a relative tolerance, and every verdict of ``findings.csv`` must match.

Why a tolerance at all: results are bit-identical for the same config, machine and thread count, but
different CPUs or BLAS builds change float32 sums in the last bits, and those differences pass through
the sampler. 1e-4 relative is far below any interval the tables report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_TOLERANCE = 1e-4
TABLES = {  # file -> (key columns, numeric columns)
    "summary.csv": (["row", "metric", "statistic"], ["estimate", "lower", "upper"]),
    "ratings.csv": (["competitor"], ["rating", "lower", "upper", "elo"]),
}


@dataclass
class Comparison:
    """What moved between a run and its reference."""

    run: Path
    reference: Path
    tolerance: float
    compared: int = 0  # numbers compared
    moved: pd.DataFrame = field(default_factory=pd.DataFrame)  # numbers beyond the tolerance
    missing: list[str] = field(default_factory=list)  # rows or files in one run only
    verdicts: pd.DataFrame = field(default_factory=pd.DataFrame)  # findings whose verdict changed

    @property
    def reproduces(self) -> bool:
        return self.moved.empty and not self.missing and self.verdicts.empty

    def report(self, limit: int = 20) -> str:
        if self.reproduces:
            return (
                f"{self.run} reproduces {self.reference} within {self.tolerance:g} "
                f"({self.compared} numbers, every verdict)"
            )
        lines = [f"{self.run} does not reproduce {self.reference} within {self.tolerance:g}:"]
        lines += [f"  missing: {m}" for m in self.missing]
        if not self.moved.empty:
            lines.append(f"  {len(self.moved)} of {self.compared} numbers moved; the largest:")
            worst = self.moved.sort_values("relative", ascending=False).head(limit)
            lines += [
                f"    {r.file} {r.key} {r.column}: {r.reference:.6g} -> {r.value:.6g}"
                for r in worst.itertuples()
            ]
        if not self.verdicts.empty:
            lines.append(f"  {len(self.verdicts)} verdict(s) changed:")
            lines += [
                f"    {r.finding} {r.measure}: {r.verdict_reference} -> {r.verdict}"
                for r in self.verdicts.itertuples()
            ]
        else:
            lines.append("  no verdict changed")
        return "\n".join(lines)


def _numbers(run: Path, reference: Path, name: str, tolerance: float, missing: list[str]):
    keys, columns = TABLES[name]
    a_path, b_path = run / name, reference / name
    if not a_path.is_file() and not b_path.is_file():
        return 0, []
    if not (a_path.is_file() and b_path.is_file()):
        missing.append(f"{name} ({'run' if not a_path.is_file() else 'reference'} has none)")
        return 0, []
    a, b = pd.read_csv(a_path), pd.read_csv(b_path)
    merged = a.merge(b, on=keys, how="outer", suffixes=("", "_reference"), indicator=True)
    for side, label in (("left_only", "run"), ("right_only", "reference")):
        for row in merged.loc[merged["_merge"] == side, keys].itertuples(index=False):
            missing.append(f"{name} {'/'.join(map(str, row))} (only in the {label})")
    both = merged[merged["_merge"] == "both"]
    moved, compared = [], 0
    for column in (c for c in columns if c in a.columns and c in b.columns):
        value, ref = both[column].to_numpy(float), both[f"{column}_reference"].to_numpy(float)
        same_nan = np.isnan(value) & np.isnan(ref)
        scale = np.maximum(np.abs(ref), 1e-12)
        relative = np.where(same_nan, 0.0, np.abs(value - ref) / scale)
        compared += int((~same_nan).sum())
        for i in np.flatnonzero(~(relative <= tolerance)):  # NaN on one side counts as moved
            key = "/".join(str(both[k].iloc[i]) for k in keys)
            moved.append(
                dict(
                    file=name, key=key, column=column, value=value[i], reference=ref[i], relative=relative[i]
                )
            )
    return compared, moved


def compare_runs(run: str | Path, reference: str | Path, tolerance: float = DEFAULT_TOLERANCE) -> Comparison:
    """Compare a finished run folder with a reference folder (e.g. the committed ``results/quick``)."""
    run, reference = Path(run), Path(reference)
    for folder in (run, reference):
        if not (folder / "summary.csv").is_file():
            raise ValueError(f"{folder} is not a finished run: summary.csv is missing")
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    out = Comparison(run, reference, tolerance)
    moved = []
    for name in TABLES:
        n, m = _numbers(run, reference, name, tolerance, out.missing)
        out.compared += n
        moved += m
    out.moved = pd.DataFrame(moved, columns=["file", "key", "column", "value", "reference", "relative"])
    a_path, b_path = run / "findings.csv", reference / "findings.csv"
    if a_path.is_file() and b_path.is_file():
        keys = ["finding", "measure"]
        f = pd.read_csv(a_path).merge(pd.read_csv(b_path), on=keys, how="outer", suffixes=("", "_reference"))
        out.verdicts = f.loc[f["verdict"] != f["verdict_reference"], keys + ["verdict", "verdict_reference"]]
    elif a_path.is_file() != b_path.is_file():
        out.missing.append("findings.csv (in one run only)")
    return out
