"""``igbsim run``'s figures and verdict: exact goodput, the exit status and its wording, flat memory.

Expected values from first principles:

* the most TCP payload a 1500-byte MTU carries with timestamps: each frame
  is 1500 bytes of IP packet = 20 IP + 20 TCP + 12 timestamp option + 1448
  payload; on the wire it takes 1500 + 14 Ethernet header + 4 FCS + 8
  preamble/SFD + 12 inter-packet gap = 1538 byte times. So goodput is at
  most 1448/1538 of the link rate: 941.48 Mb/s at 1 Gb/s, 94.148 at 100,
  9.4148 at 10;
* the pcap-side goodput is computed here from the file's bytes (struct, no
  model code): the partner-bound TCP data frames, each one's highest stream
  offset reached and its departure time; the same 10%–90% byte marks; bytes
  between the marks over the time between the frames that reached them.
"""
from __future__ import annotations

import re
import struct

import pytest

from sim.assembly.system import IgbSystem
from sim.run import cli, scenarios
from sim.run.cli import parse_args
from sim.run.payload import StreamCheck
from sim.run.scenarios import MIN_WINDOW_DELIVERIES, Transfer, run_scenario

CEILING_1G = 1448 / 1538 * 1e9          # 941.48 Mb/s
HOST_IP, PARTNER_IP = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])


def run(*argv):
    return run_scenario(parse_args(["run", *argv]))


def pcap_goodput(path, total: int, at_end_of_slot: bool = False) -> float:
    """Goodput from the pcap's departure times over the 10%–90% byte window (see the module docstring).

    ``at_end_of_slot``: each frame's time moved to the end of its wire slot at 1 Gb/s, departure +
    (frame + 4 FCS + 8 preamble + 12 IPG) × 8 ns, the moment the partner has it (less 10 ns of cable)."""
    with open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack_from("<I", data, 0)
    assert magic == 0xA1B23C4D                      # nanosecond timestamps
    off, isn, reach = 24, None, []                  # reach: (time_ns, highest stream offset so far)
    high = 0
    while off < len(data):
        sec, nsec, caplen, _ = struct.unpack_from("<IIII", data, off)
        frame = data[off + 16:off + 16 + caplen]
        off += 16 + caplen
        if frame[12:14] != b"\x08\x00":
            continue
        ihl = (frame[14] & 0x0F) * 4
        ip_len, proto = struct.unpack_from("!H", frame, 16)[0], frame[23]
        if proto != 6 or frame[26:30] != HOST_IP or frame[30:34] != PARTNER_IP:
            continue
        tcp = 14 + ihl
        seq, = struct.unpack_from("!I", frame, tcp + 4)
        doff, flags = frame[tcp + 12] >> 4, frame[tcp + 13]
        if flags & 0x02:                             # the SYN-ACK: stream offset 0 is its seq + 1
            isn = (seq + 1) & 0xFFFF_FFFF
            continue
        payload = ip_len - ihl - doff * 4
        if payload <= 0:
            continue
        end = ((seq - isn) & 0xFFFF_FFFF) + payload
        if end > high:                               # new data (a retransmission reaches nothing new)
            high = end
            t = sec * 10**9 + nsec + (8 * (max(caplen, 60) + 24) if at_end_of_slot else 0)
            reach.append((t, high))
    assert high == total
    t10, b10 = next((t, b) for t, b in reach if 10 * b >= total)
    t90, b90 = next((t, b) for t, b in reach if 10 * b >= 9 * total)
    return (b90 - b10) * 8 / ((t90 - t10) / 1e9)


# --- 2: goodput -----------------------------------------------------------------------------------
def test_small_writes_goodput_is_under_the_ceiling_and_agrees_with_the_pcap(tmp_path):
    pcap = tmp_path / "sw.pcap"
    result, text = run("small-writes", "--pcap", str(pcap))
    assert result.ok and "exactly the bytes sent" in text
    g = result.goodput_bps
    assert 0 < g <= CEILING_1G, g
    from_pcap = pcap_goodput(pcap, 65536)
    assert from_pcap <= CEILING_1G * 1.0001, from_pcap   # ns-truncated stamps: a hair of slack
    assert abs(g - from_pcap) / from_pcap < 0.005, (g, from_pcap)
    # the rest is where a frame's time is taken: its first bit (pcap) or the end of its slot (partner).
    # Frames of different lengths at the window's ends move it by their slots' difference; measured at
    # the end of each slot, the pcap gives the partner's figure to the nanosecond stamps' precision
    assert g == pytest.approx(pcap_goodput(pcap, 65536, at_end_of_slot=True), rel=1e-5)
    assert result.goodput_deliveries >= MIN_WINDOW_DELIVERIES
    assert f"goodput: {g / 1e6:.2f} Mb/s" in text     # five significant digits: 9xx.xx


def test_article_goodput_is_under_the_ceiling_and_agrees_with_the_pcap(tmp_path):
    pcap = tmp_path / "a.pcap"
    result, _ = run("article", "--pcap", str(pcap))
    from_pcap = pcap_goodput(pcap, 1_000_000)
    assert result.goodput_bps <= CEILING_1G
    assert abs(result.goodput_bps - from_pcap) / from_pcap < 0.005, (result.goodput_bps, from_pcap)


@pytest.mark.parametrize("speed, shown", [(100, r"9\d\.\d{3}"), (10, r"9\.\d{4}")])
def test_slower_links_stay_under_their_ceiling_with_five_significant_digits(speed, shown):
    result, text = run("small-writes", "--speed", str(speed))
    assert 0 < result.goodput_bps <= 1448 / 1538 * speed * 1e6, result.goodput_bps
    assert re.search(rf"goodput: {shown} Mb/s", text), text.splitlines()[-1]


def test_a_window_of_too_few_deliveries_gives_no_figure():
    result, text = run("article", "--bytes", "20K")      # 15 segments: about 11 in the window
    assert result.goodput_bps == 0.0 and result.ok
    line = text.splitlines()[-1]
    assert line.startswith("goodput: n/a (") and f"fewer than {MIN_WINDOW_DELIVERIES}" in line, line


def test_the_window_runs_between_the_deliveries_that_reach_10_and_90_percent():
    """1000 bytes in 100 deliveries of 10, one every 1 µs from t=1 µs: 10% (100 bytes) is reached by the
    10th at 10 µs, 90% by the 90th at 90 µs: 800 bytes in 80 µs = 80 Mb/s."""
    x = Transfer(1000)
    for k in range(1, 101):
        x.on_data(bytes(10), k * 1_000_000)
    assert x.window() == (10_000_000, 100, 90_000_000, 900)
    g, why = x.goodput()
    assert g == pytest.approx(800 * 8 / 80e-6) and why == ""
    y = Transfer(1000)                                   # 10 deliveries of 100: 8 in the window
    for k in range(1, 11):
        y.on_data(bytes(100), k * 1_000_000)
    g, why = y.goodput()
    assert g is None and "8 deliveries" in why
    z = Transfer(1000)                                   # never reaches 90%
    z.on_data(bytes(500), 1)
    none, why = z.goodput()
    assert none is None and why.startswith("the 90% mark was not reached")


# --- 4: exit status and wording --------------------------------------------------------------------
class _Corrupting(StreamCheck):
    """Sees byte 4096 of the stream flipped, as if the wire had corrupted it."""

    def feed(self, data):
        pos = self.received
        if pos <= 4096 < pos + len(data):
            data = bytearray(data)
            data[4096 - pos] ^= 0xFF
        super().feed(bytes(data))


def test_a_corrupted_byte_fails_the_check_and_exits_1(monkeypatch, capsys):
    monkeypatch.setattr(scenarios, "StreamCheck", _Corrupting)
    assert cli.main(["run", "article", "--bytes", "100K", "--quiet"]) == 1
    out = capsys.readouterr().out
    assert ("delivery check: MISMATCH: the partner received 100000 of 100000 bytes; they differ from those sent "
            "at byte 4096") in out


def test_an_unfinished_transfer_is_a_correct_prefix_and_exits_1(monkeypatch, capsys):
    """Cut the run to 3 ms after start: 1 MB needs 8.5 ms of wire time, so it cannot finish."""
    original = IgbSystem.run_until

    def short(self, done, limit_ps, **kw):
        return original(self, done, self.engine.now + 3_000_000_000, **kw)

    monkeypatch.setattr(IgbSystem, "run_until", short)
    assert cli.main(["run", "article", "--quiet"]) == 1
    out = capsys.readouterr().out
    m = re.search(r"delivery check: the partner received (\d+) of 1000000 bytes, a correct prefix: "
                  r"the transfer did not finish", out)
    assert m and 0 < int(m.group(1)) < 1_000_000, out
    assert "goodput: n/a (" in out


def test_a_good_run_exits_0(capsys):
    assert cli.main(["run", "udp", "--bytes", "40K", "--quiet"]) == 0
    assert "exactly the bytes sent" in capsys.readouterr().out


# --- 5: O(1) state per frame --------------------------------------------------------------------------
def test_a_run_keeps_no_frame_log_no_stream_copy_and_streams_the_pcap(monkeypatch, tmp_path):
    systems = []

    class Spy(IgbSystem):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            systems.append(self)

    monkeypatch.setattr(scenarios, "IgbSystem", Spy)
    pcap = tmp_path / "b.pcap"
    result, _ = run("bulk", "--bytes", "3M", "--pcap", str(pcap))
    assert result.ok
    (s,) = systems
    assert s.wire.a_to_b == [] and s.wire.b_to_a == []          # counters only
    assert s.wire.frames_a_to_b > 2000
    conn = s.partner.connection(5001)
    assert conn.bytes_received == 3_000_000 and len(conn.data) == 0   # counted and checked, not kept
    assert s.engine.policy.picks == [] and s.engine.policy.whys == []   # no log of the seeded choices
    # the pcap went to disk as the run went: at most a reorder window was ever pending (13.1 ms: 1066
    # full-sized slots of 12.304 µs, plus an ACK for every second one, 533), and the file holds every
    # frame of both directions
    assert s.pcap.written == s.wire.frames_a_to_b + s.wire.frames_b_to_a
    assert s.pcap.max_pending <= 1066 + 533 + 20, s.pcap.max_pending


def test_udp_keeps_no_datagram(monkeypatch):
    systems = []

    class Spy(IgbSystem):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            systems.append(self)

    monkeypatch.setattr(scenarios, "IgbSystem", Spy)
    result, text = run("udp", "--bytes", "80K")
    assert result.ok and "20 of 20 delivered" in text
    assert systems[0].partner.udp_datagrams(9) == [] and systems[0].partner.received_bytes(9) == 80_000


@pytest.mark.parametrize("scenario", ["small-writes", "udp"])
def test_same_seed_same_pcap_and_report_with_the_streamed_payload(tmp_path, scenario):
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    _, text_a = run(scenario, "--bytes", "40K", "--seed", "7", "--pcap", str(a))
    _, text_b = run(scenario, "--bytes", "40K", "--seed", "7", "--pcap", str(b))
    assert a.read_bytes() == b.read_bytes()
    strip = lambda t: t.split("\n", 1)[1]  # noqa: E731  (the first line has the wall time)
    assert strip(text_a) == strip(text_b)
