"""The package's shape: three layers whose imports point one way, no import circle, no private API of a library."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "vae_lightning"
# The project's Hydra plugins, held to the same rule on private modules.
PLUGINS = PACKAGE.parent / "hydra_plugins"
# A layer may import the layers listed before it, never one after it.
LAYERS = ("paper", "harness", "analysis")
# Beneath them, used by every layer: building objects from configs, the errors users see, writing files, and
# how a command takes Ctrl-C as it starts.
BASE = ("vae_lightning", "vae_lightning.configs", "vae_lightning.errors", "vae_lightning.files",
        "vae_lightning.startup")
# Whose private modules (a name part starting with "_", as hydra._internal) the package must not import.
LIBRARIES = ("hydra", "lightning", "omegaconf", "optuna", "torch", "torchvision")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module named by an import statement anywhere in the file (function bodies included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: {target for target in imports(path) if target in modules and target != name}
            for name, path in modules.items()}


def layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 2 and parts[1] in LAYERS else None


def test_there_is_no_import_circle() -> None:
    graph = import_graph()
    visiting: list[str] = []
    done: set[str] = set()

    def visit(module: str) -> None:
        if module in visiting:
            pytest.fail("import circle: " + " -> ".join(visiting[visiting.index(module):] + [module]))
        if module in done:
            return
        visiting.append(module)
        for target in graph[module]:
            visit(target)
        visiting.pop()
        done.add(module)

    for module in graph:
        visit(module)


def test_each_layer_imports_only_the_layers_below_it() -> None:
    wrong = [(module, target) for module, targets in import_graph().items() for target in targets
             if layer(module) is not None and layer(target) is not None and layer(target) > layer(module)]
    assert wrong == []


def test_the_papers_code_imports_nothing_else_of_the_project() -> None:
    graph = import_graph()
    outside = {target for module, targets in graph.items() if layer(module) == 0 for target in targets
               if layer(target) != 0 and target not in BASE}
    assert outside == set()


def test_the_base_imports_no_layer() -> None:
    graph = import_graph()
    assert {(module, target) for module in BASE for target in graph.get(module, ()) if target not in BASE} == set()


def private(name: str) -> bool:
    library, *parts = name.split(".")
    return library in LIBRARIES and any(part.startswith("_") for part in parts)


def test_no_private_module_of_a_library_is_imported() -> None:
    sources = [*PACKAGE.rglob("*.py"), *PLUGINS.rglob("*.py")]
    assert any(path.parent.name == "vae_lightning_optuna" for path in sources)  # the plugins are read too
    found = {(module_name(path), name) for path in sources for name in imports(path) if private(name)}
    assert found == set()


def test_private_names_are_recognised() -> None:  # the check above would pass if none were
    assert private("hydra._internal.utils") and private("lightning.pytorch.utilities._pytree")
    assert private("optuna.storages._rdb.storage")
    assert not private("hydra.core.utils") and not private("vae_lightning._x")
    assert not private("hydra_plugins.vae_lightning_optuna._study")  # the project's own


def test_the_graph_sees_real_imports() -> None:  # the checks above would pass on an empty graph
    graph = import_graph()
    assert "vae_lightning.paper.model" in graph["vae_lightning.paper.module"] or \
        "vae_lightning.paper.loss" in graph["vae_lightning.paper.module"]
    assert "vae_lightning.harness.runs" in graph["vae_lightning.analysis.report"]
