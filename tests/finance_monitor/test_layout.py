"""The monitor's packages import one way: each stage only the ones before it (finance_monitor/__init__.py
draws the order). No import cycles at all: tests/test_architecture.py."""

import ast
from pathlib import Path

import finance_monitor

PACKAGE = Path(finance_monitor.__file__).parent
# What each stage (and the store) may import of the monitor besides itself.
MAY_IMPORT = {
    "detect": set(),
    "ingest": {"detect"},
    "scoring": {"config_tables"},
    "store": {"ingest", "detect", "tables"},
    "alerting": {"detect", "store", "config_tables"},
    "web": {"detect", "scoring"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Dotted names below finance_monitor that ``path`` imports anywhere, inside functions too
    (``from . import x`` counts as ``<package>.x``)."""
    here = module_name(path).split(".") if module_name(path) else []
    package = here if path.name == "__init__.py" else here[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)] + (node.module.split(".") if node.module else [])
            found |= {".".join(base + ([a.name] if not node.module else [])) for a in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("finance_monitor."):
            found.add(node.module.removeprefix("finance_monitor."))
    return found


def test_each_stage_imports_only_the_stages_before_it():
    for path in PACKAGE.rglob("*.py"):
        stage = module_name(path).split(".")[0]
        if stage not in MAY_IMPORT:
            continue
        outside = {name.split(".")[0] for name in imported(path)} - {stage}
        assert outside <= MAY_IMPORT[stage], f"{path.relative_to(PACKAGE)} imports {sorted(outside - MAY_IMPORT[stage])}"
