"""The package's layering, read from the source: no import circle between its modules (imports
inside functions count too; imports only for type checking do not), and nothing outside
`pyevm_jit/cli/` imports the command layer."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pyevm_jit"


def module_name(path: Path, root: Path = PACKAGE.parent) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node except those under `if TYPE_CHECKING:`."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                yield child
                yield from _runtime_nodes(child)
            continue
        yield node
        yield from _runtime_nodes(node)


def imports_of(path: Path, modules: set[str], root: Path = PACKAGE.parent) -> set[str]:
    """The modules of `modules` that `path` imports when it runs (at any depth of the file)."""
    this = module_name(path, root)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                # `from package import module` needs the module; `from module import name`
                # (or a name the package's __init__ defines) needs the module itself
                submodule = f"{target}.{alias.name}"
                found.add(submodule if submodule in modules else target)
    return {name for name in found if name in modules and name != this}


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports."""
    root = package.parent
    paths = {module_name(p, root): p for p in package.rglob("*.py")}
    return {name: imports_of(path, set(paths), root) for name, path in paths.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of `graph` (as a closed path), or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = GREY
        stack.append(node)
        for nxt in sorted(graph[node]):
            if colour[nxt] == GREY:
                return stack[stack.index(nxt) :] + [nxt]
            if colour[nxt] == WHITE:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        colour[node] = BLACK
        return None

    for start in sorted(graph):
        if colour[start] == WHITE:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def test_no_import_circle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_only_the_command_layer_imports_it() -> None:
    offenders = sorted(
        f"{name} imports {target}"
        for name, targets in import_graph().items()
        if not (name == "pyevm_jit.cli" or name.startswith("pyevm_jit.cli."))
        for target in targets
        if target == "pyevm_jit.cli" or target.startswith("pyevm_jit.cli.")
    )
    assert not offenders, offenders


def _package(tmp_path: Path, source: dict[str, str]) -> Path:
    package = tmp_path / "p"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, text in source.items():
        (package / f"{name}.py").write_text(text)
    return package


@pytest.mark.parametrize(
    "source",
    [
        # a circle hidden behind a function-local import
        {"a": "import p.b\n", "b": "def f():\n    from p import a\n"},
        # a circle through `from package import module`
        {"a": "from p import b\n", "b": "from p.c import x\n", "c": "from . import a\n"},
    ],
)
def test_the_check_sees_hidden_circles(tmp_path: Path, source: dict[str, str]) -> None:
    assert find_cycle(import_graph(_package(tmp_path, source))) is not None


def test_type_checking_imports_do_not_count(tmp_path: Path) -> None:
    source = {
        "a": "import p.b\n",
        "b": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from p.a import X\n",
    }
    assert find_cycle(import_graph(_package(tmp_path, source))) is None


#: the layers, ground first: a module may import its own layer and the ones below it
LAYERS: dict[str, int] = {
    "errors": 0, "forks": 0, "opcodes": 0, "abi": 0, "gas_rules": 0, "files": 0,
    "osaka": 0,  # the Osaka fork VM: py-evm code only, below the fork table
    "compiler": 1,
    "runtime": 2,
    "lean": 3,  # guarded copies of py-evm code paths: py-evm and the ground facts only
    "evm": 4,
    "conformance": 5, "testing": 5,
    "fuzz": 6, "bench": 6,
    "": 6,  # pyevm_jit/__init__.py: the public names
    "integrations": 7,  # built on the public names
    "cli": 8,
}  # fmt: skip


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS[parts[1] if len(parts) > 1 else ""]


def test_imports_go_down_the_layers() -> None:
    upward = sorted(
        f"{name} imports {target}"
        for name, targets in import_graph().items()
        for target in targets
        if _layer(target) > _layer(name)
    )
    assert not upward, upward


def test_every_module_has_a_layer() -> None:
    assert all(_layer(name) >= 0 for name in import_graph())
