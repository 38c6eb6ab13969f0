"""TCP open and close: passive and active handshakes, options, MSS, SYN retransmission, FIN.

Expected values: SYN-ACK MSS option = MTU 1500 − 40 = 1460; window scale 7;
the timestamp option echoes the peer's TSval; the SYN-ACK window is the
unscaled receive window 45 × 1448 = 65160 (what recent Linux shows); MSS
after the handshake = 1460 − 12 bytes of timestamp option = 1448, or 1460
without timestamps (stack_facts §0); initial RTO 1 s, doubling (§0, §11).
"""
import struct

import pytest

from sim.engine import MS, US
from stack import socket as so
from stack.core.jiffies import TICK_PS
from stack.ipv4.tcp_sock import TCP_TIMEOUT_INIT

from stack.ipv4.utils import in_aton

from tests.stack.harness import (HOST, PEER, PEER_PORT, PORT, Peer, establish, make_net,
                                               run_for, sender, task)


def _options(opts: bytes) -> dict:
    out, i = {}, 0
    while i < len(opts):
        kind = opts[i]
        if kind == 1:
            i += 1
            continue
        length = opts[i + 1]
        out[kind] = opts[i + 2:i + length]
        i += length
    return out


@pytest.mark.parametrize("version", ["recent", "3.10"])
def test_syn_ack_carries_mss_1460_wscale_and_timestamps(version):
    net, fake = make_net(version)
    sk, fd, synack, peer = establish(net, fake)
    opts = _options(synack.options)
    assert struct.unpack("!H", opts[2])[0] == 1460            # MSS = 1500 - 40
    assert opts[3] == bytes([7])                              # window scale
    tsval, tsecr = struct.unpack("!II", opts[8])
    assert tsecr == 5000                                      # the SYN's TSval echoed
    assert synack.flags == 0x12 and synack.ack == 1001        # SYN|ACK, peer ISN + 1
    assert synack.window == 45 * 1448                         # unscaled in a SYN
    assert synack.hdr_len == 40 and len(synack.options) == 20
    assert sk.state_name == "ESTABLISHED"
    assert (sk.inet_saddr == in_aton(HOST) and sk.inet_daddr == in_aton(PEER) and sk.inet_sport == PORT
            and sk.inet_dport == PEER_PORT)


def test_mss_is_1448_with_timestamps_and_1460_without():
    net, fake = make_net()
    sk, *_ = establish(net, fake)
    assert sk.mss_cache == 1448 and sk.tcp_header_len == 32
    net, fake = make_net()
    sk, fd, synack, peer = establish(net, fake, Peer(net, timestamps=False))
    assert 8 not in _options(synack.options)                  # no TS offered back
    assert sk.mss_cache == 1460 and sk.tcp_header_len == 20


def test_data_segments_carry_timestamps_and_the_scaled_window():
    net, fake = make_net()
    sk, fd, synack, peer = establish(net, fake)
    sender(net, fd, b"q" * 100)
    run_for(net, 100 * US)
    seg = fake.data()[0]
    opts = _options(seg.options)
    tsval, tsecr = struct.unpack("!II", opts[8])
    assert tsecr == peer.tsval
    assert seg.window == (45 * 1448) >> 7
    assert seg.hdr_len == 32


def test_accept_returns_the_child_and_the_listener_keeps_listening():
    net, fake = make_net()
    sk, fd, synack, peer = establish(net, fake)
    lsk = next(s for s in net.tcp.sockets if s.state_name == "LISTEN")
    assert sk is not lsk and sk.parent is None
    assert so.getpeername(net, fd) == (PEER, PEER_PORT)
    assert so.getsockname(net, fd) == (HOST, PORT)
    assert net.tcp.mib["PassiveOpens"] == 1


def test_first_rtt_sample_comes_from_the_syn_ack():
    net, fake = make_net()
    sk, *_ = establish(net, fake)
    # SYN-ACK sent ~10 µs after the SYN; the ACK came ~60 µs later
    assert 40 <= sk.srtt_us / 8 <= 80
    assert sk.icsk_rto == 51                                  # usecs_to_jiffies(srtt + 200 ms) at HZ=250


def _connect(net, fake, **kw):
    out = {}

    def client():
        fd = yield from so.socket(net, so.AF_INET, so.SOCK_STREAM)
        assert (yield from so.bind(net, fd, (HOST, 0))) == 0
        out["fd"] = fd
        return (yield from so.connect(net, fd, (PEER, 80)))

    proc = task(net, client(), comm="client")
    run_for(net, 10 * US)
    return proc, out


def test_active_open_is_symmetric():
    net, fake = make_net()
    proc, out = _connect(net, fake)
    syn = fake.sent[0]
    opts = _options(syn.options)
    assert syn.flags == 0x02 and struct.unpack("!H", opts[2])[0] == 1460 and opts[3] == bytes([7])
    assert struct.unpack("!II", opts[8])[1] == 0              # TSecr 0 in a SYN
    sk = so.sock_of(net, out["fd"]).sk
    assert sk.state_name == "SYN_SENT" and not proc.triggered
    peer = Peer(net, port=80, host_port=sk.inet_sport, seq=7000)
    peer.ts_echo = struct.unpack("!II", opts[8])[0]
    synack = peer.skb("SA", seq=7000, ack=(syn.seq + 1) & 0xFFFFFFFF, window=65535,
                      options=[("MSS", 1460), ("NOP", None), ("NOP", None), ("Timestamp", (900, peer.ts_echo)),
                               ("NOP", None), ("WScale", 7)])
    peer.deliver(synack)
    run_for(net, 10 * US)
    assert proc.triggered and proc.value == 0
    assert sk.state_name == "ESTABLISHED" and sk.mss_cache == 1448
    ack = fake.sent[-1]
    assert ack.flags == 0x10 and ack.ack == 7001 and ack.seq == (syn.seq + 1) & 0xFFFFFFFF
    assert net.tcp.mib["ActiveOpens"] == 1


def test_syn_is_retransmitted_after_1s_then_2s():
    net, fake = make_net(hold=False)
    proc, out = _connect(net, fake)
    sk = so.sock_of(net, out["fd"]).sk
    assert sk.icsk_rto == TCP_TIMEOUT_INIT
    t0 = fake.sent[0].time
    run_for(net, 3500 * MS)
    syns = [s for s in fake.sent if s.flags == 0x02]
    assert len(syns) == 3
    gaps = [syns[1].time - t0, syns[2].time - syns[1].time]
    # timers fire on jiffy ticks (4 ms at HZ=250); the first SYN left the CPU's transmit path
    # some microseconds after connect() armed the timer
    assert 1000 * MS - 50 * US <= gaps[0] <= 1000 * MS + TICK_PS
    assert 2000 * MS - TICK_PS <= gaps[1] <= 2000 * MS + TICK_PS
    assert all(s.seq == syns[0].seq for s in syns)
    assert syns[1].context == "softirq:TIMER"
    assert net.tcp.mib["TCPSynRetrans"] == 2


def test_close_sends_fin_after_queued_data_and_returns_at_once():
    net, fake = make_net(hold=False)
    sk, fd, synack, peer = establish(net, fake)
    data = b"d" * 5000

    def prog():
        n = yield from so.send(net, fd, data)
        r = yield from so.close(net, fd)
        return n, r

    proc = task(net, prog())
    run_for(net, 200 * US)
    assert proc.triggered and proc.value == (5000, 0)
    assert sk.state_name == "FIN_WAIT1"
    last = fake.sent[-1]
    assert last.flags & 0x01 and last.seq + last.len == (synack.seq + 1 + 5000) & 0xFFFFFFFF
    assert sum(s.len for s in fake.data()) == 5000
    peer.deliver(peer.ack(sk.snd_nxt))
    assert sk.state_name == "FIN_WAIT2"
    peer.deliver(peer.ack(sk.snd_nxt, fin=True))
    assert sk.state_name == "TIME_WAIT"
    assert fake.sent[-1].ack == peer.seq                      # their FIN ACKed


def test_passive_close_goes_close_wait_then_last_ack_then_closed():
    net, fake = make_net(hold=False)
    sk, fd, synack, peer = establish(net, fake)
    peer.deliver(peer.ack(sk.snd_nxt, fin=True))
    assert sk.state_name == "CLOSE_WAIT"

    def prog():
        data = yield from so.recv(net, fd, 100)
        yield from so.close(net, fd)
        return data

    proc = task(net, prog())
    run_for(net, 100 * US)
    assert proc.value == b""
    assert sk.state_name == "LAST_ACK" and fake.sent[-1].flags & 0x01
    peer.deliver(peer.ack(sk.snd_nxt))
    assert sk.state_name == "CLOSE"
    assert (HOST, PORT, PEER, PEER_PORT) not in net.tcp.ehash
