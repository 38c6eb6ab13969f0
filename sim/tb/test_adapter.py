"""cocotb tests of the engine adapter itself (sim.tb.adapter.CocotbEngine).

* :func:`api_tour_matches_native` — one model that uses every engine-API call
  (spawn/join, zero delay, any_of/all_of with delays and timeout events,
  call_later and cancel, failed events thrown into waiters, Store with
  capacity, choose/choose_index) runs on both engines; traces and policy
  choices must be identical, and a few values are checked by hand.
* :func:`unhandled_model_exception_fails_test` — a model process dying with
  nobody waiting fails the cocotb test (``expect_error``: the test passes
  only if that happens).
* :func:`awaited_failure_raises` / :func:`tie_policy_refused` — the failure
  reaches an awaiting coroutine; a policy the adapter cannot honour is refused.
"""
from __future__ import annotations

import cocotb
from cocotb.triggers import Timer

from sim.engine import Engine, SeededPolicy, Store
from sim.tb.adapter import CocotbEngine, hdl_time_ps

NS = 1_000


def api_tour(engine):
    """A process that exercises the whole engine API and logs what it sees (race-free)."""
    log = engine.log

    # spawn + join: a process is an Event with the generator's return value.
    def child(delay_ps, v):
        yield engine.timeout(delay_ps)
        log("child", "done", v)
        return v * 2

    c = engine.spawn(child(1 * NS, 21), name="child")
    log("tour", "alive", c.is_alive)
    r = yield c
    log("tour", "joined", r, c.is_alive, c.ok)

    # A zero delay is a yield point that does not advance time.
    yield engine.timeout(0)
    log("tour", "zero")

    # any_of: a timeout event beats an event that call_later triggers later.
    late = engine.event("late")
    engine.call_later(5 * NS, late.succeed, "late")
    res = yield engine.any_of([engine.timeout_event(2 * NS, "fast"), late])
    log("tour", "any_of", sorted(res.values()), late.triggered)

    # all_of: a plain delay and the pending event; fires when the later one does.
    res = yield engine.all_of([late, 1 * NS])
    log("tour", "all_of", res[late], len(res))

    # call_later can be cancelled; a zero-delay call runs in this time step.
    h = engine.call_later(500, log, "tour", "cancelled call ran")
    h.cancel()
    engine.call_later(0, log, "call", "zero-delay call")
    yield engine.timeout(1 * NS)

    # A process that dies throws its exception into whoever waits for it.
    def failer():
        yield engine.timeout(700)
        raise ValueError("boom")

    f = engine.spawn(failer(), name="failer")
    try:
        yield f
    except ValueError as exc:
        log("tour", "caught", str(exc), f.ok, f.is_alive)

    # Event.fail from a callback, caught by the waiter.
    bad = engine.event("bad")
    engine.call_later(300, bad.fail, KeyError("k"))
    try:
        yield bad
    except KeyError as exc:
        log("tour", "caught", repr(exc), bad.triggered, bad.ok)

    # Store with capacity 1: the producer blocks until the consumer takes.
    st = Store(engine, capacity=1)

    def producer():
        for i in range(3):
            yield st.put(i)
            log("prod", "put", i)

    def consumer():
        got = []
        for _ in range(3):
            yield engine.timeout(100)
            x = yield st.get()
            log("cons", "got", x)
            got.append(x)
        return got

    engine.spawn(producer(), name="producer")
    got = yield engine.spawn(consumer(), name="consumer")
    log("tour", "store", got)

    # Choices go to the policy.
    picks = [engine.choose("abcdef", "letter") for _ in range(4)]
    idx = engine.choose_index(1000, "index")
    log("tour", "choices", "".join(picks), idx, engine.choose_index(1, "only one"))
    return "ok"


def run_tour_native(seed: int):
    eng = Engine(SeededPolicy(seed))
    trace = eng.start_trace()
    p = eng.spawn(api_tour(eng), name="tour")
    eng.run(max_steps=10_000)
    assert p.ok and p.value == "ok"
    return trace, eng.policy.trace()


@cocotb.test()
async def api_tour_matches_native(dut):
    """Every engine-API call gives the same trace and choices on CocotbEngine as natively."""
    native_trace, native_choices = run_tour_native(7)
    eng = CocotbEngine.from_now(SeededPolicy(7))
    trace = eng.start_trace()
    assert await eng.spawn(api_tour(eng), name="tour") == "ok"

    assert trace == native_trace
    assert eng.policy.trace() == native_choices
    # A few values by hand, so the test does not only compare two engines that could share a bug.
    rec = {r[1:3]: r for r in trace}
    assert rec[("child", "done")] == (1 * NS, "child", "done", 21)
    assert rec[("tour", "joined")] == (1 * NS, "tour", "joined", 42, False, True)
    assert rec[("tour", "zero")][0] == 1 * NS
    assert rec[("tour", "any_of")] == (3 * NS, "tour", "any_of", ["fast"], False)
    assert rec[("tour", "all_of")] == (6 * NS, "tour", "all_of", "late", 2)
    assert rec[("call", "zero-delay call")][0] == 6 * NS
    assert ("tour", "cancelled call ran") not in rec
    assert [r[3] for r in trace if r[1] == "cons"] == [0, 1, 2]
    assert rec[("tour", "store")][3] == [0, 1, 2]
    assert hdl_time_ps() - eng.epoch_ps == trace[-1][0]


@cocotb.test(expect_error=ZeroDivisionError)
async def unhandled_model_exception_fails_test(dut):
    """A model process that raises with nobody waiting must fail the test (expected here)."""
    eng = CocotbEngine.from_now()

    def broken():
        yield eng.timeout(5 * NS)
        return 1 // 0

    eng.spawn(broken(), name="broken")
    await Timer(100, unit="ns")


@cocotb.test()
async def awaited_failure_raises(dut):
    """Awaiting a failed process from cocotb raises its exception there (and nothing else fails)."""
    eng = CocotbEngine.from_now()

    def broken():
        yield eng.timeout(0)
        raise RuntimeError("model bug")

    proc = eng.spawn(broken(), name="broken")
    try:
        await proc
    except RuntimeError as exc:
        assert str(exc) == "model bug"
    else:
        raise AssertionError("the failure did not reach the awaiting coroutine")
    assert not proc.ok and not proc.is_alive
    await Timer(10, unit="ns")  # the failure was handled: no late error may surface


@cocotb.test()
async def tie_policy_refused(dut):
    """The adapter cannot let a policy order same-time items, so it refuses such a policy."""
    try:
        CocotbEngine(SeededPolicy(1, shuffle_ties=True))
    except ValueError:
        pass
    else:
        raise AssertionError("choose_ties policy accepted")
