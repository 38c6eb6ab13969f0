"""Processes, events, conditions, callbacks, the trace and choices on the native engine (sim/engine/events.py).

Expected values come from the documented semantics: processes resumed with
event values, failures thrown into waiters (and crashing the run when nobody
handles them), ``any_of``/``all_of`` firing at the first/last member.
"""
import pytest

from sim.engine import PENDING, Engine, Event, Policy, Process, SimulationError


# --- processes and events --------------------------------------------------------
def test_spawn_requires_a_generator(eng):
    with pytest.raises(SimulationError, match="generator"):
        eng.spawn(lambda: None)


def test_join_returns_the_process_return_value(eng):
    got = []

    def child(x):
        yield 30
        return x * 2

    def parent():
        c = eng.spawn(child(21))
        v = yield c
        got.append((v, eng.now))

    eng.spawn(parent())
    eng.run()
    assert got == [(42, 30)]


def test_process_event_properties(eng):
    def child():
        yield 5
        return "r"

    c = eng.spawn(child())
    assert isinstance(c, Process) and isinstance(c, Event)
    assert c.is_alive and not c.triggered and not c.processed and not c.ok
    assert c.value is PENDING
    eng.run()
    assert not c.is_alive and c.triggered and c.processed and c.ok
    assert c.value == "r"


def test_joining_a_finished_process_continues_at_once(eng):
    got = []

    def child():
        yield 5
        return "early"

    c = eng.spawn(child())

    def late():
        yield 100
        v = yield c
        got.append((v, eng.now))

    eng.spawn(late())
    eng.run()
    assert got == [("early", 100)]


def test_several_waiters_all_resume_with_the_value(eng):
    ev = eng.event()
    got = []

    def w(name):
        v = yield ev
        got.append((name, v, eng.now))

    for name in "xyz":
        eng.spawn(w(name))
    eng.call_later(7, ev.succeed, 99)
    eng.run()
    assert got == [("x", 99, 7), ("y", 99, 7), ("z", 99, 7)]


def test_yielding_an_already_fired_event_loses_no_time(eng):
    ev = eng.event()
    log = []

    def setter():
        ev.succeed("v")
        yield from ()

    def a():
        yield 50
        assert ev.processed
        v = yield ev
        log.append(("a", v, eng.now))

    def b():
        yield 50
        log.append(("b", eng.now))

    eng.spawn(setter())
    eng.spawn(a())
    eng.spawn(b())
    eng.run()
    # a continues at once (same step, before b, which was due after it)
    assert log == [("a", "v", 50), ("b", 50)]


def test_yielding_an_already_failed_event_throws_at_once(eng):
    ev = eng.event()
    log = []

    def first():
        try:
            yield ev
        except KeyError:
            log.append("first caught")

    def late():
        yield 10
        try:
            yield ev
        except KeyError as exc:
            log.append(("late caught", exc.args, eng.now))

    eng.spawn(first())
    eng.spawn(late())
    eng.call_later(1, ev.fail, KeyError("k"))
    eng.run()
    assert log == ["first caught", ("late caught", ("k",), 10)]


def test_fail_throws_into_the_waiter_which_can_catch_it(eng):
    ev = eng.event()
    log = []

    def waiter():
        try:
            yield ev
        except ValueError as exc:
            log.append(("caught", str(exc), eng.now))
        yield 5
        log.append(("after", eng.now))
        return "ok"

    w = eng.spawn(waiter())
    eng.call_later(10, ev.fail, ValueError("boom"))
    eng.run()
    assert log == [("caught", "boom", 10), ("after", 15)]
    assert w.value == "ok"
    assert ev.triggered and not ev.ok


def test_unhandled_failed_event_makes_run_raise(eng):
    ev = eng.event()
    eng.call_later(3, ev.fail, ValueError("nobody listens"))
    with pytest.raises(ValueError, match="nobody listens"):
        eng.run()
    assert eng.now == 3


def test_uncaught_failure_in_waiter_propagates_out_of_run(eng):
    ev = eng.event()

    def waiter():
        yield ev

    w = eng.spawn(waiter())
    eng.call_later(2, ev.fail, RuntimeError("thrown in"))
    with pytest.raises(RuntimeError, match="thrown in"):
        eng.run()
    assert not w.is_alive and not w.ok


def test_process_dying_with_no_one_waiting_makes_run_raise(eng):
    def bad():
        yield 4
        raise ZeroDivisionError("oops")

    eng.spawn(bad())
    with pytest.raises(ZeroDivisionError, match="oops"):
        eng.run()
    assert eng.now == 4


def test_process_death_is_thrown_into_a_joiner(eng):
    log = []

    def bad():
        yield 4
        raise LookupError("child died")

    def parent():
        c = eng.spawn(bad())
        try:
            yield c
        except LookupError as exc:
            log.append((str(exc), eng.now))
        return "survived"

    p = eng.spawn(parent())
    eng.run()  # handled: must not raise
    assert log == [("child died", 4)]
    assert p.value == "survived"


def test_double_trigger_raises(eng):
    ev = eng.event("twice")
    ev.succeed(1)
    with pytest.raises(SimulationError, match="triggered twice"):
        ev.succeed(2)
    with pytest.raises(SimulationError, match="triggered twice"):
        ev.fail(ValueError())
    ev2 = eng.event()
    ev2.fail(ValueError())
    with pytest.raises(SimulationError, match="triggered twice"):
        ev2.succeed()
    assert ev.value == 1


@pytest.mark.parametrize("bad", ["text", 1.5, None, object(), [1, 2]])
def test_yielding_a_non_event_kills_with_a_clear_error(eng, bad):
    def p():
        yield bad

    proc = eng.spawn(p())
    with pytest.raises(SimulationError, match="yield an Event or a delay"):
        eng.run()
    assert not proc.is_alive


def test_event_properties_before_and_after(eng):
    ev = eng.event("e")
    assert not ev.triggered and not ev.processed and not ev.ok
    assert ev.value is PENDING
    assert "e" in repr(ev)
    ev.succeed(3)
    assert ev.triggered and ev.ok and not ev.processed
    eng.run()
    assert ev.processed and ev.value == 3


# --- any_of / all_of ---------------------------------------------------------------
def test_any_of_fires_with_the_first_event(eng):
    e1, e2 = eng.event("e1"), eng.event("e2")
    got = []

    def p():
        v = yield eng.any_of([e1, e2])
        got.append((v, eng.now))

    eng.spawn(p())
    eng.call_later(5, e1.succeed, "one")
    eng.call_later(9, e2.succeed, "two")
    eng.run()
    assert got == [({e1: "one"}, 5)]


def test_any_of_with_a_delay_times_out(eng):
    ev = eng.event()
    got = []

    def p():
        v = yield eng.any_of([ev, 20])
        got.append((v, eng.now))

    eng.spawn(p())
    eng.run()
    ((v, t),) = got
    assert t == 20
    assert len(v) == 1
    (key, val), = v.items()
    assert key is not ev and isinstance(key, Event) and val is None


def test_any_of_event_beats_the_delay(eng):
    ev = eng.event()
    got = []

    def p():
        v = yield eng.any_of([ev, 20])
        got.append((v, eng.now))

    eng.spawn(p())
    eng.call_later(3, ev.succeed, "fast")
    eng.run()
    assert got == [({ev: "fast"}, 3)]


def test_any_of_delays_fires_at_the_smallest(eng):
    got = []

    def p():
        yield eng.any_of([30, 10, 20])
        got.append(eng.now)

    eng.spawn(p())
    eng.run()
    assert got == [10]


def test_all_of_events_delays_and_processes(eng):
    ev = eng.event()
    got = []

    def child():
        yield 15
        return 7

    c = eng.spawn(child())

    def p():
        v = yield eng.all_of([ev, 10, c])
        got.append((v, eng.now))

    eng.spawn(p())
    eng.call_later(5, ev.succeed, "a")
    eng.run()
    ((v, t),) = got
    assert t == 15              # max(5, 10, 15)
    assert len(v) == 3
    assert v[ev] == "a" and v[c] == 7
    others = [k for k in v if k is not ev and k is not c]
    assert len(others) == 1 and v[others[0]] is None


def test_all_of_delays_fires_at_the_largest(eng):
    got = []

    def p():
        yield 4
        v = yield eng.all_of([10, 30, 20])
        got.append((eng.now, sorted(v.values(), key=repr)))

    eng.spawn(p())
    eng.run()
    assert got == [(34, [None, None, None])]   # 4 + max(10, 30, 20)


def test_all_of_empty_fires_at_once_with_empty_dict(eng):
    got = []

    def p():
        yield 3
        v = yield eng.all_of([])
        got.append((v, eng.now))

    eng.spawn(p())
    eng.run()
    assert got == [({}, 3)]


def test_conditions_with_already_fired_events(eng):
    e1 = eng.event()
    e2 = eng.event()
    e1.succeed("x")
    got = []

    def p():
        yield 10  # e1 is processed by now
        v = yield eng.any_of([e1, e2])
        got.append(("any", v, eng.now))
        e2.succeed("y")
        v = yield eng.all_of([e1, e2])
        got.append(("all", v, eng.now))

    eng.spawn(p())
    eng.run()
    assert got == [("any", {e1: "x"}, 10), ("all", {e1: "x", e2: "y"}, 10)]


def test_all_of_fails_when_a_member_fails(eng):
    e1, e2 = eng.event(), eng.event()
    got = []

    def p():
        try:
            yield eng.all_of([e1, e2])
        except OSError as exc:
            got.append((str(exc), eng.now))

    eng.spawn(p())
    eng.call_later(2, e1.succeed)
    eng.call_later(6, e2.fail, OSError("member failed"))
    eng.run()
    assert got == [("member failed", 6)]


def test_timeout_event(eng):
    got = []

    def p():
        v = yield eng.timeout_event(25, "tv")
        got.append((v, eng.now))

    eng.spawn(p())
    eng.run()
    assert got == [("tv", 25)]


# --- callbacks ---------------------------------------------------------------------
def test_call_later_runs_at_the_right_time(eng):
    log = []
    eng.call_later(30, lambda: log.append(("a", eng.now)))
    eng.call_later(10, lambda x, y: log.append((x + y, eng.now)), "b", "c")
    eng.call_later(0, lambda: log.append(("now", eng.now)))
    eng.run()
    assert log == [("now", 0), ("bc", 10), ("a", 30)]


def test_call_later_cancel(eng):
    log = []
    h = eng.call_later(10, log.append, "cancelled")
    eng.call_later(20, log.append, "kept")
    h0 = eng.call_later(0, log.append, "cancelled0")
    h.cancel()
    h0.cancel()
    eng.run()
    assert log == ["kept"]
    assert eng.now == 20


def test_call_later_cancel_from_inside_the_run(eng):
    log = []
    h = eng.call_later(10, log.append, "late")
    eng.call_later(5, h.cancel)
    eng.run()
    assert log == []


def test_peek(eng):
    assert eng.peek() is None
    eng.call_later(40, lambda: None)
    assert eng.peek() == 40
    eng.call_later(0, lambda: None)
    assert eng.peek() == 0


# --- tracing -----------------------------------------------------------------------
def test_log_is_a_no_op_until_tracing_starts(eng):
    assert eng.records is None
    eng.log("src", "ignored", 1)
    assert eng.records is None


def test_start_trace_records_now_source_what_and_data(eng):
    recs = eng.start_trace()
    assert recs == [] and eng.records is recs

    def p():
        eng.log("p", "start")
        yield 12
        eng.log("p", "tick", 1, "two", (3,))

    eng.spawn(p())
    eng.run()
    assert recs == [(0, "p", "start"), (12, "p", "tick", 1, "two", (3,))]


def test_start_trace_again_starts_a_fresh_list(eng):
    first = eng.start_trace()
    eng.log("a", "x")
    second = eng.start_trace()
    eng.log("b", "y")
    assert first == [(0, "a", "x")]
    assert second == [(0, "b", "y")]


# --- choices -----------------------------------------------------------------------
class _FixedPolicy(Policy):
    def __init__(self, answers):
        super().__init__()
        self.answers = list(answers)
        self.asked = []

    def _pick(self, n, why):
        self.asked.append((n, why))
        return self.answers.pop(0)


def test_choose_and_choose_index_go_to_the_policy():
    pol = _FixedPolicy([2, 1])
    eng = Engine(pol)
    assert eng.choose(["a", "b", "c"], "letter") == "c"
    assert eng.choose_index(4, "num") == 1
    assert pol.asked == [(3, "letter"), (4, "num")]
    assert pol.picks == [2, 1] and pol.counts == [3, 4] and pol.whys == ["letter", "num"]


def test_single_option_choice_does_not_ask_the_policy():
    pol = _FixedPolicy([])
    eng = Engine(pol)
    assert eng.choose_index(1, "only") == 0
    assert eng.choose(("solo",), "only") == "solo"
    assert pol.asked == [] and pol.picks == []


def test_zero_option_choice_raises():
    eng = Engine(_FixedPolicy([]))
    with pytest.raises(SimulationError, match="no options"):
        eng.choose_index(0, "empty")
    with pytest.raises(SimulationError, match="'nothing'"):
        eng.choose([], "nothing")


def test_default_policy_is_seeded_and_fifo():
    a, b = Engine(), Engine()
    assert not getattr(a.policy, "choose_ties", False)
    picks_a = [a.choose_index(10, "x") for _ in range(50)]
    picks_b = [b.choose_index(10, "x") for _ in range(50)]
    assert picks_a == picks_b
    assert all(0 <= i < 10 for i in picks_a)
