"""The package's imports run only downwards: no module imports one that imports it back, and no
module inside the package imports the package's public face (``jaxmle/__init__.py``)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "jaxmle"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Modules of the package that ``path`` imports (``from .x import y`` may name a module y)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            target = f"{base}.{node.module}" if node.module else base
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            is_import = isinstance(node, ast.Import)
            modules = [a.name for a in node.names] if is_import else [node.module]
            found.update(m for m in modules if m and m.split(".")[0] == "jaxmle")
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: _imports(path) & set(files) - {name} for name, path in files.items()}


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}

    def visit(node, trail):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = trail[trail.index(nxt) :] + [nxt] if nxt in trail else [node, nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_nothing_inside_imports_the_public_face():
    graph = _graph()
    # The command line and the demo are programs built on the public face.
    allowed = {"jaxmle", "jaxmle.__main__", "jaxmle.cli", "jaxmle._demo"}
    offenders = {
        name
        for name, deps in graph.items()
        if "jaxmle" in deps and name not in allowed and not name.startswith("jaxmle._cli_")
    }
    assert not offenders, f"modules importing jaxmle/__init__.py: {sorted(offenders)}"
