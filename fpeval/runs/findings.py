"""The paper's written findings, each checked against a run with a paired bootstrap interval.

A finding is *reproduced* when the direction the paper states holds and the 95 % interval of the paired
difference excludes zero, *direction only* when the point estimate agrees but the interval includes
zero, and *not reproduced* otherwise. Differences are paired by start image and seed.
"""

from __future__ import annotations

import pandas as pd

from metrics.drift import bootstrap_ci

REPRODUCED, DIRECTION_ONLY, NOT_REPRODUCED = "reproduced", "direction only", "not reproduced"


def paired(per_video: pd.DataFrame, metric: str, column: str, a, b, rounds: int = 2000):
    """Mean over samples of (a − b) on ``column`` of ``metric``, with a bootstrap 95 % interval; ``a`` and
    ``b`` are row names or lists of row names (averaged per sample)."""
    m = per_video[per_video["metric"] == metric]
    if m.empty:
        raise ValueError(
            f"metric {metric!r} is not in the run; it has {sorted(per_video['metric'].unique())}"
        )

    def side(rows):
        rows = [rows] if isinstance(rows, str) else list(rows)
        missing = set(rows) - set(m["row"])
        if missing:
            raise ValueError(f"rows {sorted(missing)} are not in the run; it has {sorted(m['row'].unique())}")
        return m[m["row"].isin(rows)].groupby(["image", "seed"])[column].mean()

    diff = (side(a) - side(b)).dropna().to_numpy(dtype=float)
    return bootstrap_ci(diff, rounds=rounds)


def verdict(est: float, lo: float, hi: float, expect: str) -> str:
    """``expect`` is 'positive' or 'negative': the sign the paper's claim predicts."""
    sign = 1 if expect == "positive" else -1
    if sign * est <= 0:
        return NOT_REPRODUCED
    return REPRODUCED if (lo > 0 if sign > 0 else hi < 0) else DIRECTION_ONLY


def _record(finding, claim, measure, ci, expect):
    est, lo, hi = ci
    return dict(
        finding=finding, claim=claim, measure=measure, estimate=est, lower=lo, upper=hi,
        verdict=verdict(est, lo, hi, expect),
    )  # fmt: skip


def _combine(verdicts: list[str]) -> str:
    if all(v == REPRODUCED for v in verdicts):
        return REPRODUCED
    if all(v != NOT_REPRODUCED for v in verdicts):
        return DIRECTION_ONLY
    return NOT_REPRODUCED


def table1_findings(
    per_video: pd.DataFrame, grid: dict, drift_metrics, dynamic_metric: str | None
) -> list[dict]:
    """F1 (inverted lowest drift), F2 (vanilla most dynamic), F3 (+D lowers drift), F6 (schedules within a
    mode differ little) on a Table-1 run. A finding whose rows the run lacks is left out (F1 needs an
    inverted row and another to compare it with, F2 vanilla and anti-drifting rows, F3 +D rows, F6 two or more vanilla schedules)."""
    rows = grid["rows"]
    vanilla = [r["name"] for r in rows if r["variant"] == "vanilla"]
    plus_d = [r["name"] for r in rows if r["variant"] == "vanilla+D"]
    inverted = [r["name"] for r in rows if r["variant"] == "inverted"]
    others = [r["name"] for r in rows if r["variant"] != "inverted"]
    anti = [r["name"] for r in rows if r["variant"] in ("endpoint", "inverted")]
    out = []
    for metric in drift_metrics if inverted and others else ():
        # the lowest-drift competitor per metric is the hardest comparison for the inverted row
        means = per_video[per_video["metric"] == metric].groupby("row")["drift_pct"].mean()
        rival = means.loc[others].idxmin()
        out.append(
            _record(
                "F1",
                "inverted anti-drifting has the lowest drift on every drift metric",
                f"Δ {metric} %: best other row ({rival}) − inverted",
                paired(per_video, metric, "drift_pct", rival, inverted),
                "positive",
            )
        )
    if vanilla and anti and dynamic_metric:
        out.append(
            _record(
                "F2",
                "vanilla sampling has the highest Dynamic",
                f"{dynamic_metric}: vanilla rows − anti-drifting rows (endpoint, inverted)",
                paired(
                    per_video,
                    dynamic_metric,
                    "mean",
                    vanilla,
                    anti,
                ),
                "positive",
            )
        )
    for metric in drift_metrics if vanilla and plus_d else ():
        out.append(
            _record(
                "F3",
                "discrete history (+D) lowers drift against vanilla",
                f"Δ {metric} %: vanilla rows − +D rows (same schedules)",
                paired(per_video, metric, "drift_pct", vanilla, plus_d),
                "positive",
            )
        )
    for metric in drift_metrics if len(vanilla) > 1 and inverted else ():
        # F6: the largest gap between two vanilla schedules, against the vanilla-inverted gap
        means = per_video[(per_video["metric"] == metric) & per_video["row"].isin(vanilla)]
        by_row = means.groupby("row")["drift_pct"].mean()
        hi_row, lo_row = by_row.idxmax(), by_row.idxmin()
        spread = paired(per_video, metric, "drift_pct", hi_row, lo_row)
        mode_gap = paired(per_video, metric, "drift_pct", vanilla, inverted)
        rec = _record(
            "F6",
            "schedule differences within one sampling mode are small (beside the mode difference)",
            f"Δ {metric} %: mode gap (vanilla − inverted) − widest vanilla schedule spread ({hi_row} − {lo_row})",
            (mode_gap[0] - spread[0], mode_gap[1] - spread[2], mode_gap[2] - spread[1]),
            "positive",
        )
        out.append(rec)
    return out


def table2_findings(
    per_video: pd.DataFrame, drift_metrics, forgetting_metric: str, rows: dict[str, str]
) -> list[dict]:
    """F4 (higher σ_test: less drift, more forgetting) and F5 (history guidance: more drift) on a Table-2
    run. ``rows`` names the rows: df0, df05 (σ_test 0 and 0.5) and guidance."""
    out = []
    for metric in drift_metrics:
        out.append(
            _record(
                "F4",
                "higher σ_test drifts less",
                f"Δ {metric} %: DF σ_test=0 − DF σ_test=0.5",
                paired(per_video, metric, "drift_pct", rows["df0"], rows["df05"]),
                "positive",
            )
        )
    out.append(
        _record(
            "F4",
            "higher σ_test forgets more",
            f"{forgetting_metric} (mean): DF σ_test=0 − DF σ_test=0.5",
            paired(per_video, forgetting_metric, "mean", rows["df0"], rows["df05"]),
            "positive",
        )
    )
    for metric in drift_metrics:
        out.append(
            _record(
                "F5",
                "history guidance drifts more",
                f"Δ {metric} %: history guidance − DF σ_test=0 (same model, no guidance)",
                paired(per_video, metric, "drift_pct", rows["guidance"], rows["df0"]),
                "positive",
            )
        )
    return out


def summary(findings: list[dict]) -> pd.DataFrame:
    """One line per finding: its combined verdict over its measures."""
    df = pd.DataFrame(findings)
    return (
        df.groupby(["finding", "claim"], sort=False)["verdict"].agg(lambda v: _combine(list(v))).reset_index()
    )


def run_findings(per_video: pd.DataFrame, grid: dict) -> pd.DataFrame:
    """Every finding a run's rows allow (F1-F3 and F6 from Table-1 rows; F4/F5 from DiffusionForcing rows
    of the ``mini-v2-df`` model at σ_test 0 and 0.5 and a history-guidance row), one line per measure."""
    drift_metrics = list(grid["table"]["drift"]) or sorted(
        per_video.dropna(subset=["drift_pct"])["metric"].unique()
    )
    present = set(per_video["metric"])
    dynamic = next((m for m in ("dynamic_flow", "dynamic_degree", "dynamic_raft") if m in present), None)
    found = table1_findings(per_video, grid, drift_metrics, dynamic)

    def row_with(variant, **params):
        for r in grid["rows"]:
            if r["variant"] == variant and all(r.get(k) == v for k, v in params.items()):
                return r["name"]
        return None

    df_rows = {
        "df0": row_with("df", sigma_test=0.0, model="mini-v2-df"),
        "df05": row_with("df", sigma_test=0.5, model="mini-v2-df"),
        "guidance": row_with("history_guidance"),
    }
    if all(df_rows.values()):
        found += table2_findings(per_video, drift_metrics, "consistency_first_ssim", df_rows)
    columns = ["finding", "claim", "measure", "estimate", "lower", "upper", "verdict"]
    return pd.DataFrame(found, columns=columns)
