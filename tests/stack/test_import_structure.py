"""The import structure of ``stack/``: the net core below the protocols, the driver on the net core only,
and no import circle but the mutual calls Linux's own files make (docs/stack.md).

Checked on the import statements of every module (module level and inside functions).
"""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
#: The protocol side: what the net core (stack/core) and the driver must never import.
PROTOCOL = ("stack.ipv4", "stack.socket", "stack.neighbour", "stack.netfilter", "stack.initcalls")
#: The import circles left in stack/, each a mutual call between two Linux source files.
MUTUAL = [
    {"stack.core.dev", "stack.core.qdisc"},                          # dev.c <-> sch_generic.c
    {"stack.ipv4.route", "stack.ipv4.ip_output"},                    # route.c: dst.output = ip_output
    {"stack.ipv4.tcp", "stack.ipv4.tcp_output", "stack.ipv4.tcp_timer"},  # tcp.c, tcp_output.c, tcp_timer.c
]


def _module(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_imports(path: pathlib.Path):
    """``(imported module, line, inside a function)`` for each project import of ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    mod = _module(path)
    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    in_function = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                   for n in ast.walk(f)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            # "from package import module" imports the module
            names = [f"{target}.{a.name}" if (ROOT / target.replace(".", "/") / f"{a.name}.py").exists() else target
                     for a in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in ("stack", "driver", "sim", "rtl_model"):
                yield name, node.lineno, id(node) in in_function


def _files(folder: str):
    return sorted((ROOT / folder).rglob("*.py"))


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in _files("stack"):
        graph[_module(path)] = {name for name, _, _ in project_imports(path) if name.startswith("stack.")}
    return graph


def circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


@pytest.mark.parametrize("path", _files("stack/core"), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_net_core_never_imports_the_protocol_side(path):
    for name, line, _ in project_imports(path):
        assert not name.startswith(PROTOCOL), f"{path.relative_to(ROOT)}:{line} imports {name}"


@pytest.mark.parametrize("path", _files("driver"), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_driver_imports_only_the_net_core_of_the_stack(path):
    for name, line, _ in project_imports(path):
        if name.startswith("stack"):
            assert name.startswith("stack.core."), f"{path.relative_to(ROOT)}:{line} imports {name}"


def test_the_only_import_circles_are_linux_mutual_calls():
    assert sorted(map(sorted, circles(import_graph()))) == sorted(map(sorted, MUTUAL))


@pytest.mark.parametrize("path", _files("stack"), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_import_inside_a_function_says_why(path):
    lines = path.read_text().splitlines()
    for name, line, in_function in project_imports(path):
        if in_function:
            said = "#" in lines[line - 1] or lines[line - 2].strip().startswith("#")
            assert said, f"{path.relative_to(ROOT)}:{line} imports {name} inside a function without saying why"


def test_the_circle_finder_finds_a_planted_circle():
    graph = import_graph()
    graph["stack.core.skbuff"] = graph["stack.core.skbuff"] | {"stack.core.netcore"}
    assert {"stack.core.skbuff", "stack.core.netcore"} <= set().union(*circles(graph))
