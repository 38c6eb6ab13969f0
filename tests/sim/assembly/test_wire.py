"""sim.assembly.wire: timing by arithmetic, FCS checks, logs and the pcap tap."""
import zlib
from decimal import Decimal

import pytest
from scapy.all import ARP, Ether, IP, UDP, rdpcap

from rtl_model.mac import MacPort
from sim.engine import Engine
from sim.assembly.pcap import PcapWriter
from sim.assembly.wire import Wire, fcs, frame_wire_time_ps

HOST, PEER = "02:00:00:00:00:01", "02:00:00:00:00:02"
NS = 1_000


def _udp_frame(payload_len: int, src=PEER, dst=HOST, sport=7) -> bytes:
    f = bytes(Ether(src=src, dst=dst) / IP(src="10.0.0.2", dst="10.0.0.1") / UDP(sport=sport, dport=9)
              / bytes(payload_len))
    return f


def _with_fcs(frame: bytes) -> bytes:
    return frame + (zlib.crc32(frame) & 0xFFFF_FFFF).to_bytes(4, "little")


def test_wire_time_from_first_principles():
    # (1514 + 4 FCS + 8 preamble/SFD + 12 IPG) bytes * 8 bit / 1 Gb/s = 12 304 ns
    assert frame_wire_time_ps(1514, 1000) == (1514 + 4 + 8 + 12) * 8 * 1000 == 12_304 * NS
    # a short frame is padded to 60 + 4: 84 bytes on the wire = 672 ns; at 100 Mb/s ten times that
    assert frame_wire_time_ps(42, 1000) == 672 * NS
    assert frame_wire_time_ps(42, 100) == 6_720 * NS
    assert fcs(b"123456789") == (0xCBF43926).to_bytes(4, "little")   # the CRC-32 check value


def test_b_to_a_back_to_back_1518_byte_frames():
    eng = Engine()
    got = []
    wire = Wire(eng, to_host=lambda f, t: got.append((eng.now, t, f)))
    assert wire.prop_delay_ps == 2 * 5 * NS   # 2 m at 5 ns/m
    frames = [_udp_frame(1472, sport=i) for i in range(5)]
    assert all(len(f) == 1514 for f in frames)   # 1518 with FCS
    arrivals = [wire.send_to_host(f) for f in frames]
    eng.run()
    slot = 12_304 * NS
    expect = [(k + 1) * slot + 10 * NS for k in range(5)]
    assert arrivals == expect
    assert [(now, t) for now, t, _ in got] == [(t, t) for t in expect]
    assert [f for _, _, f in got] == frames
    assert [(r.start_ps, r.end_ps) for r in wire.b_to_a] == [(k * slot, (k + 1) * slot) for k in range(5)]
    assert wire.frames_b_to_a == 5 and wire.bytes_b_to_a == 5 * 1518


def test_b_to_a_idle_wire_starts_now_and_pads_short_frames():
    eng = Engine()
    got = []
    wire = Wire(eng, length_m=100, to_host=lambda f, t: got.append((t, f)))
    arp = bytes(Ether(src=PEER, dst="ff:ff:ff:ff:ff:ff") / ARP(psrc="10.0.0.2", pdst="10.0.0.1"))
    assert len(arp) == 42
    eng.call_later(1_000 * NS, wire.send_to_host, arp)
    eng.call_later(50_000 * NS, wire.send_to_host, arp)   # wire long idle again
    eng.run()
    prop = 500 * NS   # 100 m
    assert [t for t, _ in got] == [1_000 * NS + 672 * NS + prop, 50_000 * NS + 672 * NS + prop]
    assert got[0][1] == arp + bytes(18)   # padded to 60, FCS stripped


def test_a_to_b_from_our_mac_with_fcs_check():
    eng = Engine()
    mac = MacPort(eng)
    got = []
    wire = Wire(eng, to_partner=lambda f, t: got.append((eng.now, t, f)))
    wire.attach_mac(mac)
    good = [_udp_frame(1472, src=HOST, dst=PEER, sport=i) for i in range(3)]
    bad = _with_fcs(good[1])[:-1] + b"\x00"
    mac.send(_with_fcs(good[0]))
    mac.send(bad)
    mac.send(_with_fcs(good[2]))
    eng.run()
    slot = 12_304 * NS
    # the MAC serialises back to back from t=0; delivery = end of slot + 10 ns
    assert [(r.start_ps, r.end_ps, r.fcs_ok) for r in wire.a_to_b] == \
        [(0, slot, True), (slot, 2 * slot, False), (2 * slot, 3 * slot, True)]
    assert wire.bad_fcs == 1
    assert got == [(slot + 10 * NS, slot + 10 * NS, good[0]), (3 * slot + 10 * NS, 3 * slot + 10 * NS, good[2])]
    assert wire.frames_a_to_b == 3 and wire.bytes_a_to_b == 3 * 1518


def test_attached_mac_sets_speed_and_link_for_b_to_a():
    eng = Engine()
    mac = MacPort(eng)
    got = []
    wire = Wire(eng, to_host=lambda f, t: got.append(t))
    wire.attach_mac(mac)
    mac.set_speed(100)
    wire.send_to_host(_udp_frame(1472))
    eng.run()
    assert got == [123_040 * NS + 10 * NS]
    mac.set_link(False)
    assert wire.send_to_host(_udp_frame(10)) is None
    eng.run()
    assert len(got) == 1 and wire.dropped_link_down == 1


def test_pcap_tap_sees_both_directions_in_time_order(tmp_path):
    eng = Engine()
    mac = MacPort(eng)
    pcap = PcapWriter(tmp_path / "w.pcap")
    wire = Wire(eng, pcap=pcap, to_partner=lambda f, t: None, to_host=lambda f, t: None)
    wire.attach_mac(mac)
    a = [_udp_frame(1000, src=HOST, dst=PEER, sport=i) for i in range(2)]
    b = _udp_frame(100, sport=99)
    for f in a:
        mac.send(_with_fcs(f))
    eng.call_later(5_000 * NS, wire.send_to_host, b)   # B->A while A->B's first frame is on the wire
    eng.run()
    pcap.close()
    pkts = rdpcap(str(tmp_path / "w.pcap"))
    slot_a = (1042 + 24) * 8 * NS
    assert [bytes(p) for p in pkts] == [a[0], b, a[1]]
    assert [p.time for p in pkts] == [Decimal(0), Decimal(5_000) / 10**9, Decimal(slot_a // NS) / 10**9]


def test_bad_arguments():
    eng = Engine()
    with pytest.raises(ValueError):
        Wire(eng, pcap_at="never")
    with pytest.raises(ValueError):
        Wire(eng, speed_mbps=0)
    with pytest.raises(ValueError):
        Wire(eng).send_to_host(b"short")


def test_without_a_log_the_wire_keeps_counters_only():
    """keep_log=False (what ``igbsim run`` uses): no WireFrame is kept in either direction, the counters
    and the last delivery times still follow every frame: 3 A→B slots of 12.304 µs, delivered at the
    end of each + 10 ns; one B→A 84-byte slot (672 ns) from 50 µs."""
    eng = Engine()
    mac = MacPort(eng)
    wire = Wire(eng, keep_log=False, to_partner=lambda f, t: None, to_host=lambda f, t: None)
    wire.attach_mac(mac)
    for i in range(3):
        mac.send(_with_fcs(_udp_frame(1472, src=HOST, dst=PEER, sport=i)))
    eng.call_later(50_000 * NS, wire.send_to_host, _udp_frame(10))
    eng.run()
    assert wire.a_to_b == [] and wire.b_to_a == []
    assert (wire.frames_a_to_b, wire.bytes_a_to_b, wire.frames_b_to_a, wire.bytes_b_to_a) == (3, 3 * 1518, 1, 64)
    assert wire.last_arrive_a_to_b_ps == 3 * 12_304 * NS + 10 * NS
    assert wire.last_arrive_b_to_a_ps == 50_000 * NS + 672 * NS + 10 * NS
