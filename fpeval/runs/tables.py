"""The paper's table layout from a run folder: global metrics, drift (Eq. 7, %), ELO and rank, with 95 %
bootstrap intervals. ELO comes from human votes when a study store with human votes is given, otherwise
from the metric judge, and the table always says which."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from metrics.ratings import tie_tiers

FORMATS = ("md", "latex", "html", "json")
RANK_NOTE = (
    "rank: the paper's, from ELO-K32 (K = 32, votes in time order): sorted from the top, a tier holds the "
    "ELOs within 16 of its highest, rank = 1 + tiers above. BT rank: 1 + rows whose Bradley–Terry "
    "interval lies wholly above this row's."
)


def _cell(est: float, lo: float, hi: float, digits: int = 3) -> str:
    return f"{est:.{digits}g} [{lo:.{digits}g}, {hi:.{digits}g}]"


def human_ratings(votes: str | Path, run_dir: str | Path, rows: list[str]) -> pd.DataFrame:
    """The rating table of the human votes cast in the studies designed from ``run_dir``.

    ``votes`` is a study folder or a vote store (``votes.sqlite``). Studies are matched to the run by
    the results folder their design recorded, not by name; votes count when both sides are rows of
    the run. A missing store, no matching study or no human votes yet is an error."""
    from fpeval.runs.judge import ratings_source
    from fpeval.votes.store import VoteStore
    from fpeval.votes.study import DATABASE
    from metrics.ratings import rating_table

    path = Path(votes)
    store_path = path / DATABASE if path.is_dir() else path
    if not store_path.is_file():
        raise ValueError(f"--votes {votes}: no vote store there (give a study folder or its {DATABASE})")
    store = VoteStore(store_path)
    run = Path(run_dir).resolve()
    designed_from = {sid: store.study(sid)["meta"].get("results_dir") for sid in store.studies()["study_id"]}
    studies = [sid for sid, src in designed_from.items() if src and Path(src).resolve() == run]
    if not studies:
        sources = sorted({str(src) for src in designed_from.values() if src}) or ["none recorded"]
        raise ValueError(
            f"no study in {store_path} was designed from {run_dir} (its studies come from: {', '.join(sources)}); "
            f"design one with `fpeval votes design {run_dir} --out STUDY`"
        )
    picked = pd.concat([store.votes(study=sid, annotators="humans") for sid in studies], ignore_index=True)
    picked = picked[picked["left"].isin(rows) & picked["right"].isin(rows)]
    store.close()
    if picked.empty:
        raise ValueError(f"the studies in {store_path} designed from {run_dir} have no human votes yet")
    table = rating_table(picked.sort_values("created_at", kind="stable"))
    who = f"people ({len(picked)} votes, {picked['annotator'].nunique()} annotators)"
    table.insert(0, "source", ratings_source(who, table))
    return table


def build_table(run_dir: str | Path, votes: str | Path | None = None) -> pd.DataFrame:
    """One row per grid row: quality means, drift %, ELO and rank (see the module docstring)."""
    run_dir = Path(run_dir)
    summary_path, grid_path = run_dir / "summary.csv", run_dir / "grid.json"
    for p in (summary_path, grid_path):
        if not p.is_file():
            raise ValueError(f"{run_dir} is not a finished run: {p.name} is missing (run `fpeval run` first)")
    grid = json.loads(grid_path.read_text())
    summary = pd.read_csv(summary_path)
    rows = [r["name"] for r in grid["rows"]]
    ratings = human_ratings(votes, run_dir, rows) if votes else None
    if ratings is None and (run_dir / "ratings.csv").is_file():
        ratings = pd.read_csv(run_dir / "ratings.csv")
    return table_from(grid, summary, ratings, where=str(summary_path))


def table_from(
    grid: dict, summary: pd.DataFrame, ratings: pd.DataFrame | None, where: str = "the summary"
) -> pd.DataFrame:
    """The table of a run from its grid (as ``grid.json`` holds it), summary and ratings, in memory."""
    rows = [r["name"] for r in grid["rows"]]

    def having(statistic: str) -> list[str]:  # per-video metrics (e.g. dynamic_degree) have no drift
        return sorted(summary.loc[summary["statistic"] == statistic, "metric"].unique())

    quality = list(grid["table"]["quality"]) or having("mean")
    drift = list(grid["table"]["drift"]) or having("drift_pct")
    table = pd.DataFrame(index=pd.Index(rows, name="row"))
    for statistic, names, label in (("mean", quality, "{}"), ("drift_pct", drift, "Δ {} (%)")):
        s = summary[summary["statistic"] == statistic].set_index(["row", "metric"])
        for metric in names:
            if (rows[0], metric) not in s.index:
                raise ValueError(
                    f"metric {metric!r} is not in {where}; it has {sorted(summary['metric'].unique())}"
                )
            cells = [_cell(*s.loc[(r, metric), ["estimate", "lower", "upper"]]) for r in rows]
            table[label.format(metric)] = cells
    if ratings is not None:
        r = ratings.set_index("competitor")
        if "tier" not in r or r["tier"].isna().any():  # ratings written before ranks used ELO tiers
            r["tier"] = tie_tiers(r["elo"])
        table["ELO-K32"] = [f"{r.loc[x, 'elo']:.0f}" if x in r.index else "" for x in rows]
        table["rank"] = [int(r.loc[x, "tier"]) if x in r.index else "" for x in rows]
        table["BT [95 % CI]"] = [
            _cell(r.loc[x, "rating"], r.loc[x, "lower"], r.loc[x, "upper"], 4) if x in r.index else ""
            for x in rows
        ]
        table["BT rank"] = [int(r.loc[x, "rank"]) if x in r.index else "" for x in rows]
        table.attrs["ratings_source"] = str(ratings["source"].iloc[0])
    return table


def format_table(table: pd.DataFrame, fmt: str = "md") -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown table format {fmt!r}; accepted: {', '.join(FORMATS)}")
    source = table.attrs.get("ratings_source")
    note = f"Ratings from {source}. {RANK_NOTE}" if source else "No ratings (no votes)."
    if fmt == "md":
        return table.to_markdown() + f"\n\nCells: mean [95 % bootstrap CI]. {note}\n"
    if fmt == "latex":
        return table.to_latex(caption=f"Cells: mean [95 \\% bootstrap CI]. {note}") + "\n"
    if fmt == "html":
        return table.to_html() + f"\n<p>Cells: mean [95 % bootstrap CI]. {note}</p>\n"
    return json.dumps({"ratings_source": source, "rows": table.reset_index().to_dict("records")}, indent=2)
