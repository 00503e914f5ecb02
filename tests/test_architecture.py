"""The layout is the architecture: imports among the project's packages, read from the source.

Data flows one way, frames -> detectors -> pose -> tracker -> outputs, and the imports follow:

- ``pose`` imports none of ``tracker``, ``detectors``, ``apps``, ``benchmarks``;
- ``detectors`` imports none of ``tracker``, ``apps``, ``benchmarks`` (it uses pose's low-level
  utilities: reading and downloading weights files, onnxruntime sessions, CUDA graphs);
- ``tracker`` imports none of ``detectors``, ``apps``, ``benchmarks`` (it may use ``pose``);
- ``apps`` and ``benchmarks`` compose the others.

No module imports itself back through others (every import counts, also those inside
functions), and no module of the packages (apps included) edits ``sys.path``.
"""
import ast
from pathlib import Path
from typing import Dict, List, Optional, Set

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pose", "tracker", "detectors", "apps", "benchmarks")
FORBIDDEN = {
    "pose": {"tracker", "detectors", "apps", "benchmarks"},
    "detectors": {"tracker", "apps", "benchmarks"},
    "tracker": {"detectors", "apps", "benchmarks"},
}
NO_SYS_PATH = ("pose", "tracker", "detectors", "apps", "benchmarks")


def _modules() -> Dict[str, Path]:
    """Dotted module name -> file, for every module of the project's packages."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _project_module(name: str) -> Optional[str]:
    """The project module an imported name lives in (``pose.zoo.get_published`` -> ``pose.zoo``),
    or None for other libraries."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> Set[str]:
    """The project modules ``module`` imports anywhere in its file."""
    path = MODULES[module]
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(_project_module(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1] + ([node.module] if node.module
                                                                  else [])
                prefix = ".".join(base)
            else:
                prefix = node.module
            for alias in node.names:
                full = f"{prefix}.{alias.name}"
                found.add(full if full in MODULES else _project_module(prefix))
    found.discard(None)
    found.discard(module)
    return found


GRAPH = {module: _imports(module) for module in MODULES}


def _cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    cycles = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


def test_the_import_graph_is_read():
    assert {"pose.checkpoints", "pose.downloads", "detectors.cascade_rcnn.weights",
            "tracker.tracker", "apps.components"} <= set(MODULES)
    assert "pose.downloads" in GRAPH["pose.checkpoints"]
    assert "pose.checkpoints" in GRAPH["detectors.cascade_rcnn.weights"]
    assert "detectors.cascade_rcnn.model" in GRAPH["detectors.cascade_rcnn.weights"]  # relative
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    assert _cycles(GRAPH) == []


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_data_flows_one_way(package):
    wrong = sorted(f"{module} imports {target}" for module, targets in GRAPH.items()
                   if module.split(".")[0] == package
                   for target in targets if target.split(".")[0] in FORBIDDEN[package])
    assert wrong == []


@pytest.mark.parametrize("package", NO_SYS_PATH)
def test_library_code_leaves_sys_path_alone(package):
    editing = []
    for module, path in MODULES.items():
        if module.split(".")[0] != package:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Attribute) and node.attr == "path"
                    and isinstance(node.value, ast.Name) and node.value.id == "sys"):
                editing.append(f"{module}:{node.lineno}")
    assert editing == []
