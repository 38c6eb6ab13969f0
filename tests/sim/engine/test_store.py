"""The FIFO Store (sim/engine/store.py)."""
import pytest

from sim.engine import Store


def test_items_come_out_in_fifo_order(eng):
    store = Store(eng)
    got = []

    def producer():
        for x in ("a", "b", "c", "d"):
            yield store.put(x)

    def consumer():
        for _ in range(4):
            got.append((yield store.get()))

    eng.spawn(producer())
    eng.spawn(consumer())
    eng.run()
    assert got == ["a", "b", "c", "d"]
    assert len(store) == 0


def test_len_counts_stored_items(eng):
    store = Store(eng)
    assert len(store) == 0
    store.put(1)
    store.put(2)
    assert len(store) == 2
    store.get()
    assert len(store) == 1


def test_getter_waits_for_a_put(eng):
    store = Store(eng)
    got = []

    def consumer():
        v = yield store.get()
        got.append((v, eng.now))

    def producer():
        yield 7
        yield store.put("x")

    eng.spawn(consumer())
    eng.spawn(producer())
    eng.run()
    assert got == [("x", 7)]


def test_waiting_getters_are_served_in_arrival_order(eng):
    store = Store(eng)
    got = []

    def consumer(name, delay):
        yield delay
        v = yield store.get()
        got.append((name, v, eng.now))

    eng.spawn(consumer("late", 2))
    eng.spawn(consumer("early", 1))
    eng.call_later(10, store.put, "first")
    eng.call_later(20, store.put, "second")
    eng.run()
    # "early" asked at t=1, "late" at t=2: early gets the first item
    assert got == [("early", "first", 10), ("late", "second", 20)]


def test_put_to_a_waiting_getter_bypasses_the_store(eng):
    store = Store(eng)
    g = store.get()
    assert not g.triggered
    p = store.put("direct")
    assert p.triggered and g.triggered and g.value == "direct"
    assert len(store) == 0


def test_get_on_a_non_empty_store_is_already_triggered(eng):
    store = Store(eng)
    store.put("ready")
    ev = store.get()
    assert ev.triggered and ev.ok
    assert ev.value == "ready"
    assert len(store) == 0


def test_get_on_an_empty_store_is_pending(eng):
    store = Store(eng)
    ev = store.get()
    assert not ev.triggered


def test_yield_on_a_non_empty_get_loses_no_time(eng):
    store = Store(eng)
    got = []

    def p():
        yield store.put(1)
        yield 5
        v = yield store.get()
        got.append((v, eng.now))

    eng.spawn(p())
    eng.run()
    assert got == [(1, 5)]


def test_capacity_blocks_putters_until_a_get(eng):
    store = Store(eng, capacity=2)
    log = []

    def producer():
        for x in ("a", "b", "c"):
            yield store.put(x)
            log.append(("put", x, eng.now))

    def consumer():
        yield 10
        v = yield store.get()
        log.append(("got", v, eng.now))

    eng.spawn(producer())
    eng.spawn(consumer())
    eng.run()
    # a and b fit at t=0; c waits until the get at t=10 frees a slot
    assert log == [("put", "a", 0), ("put", "b", 0), ("got", "a", 10), ("put", "c", 10)]
    assert list(store.items) == ["b", "c"]


def test_blocked_putters_are_released_in_order(eng):
    store = Store(eng, capacity=1)
    pa, pb, pc = store.put("a"), store.put("b"), store.put("c")
    assert pa.triggered and not pb.triggered and not pc.triggered
    assert len(store) == 1

    assert store.get().value == "a"
    assert pb.triggered and not pc.triggered
    assert list(store.items) == ["b"]

    assert store.get().value == "b"
    assert pc.triggered
    assert store.get().value == "c"
    assert len(store) == 0


def test_unbounded_store_never_blocks(eng):
    store = Store(eng)
    evs = [store.put(i) for i in range(1000)]
    assert all(e.triggered for e in evs)
    assert len(store) == 1000


@pytest.mark.parametrize("cap", [0, -1, -100])
def test_capacity_below_one_rejected(eng, cap):
    with pytest.raises(ValueError, match="at least 1"):
        Store(eng, capacity=cap)


def test_capacity_one_is_allowed(eng):
    assert Store(eng, capacity=1).capacity == 1
    assert Store(eng).capacity is None
