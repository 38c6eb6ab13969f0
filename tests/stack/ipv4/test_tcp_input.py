"""TCP ACK processing, congestion control, loss recovery, timers, receiving (stack_facts §11, §12).

Expected values:
* slow start, recent: +ACKed segments per ACK, so with an ACK every 2nd
  segment cwnd doubles per RTT (10 → 20 → 40 → 80); 3.10: +1 per ACK, so
  cwnd grows by the number of ACKs (10 → 15 → ...).
* congestion avoidance (cwnd ≥ ssthresh): recent +1 per cwnd ACKed segments
  = +1 per RTT; 3.10 +1 per cwnd ACKs.
* RTT: the first sample R gives srtt = R, rttvar = max(2R, 200 ms), RTO =
  usecs_to_jiffies(R + rttvar) (RFC 6298 with Linux's 200 ms floor).
* fast retransmit on the 3rd duplicate ACK: the segment at snd_una, one MSS;
  ssthresh = max(FlightSize/2, 2), cwnd = ssthresh; a full ACK ends recovery.
* RTO: after the RTO with no ACK, the head segment again, cwnd 1,
  ssthresh = max(FlightSize/2, 2); the next RTO twice as long.
"""
import pytest

from sim.engine import MS, US
from stack import socket as so
from stack.core.jiffies import TICK_PS, usecs_to_jiffies
from stack.ipv4.tcp_sock import TCP_CA_Loss, TCP_CA_Open, TCP_CA_Recovery, after, before

from tests.stack.harness import establish, make_net, run_for, sender, task

MSS = 1448
DATA = bytes((i * 7 + 3) & 0xFF for i in range(8 << 20))


def _bulk(version="recent", hold=False, ssthresh=None, window=0xFFFF):
    net, fake = make_net(version, hold=hold)
    sk, fd, synack, peer = establish(net, fake, window=window)
    sk.sk_sndbuf = 4 << 20
    if ssthresh is not None:
        sk.snd_ssthresh = ssthresh
    proc = sender(net, fd, DATA)
    run_for(net, 2 * MS)
    return net, fake, sk, peer, synack, proc


def _ack_round(net, fake, sk, peer, acked_upto, every=2):
    """The peer ACKs every ``every``-th segment of everything sent past ``acked_upto``."""
    flight = [s for s in fake.data() if after((s.seq + s.len) & 0xFFFFFFFF, acked_upto)]
    end = (flight[-1].seq + flight[-1].len) & 0xFFFFFFFF
    seq, nacks = acked_upto, 0
    while before(seq, end):
        nxt = (seq + every * MSS) & 0xFFFFFFFF
        seq = nxt if before(nxt, end) else end
        peer.deliver(peer.ack(seq, window=0xFFFF))
        nacks += 1
    run_for(net, 100 * US)
    return end, nacks, sum(s.segs for s in flight)


def test_slow_start_doubles_cwnd_per_rtt_recent():
    net, fake, sk, peer, synack, proc = _bulk("recent")
    acked = sk.snd_una
    cwnds, sent = [sk.snd_cwnd], []
    for _ in range(4):
        acked, nacks, segs = _ack_round(net, fake, sk, peer, acked)
        sent.append(segs)
        cwnds.append(sk.snd_cwnd)
    assert cwnds == [10, 20, 40, 80, 160]
    assert sent == [10, 20, 40, 80]                           # each round is a full cwnd
    assert sk.icsk_ca_state == TCP_CA_Open


def test_slow_start_310_adds_one_per_ack():
    net, fake, sk, peer, synack, proc = _bulk("3.10")
    acked = sk.snd_una
    for _ in range(3):
        before_cwnd = sk.snd_cwnd
        acked, nacks, segs = _ack_round(net, fake, sk, peer, acked)
        assert sk.snd_cwnd == before_cwnd + nacks
    assert sk.snd_cwnd > 20


@pytest.mark.parametrize("version", ["recent", "3.10"])
def test_congestion_avoidance(version):
    net, fake, sk, peer, synack, proc = _bulk(version, ssthresh=5)
    acked = sk.snd_una
    total_acks = 0
    cwnds = [sk.snd_cwnd]
    for _ in range(4):
        acked, nacks, segs = _ack_round(net, fake, sk, peer, acked)
        total_acks += nacks
        cwnds.append(sk.snd_cwnd)
    if version == "recent":
        assert cwnds == [10, 11, 12, 13, 14]                  # +1 per RTT
    else:
        assert cwnds[-1] == 10 + total_acks // 11 or cwnds[-1] - 10 <= total_acks // 10
        assert cwnds[-1] - cwnds[0] <= 2                      # +1 per cwnd of ACKs: about 1 per 2 RTTs


def test_cwnd_does_not_grow_when_not_cwnd_limited():
    net, fake = make_net(hold=False)
    sk, fd, synack, peer = establish(net, fake)
    for _ in range(5):
        sender(net, fd, DATA[:2 * MSS])
        run_for(net, 100 * US)
        peer.deliver(peer.ack(sk.snd_nxt))
        run_for(net, 100 * US)
    assert sk.snd_cwnd == 10                                  # 2 of 10 used: application-limited


def test_rtt_estimator_first_sample_and_rto():
    net, fake = make_net(hold=False)
    sk, fd, synack, peer = establish(net, fake)
    sk.srtt_us = 0                                            # forget the handshake sample
    sender(net, fd, DATA[:MSS])
    run_for(net, 10 * US)
    t_sent = fake.data()[0].time
    run_for(net, t_sent + 30 * MS - net.engine.now)
    peer.deliver(peer.ack(sk.snd_nxt))
    r_us = (net.engine.now - t_sent) // US
    assert abs(sk.srtt_us / 8 - r_us) <= 1
    assert sk.rttvar_us == 200_000                            # max(2R, 200 ms)
    assert sk.icsk_rto == usecs_to_jiffies(sk.srtt_us // 8 + 200_000)


def test_second_sample_smooths_by_one_eighth():
    net, fake = make_net(hold=False)
    sk, fd, synack, peer = establish(net, fake)
    first = sk.srtt_us
    sender(net, fd, DATA[:MSS])
    run_for(net, 10 * US)
    t_sent = fake.data()[0].time
    run_for(net, t_sent + 8 * MS - net.engine.now)
    peer.deliver(peer.ack(sk.snd_nxt))
    m = (net.engine.now - t_sent) // US
    # srtt += (m - srtt) / 8, in the ×8 scale. TCP stamps the segment before the IP, qdisc and
    # device path's CPU time, so its sample is up to 1 µs longer than m measured at the device.
    assert sk.srtt_us - (first + (m - (first >> 3))) in (0, 1)


def test_partial_ack_trims_the_tso_skb_without_copying():
    net, fake = make_net()
    sk, fd, synack, peer = establish(net, fake)
    sender(net, fd, DATA[:5 * MSS])
    run_for(net, 100 * US)
    fake.complete()
    head = sk.tcp_rtx_queue[0]
    assert head.cb.pcount == 5 and head.len == 5 * MSS
    queued = sk.sk_wmem_queued
    una = sk.snd_una
    peer.deliver(peer.ack((una + 3 * MSS) & 0xFFFFFFFF))
    assert sk.tcp_rtx_queue[0] is head and head.len == 2 * MSS and head.cb.pcount == 2
    assert head.cb.seq == (una + 3 * MSS) & 0xFFFFFFFF
    assert sk.sk_wmem_queued == queued - 3 * MSS and sk.packets_out == 2
    assert net.tcp.mib.get("tcp_fragment_copy_bytes", 0) == 0


def test_old_and_future_acks_are_ignored():
    net, fake = make_net(hold=False)
    sk, fd, synack, peer = establish(net, fake)
    sender(net, fd, DATA[:3 * MSS])
    run_for(net, 100 * US)
    una, nxt = sk.snd_una, sk.snd_nxt
    peer.deliver(peer.ack((nxt + 5000) & 0xFFFFFFFF))
    assert sk.snd_una == una and net.tcp.mib["TCPAckBeyondSndNxt"] == 1
    peer.deliver(peer.ack((una - 10) & 0xFFFFFFFF))
    assert sk.snd_una == una and sk.packets_out == 3


@pytest.mark.parametrize("version", ["recent", "3.10"])
def test_fast_retransmit_after_three_dupacks(version):
    net, fake, sk, peer, synack, proc = _bulk(version)
    acked = sk.snd_una
    acked, _, _ = _ack_round(net, fake, sk, peer, acked)      # cwnd 20 (recent) / 15 (3.10)
    run_for(net, 100 * US)
    una = sk.snd_una
    flight = sk.packets_out
    n = len(fake.sent)
    for i in range(3):
        peer.deliver(peer.ack(una, window=0xFFFF))
        if i < 2:
            assert sk.icsk_ca_state != TCP_CA_Recovery
    assert sk.icsk_ca_state == TCP_CA_Recovery
    new = [s for s in fake.sent[n:] if s.payload and s.seq != una]
    if version == "recent":                                   # exactly cwnd-limited before the dupacks
        assert sum(s.segs for s in new) == 2                  # limited transmit: 1 new segment per dupack
    rexmit = [s for s in fake.sent[n:] if s.payload and s.seq == una]
    assert len(rexmit) == 1 and rexmit[0].len == MSS
    assert sk.snd_ssthresh == max(flight // 2, 2) and sk.snd_cwnd == sk.snd_ssthresh
    assert net.tcp.mib["TCPFastRetrans"] == 1 and net.tcp.mib["RetransSegs"] == 1
    high = sk.high_seq
    # a partial ACK (NewReno) retransmits the next segment
    n = len(fake.sent)
    peer.deliver(peer.ack((una + MSS) & 0xFFFFFFFF, window=0xFFFF))
    part = [s for s in fake.sent[n:] if s.payload and s.seq == (una + MSS) & 0xFFFFFFFF]
    assert len(part) == 1 and part[0].len == MSS and sk.icsk_ca_state == TCP_CA_Recovery
    # the full ACK ends recovery with cwnd = ssthresh
    peer.deliver(peer.ack(high, window=0xFFFF))
    assert sk.icsk_ca_state == TCP_CA_Open and sk.snd_cwnd >= sk.snd_ssthresh


@pytest.mark.parametrize("version", ["recent", "3.10"])
def test_rto_retransmits_the_head_and_backs_off(version):
    net, fake = make_net(version, hold=False)
    sk, fd, synack, peer = establish(net, fake)
    sender(net, fd, DATA[:10 * MSS])
    run_for(net, 100 * US)
    rto = sk.icsk_rto
    assert rto == 51                                          # 200 ms + ~60 µs, in 4 ms jiffies
    first = fake.data()[0]
    flight = sk.packets_out
    run_for(net, 2 * rto * TICK_PS)
    rtx = [s for s in fake.data() if s.seq == first.seq and s is not first]
    assert len(rtx) == 1 and rtx[0].len == MSS and rtx[0].context == "softirq:TIMER"
    assert rto * TICK_PS - TICK_PS <= rtx[0].time - first.time <= rto * TICK_PS + TICK_PS
    assert sk.icsk_ca_state == TCP_CA_Loss and sk.snd_cwnd == 1
    assert sk.snd_ssthresh == max(flight // 2, 2) == 5
    assert sk.icsk_rto == 2 * rto and sk.icsk_backoff == 1
    run_for(net, 3 * rto * TICK_PS)
    rtx = [s for s in fake.data() if s.seq == first.seq and s is not first]
    assert len(rtx) == 2
    assert 2 * rto * TICK_PS - TICK_PS <= rtx[1].time - rtx[0].time <= 2 * rto * TICK_PS + TICK_PS
    assert sk.snd_ssthresh == 5                               # not halved again in the same episode
    # the ACK of the head restarts slow start from 1 and sends the rest as cwnd allows
    n = len(fake.sent)
    peer.deliver(peer.ack((first.seq + MSS) & 0xFFFFFFFF))
    assert sk.snd_cwnd == 2
    again = [s for s in fake.sent[n:] if s.payload]
    assert again[0].seq == (first.seq + MSS) & 0xFFFFFFFF and sum(s.segs for s in again) == 2
    # recent retransmits both as one 2-segment TSO frame, 3.10 one MSS at a time
    assert len(again) == (1 if version == "recent" else 2)
    assert net.tcp.mib["TCPTimeouts"] == 2


def test_recent_does_not_retransmit_while_the_first_clone_is_in_the_nic():
    net, fake = make_net(hold=True)
    sk, fd, synack, peer = establish(net, fake)
    sender(net, fd, DATA[:2 * MSS])
    run_for(net, 100 * US)
    run_for(net, 2 * sk.icsk_rto * TICK_PS)
    assert net.tcp.mib["TCPSpuriousRtxHostQueues"] >= 1
    assert len(fake.data()) == 1


def test_310_retransmits_a_pskb_copy_while_the_first_clone_is_in_the_nic():
    net, fake = make_net("3.10", hold=True)
    sk, fd, synack, peer = establish(net, fake)
    sender(net, fd, DATA[:MSS])        # one MSS: no split (a split would unclone the skb first)
    run_for(net, 100 * US)
    run_for(net, 2 * sk.icsk_rto * TICK_PS)
    assert net.tcp.mib["pskb_copies"] >= 1
    assert len(fake.data()) >= 2


def test_acks_arriving_while_the_task_owns_the_socket_go_to_the_backlog():
    net, fake = make_net(hold=False)
    sk, fd, synack, peer = establish(net, fake, window=0xFFFF)
    sk.sk_sndbuf = 4 << 20
    proc = sender(net, fd, DATA[:2 << 20])
    run_for(net, 5 * US)                                      # inside tcp_sendmsg, lock held
    assert sk.owned and not proc.triggered
    peer.deliver(peer.ack(sk.snd_nxt, window=0xFFFF))
    assert net.tcp.mib["backlog_queued"] == 1 and sk.sk_backlog
    run_for(net, 5 * MS)
    assert net.tcp.mib["backlog_processed"] >= 1 and not sk.sk_backlog


def test_in_order_data_is_received_and_acked_every_second_segment():
    net, fake = make_net(hold=False)
    sk, fd, synack, peer = establish(net, fake)
    n = len(fake.sent)
    peer.deliver(peer.ack(sk.snd_nxt, payload=b"x" * 1448))
    assert len(fake.sent) == n                                # one segment: the ACK may wait
    peer.deliver(peer.ack(sk.snd_nxt, payload=b"y" * 1448))
    assert len(fake.sent) == n + 1 and fake.sent[-1].ack == peer.seq
    peer.deliver(peer.ack(sk.snd_nxt, payload=b"z" * 100))
    run_for(net, 50 * MS)                                     # delayed ACK (40 ms)
    assert fake.sent[-1].ack == peer.seq and fake.sent[-1].context == "softirq:TIMER"
    out = {}

    def prog():
        out["d"] = yield from so.recv(net, fd, 10_000)

    task(net, prog())
    run_for(net, 100 * US)
    assert out["d"] == b"x" * 1448 + b"y" * 1448 + b"z" * 100


def test_out_of_order_data_is_dropped_with_a_duplicate_ack():
    net, fake = make_net(hold=False)
    sk, fd, synack, peer = establish(net, fake)
    expected = peer.seq
    n = len(fake.sent)
    peer.deliver(peer.skb("A", seq=(expected + 1448) & 0xFFFFFFFF, ack=sk.snd_nxt, payload=b"w" * 100))
    assert len(fake.sent) == n + 1 and fake.sent[-1].ack == expected
    assert not sk.sk_receive_queue and net.tcp.mib["TCPOFODrop"] == 1


def test_bad_checksum_is_dropped():
    net, fake = make_net(hold=False)
    sk, fd, synack, peer = establish(net, fake)
    skb = peer.ack(sk.snd_nxt, payload=b"v" * 10)
    last = skb.data + skb.len - 1
    with net.ctx.on_cpu(peer.rx_cpu, "softirq:NET_RX"):
        skb.mem.write(last, bytes([skb.mem.read(last, 1)[0] ^ 0xFF]))
    peer.deliver(skb)
    assert net.tcp.mib["InCsumErrors"] == 1 and not sk.sk_receive_queue


def test_ack_processing_is_softirq_time():
    net, fake = make_net(hold=False)
    sk, fd, synack, peer = establish(net, fake)
    sender(net, fd, DATA[:20 * MSS], comm="iperf")
    run_for(net, 100 * US)
    before = net.fn_ctx_time.get(("tcp_ack", "softirq:NET_RX"), 0)
    peer.deliver(peer.ack(sk.snd_nxt))
    assert net.fn_ctx_time[("tcp_ack", "softirq:NET_RX")] - before == net.costs["tcp_ack"]
    assert net.fn_time["tcp_ack"] >= net.costs["tcp_ack"]
