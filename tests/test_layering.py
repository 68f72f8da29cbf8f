"""The layers hold: ``datasets -> deconv <- gp_property``, the ``specbayes`` application above
all three, and no import cycle between the modules of a package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("deconv", "gp_property", "datasets", "specbayes")
# which other packages of ours each package may import (anywhere, lazily included)
ALLOWED = {
    "deconv": set(),
    "gp_property": {"deconv"},
    "datasets": {"deconv"},
    "specbayes": {"deconv", "gp_property", "datasets"},
}


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    """Dotted module names imported by ``path`` (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else ast.walk(tree)
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.If) and top_level_only:
            continue  # e.g. `if TYPE_CHECKING:` blocks
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(path.relative_to(ROOT).with_suffix("").parts[: -node.level])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _modules(package: str) -> dict[str, Path]:
    return {
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
        for path in sorted((ROOT / package).rglob("*.py"))
    }


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_the_layers_below_it(package):
    forbidden = set(PACKAGES) - ALLOWED[package] - {package}
    offenders = {
        name: sorted(
            n for n in _imports(path, top_level_only=False) if n.split(".")[0] in forbidden
        )
        for name, path in _modules(package).items()
    }
    assert not {name: found for name, found in offenders.items() if found}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` (as a list of nodes), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for other in sorted(graph[node]):
            if state.get(other) == 1:
                return [*stack[stack.index(other) :], other]
            if other not in state and (found := visit(other)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _target(name: str, modules: dict[str, Path]) -> str | None:
    """The module of ours that an imported dotted name lands in: the longest one it starts
    with (``deconv.batch.settings._Settings`` is ``deconv.batch.settings``, not the package)."""
    owners = [m for m in modules if name == m or name.startswith(f"{m}.")]
    return max(owners, key=len) if owners else None


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle_at_module_level(package):
    modules = _modules(package)
    graph = {
        name: {
            target
            for n in _imports(path, top_level_only=True)
            if (target := _target(n, modules)) not in (None, name, package)
        }
        for name, path in modules.items()
    }
    assert _cycle(graph) is None, _cycle(graph)


def test_the_import_graph_sees_a_cycle_through_a_subpackage():
    """An edge into a subpackage's module is that module, and a real cycle there is found."""
    modules = {"p": ROOT, "p.sub": ROOT, "p.sub.a": ROOT, "p.sub.b": ROOT}
    assert _target("p.sub.a.name", modules) == "p.sub.a"
    assert _target("p.sub.name", modules) == "p.sub"
    assert _cycle({"p.sub.a": {"p.sub.b"}, "p.sub.b": {"p.sub.a"}}) == [
        "p.sub.a",
        "p.sub.b",
        "p.sub.a",
    ]


def test_the_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
