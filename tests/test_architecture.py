"""Rules about the code's shape, read from the source with ``ast`` (nothing is imported or run).

- No import cycle among troika's modules at module level (Python would fail or half-load one).
- None even counting the imports inside functions: such an import runs later and is the usual way
  to *hide* a cycle, which still ties the two modules' insides together.
- An app imports only the core's public names (ARCHITECTURE.md), never a ``_``-prefixed one.
- No module over 400 lines and no function over 80 outside tests/ and bench/ (migrations included).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("shared", "customer_service", "finance_monitor", "recommender")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, Path]:
    """Dotted name → file, for every module of the packages."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _every_statement(body):
    for node in body:
        yield from ast.walk(node)


def _top_level_statements(body):
    """Module-level statements, looking inside top-level if/try blocks but never into a def or class."""
    for node in body:
        yield node
        if isinstance(node, ast.If | ast.Try):
            for block in (node.body, node.orelse, getattr(node, "finalbody", []), *[h.body for h in getattr(node, "handlers", [])]):
                yield from _top_level_statements(block)


def module_imports(name: str, path: Path, known: set[str], *, in_functions: bool = False) -> set[str]:
    """The known modules ``name`` imports at module level (``in_functions``: anywhere)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    statements = _every_statement if in_functions else _top_level_statements
    for node in statements(ast.parse(path.read_text(encoding="utf-8")).body):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)  # `from . import artifacts`
    return {t for t in targets if t in known and t != name}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle_and_accepts_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_relative_imports_resolve_to_the_modules_they_name(tmp_path):
    path = tmp_path / "classifier.py"
    path.write_text("from . import artifacts, training\nfrom .modeling import by_length\nimport shared.errors\n"
                    "def later():\n    from .onnx_runtime import export_onnx\n")
    known = {"shared.artifacts", "shared.training", "shared.modeling", "shared.errors", "shared.onnx_runtime"}
    assert module_imports("shared.classifier", path, known) == known - {"shared.onnx_runtime"}
    assert module_imports("shared.classifier", path, known, in_functions=True) == known


def test_no_import_cycle_among_the_modules():
    modules = _modules()
    graph = {name: module_imports(name, path, set(modules)) for name, path in modules.items()}
    assert find_cycle(graph) is None


def test_no_import_cycle_even_through_imports_inside_functions():
    modules = _modules()
    graph = {name: module_imports(name, path, set(modules), in_functions=True) for name, path in modules.items()}
    assert find_cycle(graph) is None


def test_apps_import_only_public_names_of_the_core():
    private = []
    for name, path in _modules().items():
        if name.split(".")[0] == "shared":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "shared":
                private += [f"{name}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    assert private == []


def test_no_function_is_over_80_lines():
    long = [f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for path in _modules().values() for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert long == []


def test_no_module_is_over_400_lines():
    long = {str(path.relative_to(ROOT)): n for path in _modules().values()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert long == {}
