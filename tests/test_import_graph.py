"""The project's import graph has no cycle: mpifn, the test harness (testkit), the test suites,
the benchmarks and the soak (each import counts, those inside functions too). A cycle makes what a
module means depend on which side was imported first. The harness is a library of its own: it,
the benchmarks and the soak never import the test suites."""

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("mpifn", "testkit", "tests", "bench", "soak")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


def imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project's modules that the module imports: for `from X import Y`, X.Y if it is a
    module, else X."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names}
    return {module for module in found if module in modules and module != name}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_of_mpifn_testkit_tests_bench_and_soak_has_no_cycle():
    modules = project_modules()
    assert {"mpifn.hooks", "testkit.cluster", "bench.run", "soak.run"} <= set(modules)
    graph = {name: imported(name, path, modules) for name, path in modules.items()}
    assert graph["bench.run"] >= {"bench.status_scale", "bench.measure", "testkit.server"}
    assert cycles(graph) == []


def test_a_cycle_through_imports_inside_functions_is_found(tmp_path):
    (tmp_path / "run.py").write_text("def status():\n    from bench import status_scale\n")
    (tmp_path / "status_scale.py").write_text("def measure():\n    from bench.run import row\n")
    (tmp_path / "jobs.py").write_text("from . import run\n")
    modules = {f"bench.{path.stem}": path for path in tmp_path.glob("*.py")}
    graph = {name: imported(name, path, modules) for name, path in modules.items()}
    assert graph["bench.jobs"] == {"bench.run"}
    assert cycles(graph) == [["bench.run", "bench.status_scale"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_relative_imports_resolve_to_the_projects_modules():
    modules = project_modules()
    faults = ROOT / "tests" / "e2e_k8s" / "test_faults.py"
    assert {"testkit.cluster", "tests.e2e_k8s.jobs", "testkit.driver"} <= imported(
        "tests.e2e_k8s.test_faults", faults, modules
    )


def suite_imports(graph: dict[str, set[str]], packages: tuple[str, ...]) -> list[str]:
    """Every import of a test suite's module (tests.*) by a module of the given packages."""
    return sorted(
        f"{name} imports {target}"
        for name, targets in graph.items()
        if name.split(".")[0] in packages
        for target in targets
        if target.split(".")[0] == "tests"
    )


def test_testkit_bench_and_soak_never_import_the_test_suites():
    modules = project_modules()
    graph = {name: imported(name, path, modules) for name, path in modules.items()}
    assert graph["bench.race"] >= {"testkit.cluster", "testkit.kubeflow"}
    assert suite_imports(graph, ("testkit", "bench", "soak")) == []


def test_an_import_of_a_test_suite_by_the_benchmarks_is_found():
    graph = {"bench.race": {"tests.e2e_k8s.operators", "testkit.cluster"}, "tests.x": {"testkit.cluster"}}
    assert suite_imports(graph, ("testkit", "bench", "soak")) == ["bench.race imports tests.e2e_k8s.operators"]


def test_bench_and_soak_use_only_public_names_of_the_test_harness():
    private = [
        f"{path.relative_to(ROOT)}:{node.lineno} {alias.name}"
        for package in ("bench", "soak")
        for path in sorted((ROOT / package).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("testkit")
        for alias in node.names
        if alias.name.startswith("_")
    ]
    assert private == []
