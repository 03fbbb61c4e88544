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


# ARCHITECTURE.md's stages, left to right (a stage is a folder, or one module of it, the longest prefix
# wins); a module may import its own stage and stages to its left.
STAGES = [
    (
        "base",
        [
            "fpeval.artifacts",
            "fpeval.heap",
            "fpeval.images",
            "fpeval.errors",
            "fpeval.video",
            "fpeval.figures",
            "fpeval.world",
        ],
    ),
    ("schedule", ["fpeval", "fpeval.plan.schedule", "fpeval.plan.tokens"]),
    ("plan", ["fpeval.plan"]),
    ("sampling", ["fpeval.sampling"]),
    ("engine", ["fpeval.sampling.engine"]),
    ("models", ["fpeval.models"]),
    ("generation", ["fpeval.generation"]),
    ("votes", ["fpeval.votes"]),
    ("runs", ["fpeval.runs"]),
    ("cli", ["fpeval.cli"]),
]
KNOWN_CYCLES: set[tuple[str, str]] = set()  # sorted pairs of modules that import each other


def _stage(module: str) -> int:
    best = None
    for rank, (_, prefixes) in enumerate(STAGES):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (
                best is None or len(prefix) > best[1]
            ):
                best = (rank, len(prefix))
    assert best is not None, f"{module} has no stage in STAGES (ARCHITECTURE.md)"
    return best[0]


def test_fpeval_imports_follow_the_stages():
    """Every fpeval import (module level or inside a function) goes to the importer's stage or one to its
    left, and the only import cycles are the listed ones."""
    import ast

    edges = set()
    for path in sorted((ROOT / "fpeval").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            edges |= {(module, n) for n in names if n.split(".")[0] == "fpeval" and n != module}
    backwards = [f"{a} -> {b}" for a, b in sorted(edges) if _stage(b) > _stage(a)]
    assert not backwards, backwards
    cycles = {tuple(sorted((a, b))) for a, b in edges if (b, a) in edges}
    assert cycles <= KNOWN_CYCLES, cycles - KNOWN_CYCLES


def test_no_function_is_longer_than_a_reader_can_hold():
    """No function of fpeval, metrics or benchmarks is over 80 lines (docstring included)."""
    import ast

    long = []
    for folder in ("fpeval", "metrics", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    lines = node.end_lineno - node.lineno + 1
                    if lines > 80:
                        long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long
