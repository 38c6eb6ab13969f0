"""The native engine's scheduler (sim/engine/core.py): time, same-time order, ``run(until=...)``.

Expected values come from the documented semantics: integer picosecond time,
a ``(time, seq)`` heap for future work, a FIFO ready deque for work due now.
"""
import pytest

from sim.engine import Engine, FirstPolicy, SimulationError


# --- time ------------------------------------------------------------------------
def test_time_starts_at_zero_and_advances_by_integer_delays(eng):
    seen = []

    def p():
        for d in (1, 2, 3, 994):
            yield eng.timeout(d)
            seen.append(eng.now)

    eng.spawn(p())
    eng.run()
    # cumulative sums of 1, 2, 3, 994
    assert seen == [1, 3, 6, 1000]
    assert all(type(t) is int for t in seen)
    assert eng.now == 1000


def test_timeout_is_just_the_integer_delay(eng):
    assert eng.timeout(5) == 5
    assert type(eng.timeout(5)) is int
    assert Engine.timeout(0) == 0


def test_large_times_stay_exact(eng):
    big = 10**15 + 7  # ~17 minutes in ps; must not be rounded like a float

    def p():
        yield big
        yield 1

    eng.spawn(p())
    eng.run()
    assert eng.now == big + 1
    assert type(eng.now) is int


def test_yield_zero_is_a_same_time_yield_point(eng):
    log = []

    def a():
        log.append(("a1", eng.now))
        yield 0
        log.append(("a2", eng.now))

    def b():
        log.append(("b", eng.now))
        yield from ()

    def c():
        log.append(("c", eng.now))
        yield from ()

    eng.spawn(a())
    eng.spawn(b())
    eng.spawn(c())
    eng.run()
    # a yields; b and c were already due at t=0, so they run before a continues
    assert log == [("a1", 0), ("b", 0), ("c", 0), ("a2", 0)]
    assert eng.now == 0


def test_yield_zero_goes_to_the_back_of_the_ready_queue(eng):
    log = []

    def d():
        log.append("d")
        yield from ()

    def a():
        log.append("a1")
        yield 0
        log.append("a2")

    def b():
        log.append("b")
        eng.spawn(d())  # made ready after a re-queued itself
        yield from ()

    eng.spawn(a())
    eng.spawn(b())
    eng.run()
    # ready: [a, b] -> a runs, re-queues: [b, a] -> b runs, spawns d: [a, d]
    assert log == ["a1", "b", "a2", "d"]


def test_negative_delay_kills_the_process(eng):
    def p():
        yield -1

    proc = eng.spawn(p())
    with pytest.raises(SimulationError, match="negative delay"):
        eng.run()
    assert not proc.is_alive
    assert not proc.ok


def test_negative_delays_rejected_by_timeout_event_and_call_later(eng):
    with pytest.raises(SimulationError, match="negative"):
        eng.timeout_event(-1)
    with pytest.raises(SimulationError, match="negative"):
        eng.call_later(-5, lambda: None)
    with pytest.raises(SimulationError, match="negative"):
        eng.any_of([-3])


# --- same-time ordering ----------------------------------------------------------
def test_processes_spawned_in_order_run_in_that_order(eng):
    log = []

    def p(name):
        log.append((name, eng.now))
        yield 10
        log.append((name, eng.now))

    for name in "ABC":
        eng.spawn(p(name))
    eng.run()
    assert log == [("A", 0), ("B", 0), ("C", 0), ("A", 10), ("B", 10), ("C", 10)]


def test_same_time_order_is_schedule_order_not_spawn_order(eng):
    log = []

    def x():  # spawned first, but schedules its wake-up for t=20 last
        yield 5
        yield 15
        log.append("X")

    def y():  # spawned second, schedules its wake-up for t=20 at t=0
        yield 20
        log.append("Y")

    eng.spawn(x())
    eng.spawn(y())
    eng.run()
    # heap entries for t=20: y's (pushed at t=0) has a smaller seq than x's (pushed at t=5)
    assert log == ["Y", "X"]
    assert eng.now == 20


def test_callbacks_and_processes_share_one_seq_order(eng):
    log = []

    def p(name):
        yield 10
        log.append(name)

    def starter():
        # scheduled in this order, all due at t=10
        eng.spawn(p("p1"))
        eng.call_later(10, log.append, "call")
        yield from ()

    # spawn p0 first; it reaches its `yield 10` before starter runs
    eng.spawn(p("p0"))
    eng.spawn(starter())
    eng.run()
    # p0 pushed at seq s; then starter: call_later pushed (seq s+1);
    # p1 only starts after starter (it is spawned into the ready queue) and pushes s+2
    assert log == ["p0", "call", "p1"]


def test_work_made_ready_at_t_runs_after_everything_already_due_at_t(eng):
    log = []
    ev = eng.event("go")

    def a():
        yield 10
        log.append("a")
        ev.succeed("v")                  # wakes d
        eng.spawn(e())                   # a new process
        eng.call_later(0, log.append, "call0")

    def b():
        yield 10
        log.append("b")

    def c():
        yield 10
        log.append("c")

    def d():
        v = yield ev
        log.append(("d", v, eng.now))

    def e():
        log.append("e")
        yield from ()

    eng.spawn(d())
    for f in (a, b, c):
        eng.spawn(f())
    eng.run()
    # at t=10: a, b, c were due; what a made ready follows them in the order made ready
    assert log == ["a", "b", "c", ("d", "v", 10), "e", "call0"]


def test_first_policy_with_ties_reproduces_fifo_order():
    def build(policy):
        eng = Engine(policy)
        log = []

        def p(name, d):
            yield d
            log.append((name, eng.now))
            yield d
            log.append((name, eng.now))

        for name, d in (("A", 10), ("B", 10), ("C", 5), ("D", 10)):
            eng.spawn(p(name, d))
        eng.run()
        return log

    fifo = build(None)
    policy = FirstPolicy(choose_ties=True)
    assert build(policy) == fifo
    # ties were real choices (always option 0 of several)
    assert policy.picks and set(policy.picks) == {0}
    assert max(policy.counts) >= 2
    # seqs: A1 B2 C3 D4 (all at t=0); C re-schedules at t=5 with seq 5, so at
    # t=10 the order is A, B, D (seqs 1, 2, 4) and then C (seq 5)
    assert fifo == [("C", 5), ("A", 10), ("B", 10), ("D", 10), ("C", 10),
                    ("A", 20), ("B", 20), ("D", 20)]


# --- run(until=...) ----------------------------------------------------------------
def test_run_until_time_stops_before_events_at_that_time(eng):
    log = []

    def p():
        for _ in range(3):
            yield 10
            log.append(eng.now)

    eng.spawn(p())
    eng.run(until=20)
    assert log == [10]          # the wake-up at exactly 20 has not run
    assert eng.now == 20
    assert eng.peek() == 20
    eng.run()
    assert log == [10, 20, 30]
    assert eng.now == 30


def test_run_until_sets_now_even_when_nothing_is_scheduled(eng):
    eng.run(until=1234)
    assert eng.now == 1234
    eng.run(until=5000)
    assert eng.now == 5000


def test_run_until_past_all_work_sets_now_to_until(eng):
    def p():
        yield 7

    eng.spawn(p())
    eng.run(until=100)
    assert eng.now == 100


def test_run_until_event_stops_when_it_fires(eng):
    log = []

    def worker():
        yield 15
        return "done"

    def background():
        while True:
            yield 10
            log.append(eng.now)

    eng.spawn(background())
    w = eng.spawn(worker())
    eng.run(until=w)
    assert eng.now == 15
    assert w.processed and w.value == "done"
    assert log == [10]
    eng.run(until=35)
    assert log == [10, 20, 30]


def test_run_until_plain_event(eng):
    ev = eng.event()
    eng.call_later(42, ev.succeed, "x")
    eng.call_later(50, lambda: None)
    eng.run(until=ev)
    assert eng.now == 42
    assert ev.processed and ev.value == "x"
    assert eng.peek() == 50


def test_run_until_an_already_processed_event_returns_at_once(eng):
    log = []
    ev = eng.event()
    eng.call_later(5, ev.succeed)
    eng.call_later(10, log.append, "later")
    eng.run(until=ev)
    assert eng.now == 5
    eng.run(until=ev)            # already fired: nothing more to do
    assert eng.now == 5
    assert log == []


def test_max_steps_guard_raises(eng):
    def forever():
        while True:
            yield 1

    eng.spawn(forever())
    with pytest.raises(SimulationError, match="step budget"):
        eng.run(max_steps=100)
    # it did run: time moved, but not unboundedly
    assert 0 < eng.now <= 101


def test_max_steps_counts_items_and_exact_budget_is_allowed():
    def prog():
        eng = Engine()

        def p():
            yield 10
            yield 10
            yield 10

        eng.spawn(p())
        return eng

    # items: start, wake@10, wake@20, wake@30 (returns), completion event = 5
    prog().run(max_steps=5)
    with pytest.raises(SimulationError):
        prog().run(max_steps=4)


