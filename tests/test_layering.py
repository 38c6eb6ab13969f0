"""The layer boundaries of docs/architecture.md, checked on the import statements of every module."""
import ast
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PROJECT = {"sim", "rtl_model", "driver", "stack"}

# layer folder -> project packages it may import (besides itself)
ALLOWED = {
    "sim/engine": {"sim.engine"},
    "sim/host": {"sim.engine", "sim.host"},
    "rtl_model": {"sim.engine", "sim.host", "rtl_model"},
    "driver": {"sim.engine", "sim.host", "stack", "driver"},
    "stack": {"sim.engine", "sim.host", "stack"},
}
STDLIB_ONLY = {"sim/engine"}


def _imports(path: pathlib.Path):
    tree = ast.parse(path.read_text(), str(path))
    pkg = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                yield ".".join(base + ([node.module] if node.module else []))
            else:
                yield node.module


def _cases():
    for layer in ALLOWED:
        for path in sorted((ROOT / layer).rglob("*.py")):
            yield pytest.param(layer, path, id=str(path.relative_to(ROOT)))


@pytest.mark.parametrize("layer,path", list(_cases()))
def test_layer_imports_only_what_it_may(layer, path):
    for name in _imports(path):
        top = name.split(".")[0]
        if top in PROJECT:
            assert any(name == a or name.startswith(a + ".") for a in ALLOWED[layer]), \
                f"{path.relative_to(ROOT)} imports {name}, which {layer} may not"
        elif layer in STDLIB_ONLY:
            assert top in sys.stdlib_module_names or top == "__future__", \
                f"{path.relative_to(ROOT)} imports {name}: the engine is stdlib only"
