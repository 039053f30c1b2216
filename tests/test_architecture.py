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
LAYERS = ("core", "dmapi")
# Every other package of dmportal is an app, a new one included.
APPS = tuple(
    sorted(
        p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists() and p.name not in LAYERS
    )
)
# What the API client must not use: Django and the packages built on it.
DJANGO = (
    "django",
    "django_htmx",
    "template_partials",
    "axes",
    "csp",
    "environ",
    "whitenoise",
    "django_tasks",
    "django_tasks_db",
)
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


def test_the_apps_are_found_in_the_tree():
    assert {"accounts", "devices", "support", "team", "simulator"} <= set(APPS)


def test_the_api_client_imports_nothing_from_django_or_the_rest_of_dmportal():
    rest = [
        f"dmportal.{p.stem}"
        for p in PACKAGE.iterdir()
        if p.name != "dmapi" and (p.suffix == ".py" or (p / "__init__.py").exists())
    ]
    assert offenders(PACKAGE / "dmapi", [*DJANGO, *rest]) == []


def test_core_imports_no_app():
    assert offenders(PACKAGE / "core", [f"dmportal.{a}" for a in APPS]) == []


def package_graph(under=PACKAGE):
    """{package: the other packages of dmportal it imports}, from every module of each package
    (its __init__.py too). The modules at the top (settings.py, urls.py, demo.py) import
    everything and belong to no package."""
    graph = {}
    for path in modules(under):
        parts = path.relative_to(under).parts
        if len(parts) < 2:
            continue
        graph.setdefault(parts[0], set()).update(
            name.split(".")[1] for name in imported(path) if name.startswith("dmportal.")
        )
    for package, uses in graph.items():
        uses.discard(package)
    return graph


def cycles(graph):
    found = []

    def visit(package, trail):
        if package in trail:
            found.append(" -> ".join([*trail, package]))
            return
        for used in sorted(graph.get(package, ())):
            visit(used, [*trail, package])

    for package in sorted(graph):
        visit(package, [])
    return found


def test_the_packages_import_each_other_without_a_cycle():
    """The import graph of dmportal's packages is a tree from the apps down to core and dmapi."""
    assert cycles(package_graph()) == []


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


def test_a_cycle_through_a_package_init_is_found(tmp_path, monkeypatch):
    package = tmp_path / "dmportal"
    for name, source in {
        "__init__.py": "",
        "settings.py": "from dmportal import core, team",  # the top: not a package
        "core/__init__.py": "from dmportal.team import views",
        "core/errors.py": "",
        "team/__init__.py": "",
        "team/views.py": "from ..core import errors",
    }.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(source)
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    graph = package_graph(package)
    assert graph == {"core": {"team"}, "team": {"core"}}
    assert cycles(graph) == ["core -> team -> core", "team -> core -> team"]
