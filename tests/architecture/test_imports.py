"""Import rules of the layout: production code never uses the dev-only tools (the provider sandboxes, devstack), the
sandboxes never use a service, and the sandbox modules import one another one way (no cycles)."""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Collection, Iterator
from importlib.metadata import Distribution, distribution
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEV_ONLY_PACKAGES = ("intplat_sandboxes", "intplat_devstack")
DEV_ONLY_DISTRIBUTIONS = ("intplat-sandboxes", "intplat-devstack")
SANDBOXES_SRC = REPO_ROOT / "tools/sandboxes/src"


def production_projects() -> list[Path]:
    """The shared library and every service: each folder with a pyproject.toml under libs/ and services/."""
    files = [*REPO_ROOT.glob("libs/*/pyproject.toml"), *REPO_ROOT.glob("services/*/pyproject.toml")]
    return sorted(file.parent for file in files)


def distribution_name(project: Path) -> str:
    with (project / "pyproject.toml").open("rb") as file:
        name: str = tomllib.load(file)["project"]["name"]
    return name


def service_packages() -> list[str]:
    return sorted(p.parent.name for p in REPO_ROOT.glob("services/*/src/*/__init__.py"))


def absolute_imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of every absolute import in the file, wherever it is (in functions, under TYPE_CHECKING)."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def forbidden_imports(root: Path, packages: Collection[str]) -> list[str]:
    """`file:line: module` for each import, in the Python files under `root`, of one of `packages` or a module in it."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for line, module in absolute_imports(path):
            if module.split(".")[0] in packages:
                found.append(f"{path.relative_to(root)}:{line}: {module}")
    return found


def dev_tool_requirements(dist: Distribution) -> list[str]:
    """The requirements of an installed distribution that name a dev-only distribution."""
    return [r for r in dist.requires or [] if _requirement_name(r) in DEV_ONLY_DISTRIBUTIONS]


def _requirement_name(requirement: str) -> str:
    """The canonical project name a requirement (`Intplat_Sandboxes>=0.1; extra == "dev"`) starts with."""
    name = re.split(r"[^A-Za-z0-9._-]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def module_graph(src: Path) -> dict[str, set[str]]:
    """Module -> the modules of the same source tree it imports explicitly (relative or absolute)."""
    modules = {}
    for path in src.rglob("*.py"):
        parts = path.relative_to(src).with_suffix("").parts
        package = parts[:-1]  # of a module, or the package itself for an __init__
        modules[".".join(package if parts[-1] == "__init__" else parts)] = (path, package)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, (path, package) in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = list(package[: len(package) - node.level + 1]) if node.level else []
                module = ".".join([*base, *(node.module.split(".") if node.module else [])])
                # `from . import _events` imports the module `_events`; `from ._models import Address` a name of it.
                submodules = [f"{module}.{alias.name}" for alias in node.names]
                targets = [submodule if submodule in modules else module for submodule in submodules]
            graph[name] |= {target for target in targets if target in modules and target != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (`[a, b, a]`), or None."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for target in sorted(graph[module]):
            cycle = visit(target, [*path, module])
            if cycle:
                return cycle
        done.add(module)
        return None

    for module in sorted(graph):
        cycle = visit(module, [])
        if cycle:
            return cycle
    return None


# --- the rules --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("project", production_projects(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_production_code_imports_no_dev_tool(project: Path) -> None:
    assert forbidden_imports(project / "src", DEV_ONLY_PACKAGES) == []


@pytest.mark.parametrize("project", production_projects(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_production_distributions_do_not_depend_on_a_dev_tool(project: Path) -> None:
    assert dev_tool_requirements(distribution(distribution_name(project))) == []


def test_the_sandboxes_import_no_service() -> None:
    assert service_packages(), "the services' packages are found"
    assert forbidden_imports(SANDBOXES_SRC, service_packages()) == []


def test_the_sandbox_modules_import_one_another_one_way() -> None:
    graph = module_graph(SANDBOXES_SRC)
    assert "intplat_sandboxes.postmark._routes" in graph["intplat_sandboxes.postmark._factory"], "edges are found"
    assert find_cycle(graph) is None


# --- the checkers can fail --------------------------------------------------------------------------------------


def test_forbidden_imports_are_found_wherever_they_are(tmp_path: Path) -> None:
    (tmp_path / "service").mkdir()
    (tmp_path / "service" / "handlers.py").write_text(
        "import json\n"
        "import intplat_sandboxes.postmark\n"
        "from intplat_sandboxes_like import name\n"
        "from . import intplat_devstack\n"
        "def handler():\n"
        "    from intplat_devstack.testing import eventually\n"
    )
    assert forbidden_imports(tmp_path, DEV_ONLY_PACKAGES) == [
        "service/handlers.py:2: intplat_sandboxes.postmark",
        "service/handlers.py:6: intplat_devstack.testing",
    ]


def test_a_dependency_on_a_dev_tool_is_found(tmp_path: Path) -> None:
    metadata = tmp_path / "some_service-1.0.dist-info"
    metadata.mkdir()
    (metadata / "METADATA").write_text(
        "Metadata-Version: 2.4\nName: some-service\nVersion: 1.0\n"
        "Requires-Dist: intplat-common\nRequires-Dist: Intplat_Sandboxes>=0.1\nRequires-Dist: intplat-devstack-extras\n"
    )
    assert dev_tool_requirements(Distribution.at(metadata)) == ["Intplat_Sandboxes>=0.1"]


def test_an_import_cycle_is_found(tmp_path: Path) -> None:
    package = tmp_path / "fake"
    package.mkdir()
    (package / "__init__.py").write_text("from .app import App\n")
    (package / "app.py").write_text("from . import routes\nclass App: ...\n")
    (package / "routes.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from fake.app import App\n"
    )
    assert find_cycle(module_graph(tmp_path)) == ["fake.app", "fake.routes", "fake.app"]
    (package / "routes.py").write_text("import fake.models\n")
    (package / "models.py").write_text("")
    assert find_cycle(module_graph(tmp_path)) is None
