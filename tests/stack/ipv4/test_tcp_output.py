"""TCP send path: tcp_sendmsg, tcp_write_xmit, tcp_transmit_skb, TSQ (stack_facts §2–§4, §9.4, §12).

Expected values:
* IW10 first flight (§3 worked example, MSS 1448): recent — cwnd quota
  min(10/2, 10) = 5, so two 5-segment TSO skbs of 7240 bytes; 3.10 —
  quota 10, one 14480-byte skb; then nothing until an ACK.
* size goal: GSO max 65536 − 1 − MAX_TCP_HEADER (recent) / − 20 − 32
  (3.10), bounded to half the peer's largest window, rounded down to whole
  MSS → 45 × 1448 = 65160 once the window is large; with a 40000-byte
  window: 20000 // 1448 = 13 segments.
* one payload copy: every byte the application sends is copied exactly once
  (``copy_from_user_bytes`` = bytes sent), and the wire bytes equal the data.
* Nagle/Minshall: a second small segment waits while the first is unACKed,
  unless TCP_NODELAY.
* TSQ (recent): limit = min(max(2 × truesize, pacing_rate >> 10),
  tcp_limit_output_bytes); 3.10: sk_wmem_alloc ≥ tcp_limit_output_bytes.
* checksum: CHECKSUM_PARTIAL, csum_start at the TCP header, csum_offset 16,
  the pseudo-header seed over the full L4 length — as ``sim.assembly.skbs.make_skb``
  builds it for the same frame.
"""
import struct

import pytest
from scapy.layers.inet import IP
from scapy.layers.l2 import Ether

from sim.engine import MS, US
from sim.assembly.skbs import make_skb
from stack import socket as so
from stack.core.skbuff import CHECKSUM_PARTIAL, SKB_GSO_TCPV4, consume_skb
from stack.ipv4.tcp_sock import SOL_TCP, TCP_NODELAY, tcp_packets_in_flight
from stack.ipv4.tcp_output import tcp_tsq_limit

from tests.stack.harness import HOST, PEER, establish, make_net, run_for, sender, task

DATA = bytes((i * 31 + 7) & 0xFF for i in range(1 << 20))


def _rel(synack, seq):
    return (seq - synack.seq - 1) & 0xFFFFFFFF


def test_iw10_recent_two_5_segment_tso_skbs():
    net, fake = make_net("recent")
    sk, fd, synack, peer = establish(net, fake)
    sender(net, fd, DATA[:65536])
    run_for(net, 200 * US)
    data = fake.data()
    assert [(_rel(synack, s.seq), s.len, s.segs) for s in data] == [(0, 7240, 5), (7240, 7240, 5)]
    assert all(s.gso_size == 1448 for s in data)
    assert sk.packets_out == 10 and tcp_packets_in_flight(sk) == sk.snd_cwnd == 10
    fake.complete()
    run_for(net, 1 * MS)
    assert len(fake.data()) == 2                              # cwnd-limited until an ACK
    assert net.tcp.xmit_stop.get("cwnd", 0) >= 1


def test_iw10_310_one_14480_byte_skb():
    net, fake = make_net("3.10")
    sk, fd, synack, peer = establish(net, fake)
    sender(net, fd, DATA[:65536])
    run_for(net, 200 * US)
    data = fake.data()
    assert [(_rel(synack, s.seq), s.len, s.segs) for s in data] == [(0, 14480, 10)]
    assert sk.packets_out == 10


def test_recent_psh_forced_on_gso_skbs_310_only_at_the_push():
    net, fake = make_net("recent")
    sk, fd, synack, peer = establish(net, fake)
    sender(net, fd, DATA[:65536])
    run_for(net, 200 * US)
    assert all(s.flags & 0x08 for s in fake.data())
    net, fake = make_net("3.10")
    sk, fd, synack, peer = establish(net, fake)
    sender(net, fd, DATA[:65536])
    run_for(net, 200 * US)
    assert not fake.data()[0].flags & 0x08


@pytest.mark.parametrize("version", ["recent", "3.10"])
def test_size_goal_is_45_mss_with_a_large_window(version):
    net, fake = make_net(version)
    sk, fd, synack, peer = establish(net, fake, window=3000)  # 3000 << 7 = 384000 bytes
    sender(net, fd, DATA[:200_000])
    run_for(net, 300 * US)
    assert sk.size_goal == 45 * 1448 == 65160
    # the unsent rest of the first skb was topped up to size_goal, then new skbs until sndbuf was full
    lens = [s.len for s in sk.sk_write_queue]
    assert lens and all(n == 65160 for n in lens)
    total = sum(s.len for s in list(sk.tcp_rtx_queue) + list(sk.sk_write_queue))
    assert total == sk.copied_from_user == 14480 + 65160 * len(lens)


def test_size_goal_is_bounded_by_half_the_largest_window():
    net, fake = make_net()
    sk, fd, synack, peer = establish(net, fake, window=40000 >> 7, syn_window=20000)
    assert sk.snd_wnd == (40000 >> 7) << 7
    sender(net, fd, DATA[:5000])
    run_for(net, 100 * US)
    assert sk.max_window == 39936
    assert sk.size_goal == (39936 // 2) // 1448 * 1448 == 13 * 1448


@pytest.mark.parametrize("version", ["recent", "3.10"])
def test_exactly_one_copy_per_payload_byte(version):
    net, fake = make_net(version, hold=False)
    sk, fd, synack, peer = establish(net, fake, window=0xFFFF)
    n = 300_000
    proc = sender(net, fd, DATA[:n])
    for _ in range(400):
        run_for(net, 50 * US)
        if sk.snd_una == sk.write_seq and proc.triggered:
            break
        peer.deliver(peer.ack(sk.snd_nxt, window=0xFFFF))
    assert proc.triggered and proc.value == n
    assert net.tcp.mib["copy_from_user_bytes"] == n == sk.copied_from_user
    assert net.tcp.mib.get("pskb_copies", 0) == 0
    wire = b"".join(s.payload for s in sorted(fake.data(), key=lambda s: _rel(synack, s.seq)))
    assert wire == DATA[:n]
    assert sk.bytes_acked == n
    if version == "recent":
        assert net.tcp.mib.get("tcp_fragment_copy_bytes", 0) == 0   # all payload in frags: splits move frags
    assert sk.sk_wmem_queued == 0 and sk.sk_wmem_alloc == 0
    # only the socket's page-frag page is left
    assert len(net.skb.pages) <= 1 and not net.skb.live


def test_recent_skb_is_headers_only_linear_310_has_a_linear_head():
    net, fake = make_net("recent")
    sk, fd, synack, peer = establish(net, fake)
    sender(net, fd, DATA[:3000])
    run_for(net, 100 * US)
    skb = sk.tcp_rtx_queue[0]
    assert skb.len - skb.data_len == 0 and skb.data_len == 3000
    net, fake = make_net("3.10")
    sk, fd, synack, peer = establish(net, fake)
    sender(net, fd, DATA[:3000])
    run_for(net, 100 * US)
    skb = sk.tcp_rtx_queue[0]
    # 3.10 sends whole segments from the tail: 2 × 1448 here, linear head 1424 bytes, the rest in a frag
    assert skb.len == 2896 and skb.len - skb.data_len == 2048 - 304 - 320 == 1424


def _two_small_sends(nodelay: bool):
    net, fake = make_net(hold=False)      # freed at once: autocork plays no part
    sk, fd, synack, peer = establish(net, fake)

    def prog():
        if nodelay:
            yield from so.setsockopt(net, fd, SOL_TCP, TCP_NODELAY, 1)
        yield from so.send(net, fd, b"a" * 100)
        yield from so.send(net, fd, b"b" * 100)

    task(net, prog())
    run_for(net, 200 * US)
    return net, fake, sk, peer


def test_nagle_holds_a_small_tail_until_the_ack():
    net, fake, sk, peer = _two_small_sends(nodelay=False)
    assert [s.payload[:1] for s in fake.data()] == [b"a"]
    assert net.tcp.xmit_stop.get("nagle", 0) >= 1
    peer.deliver(peer.ack(sk.snd_una + 100))
    assert [s.payload[:1] for s in fake.data()] == [b"a", b"b"]
    assert fake.data()[1].context == "softirq:NET_RX"        # sent from ACK processing


def test_tcp_nodelay_sends_the_small_tail_at_once():
    net, fake, sk, peer = _two_small_sends(nodelay=True)
    assert [s.payload[:1] for s in fake.data()] == [b"a", b"b"]
    assert all(s.context.startswith("task:") for s in fake.data())


def test_recent_autocork_holds_a_small_write_while_a_packet_is_in_the_nic():
    net, fake = make_net()
    sk, fd, synack, peer = establish(net, fake)

    def prog():
        yield from so.setsockopt(net, fd, SOL_TCP, TCP_NODELAY, 1)
        yield from so.send(net, fd, b"a" * 100)
        yield from so.send(net, fd, b"b" * 100)

    task(net, prog())
    run_for(net, 200 * US)
    assert len(fake.data()) == 1 and net.tcp.mib["TCPAutoCorking"] == 1
    fake.complete()                                           # TX completion: tcp_wfree -> TSQ tasklet
    run_for(net, 100 * US)
    assert [s.payload[:1] for s in fake.data()] == [b"a", b"b"]
    assert fake.data()[1].context == "softirq:TASKLET"


def test_recent_tsq_limit_formula():
    net, fake = make_net()
    sk, fd, synack, peer = establish(net, fake)
    sender(net, fd, DATA[:65536])
    run_for(net, 100 * US)
    skb = sk.sk_write_queue[0] if sk.sk_write_queue else sk.tcp_rtx_queue[0]
    expect = min(max(2 * skb.truesize, sk.sk_pacing_rate >> 10), 4 << 20)
    assert tcp_tsq_limit(sk, skb) == expect
    assert net.tcp.tcp_limit_output_bytes == 4 << 20


@pytest.mark.parametrize("version", ["recent", "3.10"])
def test_tsq_throttles_and_the_tx_completion_restarts_in_tasklet_context(version):
    net, fake = make_net(version)
    net.tcp.tcp_limit_output_bytes = 20_000
    sk, fd, synack, peer = establish(net, fake, window=3000)
    sk.snd_cwnd = 200                                         # cwnd out of the way
    sk.sk_sndbuf = 1 << 20
    sender(net, fd, DATA[:400_000])
    run_for(net, 300 * US)
    sent = len(fake.data())
    assert net.tcp.mib["tsq_throttled"] >= 1 and net.tcp.xmit_stop.get("tsq", 0) >= 1
    assert sk.sk_tsq_flags & 1                                # TSQ_THROTTLED
    held_bytes = sk.sk_wmem_alloc
    assert held_bytes + 1 >= 20_000                           # refcount (bytes + 1) over the limit
    assert len(fake.held) >= (1 if version == "3.10" else 2)
    assert tcp_packets_in_flight(sk) < sk.snd_cwnd            # not cwnd that stopped it
    if version == "recent":                                   # two 64 KB frames held
        fake.complete(1)                                      # one clone freed: still over the limit
        run_for(net, 100 * US)
        assert len(fake.data()) == sent and net.tcp.mib["tsq_restarts"] == 1
        assert sk.sk_tsq_flags & 1                            # throttled again
    fake.complete()                                           # the rest freed in NET_RX (igb TX clean)
    run_for(net, 100 * US)
    after = fake.data()[sent:]
    assert after and all(s.context == "softirq:TASKLET" for s in after)
    assert net.tcp.mib["tsq_restarts"] >= 1
    assert net.softirq.count(6) >= 1                          # TASKLET_SOFTIRQ ran


def test_send_blocks_when_sndbuf_is_full_and_wakes_on_acks():
    net, fake = make_net(hold=False)
    sk, fd, synack, peer = establish(net, fake, window=0xFFFF)

    def prog():
        yield from so.setsockopt(net, fd, so.SOL_SOCKET, so.SO_SNDBUF, 8192)
        return (yield from so.send(net, fd, DATA[:100_000]))

    proc = task(net, prog())
    run_for(net, 500 * US)
    assert sk.sk_sndbuf == 16384                              # SO_SNDBUF is doubled and locked
    assert not proc.triggered
    assert net.tcp.mib["sk_stream_wait_memory"] >= 1
    assert sk.sk_wmem_queued >= sk.sk_sndbuf - 65160          # the last skb may overshoot
    copied_before = sk.copied_from_user
    wakes = 0
    for _ in range(200):
        if proc.triggered:
            break
        peer.deliver(peer.ack(sk.snd_nxt, window=0xFFFF))
        run_for(net, 50 * US)
        wakes = net.tcp.mib.get("write_space_wakeups", 0)
    assert proc.triggered and proc.value == 100_000
    assert wakes >= 1 and sk.copied_from_user > copied_before
    assert sk.sk_sndbuf == 16384                              # locked: no autotuning


def test_sndbuf_grows_from_the_initial_16k_without_so_sndbuf():
    net, fake = make_net()
    sk, *_ = establish(net, fake)
    # recent tcp_sndbuf_expand: 2 x 10 x (roundup_pow2(1460 + 320 + 320) + 256)
    assert sk.sk_sndbuf == 2 * 10 * (4096 + 256) == 87040


def _frame_of(rec, ip_id=1):
    """The Ethernet frame the driver would see for a captured TCP skb (IP header as IP would build it)."""
    tcp_bytes = bytes(rec.skb.mem.read(rec.skb.data, rec.hdr_len)) + rec.payload
    ip = IP(src=HOST, dst=PEER, id=ip_id, flags="DF", ttl=64, proto=6) / tcp_bytes
    return bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(bytes(ip)))


@pytest.mark.parametrize("version", ["recent", "3.10"])
def test_checksum_seed_and_gso_fields_match_make_skb(version):
    net, fake = make_net(version)
    sk, fd, synack, peer = establish(net, fake)
    sender(net, fd, DATA[:20_000])
    run_for(net, 200 * US)
    recs = [synack] + fake.data()
    assert any(r.gso_size for r in recs) and any(not r.gso_size for r in recs)
    for rec in recs:
        frame = _frame_of(rec)
        ref = make_skb(net, frame, gso_size=rec.gso_size if rec.gso_size else 0, csum=True, nr_frags=0)
        ref_check = struct.unpack_from("!H", ref.mem.read(ref.head + ref.transport_header + 16, 2))[0]
        assert rec.ip_summed == CHECKSUM_PARTIAL == ref.ip_summed
        assert rec.check == ref_check, (rec, hex(rec.check), hex(ref_check))
        assert rec.csum_start_rel == ref.csum_start - ref.transport_header == 0
        assert rec.csum_offset == ref.csum_offset == 16
        if rec.gso_size:
            assert (rec.gso_size, rec.gso_segs, rec.gso_type) == (ref.shinfo.gso_size, ref.shinfo.gso_segs,
                                                                  ref.shinfo.gso_type)
            assert rec.gso_type == SKB_GSO_TCPV4 and rec.gso_size == 1448
        else:
            assert ref.shinfo.gso_size == 0
        consume_skb(ref)


def test_clone_shares_the_payload_and_the_original_stays_until_acked():
    net, fake = make_net()
    sk, fd, synack, peer = establish(net, fake)
    sender(net, fd, DATA[:3000])
    run_for(net, 100 * US)
    rec = fake.data()[0]
    orig = sk.tcp_rtx_queue[0]
    assert rec.skb is not orig
    assert [f.page for f in rec.skb.shinfo.frags] == [f.page for f in orig.shinfo.frags]
    assert rec.skb.sk is sk and rec.skb.destructor is not None
    assert sk.sk_wmem_alloc == rec.truesize
    fake.complete()
    assert sk.sk_wmem_alloc == 0 and sk.tcp_rtx_queue[0] is orig   # the driver freed the clone only
    queued = sk.sk_wmem_queued
    peer.deliver(peer.ack(sk.snd_nxt))
    assert not sk.tcp_rtx_queue and sk.sk_wmem_queued == queued - orig.truesize == 0
    assert net.tcp.mib["fclone_clones"] >= 2


def test_net_xmit_cn_enters_cwr():
    net, fake = make_net()
    sk, fd, synack, peer = establish(net, fake)
    fake.rc = 2                                               # NET_XMIT_CN from the qdisc
    sender(net, fd, DATA[:3000])
    run_for(net, 100 * US)
    assert sk.icsk_ca_state == 2 and net.tcp.mib["TCPCWR"] == 1
    assert sk.snd_ssthresh == 5                               # half of cwnd 10
    assert sk.packets_out == 3                                # CN counts as sent


def test_cpu_time_of_the_send_is_task_context():
    net, fake = make_net()
    sk, fd, synack, peer = establish(net, fake)
    sender(net, fd, DATA[:100_000], comm="iperf")
    run_for(net, 500 * US)
    acct = net.host.cpus[0].account
    assert acct.get("task:iperf", 0) >= 100_000 * net.costs["copy_from_user"]
    assert net.fn_time["copy_from_user"] == 100_000 * net.costs["copy_from_user"]
    assert net.layer_stats["tcp"]["packets"] >= 10
