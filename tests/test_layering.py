"""The layer rules of docs/architecture.md, checked on every module's import statements.

``check(root)`` reads a source tree and returns one line per broken rule; the
real tree must give none, and each rule is shown to catch a planted
violation in a small synthetic tree (so a rule that silently stopped
matching anything would fail here too).

Rules:

1. **Layers import only what they may** (``ALLOWED``): the foundation
   (``sim/engine``, ``sim/host``) never imports the NIC, the kernel, the
   assembly or the run layer, and the engine only the standard library; the
   NIC model never imports the driver or the stack, the driver never the NIC
   model; the net core (``stack/core``) never imports the protocol layers,
   and the driver imports the net core only; the assembly never imports the
   run layer.
2. **No import circle between files of different layers**, and inside a
   layer only the circles listed in ``KNOWN_CIRCLES``, each with the Linux
   reason (functions of those files call each other in Linux too).
3. **An import inside a function says why**: a comment on its line or on
   the line above that is a reason, not a tool directive (``# noqa``,
   ``# type:``, ``# pragma``), whatever it imports.
4. **No module over 800 lines** except those in ``LONG_MODULES``, each
   mirroring one Linux source file of that size.
5. **No test file imports another test file or a conftest**: shared rigs are
   fixtures in conftest files, shared helpers and oracles plain modules not
   named ``test_*``.

Type-only imports (under ``if TYPE_CHECKING:``) name types for annotations
and load nothing at run time: they are not dependencies, and no rule counts
them.
"""
from __future__ import annotations

import ast
import io
import pathlib
import re
import sys
import tokenize
from dataclasses import dataclass

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PROJECT = ("sim", "rtl_model", "driver", "stack")
CODE_DIRS = ("sim", "rtl_model", "driver", "stack", "benchmarks")
MAX_LINES = 800

# Layers, most specific first: folder -> the project packages it may import besides itself.
LAYERS = {
    "sim/engine": {"sim.engine"},
    "sim/host": {"sim.engine", "sim.host"},
    "rtl_model": {"sim.engine", "sim.host", "rtl_model"},
    "stack/core": {"sim.engine", "sim.host", "stack.core"},
    "stack": {"sim.engine", "sim.host", "stack"},
    "driver": {"sim.engine", "sim.host", "stack.core", "driver"},
    "sim/assembly": {"sim.engine", "sim.host", "sim.assembly", "rtl_model", "driver", "stack"},
    "sim/explore": {"sim", "rtl_model", "driver", "stack"},
    # the pyuvm environment: the model only behind the transport seam (function-level imports);
    # tests/sim/verif/test_independence.py keeps the scoreboard side free of it
    "sim/verif": {"sim", "stack"},
    "sim/run": {"sim", "rtl_model", "driver", "stack"},
    "sim/examples": {"sim.engine", "sim.host", "sim.examples"},
    "sim/tb": {"sim", "rtl_model", "driver", "stack"},
    "benchmarks": {"sim", "rtl_model", "driver", "stack", "benchmarks"},
}
STDLIB_ONLY = {"sim/engine"}

# Import circles allowed inside one layer: the files' functions call each other in Linux too.
KNOWN_CIRCLES: dict[frozenset[str], str] = {
    frozenset({"stack.core.dev", "stack.core.link_watch", "stack.core.netdevice", "stack.core.qdisc"}):
        "net/core/dev.c runs the qdisc (__dev_xmit_skb -> __qdisc_run) and net/sched/sch_generic.c's "
        "sch_direct_xmit hands skbs back to dev.c's dev_hard_start_xmit; the netdevice.h inlines "
        "netif_tx_wake_queue/netif_schedule_queue call __netif_schedule; netif_carrier_on/off fire "
        "link_watch.c's event, whose linkwatch_do_dev calls dev_activate/dev_deactivate",
    frozenset({"stack.ipv4.route", "stack.ipv4.ip_output"}):
        "net/ipv4/route.c sets dst.output = ip_output; net/ipv4/ip_output.c looks routes up in ip_queue_xmit",
    frozenset({"stack.ipv4.tcp", "stack.ipv4.tcp_output", "stack.ipv4.tcp_timer"}):
        "tcp.c pushes through tcp_output.c, which arms tcp_timer.c's timers; those retransmit and probe "
        "through tcp_output.c and end a connection with tcp.c's tcp_done",
}

# Modules allowed over MAX_LINES: each mirrors one Linux source file at least that long.
LONG_MODULES = {
    "stack/ipv4/tcp_output.py": "net/ipv4/tcp_output.c (~4,400 lines)",
}


@dataclass(frozen=True)
class Import:
    """One import statement's target, resolved to an absolute module name."""
    module: str
    line: int
    in_function: bool
    commented: bool


def module_name(root: pathlib.Path, path: pathlib.Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(root: pathlib.Path, path: pathlib.Path) -> str | None:
    rel = path.relative_to(root).as_posix()
    return next((layer for layer in LAYERS if rel.startswith(layer + "/")), None)


DIRECTIVE = re.compile(r"#\s*(noqa|type:|pragma)\b[^#]*")


def _reasons(source: str) -> dict[int, bool]:
    """Line -> whether a comment on it gives a reason (not just a tool directive)."""
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            text = DIRECTIVE.sub("", tok.string).strip("# \t")
            out[tok.start[0]] = bool(text)
    return out


def _type_only_nodes(tree: ast.AST) -> set[int]:
    """Nodes under ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``)."""
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                inside.update(id(n) for n in ast.walk(child))
    return inside


def _function_nodes(tree: ast.AST) -> set[int]:
    inside = set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inside.update(id(n) for n in ast.walk(fn) if n is not fn)
    return inside


def _targets(node, package: str, exists) -> list[str]:
    """Absolute module names an import statement loads (``from pkg import submodule`` counts the submodule)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level:
        base = package.split(".")[: len(package.split(".")) - node.level + 1]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    subs = [f"{target}.{a.name}" for a in node.names if exists(f"{target}.{a.name}")]
    return subs or [target]


def imports_of(root: pathlib.Path, path: pathlib.Path, exists) -> list[Import]:
    source = path.read_text()
    lines = source.splitlines()
    tree = ast.parse(source, str(path))
    inside, type_only, reasons = _function_nodes(tree), _type_only_nodes(tree), _reasons(source)
    name = module_name(root, path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or id(node) in type_only:
            continue
        above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
        commented = reasons.get(node.lineno, False) or (above.startswith("#") and reasons.get(node.lineno - 1, False))
        for target in _targets(node, package, exists):
            out.append(Import(target, node.lineno, id(node) in inside, commented))
    return out


def _sources(root: pathlib.Path):
    for top in CODE_DIRS:
        for path in sorted((root / top).rglob("*.py")) if (root / top).is_dir() else ():
            if "sim_build" not in path.parts:
                yield path


def _circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]; counter[0] += 1; stack.append(start); on.add(start)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in graph:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]; counter[0] += 1; stack.append(nxt); on.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                elif nxt in on:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = set()
                while True:
                    m = stack.pop(); on.discard(m); comp.add(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    out.append(comp)
    return out


def check(root: pathlib.Path, known_circles=None, long_modules=None) -> list[str]:
    """Every broken layer rule in the tree at ``root``, one line each (empty: all rules hold)."""
    known_circles = KNOWN_CIRCLES if known_circles is None else known_circles
    long_modules = LONG_MODULES if long_modules is None else long_modules
    paths = list(_sources(root))
    names = {module_name(root, p): p for p in paths}
    exists = names.__contains__
    problems, graph, layer_by_module = [], {}, {}
    for path in paths:
        rel, mod, layer = path.relative_to(root).as_posix(), module_name(root, path), layer_of(root, path)
        layer_by_module[mod] = layer
        edges = graph.setdefault(mod, set())
        for imp in imports_of(root, path, exists):
            top = imp.module.split(".")[0]
            if imp.in_function and not imp.commented:
                problems.append(f"{rel}:{imp.line} imports {imp.module} inside a function with no comment why")
            if top in PROJECT:
                if layer and not any(imp.module == a or imp.module.startswith(a + ".")
                                     for a in LAYERS[layer] | {layer.replace("/", ".")}):
                    problems.append(f"{rel}:{imp.line} imports {imp.module}, which {layer} may not")
                if imp.module in names and imp.module != mod:
                    edges.add(imp.module)
            elif layer in STDLIB_ONLY and top not in sys.stdlib_module_names and top != "__future__":
                problems.append(f"{rel}:{imp.line} imports {imp.module}: the engine is stdlib only")
    for comp in _circles(graph):
        layers = sorted({str(layer_by_module.get(m)) for m in comp})
        if len(layers) > 1:
            problems.append(f"import circle across layers {layers}: {sorted(comp)}")
        elif frozenset(comp) not in known_circles:
            problems.append(f"import circle in {layers[0]} not known to mirror Linux: {sorted(comp)}")
    return problems + _test_function_imports(root, exists) + _long_modules(root, long_modules) + _test_imports(root)


def _test_function_imports(root: pathlib.Path, exists) -> list[str]:
    """Rule 3 for the test modules: an import inside a test function says why too."""
    problems = []
    for path in sorted((root / "tests").rglob("*.py")) if (root / "tests").is_dir() else ():
        for imp in imports_of(root, path, exists):
            if imp.in_function and not imp.commented:
                rel = path.relative_to(root).as_posix()
                problems.append(f"{rel}:{imp.line} imports {imp.module} inside a function with no comment why")
    return problems


def _long_modules(root: pathlib.Path, long_modules) -> list[str]:
    """Modules (code and tests) over MAX_LINES that mirror no Linux source file that long."""
    problems = []
    for path in list(_sources(root)) + (sorted((root / "tests").rglob("*.py")) if (root / "tests").is_dir() else []):
        rel, length = path.relative_to(root).as_posix(), len(path.read_text().splitlines())
        if length > MAX_LINES and rel not in long_modules:
            problems.append(f"{rel} has {length} lines (over {MAX_LINES}) and mirrors no Linux file that long")
    return problems


def _test_imports(root: pathlib.Path) -> list[str]:
    """Test modules that import a test file or a conftest (rigs are fixtures, helpers support modules)."""
    problems = []
    for path in sorted((root / "tests").rglob("*.py")) if (root / "tests").is_dir() else ():
        for node in ast.walk(ast.parse(path.read_text())):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names] \
                if isinstance(node, ast.ImportFrom) else []
            for mod in mods:
                last = mod.rpartition(".")[2]
                if last.startswith("test_") or last == "conftest":
                    problems.append(f"{path.relative_to(root).as_posix()}:{node.lineno} imports {mod}")
                    break
    return problems


def test_the_tree_keeps_every_layer_rule():
    problems = check(ROOT)
    assert not problems, "\n".join(problems)


def test_every_known_circle_and_long_module_still_exists():
    """The allow-lists shrink with the code: an entry nothing needs any more is an error."""
    paths = list(_sources(ROOT))
    names = {module_name(ROOT, p): p for p in paths}
    graph = {m: {i.module for i in imports_of(ROOT, p, names.__contains__) if i.module in names} - {m}
             for m, p in names.items()}
    live = {frozenset(c) for c in _circles(graph)}
    assert set(KNOWN_CIRCLES) <= live, set(KNOWN_CIRCLES) - live
    for rel in LONG_MODULES:
        assert len((ROOT / rel).read_text().splitlines()) > MAX_LINES, f"{rel} is short now: drop it"


# --- each rule catches a planted violation ------------------------------------------------------

def _plant(tmp_path: pathlib.Path, files: dict[str, str]) -> pathlib.Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


CLEAN = {
    "sim/__init__.py": "", "sim/engine/__init__.py": "", "sim/engine/core.py": "import heapq\n",
    "sim/host/__init__.py": "", "sim/host/cpu.py": "from sim.engine import core\n",
    "stack/__init__.py": "", "stack/core/__init__.py": "", "stack/core/skbuff.py": "from sim.host import cpu\n",
    "stack/ipv4/__init__.py": "", "stack/ipv4/tcp.py": "from stack.core import skbuff\n",
    "driver/__init__.py": "", "driver/igb.py": "from stack.core.skbuff import x\n",
    "rtl_model/__init__.py": "", "rtl_model/nic.py": "from sim.engine.core import x\n",
    "sim/assembly/__init__.py": "", "sim/assembly/system.py": "import driver.igb\nimport rtl_model.nic\n",
    "sim/run/__init__.py": "", "sim/run/cli.py": "from sim.assembly import system\n",
    "tests/conftest.py": "", "tests/test_a.py": "from sim.run import cli\n",
}

PLANTED = [
    ("the engine imports a package", {"sim/engine/core.py": "import numpy\n"}, "stdlib only"),
    ("the host imports the assembly", {"sim/host/cpu.py": "from sim.assembly import system\n"},
     "sim/host may not"),
    ("the engine imports the run layer", {"sim/engine/core.py": "from sim.run import cli\n"}, "sim/engine may not"),
    ("the NIC imports the driver", {"rtl_model/nic.py": "from driver import igb\n"}, "rtl_model may not"),
    ("the NIC imports the stack", {"rtl_model/nic.py": "import stack.core.skbuff\n"}, "rtl_model may not"),
    ("the driver imports the NIC", {"driver/igb.py": "from rtl_model.nic import Nic\n"}, "driver may not"),
    ("the driver imports a protocol", {"driver/igb.py": "from stack.ipv4.tcp import x\n"}, "driver may not"),
    ("the net core imports a protocol", {"stack/core/skbuff.py": "from ..ipv4 import tcp\n"},
     "stack/core may not"),
    ("the assembly imports the run layer", {"sim/assembly/system.py": "from sim.run.cli import main\n"},
     "sim/assembly may not"),
    ("a circle across layers", {"sim/tb/__init__.py": "", "sim/tb/bench.py": "from sim.run import cli\n",
                                "sim/run/cli.py": "from sim.tb import bench\n"}, "import circle across layers"),
    ("an unknown circle inside a layer",
     {"stack/ipv4/udp.py": "from . import tcp\n", "stack/ipv4/tcp.py": "from . import udp\n"},
     "not known to mirror Linux"),
    ("an import in a function with no reason",
     {"stack/ipv4/tcp.py": "def f():\n    from stack.core import skbuff\n"}, "no comment why"),
    ("an import in a function with only a directive",
     {"stack/ipv4/tcp.py": "def f():\n    from stack.core import skbuff  # noqa: F401\n"}, "no comment why"),
    ("a stdlib import in a function with no reason",
     {"sim/run/cli.py": "def f():\n    import json\n"}, "no comment why"),
    ("an import in a test function with no reason",
     {"tests/test_b.py": "def test_x():\n    import json\n"}, "no comment why"),
    ("a long module", {"stack/ipv4/tcp.py": "x = 1\n" * (MAX_LINES + 1)}, "over 800"),
    ("a long test module", {"tests/test_b.py": "x = 1\n" * (MAX_LINES + 1)}, "over 800"),
    ("a test file imports a test file", {"tests/test_b.py": "from tests.test_a import cli\n"}, "tests.test_a"),
    ("a test file imports a conftest", {"tests/test_b.py": "from tests.conftest import x\n"}, "tests.conftest"),
    ("a test file imports a conftest by name", {"tests/test_b.py": "from tests import conftest\n"}, "conftest"),
]


def test_a_clean_tree_passes(tmp_path):
    assert check(_plant(tmp_path, CLEAN), known_circles={}, long_modules={}) == []


@pytest.mark.parametrize("files,expect", [pytest.param(f, e, id=i) for i, f, e in PLANTED])
def test_a_planted_violation_is_caught(tmp_path, files, expect):
    problems = check(_plant(tmp_path, {**CLEAN, **files}), known_circles={}, long_modules={})
    assert any(expect in p for p in problems), problems


def test_type_only_imports_are_not_dependencies(tmp_path):
    root = _plant(tmp_path, {**CLEAN, "stack/core/skbuff.py": "from typing import TYPE_CHECKING\n"
                             "if TYPE_CHECKING:\n    from stack.ipv4.tcp import tcp_sock\n"})
    assert check(root, known_circles={}, long_modules={}) == []


def test_a_known_circle_and_a_commented_import_pass(tmp_path):
    root = _plant(tmp_path, {**CLEAN, "stack/ipv4/tcp_input.py": "from . import tcp_output\n",
                             "stack/ipv4/tcp_output.py": "def f():\n    from . import tcp_input  # mutual call\n"})
    circle = frozenset({"stack.ipv4.tcp_input", "stack.ipv4.tcp_output"})
    assert check(root, known_circles={circle: "Linux too"}, long_modules={}) == []
