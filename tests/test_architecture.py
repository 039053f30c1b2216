"""The shape of the code, checked on every run (`make test`): what may import what, and how
long and tangled a function may grow.

An AST walk over dmportal/ rather than import-linter: the two import rules and the
package-cycle rule are a few lines here, need no new dependency or configuration file, see
imports inside functions too, and sit beside the function-length rule, which import-linter
does not have. Complexity is ruff's C90 (pyproject.toml), run by `make lint`.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "dmportal"
APPS = ("accounts", "devices", "support", "team", "simulator")
MAX_FUNCTION_LINES = 60
# The simulator's seed data and request parsing are long lists of cases, and stay outside
# the rule; migrations are generated.
LONG_FUNCTIONS_ALLOWED = ("simulator", "migrations")


def modules(under=PACKAGE):
    return sorted(p for p in under.rglob("*.py") if "migrations" not in p.parts)


def module_name(path):
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def imported(path):
    """Every module `path` imports, anywhere in it (function-local imports too), absolute."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, node.module] if node.module else base)
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def offenders(under, forbidden):
    return sorted(
        f"{path.relative_to(ROOT)}: {name}"
        for path in modules(under)
        for name in imported(path)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    )


def test_the_api_client_imports_nothing_from_django_or_the_rest_of_dmportal():
    forbidden = ["django", "django_htmx", "dmportal.core", *(f"dmportal.{a}" for a in APPS)]
    assert offenders(PACKAGE / "dmapi", forbidden) == []


def test_core_imports_no_app():
    assert offenders(PACKAGE / "core", [f"dmportal.{a}" for a in APPS]) == []


def test_the_packages_import_each_other_without_a_cycle():
    """The import graph of dmportal's packages is a tree from the apps down to core and dmapi."""
    graph = {}
    for path in modules():
        parts = module_name(path).split(".")
        if len(parts) < 3:
            continue  # dmportal/settings.py, urls.py, demo.py: the top, importing everything
        graph.setdefault(parts[1], set()).update(
            name.split(".")[1]
            for name in imported(path)
            if name.startswith("dmportal.") and name.count(".") >= 1
        )
    for package, uses in graph.items():
        uses.discard(package)

    def visit(package, trail):
        assert package not in trail, " -> ".join([*trail, package])
        for used in sorted(graph.get(package, ())):
            visit(used, [*trail, package])

    for package in graph:
        visit(package, [])


def functions():
    for path in modules():
        if any(part in LONG_FUNCTIONS_ALLOWED for part in path.relative_to(PACKAGE).parts):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                yield path, node


def test_no_function_is_over_60_lines():
    long = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)"
        for path, node in functions()
        if (lines := node.end_lineno - node.lineno + 1) > MAX_FUNCTION_LINES
    ]
    assert long == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from django.db import models", {"django.db", "django.db.models"}),
        ("def f():\n    import django.conf", {"django.conf"}),
        ("from ..accounts import services", {"dmportal.accounts", "dmportal.accounts.services"}),
        ("from . import health", {"dmportal.core", "dmportal.core.health"}),
    ],
)
def test_the_import_walk_sees_every_kind_of_import(tmp_path, monkeypatch, source, expected):
    core = tmp_path / "dmportal" / "core"
    core.mkdir(parents=True)
    (core / "probe.py").write_text(source)
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    assert imported(core / "probe.py") == expected
