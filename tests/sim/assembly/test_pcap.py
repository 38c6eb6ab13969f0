"""sim.assembly.pcap: nanosecond pcap files that scapy reads back, byte for byte."""
import bisect
import random
import struct
from decimal import Decimal

import pytest

from scapy.all import Ether, IP, UDP, rdpcap

from sim.assembly.pcap import LINKTYPE_ETHERNET, PCAP_MAGIC_NS, SNAPLEN, PcapWriter


def _frame(i: int) -> bytes:
    return bytes(Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01") / IP(src="10.0.0.1", dst="10.0.0.2")
                 / UDP(sport=1000 + i, dport=9) / (bytes([i]) * (10 + i)))


def test_global_header_fields():
    w = PcapWriter()
    data = w.getvalue()
    assert len(data) == 24
    magic, major, minor, thiszone, sigfigs, snaplen, network = struct.unpack("<IHHiIII", data)
    assert magic == PCAP_MAGIC_NS == 0xA1B23C4D
    assert (major, minor) == (2, 4)
    assert (thiszone, sigfigs) == (0, 0)
    assert snaplen == SNAPLEN == 65535
    assert network == LINKTYPE_ETHERNET == 1
    assert data[:4] == b"\x4d\x3c\xb2\xa1"   # little-endian on disk


def test_scapy_reads_back_sorted_with_ns_timestamps(tmp_path):
    path = tmp_path / "t.pcap"
    # written out of order; times in ps with sub-ns parts that are truncated
    times = [3_000_000_123_456_789, 1_234_567, 2_500_000_000_999, 1_234_567]
    frames = [_frame(i) for i in range(4)]
    with PcapWriter(path) as w:
        for f, t in zip(frames, times):
            w.write(f, t)
    pkts = rdpcap(str(path))
    assert len(pkts) == 4
    order = [1, 3, 2, 0]   # by time, the tie (1, 3) in write order
    for p, i in zip(pkts, order):
        assert bytes(p) == frames[i]
        t_ns = times[i] // 1000
        assert p.time == Decimal(t_ns) / 10**9   # scapy keeps ns files' times as exact decimals
    assert pkts[0][UDP].sport == 1001
    # the record header, read by hand: seconds, nanoseconds, caplen, origlen
    data = path.read_bytes()
    off = 24
    for i in order:
        sec, nsec, cap, orig = struct.unpack_from("<IIII", data, off)
        t_ns = times[i] // 1000
        assert (sec, nsec) == (t_ns // 10**9, t_ns % 10**9)
        assert cap == orig == len(frames[i])
        off += 16 + cap
    assert off == len(data)


def test_deterministic_and_in_memory_equals_file(tmp_path):
    frames = [_frame(i) for i in range(5)]
    a, b = PcapWriter(tmp_path / "a.pcap"), PcapWriter()
    for w in (a, b):
        for i, f in enumerate(frames):
            w.write(f, (5 - i) * 1_000_000)
    a.close()
    assert (tmp_path / "a.pcap").read_bytes() == b.getvalue()
    c = PcapWriter()
    for i, f in enumerate(frames):
        c.write(f, (5 - i) * 1_000_000)
    assert c.getvalue() == b.getvalue()


def test_strip_fcs_and_snaplen():
    w = PcapWriter(strip_fcs=True, snaplen=64)
    f = _frame(90)
    w.write(f + b"\xde\xad\xbe\xef", 0)
    data = w.getvalue()
    sec, nsec, cap, orig = struct.unpack_from("<IIII", data, 24)
    assert (cap, orig) == (64, len(f))
    assert data[40:] == f[:64]
    assert w.records() == [(0, f)]


def test_a_streamed_file_equals_the_sorted_one_and_memory_holds_only_the_window(tmp_path):
    """Records written out of order by up to 1 ms, with flush_before(now - 1 ms) after each: the file is
    byte for byte the in-memory (fully sorted) one. A record still pending is stamped at or after
    now - 1 ms, so it was written within the last 1 ms: never more are held than were written in 1 ms."""
    rng = random.Random(4)
    streamed, whole = PcapWriter(tmp_path / "s.pcap"), PcapWriter()
    window = 1_000_000_000                          # 1 ms in ps
    now, write_times = 0, []
    for i in range(2000):
        now += rng.randrange(0, 20_000_000)         # up to 20 µs between writes
        t = max(0, now - rng.randrange(window))     # stamped up to 1 ms in the past
        f = _frame(i % 50)
        streamed.write(f, t)
        whole.write(f, t)
        write_times.append(now)
        streamed.flush_before(now - window)
    most_in_1ms = max(k + 1 - bisect.bisect_left(write_times, w - window) for k, w in enumerate(write_times))
    assert 0 < streamed.max_pending <= most_in_1ms < 2000, (streamed.max_pending, most_in_1ms)
    assert streamed.written + len(streamed.records()) == 2000
    streamed.close()
    assert streamed.written == 2000
    assert (tmp_path / "s.pcap").read_bytes() == whole.getvalue()


def test_a_write_before_what_was_flushed_is_refused(tmp_path):
    w = PcapWriter(tmp_path / "r.pcap")
    w.write(_frame(0), 5_000)
    w.flush_before(4_000)                           # nothing before 4 ns yet: nothing written
    assert w.written == 0
    w.flush_before(10_000)
    assert w.written == 1
    with pytest.raises(ValueError):
        w.write(_frame(1), 9_999)
    w.write(_frame(1), 10_000)
    w.close()
    assert len(rdpcap(str(tmp_path / "r.pcap"))) == 2
