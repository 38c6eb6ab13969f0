"""The declared engine API (sim/engine/api.py): both engines implement it, model code uses only it.

The native :class:`~sim.engine.Engine` and the cocotb adapter's
:class:`~sim.tb.adapter.CocotbEngine` must offer every member of
:class:`~sim.engine.api.EngineAPI` with the same parameters, and run the same
event classes. That the same model gives the same trace on both is checked
under the simulator by ``sim/tb/test_adapter.py`` (``api_tour_matches_native``)
and ``sim/tb/test_doorbell.py`` (``doorbell_trace_matches_native``), which
``tests/sim/tb/test_cocotb_benches.py`` runs.
"""
from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from sim.engine import Engine, EngineAPI, Event
from sim.engine.api import EngineBase
from sim.engine.events import Call, Condition

adapter = pytest.importorskip("sim.tb.adapter", reason="cocotb is not installed")

REPO = Path(__file__).resolve().parents[3]
#: Folders of model code: written against the engine API only.
MODEL_CODE = ["rtl_model", "driver", "stack", "sim/host", "sim/examples"]
#: Model-side modules that build and drive their own native engine, so may also call ``run``.
ENGINE_OWNERS = {"sim/host/litmus.py": {"run"}}

#: What the Protocol must declare: the calls model code makes, plus what tests and the trace use.
EXPECTED_MEMBERS = {
    "now", "timeout", "timeout_event", "event", "spawn", "any_of", "all_of", "call_later",
    "choose", "choose_index", "log", "start_trace", "records", "policy", "skip_to",
}


def api_members() -> set[str]:
    """Public names :class:`EngineAPI` declares: annotated attributes, properties, methods."""
    return set(EngineAPI.__annotations__) | {n for n in vars(EngineAPI) if not n.startswith("_")}


def params(fn) -> list[tuple[str, object, object]]:
    """(name, kind, default) of each parameter of a bound method or callable."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def protocol_params(name: str):
    """The parameters the Protocol declares for method ``name``, without ``self``."""
    return params(getattr(EngineAPI, name))[1:]


@pytest.fixture(params=["native", "cocotb"])
def engine(request):
    """An instance of each implementation (the adapter needs no running simulator to be built)."""
    return Engine() if request.param == "native" else adapter.CocotbEngine()


def test_protocol_declares_the_engine_api():
    assert api_members() == EXPECTED_MEMBERS


def test_each_engine_has_every_member_with_the_declared_signature(engine):
    for name in sorted(api_members()):
        missing = object()
        assert inspect.getattr_static(engine, name, missing) is not missing, f"{type(engine).__name__} lacks {name}"
        declared = inspect.getattr_static(EngineAPI, name, None)
        if declared is None or isinstance(declared, property):  # data: an attribute or a property
            assert not inspect.isfunction(inspect.getattr_static(type(engine), name, None)), name
            continue
        assert params(getattr(engine, name)) == protocol_params(name), (
            f"{type(engine).__name__}.{name}{inspect.signature(getattr(engine, name))} "
            f"differs from EngineAPI.{name}{inspect.signature(declared)}")


def test_both_engines_share_the_event_mechanics():
    """One definition of events, conditions and choices: both engines use the same classes."""
    native = Engine()
    cocotb_engine = adapter.CocotbEngine()
    assert isinstance(native, EngineBase) and isinstance(cocotb_engine, EngineBase)
    assert type(native.event()) is Event and type(cocotb_engine.event()) is Event
    assert type(native.any_of([native.event()])) is Condition
    assert type(cocotb_engine.all_of([cocotb_engine.event()])) is Condition
    assert issubclass(adapter.Process, Event)
    assert type(native.call_later(1, print)) is Call


def test_a_condition_over_a_failed_event_handles_the_failure():
    """A condition built on an already-failed event takes its failure, as a waiting process would.

    The adapter reports a failure nobody waited for only if it is still unhandled a moment later,
    so taking it must mark it handled.
    """
    eng = Engine()
    bad = eng.event("bad")
    bad.fail(KeyError("k"))
    caught = []

    def waiter():
        yield eng.timeout(0)  # bad is processed before the condition is built
        try:
            yield eng.any_of([bad, eng.event()])
        except KeyError as exc:
            caught.append(exc)

    eng.spawn(waiter())
    with pytest.raises(KeyError):  # nobody waited on bad when it fired: run() stops with it
        eng.run()
    eng.run()
    assert [type(e) for e in caught] == [KeyError]
    assert bad.value.handled


def engine_calls(path: Path) -> set[str]:
    """Attributes read on an engine in ``path``: ``engine.x``, ``eng.x``, ``<anything>.engine.x``."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Attribute):
            continue
        base = node.value
        if (isinstance(base, ast.Name) and base.id in ("engine", "eng")) or \
                (isinstance(base, ast.Attribute) and base.attr == "engine"):
            names.add(node.attr)
    return names


def test_model_code_calls_only_the_declared_api():
    allowed = api_members()
    seen = {}
    for folder in MODEL_CODE:
        for path in sorted((REPO / folder).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            extra = engine_calls(path) - allowed - ENGINE_OWNERS.get(rel, set())
            if extra:
                seen[rel] = sorted(extra)
    assert seen == {}, f"model code uses engine members outside EngineAPI: {seen}"


def test_the_model_code_scan_sees_engine_calls(tmp_path):
    """The scan above finds a call outside the API (so its empty result means something)."""
    planted = tmp_path / "model.py"
    planted.write_text("def f(dev):\n    dev.engine.peek()\n    engine.now\n    eng._heap.clear()\n")
    assert engine_calls(planted) - api_members() == {"peek", "_heap"}


def test_skip_to_moves_time_only_when_nothing_else_is_due_and_never_past_the_stop():
    eng = Engine()
    seen = []

    def proc():
        seen.append(("skip 100", eng.skip_to(100), eng.now))          # nothing due: skipped
        seen.append(("skip 600", eng.skip_to(600), eng.now))          # the call at 500 is due first
        yield 0
        seen.append(("skip to stop", eng.skip_to(1000), eng.now))     # the run stops at 1000: never to it
        seen.append(("inline", eng.skip_to(900, lambda item: True), eng.now))   # the call at 500 runs on the way

    eng.call_later(500, seen.append, "call at 500")
    eng.spawn(proc())
    eng.run(until=1000)
    assert seen == [("skip 100", True, 100), ("skip 600", False, 100), ("skip to stop", False, 100),
                    "call at 500", ("inline", True, 900)]
    assert eng.skip_to(2000) is False          # outside run(): never
    assert adapter.CocotbEngine().skip_to(5) is False
