"""Atomic artifact writing (``metrics.atomic``, which both packages use: ``fpeval`` depends on
``metrics``, never the reverse)."""

from metrics.atomic import atomic_path, write_text

__all__ = ["atomic_path", "write_text"]
