"""MAC serialisation (rtl_model/mac.py): wire times from arithmetic, back-to-back timing, link down."""
import pytest

from rtl_model.mac import IFG_BYTES, PREAMBLE_SFD_BYTES, MacPort, wire_time_ps
from sim.engine import NS, US, Engine


def test_constants():
    assert PREAMBLE_SFD_BYTES == 8 and IFG_BYTES == 12


@pytest.mark.parametrize("length, speed, expected_ps", [
    (64, 1000, 672 * NS),            # (64 + 20) * 8 bits * 1 ns
    (1518, 1000, 12_304 * NS),       # 12.304 us
    (64, 100, 6_720 * NS),           # 10 ns per bit
    (1518, 100, 123_040 * NS),
    (64, 10, 67_200 * NS),           # 100 ns per bit
    (1518, 10, 1_230_400 * NS),
    (0, 1000, 20 * 8 * NS),          # preamble + IPG alone
])
def test_wire_time_from_arithmetic(length, speed, expected_ps):
    assert wire_time_ps(length, speed) == expected_ps
    assert wire_time_ps(length, speed) == (length + 8 + 12) * 8 * (1_000_000 // speed)


@pytest.mark.parametrize("speed", [0, 1, 2500, 10000, -100, 1000.5])
def test_bad_speed_is_value_error(speed):
    with pytest.raises(ValueError):
        wire_time_ps(64, speed)
    with pytest.raises(ValueError):
        MacPort(Engine(), speed_mbps=speed)
    port = MacPort(Engine())
    with pytest.raises(ValueError):
        port.set_speed(speed)
    assert port.speed_mbps == 1000


def make_port(speed=1000):
    """A port on a fresh engine, recording sink calls."""
    eng = Engine()
    port = MacPort(eng, speed_mbps=speed)
    seen = []
    port.add_sink(lambda frame, start, end: seen.append((frame, start, end, eng.now)))
    return eng, port, seen


@pytest.mark.parametrize("speed", [10, 100, 1000])
def test_back_to_back_frames_end_at_n_wire_times(speed):
    eng, port, seen = make_port(speed)
    n, length = 10, 1518
    for i in range(n):
        port.send(bytes([i]) * length)
    eng.run()
    wt = wire_time_ps(length, speed)
    assert [(s, e) for _, s, e, _ in seen] == [(i * wt, (i + 1) * wt) for i in range(n)]
    assert [f[0] for f, *_ in seen] == list(range(n))  # in order
    assert eng.now == n * wt == port.busy_until_ps
    assert port.frames_sent == n and port.bytes_sent == n * length


def test_sinks_called_at_end_with_timestamps():
    eng, port, seen = make_port()
    frames = [bytes(64), bytes(1518), bytes(100)]
    for f in frames:
        port.send(f)
    eng.run()
    t = 0
    for (frame, start, end, called_at), sent in zip(seen, frames):
        assert frame == sent and start == t and end == t + wire_time_ps(len(sent), 1000)
        assert called_at == end
        t = end


def test_frame_queued_while_busy_starts_at_previous_end():
    eng, port, seen = make_port()
    port.send(bytes(1518))

    def late():
        yield eng.timeout(5 * US)  # mid-way through the first frame (12.304 us)
        yield port.send(bytes(64))

    eng.spawn(late())
    eng.run()
    first_end = wire_time_ps(1518, 1000)
    assert seen[1][1] == first_end
    assert seen[1][2] == first_end + 672 * NS


def test_frame_queued_when_idle_starts_now():
    eng, port, seen = make_port()

    def late():
        yield eng.timeout(100 * US)
        yield port.send(bytes(64))

    eng.spawn(late())
    eng.run()
    assert seen[0][1:3] == (100 * US, 100 * US + 672 * NS)


def test_trace_log():
    eng, port, _ = make_port()
    trace = eng.start_trace()
    port.send(bytes(64))
    eng.run()
    assert (672 * NS, "mac0", "tx", 64, 0, 672 * NS) in trace


def test_set_speed_applies_to_next_frame():
    eng, port, seen = make_port(1000)
    port.send(bytes(64))
    port.send(bytes(64))

    def change():
        yield eng.timeout(100 * NS)  # first frame already on the wire
        port.set_speed(100)

    eng.spawn(change())
    eng.run()
    assert seen[0][2] == 672 * NS
    assert seen[1][1:3] == (672 * NS, 672 * NS + 6720 * NS)


def test_link_down_drops_and_counts():
    eng, port, seen = make_port()
    port.set_link(False)
    for _ in range(3):
        port.send(bytes(64))
    eng.run()
    assert seen == [] and port.frames_dropped_link_down == 3 and port.frames_sent == 0
    assert eng.now == 0  # dropped frames take no wire time
    port.set_link(True)
    port.send(bytes(64))
    eng.run()
    assert port.frames_sent == 1 and seen[0][1:3] == (0, 672 * NS)


def test_link_lost_during_transmission_loses_that_frame():
    eng, port, seen = make_port()
    port.send(bytes(1518))
    port.send(bytes(64))

    def flap():
        yield eng.timeout(1 * US)
        port.set_link(False)

    eng.spawn(flap())
    eng.run()
    assert seen == [] and port.frames_sent == 0
    assert port.frames_dropped_link_down == 2
