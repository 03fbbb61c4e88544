"""Runs of a grid config: config checks and content keys, the crash-safe runner, the report (summary, ratings, findings, table) and reproduction checks."""
