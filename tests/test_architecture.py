"""The package's shape: every import points down the layers, and nothing imports itself round a circle.

The graph is read from the source (``ast``), not from a running interpreter, so a lazy import inside a function
counts as much as one at the top of a module. A module's layer is that of its top-level part (``models.source``
is in ``models``); the layers are listed once, lowest first. A module may import from its own part and from
lower layers; parts that share a layer (the book's applications, multimodal and deployment chapters) do not
import one another.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "xlm_course"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("", "validation", "cache", "plots"),  # "" is the package's own __init__
    ("runtime",),
    ("claims",),
    ("data",),
    ("text",),
    ("models",),
    ("training",),
    ("objectives",),
    ("ranking",),
    ("pretraining",),
    ("transfer",),
    ("multimodal", "applications", "deployment"),
    ("exercises",),
    ("cli",),
)
LAYER_OF = {part: index for index, parts in enumerate(LAYERS) for part in parts}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, modules: set[str]) -> set[str]:
    """The course modules that ``path`` imports, relative to the package (``""`` for the package itself)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and (node.module == "xlm_course" or node.module.startswith("xlm_course.")):
                target = node.module.removeprefix("xlm_course").lstrip(".")
            else:
                continue
            for alias in node.names:  # `from . import sandbox` imports a module
                child = f"{target}.{alias.name}" if target else alias.name
                found.add(child if child in modules else target)
        elif isinstance(node, ast.Import):
            found |= {alias.name.removeprefix("xlm_course").lstrip(".") for alias in node.names
                      if alias.name == "xlm_course" or alias.name.startswith("xlm_course.")}
    return found - {name}


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(path) for path in paths}
    return {module_name(path): imports(path, modules) for path in paths}


def top(module: str) -> str:
    return module.split(".")[0]


def test_every_module_has_a_layer():
    unplaced = sorted({top(module) for module in import_graph()} - set(LAYER_OF))
    assert not unplaced, f"add these parts of the package to LAYERS: {unplaced}"


def test_imports_point_down_the_layers():
    wrong = []
    for module, targets in import_graph().items():
        for target in targets:
            same_part = top(module) == top(target)
            if not same_part and LAYER_OF[top(target)] >= LAYER_OF[top(module)]:
                wrong.append(f"{module or 'xlm_course'} → {target or 'xlm_course'}")
    assert not wrong, "imports from a higher layer or a sibling part:\n" + "\n".join(sorted(wrong))


def test_no_import_circle():
    graph = import_graph()
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                circle = path[path.index(target):] + [target] if target in path else [module, target]
                pytest.fail("import circle: " + " → ".join(name or "xlm_course" for name in circle))
            if target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_the_reader_finds_the_circle_it_would_make(tmp_path, monkeypatch):
    """The graph sees the kind of import that made the old circle: a relative import two levels up."""
    package = tmp_path / "xlm_course"
    (package / "transfer").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "transfer" / "__init__.py").write_text("")
    (package / "pretraining.py").write_text("from .ranking import retrieval_table\n")
    (package / "ranking.py").write_text("from .transfer.encoders import EncoderSource\n")
    (package / "transfer" / "encoders.py").write_text("from ..pretraining import pretrain\nimport xlm_course.cache\n")
    monkeypatch.setattr(f"{__name__}.PACKAGE", package)
    graph = import_graph()
    assert graph["ranking"] == {"transfer.encoders"}
    assert graph["transfer.encoders"] == {"pretraining", "cache"}
    with pytest.raises(pytest.fail.Exception, match="import circle"):
        test_no_import_circle()


def test_the_package_docstring_lists_the_same_layers():
    """The reader's map (xlm_course/__init__.py) and this test's LAYERS are one list, in the same order."""
    import xlm_course

    said = xlm_course.__doc__.split("lowest first:")[1]
    named = [[re.sub(r"[`/]", "", name) for name in re.findall(r"``[a-z_]+/?``", part)] for part in said.split("→")]
    assert named == [[part for part in layer if part] for layer in LAYERS]
