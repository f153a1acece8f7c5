"""Dependencies between the project's files go one way: no import cycles, generation reads chats only through its
models and selectors, and the project package's API plumbing imports no app. An import inside a function counts
as much as one at the top of a module: a cycle is broken by moving the shared piece down."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("chats", "generation", "recommender", "higgs_project")
APPS = ("chats", "generation", "recommender")
# What generation may read of chats.
GENERATION_MAY_IMPORT_FROM_CHATS = {"chats.models", "chats.selectors"}
# The project package's plumbing, which every app uses and which therefore imports no app (higgs_project.api,
# which mounts the apps' routers, sits on top of them and is not plumbing).
PLUMBING = ("higgs_project.apikit", "higgs_project.storage", "higgs_project.database")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "tests" in path.parts or "migrations" in path.parts:
                continue
            yield path


MODULES = {_module_name(path): path for path in _sources()}


def _resolve(name: str) -> str | None:
    """The project module an imported name lives in (`chats.models.Chat` -> `chats.models`), None if outside."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str):
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    return _imports_in(path.read_text(), module=module, package=package)


def _imports_in(source: str, *, module: str, package: str):
    """Every project module that `source` imports, at module level or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            target = _resolve(name)
            if target and target != module:
                found.add(target)
    return found


GRAPH = {module: _imports(module) for module in MODULES}


def _cycles(graph):
    """Strongly connected components of more than one module (Tarjan), each a cycle to print."""
    index, low, stack, on_stack, result = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
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
                result.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return result


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_checker_sees_imports_inside_functions_and_relative_ones():
    source = "from . import selectors\n\n\ndef f():\n    from chats.services import chat_create\n"
    found = _imports_in(source, module="generation.example", package="generation")
    assert found == {"generation.selectors", "chats.services"}


def test_the_checker_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_there_is_no_import_cycle_between_project_files():
    cycles = _cycles(GRAPH)
    assert cycles == [], "import cycles:\n" + "\n".join(" <-> ".join(cycle) for cycle in cycles)


def test_generation_reads_chats_only_through_its_models_and_selectors():
    found = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if _in(module, "generation")
        for target in sorted(targets)
        if _in(target, "chats") and target not in GENERATION_MAY_IMPORT_FROM_CHATS
    ]
    assert found == []


def test_the_api_plumbing_imports_no_app():
    found = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if any(_in(module, plumbing) for plumbing in PLUMBING)
        for target in sorted(targets)
        if any(_in(target, app) for app in APPS)
    ]
    assert found == []
