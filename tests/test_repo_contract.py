"""The README's two commands and CI's use of them."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_opens_with_the_two_commands():
    lines = [ln.strip() for ln in (ROOT / "README.md").read_text().splitlines()]
    block = lines[lines.index("```bash") + 1 : lines.index("```")]
    assert block[:2] == ["make run", "make test"]


def test_ci_calls_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
    assert "set -e" in ci
