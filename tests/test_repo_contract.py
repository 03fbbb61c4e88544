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


def test_metrics_imports_nothing_from_fpeval():
    """``metrics`` stands alone (users score their own videos with it); ``fpeval`` uses it, never the
    reverse. Checked on every import statement, module-level or inside functions."""
    import ast

    root = Path(__file__).resolve().parents[1]
    offenders = []
    for path in sorted((root / "metrics").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [
                f"{path.relative_to(root)}:{node.lineno} {n}" for n in names if n.split(".")[0] == "fpeval"
            ]
    assert not offenders, offenders


def test_the_command_line_starts_without_torch():
    """``fpeval --help`` must not pay for torch (1-2 s): the CLI and ``metrics`` load heavy modules on use."""
    import subprocess
    import sys

    code = "import sys, fpeval.cli, metrics; print('torch' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_every_metrics_module_imports_first_in_a_fresh_interpreter():
    """No import cycle hides behind import order: each module of ``metrics`` can be the first one
    imported (the registry and the metric modules used to need the registry first)."""
    import subprocess
    import sys

    modules = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in (ROOT / "metrics").rglob("*.py")
    )
    code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
    failed = []
    for module in modules:  # one interpreter per module: each must come first
        run = subprocess.run([sys.executable, "-c", code, module], capture_output=True, text=True)
        if run.returncode:
            failed.append(f"{module}: {run.stderr.strip().splitlines()[-1]}")
    assert not failed, failed
