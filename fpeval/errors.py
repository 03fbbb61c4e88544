"""The CLI-wide rule for user errors: one line on stderr, exit code 2, no traceback."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable

import typer
from pydantic import ValidationError


def user_errors(fn: Callable) -> Callable:
    """Turn bad user input (ValueError and pydantic's errors, missing files, an unreadable database)
    into ``error: ...`` on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ValidationError as e:  # a config model: one line naming each field and what is wrong
            fields = "; ".join(
                f"{'.'.join(map(str, err['loc'])) or e.title}: {err['msg']}" for err in e.errors()
            )
            typer.echo(f"error: invalid {e.title}: {fields}", err=True)
            raise typer.Exit(code=2) from None
        except (ValueError, FileNotFoundError, sqlite3.DatabaseError) as e:
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(code=2) from None

    return wrapper
