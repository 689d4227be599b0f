"""The layers go one way down (docs/architecture.md): pages and routes call the services, the
services and the workflows never call back up. Read from the source, imports inside functions
included."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# (package whose modules are checked, packages they must not import, why)
RULES = [
    ("api/web", ("api.routes",), "pages call the services, not the JSON routes"),
    ("partnerflow", ("api",), "the domain knows nothing of HTTP"),
    ("workflows", ("api",), "workflows import the domain, never api/"),
    ("activities", ("api",), "activities import the domain, never api/"),
]


def imported(path: Path) -> set[str]:
    """Every module the file imports, at any depth of its code."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def crossings(package: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in sorted(imported(path)):
            if any(name == bad or name.startswith(f"{bad}.") for bad in forbidden):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


@pytest.mark.parametrize(("package", "forbidden", "why"), RULES, ids=[r[0] for r in RULES])
def test_no_import_goes_up_a_layer(package: str, forbidden: tuple[str, ...], why: str) -> None:
    assert crossings(package, forbidden) == [], why


def test_the_walk_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "late.py"
    module.write_text("def f():\n    from api.routes import steps\n    import api.deps\n")
    assert {"api.routes", "api.routes.steps", "api.deps"} <= imported(module)
