"""``fpeval votes``: design a blind A/B study, serve the voting page, export votes, report ratings."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from fpeval.errors import user_errors

votes_app = typer.Typer(
    help="Human A/B study: design pairs, serve a blind voting page, export votes, report ratings.",
    no_args_is_help=True,
)


def _annotators_option(value: str) -> str | None:
    if value not in ("humans", "judges", "all"):
        raise ValueError(f"--annotators must be humans, judges or all, got {value!r}")
    return None if value == "all" else value


@votes_app.command("design")
@user_errors
def design_cmd(
    results_dir: Path = typer.Argument(
        ..., help="Results folder with videos/<stem>.mp4 + <stem>.json sidecars."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="New study folder (must not exist or be empty)."),
    seed: int = typer.Option(0, "--seed", help="Seed for pair choice and left/right order."),
    gold: float = typer.Option(0.1, "--gold", help="Gold pairs: share of regular pairs (< 1) or a count."),
    repeats: float = typer.Option(
        0.1, "--repeats", help="Repeated swapped pairs: share of regular pairs (< 1) or a count."
    ),
    max_per_combination: int | None = typer.Option(
        None, "--max-per-combination", help="At most this many pairs per row combination."
    ),
    balance: bool = typer.Option(
        True, "--balance/--no-balance", help="Same number of pairs for every row combination."
    ),
    name: str | None = typer.Option(None, "--name", help="Study name (default: the folder name)."),
    annotator: list[str] = typer.Option([], "--annotator", "-a", help="Register an annotator; repeatable."),
    pairs_per_annotator: int | None = typer.Option(
        None, "--pairs-per-annotator", help="Assign each annotator this many pairs (default: all)."
    ),
) -> None:
    """Design a study: balanced blind pairs, gold and repeated pairs, side-by-side MP4s, a vote store."""
    from fpeval.votes.design import design_study

    summary = design_study(
        results_dir,
        out,
        seed=seed,
        gold=gold,
        repeats=repeats,
        max_per_combination=max_per_combination,
        balance=balance,
        name=name,
        annotators=annotator,
        pairs_per_annotator=pairs_per_annotator,
        progress=True,
    )
    c = summary.counts
    typer.echo(
        f"wrote {summary.root}: {c['pairs']} pairs ({c['regular']} regular, {c['gold']} gold, "
        f"{c['repeat']} repeated) over {c['clips']} clips"
    )
    for w in summary.warnings:
        typer.echo(f"warning: {w}", err=True)
    typer.echo(f"admin token: {summary.admin_token}")
    for who, token in summary.annotator_tokens.items():
        typer.echo(f"annotator {who}: /?token={token}")
    typer.echo(f"tokens are also in {summary.root / 'tokens.json'} (readable by you only)")


@votes_app.command("annotators")
@user_errors
def annotators_cmd(
    study_dir: Path = typer.Argument(..., help="Study folder."),
    add: list[str] = typer.Option(
        [],
        "--add",
        help="Register an annotator and print their link; for one already registered, a new link "
        "(the old one stops working, queue and votes stay); repeatable.",
    ),
    limit: int | None = typer.Option(
        None, "--limit", help="Pairs to assign to each new annotator (default: all)."
    ),
    more: int = typer.Option(
        0, "--more", min=0, help="With --add of an annotator who has a queue: append this many further pairs."
    ),
    revoke: list[str] = typer.Option(
        [], "--revoke", help="Invalidate an annotator's link (their votes stay); repeatable."
    ),
) -> None:
    """Issue, rotate and revoke annotator links, and list everyone's progress."""
    from fpeval.votes.study import Study

    study = Study.open(study_dir)
    for who in revoke:
        if not study.revoke(who):
            raise ValueError(f"annotator {who!r} has no active link in {study_dir}")
        typer.echo(f"annotator {who}: link revoked")
    for who in add:
        typer.echo(f"annotator {who}: /?token={study.add_annotator(who, limit=limit, more=more)}")
    for who in study.store.annotators()["annotator_id"]:
        done, total = study.store.progress(study.study_id, who)
        if total:
            typer.echo(f"{who:<24} {done:>5} / {total} voted")


@votes_app.command("serve")
@user_errors
def serve_cmd(
    study_dir: Path = typer.Argument(..., help="Study folder."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default: this machine only)."),
    port: int = typer.Option(8000, "--port", help="Port; 0 picks a free one."),
) -> None:
    """Serve the blind voting page (annotators open /?token=<their token>)."""
    from fpeval.votes.server import serve

    serve(study_dir, host=host, port=port)


def _load_votes(source: Path, annotators: str | None):
    import pandas as pd

    if source.is_dir():
        from fpeval.votes.study import Study

        study = Study.open(source)
        return study.store.votes(study.study_id, annotators)
    if not source.exists():
        raise FileNotFoundError(f"{source} does not exist")
    if source.suffix == ".csv":
        votes = pd.read_csv(source)
    elif source.suffix == ".parquet":
        votes = pd.read_parquet(source)
    elif source.suffix == ".json":
        votes = pd.read_json(source, orient="records")
    else:
        raise ValueError(f"expected a study folder or a .csv / .parquet / .json votes file, got {source}")
    if "created_at" in votes:
        votes["created_at"] = pd.to_datetime(votes["created_at"], utc=True, format="ISO8601")
    from metrics.ratings import select_annotators

    return select_annotators(votes, annotators or "all")


@votes_app.command("export")
@user_errors
def export_cmd(
    study_dir: Path = typer.Argument(..., help="Study folder."),
    out: Path = typer.Option(..., "--out", "-o", help="Output file: .csv, .json or .parquet."),
    annotators: str = typer.Option("all", "--annotators", help="humans, judges or all."),
) -> None:
    """Export votes (with competitor names) for analysis."""
    from fpeval.artifacts import atomic_path

    if out.suffix not in (".csv", ".json", ".parquet"):
        raise ValueError(f"--out must end in .csv, .json or .parquet, got {out}")
    if not study_dir.is_dir():
        raise FileNotFoundError(f"{study_dir} is not a study folder")
    votes = _load_votes(study_dir, _annotators_option(annotators))
    with atomic_path(out) as tmp:
        if out.suffix == ".csv":
            votes.to_csv(tmp, index=False)
        elif out.suffix == ".json":
            votes.to_json(tmp, orient="records", date_format="iso", indent=1)
        else:
            votes.to_parquet(tmp, index=False)
    typer.echo(f"wrote {out}: {len(votes)} votes")


@votes_app.command("report")
@user_errors
def report_cmd(
    source: Path = typer.Argument(..., help="Study folder, or an exported votes file (.csv/.json/.parquet)."),
    method: str = typer.Option(
        "bt", "--method", help="bt (Bradley–Terry), elo (ELO-K32) or online_elo (K=4)."
    ),
    rounds: int = typer.Option(1000, "--rounds", help="Bootstrap rounds."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    annotators: str = typer.Option("humans", "--annotators", help="humans, judges or all."),
    both_bad: str = typer.Option("tie", "--both-bad", help="Count 'both bad' as a tie, or drop it."),
    anchor: str | None = typer.Option(None, "--anchor", help="Competitor pinned at rating 1000."),
    l2: float = typer.Option(
        0.0, "--l2", help="Explicit Gaussian prior on Bradley–Terry strengths (default none: plain MLE)."
    ),
    fmt: str = typer.Option("markdown", "--format", help="markdown or json."),
) -> None:
    """Print the rating table: rating, bootstrap CI, CI rank, +-16 tier, ELO-K32, votes, win rate."""
    from metrics import ratings

    if fmt not in ("markdown", "json"):
        raise ValueError(f"--format must be markdown or json, got {fmt!r}")
    who = _annotators_option(annotators)
    votes = _load_votes(source, who)
    if votes.empty:
        raise ValueError(f"no {annotators} votes in {source}")
    table = ratings.rating_table(
        votes,
        method=method,
        rounds=rounds,
        seed=seed,
        both_bad=both_bad,
        annotators=annotators,
        anchor=anchor,
        l2=l2,
    )
    quality = _quality(votes)
    if fmt == "json":
        payload = {
            "method": method,
            "rounds": rounds,
            "seed": seed,
            "annotators": annotators,
            "both_bad": both_bad,
            "l2": table.attrs.get("l2", l2),
            "prior": table.attrs.get("prior"),
            "dropped_rounds": table.attrs.get("dropped_rounds", 0),
            "ratings": json.loads(table.to_json(orient="records")),
            "quality": quality,
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    typer.echo(
        f"{method} ratings from {int(table['votes'].sum() // 2)} votes ({annotators}); "
        f"{int(100 * table.attrs.get('confidence', 0.95))}% bootstrap CI over {rounds} rounds; "
        "rank = 1 + competitors whose lower bound beats this upper bound; "
        "tier = the paper's rank: +-16 tiers of ELO-K32\n"
        + (f"Note: {table.attrs['prior']}.\n" if table.attrs.get("prior") else "")
    )
    typer.echo(ratings.format_markdown(table))
    if quality:
        typer.echo("\nannotator quality")
        for key, value in quality.items():
            typer.echo(f"  {key}: {json.dumps(value)}")


def _quality(votes) -> dict:
    """Gold accuracy, swap consistency and agreement, where the votes allow them."""
    from metrics import agreement

    out: dict = {}
    if {"kind", "gold_choice"} <= set(votes.columns) and (votes["kind"] == "gold").any():
        out["gold_accuracy"] = agreement.gold_accuracy(votes)["accuracy"].round(4).to_dict()
    if "repeat_of" in votes.columns and votes["repeat_of"].notna().any():
        out["swap_consistency"] = agreement.swap_consistency(votes)["consistency"].round(4).to_dict()
    if "pair_id" in votes.columns and votes["annotator"].nunique() >= 2:
        regular = votes[votes["kind"] != "gold"] if "kind" in votes.columns else votes
        for name, fn in (
            ("fleiss_kappa", agreement.fleiss_kappa),
            ("krippendorff_alpha", agreement.krippendorff_alpha),
        ):
            try:
                out[name] = round(fn(regular), 4)
            except ValueError:
                pass
    return out


if __name__ == "__main__":  # pragma: no cover
    votes_app()
