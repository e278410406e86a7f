"""The package's layers, checked: a module imports only from its own layer or below,
`qa.client` stands alone, no module grows past the size a newcomer can read, and no
code casts its way past the store seam.

Layers, bottom to top (README "Architecture"):
  0 records, text, errors, settings, page_regions
  1 models, ingest, store, catalogue
  2 retrieval, answer
  3 runtime, rebuild, jobs, eval
  4 api, cli, views, web
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "qa"

LAYERS: dict[str, int] = {
    "records": 0,
    "text": 0,
    "errors": 0,
    "settings": 0,
    "page_regions": 0,
    "models": 1,
    "ingest": 1,
    "store": 1,
    "catalogue": 1,
    "retrieval": 2,
    "answer": 2,
    "runtime": 3,
    "rebuild": 3,
    "jobs": 3,
    "eval": 3,
    "api": 4,
    "cli": 4,
    "views": 4,
    "__main__": 4,
}
STANDALONE = {"client", "__init__"}
"""`qa.client` is copied into other programs: it imports nothing of ours. The package's
`__init__` only sets process-wide environment."""

MAX_LINES = 300


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _top(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every `qa.*` module imported, also inside functions and TYPE_CHECKING blocks."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [(node.lineno, n) for n in names if n == "qa" or n.startswith("qa.")]
    return found


def test_every_top_level_module_has_a_layer() -> None:
    tops = {_top(p) for p in _modules()}
    assert tops - set(LAYERS) - STANDALONE == set()


def test_no_module_imports_a_higher_layer() -> None:
    upward = []
    for path in _modules():
        top = _top(path)
        for line, module in _imports(path):
            target = module.split(".")[1] if "." in module else "__init__"
            if top in STANDALONE:
                if target != top:
                    upward.append(f"{path.relative_to(PACKAGE)}:{line} imports {module}")
            elif LAYERS.get(target, -1) > LAYERS[top]:
                upward.append(f"{path.relative_to(PACKAGE)}:{line} imports {module}")
    assert upward == []


def test_no_module_is_too_long_to_read() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in _modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_nothing_casts_to_a_concrete_store() -> None:
    casts = [
        f"{p.relative_to(PACKAGE)}:{node.lineno}"
        for p in _modules()
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "cast"
        and "Store" in ast.unparse(node.args[0])
    ]
    assert casts == []
