"""The ``fpeval`` command line. Every command has ``--help``; bad input exits with code 2 and a message."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path

import typer

from fpeval import schedule as schedule_lang
from fpeval.tokens import LatentSize, count_tokens

app = typer.Typer(
    name="fpeval",
    help="Run and evaluate FramePack sampling variants: schedules, generation, metrics, ratings.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
schedule_app = typer.Typer(
    help="The paper's schedule language: explain names, count tokens, plot context length.",
    no_args_is_help=True,
)
app.add_typer(schedule_app, name="schedule")


def user_errors(fn: Callable) -> Callable:
    """Turn ValueError (bad user input) into a message on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ValueError as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(code=2) from None

    return wrapper


@app.callback()
def main() -> None:
    """fpeval: an open instrument for the FramePack paper's claims."""


@schedule_app.command("explain")
@user_errors
def schedule_explain(
    name: str = typer.Argument(..., help="Schedule name, e.g. f1k1_x_g9_f1k1f2k2f16k4_td"),
) -> None:
    """Print a human-readable breakdown of a schedule name."""
    typer.echo(schedule_lang.parse(name).explain())


@schedule_app.command("tokens")
@user_errors
def schedule_tokens(
    name: str = typer.Argument(..., help="Schedule name, e.g. td_f16k4f4k2f1k1_g9"),
    height: int = typer.Option(480, "--height", "-H", help="Video height in pixels (latent = /8)."),
    width: int = typer.Option(832, "--width", "-W", help="Video width in pixels (latent = /8)."),
    history_frames: int | None = typer.Option(
        None,
        "--history-frames",
        "-T",
        help="Count only T real history frames (default: a full schedule, as the official loops pad with zeros).",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON object; key 'total' is the image-token count."
    ),
) -> None:
    """Count the image tokens of one section of a schedule at a video size."""
    counts = count_tokens(name, LatentSize.from_pixels(height, width), history_frames=history_frames)
    if as_json:
        payload = counts.to_dict()
        payload.update(height=height, width=width)
        typer.echo(json.dumps(payload))
        return
    typer.echo(
        f"{counts.schedule} at {width}x{height} (latent {counts.latent_width}x{counts.latent_height}), L_f = {counts.frame_tokens}"
    )
    for g in counts.groups:
        kernel = f"k{g.kernel}" if g.kernel else "-"
        typer.echo(f"  {g.label:<8} {g.role:<15} {g.frames:>4} frame(s) {kernel:>4} {g.tokens:>8} tokens")
    typer.echo(f"  section {counts.section}  context {counts.context}  total {counts.total}")


@schedule_app.command("list")
@user_errors
def schedule_list(
    height: int = typer.Option(480, "--height", "-H", help="Video height in pixels."),
    width: int = typer.Option(832, "--width", "-W", help="Video width in pixels."),
) -> None:
    """List the paper's schedules with their token counts."""
    latent = LatentSize.from_pixels(height, width)
    for key, name in schedule_lang.PAPER_SCHEDULES.items():
        c = count_tokens(name, latent)
        typer.echo(f"{key:<26} {name:<32} {schedule_lang.parse(name).direction.value:<9} {c.total:>7} tokens")


@schedule_app.command("context-length")
@user_errors
def schedule_context_length(
    out: Path = typer.Option(Path("results"), "--out", "-o", help="Output folder."),
    height: int = typer.Option(480, "--height", "-H", help="Video height in pixels."),
    width: int = typer.Option(832, "--width", "-W", help="Video width in pixels."),
    max_history: int = typer.Option(64, "--max-history", help="Largest number of history latent frames."),
) -> None:
    """Write context_length.csv and context_length.png (tokens per section vs history length)."""
    from fpeval.context_length import write_context_length

    paths = write_context_length(out, height, width, max_history)
    for kind, path in paths.items():
        typer.echo(f"wrote {kind}: {path}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
