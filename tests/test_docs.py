"""The docs name real code: every ``file:function`` in architecture.md's packet walk exists.

A reader follows the walk table to the source; a rename that leaves the
table behind breaks that, so the table is checked against the code's AST
(``file:name`` is a module-level function or class, ``file:Class.method`` a
method of that class).
"""
import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "docs" / "architecture.md"
REF = re.compile(r"`([\w/]+\.py):([\w.]+)`")


def _walk_rows() -> list[tuple[str, str, str]]:
    """(step, file, name) for every reference in the walk table's 'where' column."""
    text = ARCHITECTURE.read_text()
    table = text[text.index("| step | what happens | where |"):]
    table = table[: table.index("\n\n")]
    rows = []
    for line in table.splitlines()[2:]:
        step, _what, where = [c.strip() for c in line.strip("|").split("|")]
        rows += [(step, path, name) for path, name in REF.findall(where)]
    return rows


def _defines(path: pathlib.Path, dotted: str) -> bool:
    scope = ast.parse(path.read_text()).body
    for part in dotted.split("."):
        node = next((n for n in scope if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == part), None)
        if node is None:
            return False
        scope = node.body
    return True


def test_the_walk_covers_the_article_from_send_to_the_tx_clean():
    rows = _walk_rows()
    names = [name for _, _, name in rows]
    assert names[0] == "send" and names[-1] == "igb_clean_tx_irq"
    assert len({step for step, _, _ in rows}) >= 20


@pytest.mark.parametrize("step,path,name", _walk_rows(), ids=lambda v: str(v))
def test_each_step_names_code_that_exists(step, path, name):
    file = ROOT / path
    assert file.is_file(), f"step {step}: {path} does not exist"
    assert _defines(file, name), f"step {step}: {path} defines no {name}"
