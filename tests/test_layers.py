"""The layer rules of docs/architecture.md, read from the imports with `ast`: the remote-code files import nothing else
from the package, the layers below the trainer never import it or the command line, and no two modules import each
other, directly or around a circle, and only `cli/` parses argv (a `__main__` block, which runs only as a program, is
not an import)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "leae_hub"
REMOTE_CODE = {"configuration_leae", "modeling_leae", "image_processing_leae", "pipeline_leae"}
UPPER = ("cli", "trainer", "training", "space", "lab")  # entry points and the trainer


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_main_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and isinstance(test, ast.Compare) and ast.unparse(test) == "__name__ == '__main__'"


MODULES = {_module_name(path) for path in PACKAGE.rglob("*.py")}


def _imports(path: Path) -> set[str]:
    """The package modules `path` imports (relative to the package: `hub`, `trainer.settings`; `` is the package's
    `__init__`), anywhere in it: `from . import hub` names the module hub, `from .hub import x` names hub too."""
    name = _module_name(path)
    here = [part for part in (name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]) if part]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _is_main_block(node):
            return
        if isinstance(node, ast.ImportFrom) and node.level:
            base = ".".join(here[: len(here) - node.level + 1])
            target = f"{base}.{node.module}".strip(".") if node.module else base
            for alias in node.names:
                submodule = f"{target}.{alias.name}".strip(".")
                found.add(submodule if node.module is None and submodule in MODULES else target)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "leae_hub":
            found.add(node.module.removeprefix("leae_hub").strip("."))
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("leae_hub").strip(".") for a in node.names if a.name[:8] == "leae_hub")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found - {name}


# `python -m leae_hub.hub` (hub/__main__.py) is a program, not a module anything imports
GRAPH = {_module_name(path): _imports(path) for path in sorted(PACKAGE.rglob("*.py")) if path.stem != "__main__"}


def test_every_import_of_the_package_names_one_of_its_modules():
    """A relative import that a move left pointing at nothing (`from .modeling_leae` one folder down) fails here, even
    inside a function that no other test calls."""
    for module, imported in GRAPH.items():
        assert imported <= MODULES, f"{module} imports {sorted(imported - MODULES)}, which is not a module"


@pytest.mark.parametrize("module", sorted(REMOTE_CODE))
def test_remote_code_files_import_only_each_other(module):
    assert GRAPH[module] <= REMOTE_CODE, GRAPH[module] - REMOTE_CODE


def test_lower_layers_never_import_the_trainer_or_the_command_line():
    for module, imported in GRAPH.items():
        if module and module.split(".")[0] not in UPPER:
            upper = {m for m in imported if m.split(".")[0] in UPPER}
            assert not upper, f"{module} imports {sorted(upper)}"
    assert not {m for m in GRAPH["trainer"] | GRAPH["trainer.loop"] if m.split(".")[0] == "cli"}


def test_no_import_circle():
    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(m == goal or (m not in seen and not seen.add(m) and reaches(m, goal, seen)) for m in GRAPH[start])

    circles = [m for m in GRAPH if m and reaches(m, m, set())]
    assert not circles, circles


def _reads_argv(path: Path) -> bool:
    """Whether the module (outside its `__main__` block) builds an argument parser or reads `sys.argv` (a type hint
    naming `argparse.Namespace` parses nothing)."""

    def visit(node: ast.AST) -> bool:
        if _is_main_block(node):
            return False
        if isinstance(node, ast.Call) and ast.unparse(node.func).split(".")[-1] == "ArgumentParser":
            return True
        if isinstance(node, ast.Attribute) and node.attr == "argv" and ast.unparse(node.value) == "sys":
            return True
        return any(visit(child) for child in ast.iter_child_nodes(node))

    return visit(ast.parse(path.read_text(encoding="utf-8")))


def test_only_the_command_line_parses_argv():
    """Every option of every command is parsed in `cli/`; the Space and `python -m leae_hub.hub` hand theirs to it."""
    parsing = {_module_name(path) for path in PACKAGE.rglob("*.py") if path.stem != "__main__" and _reads_argv(path)}
    assert parsing and {module.split(".")[0] for module in parsing} == {"cli"}, parsing
