"""The layers point one way (docs/layout.md): a module imports only from its own layer or lower
ones, at the top of the file or inside a function.  Read from the source with ast."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "heterocat"

#: layer of each top-level module or package, lowest first
LAYERS = [
    ("base", {"errors", "io", "geometry", "systems", "parallel", "records", "data", "__init__", "__main__"}),
    ("sites", {"sites"}),
    ("build", {"build"}),
    ("calculate", {"calculate"}),
    ("store", {"store"}),
    ("analyse", {"analyse"}),
    ("plot", {"plot"}),
    ("study", {"study", "run"}),
    ("cli", {"cli", "report"}),
]
RANK = {name: k for k, (_, names) in enumerate(LAYERS) for name in names}
#: the package __init__ and __main__ re-export the public API and start the command line
EXEMPT = {"__init__", "__main__"}


def _top(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "__init__"


def imports_against_the_order() -> list[str]:
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        module = ".".join(rel.parts)
        own = _top(module) if len(rel.parts) > 1 else "__init__"
        if own in EXEMPT and len(rel.parts) == 2:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name == "heterocat" or not name.startswith("heterocat."):
                    continue
                target = name.split(".")[1]
                if RANK.get(target, 0) > RANK[own]:
                    bad.append(f"{module}:{node.lineno} imports {name} ({LAYERS[RANK[target]][0]} "
                               f"above {LAYERS[RANK[own]][0]})")
    return bad


def test_every_module_has_a_layer():
    tops = {p.stem if p.is_file() else p.name for p in SRC.iterdir()
            if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))} | {"data"}
    assert tops <= set(RANK), sorted(tops - set(RANK))


def test_imports_point_down_the_layers():
    assert imports_against_the_order() == []


def test_importing_heterocat_changes_no_global_state():
    """No umask, matplotlib backend or rcParams, or spglib error mode set on import."""
    import subprocess
    import sys

    code = ("import os, matplotlib, spglib.error; mask = os.umask(0o027); backend = matplotlib.get_backend(); "
            "rc = dict(matplotlib.rcParams); old = spglib.error.OLD_ERROR_HANDLING; "
            "import heterocat.cli.main, heterocat.plot.freeenergy, heterocat.plot.chargediff, "
            "heterocat.sites.symmetry, heterocat.io, heterocat.report; "
            "assert os.umask(mask) == 0o027; assert matplotlib.get_backend() == backend; "
            "assert dict(matplotlib.rcParams) == rc; assert spglib.error.OLD_ERROR_HANDLING == old")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_analysis_starts_no_calculation():
    """analyse/ takes arrays and stored results and returns numbers: it never runs a task."""
    for path in sorted((SRC / "analyse").glob("*.py")):
        text = path.read_text()
        assert "run_task" not in text and "execute_task" not in text, path.name
