"""The device layer: TX queue selection, validation, taps, netif_rx and the backlog NAPI, igb end to end.

Expected values come from stack_facts §7, §9.1, §10 and the kernel code
(net/core/dev.c) and RFC 1071 checksums, not from running the model:

* netdev_pick_tx: one real queue -> 0; else the socket's cached queue unless
  ooo_okay / none cached / out of range; then XPS for the current CPU, else
  reciprocal_scale(flow hash, real_num_tx_queues) = (hash × n) >> 32; the
  pick is cached on a socket with a route.
* validate_xmit_skb: CHECKSUM_PARTIAL on a device that cannot checksum the
  protocol -> skb_checksum_help: the L4 checksum is completed in software
  (the one's-complement sum over pseudo-header and segment is then 0xFFFF).
* netif_rx: per-CPU backlog of at most netdev_max_backlog (accepted while
  qlen <= 1000), drained by the backlog NAPI (weight 64) in NET_RX softirq
  context on the CPU that queued; a napi that uses its whole weight is
  polled again in the next NET_RX pass (net_rx_action re-raises).
* A paced sender's packets leave in its own context (bypass); NET_TX stays
  rare while NET_RX runs for every TX-completion interrupt (§10.2).
"""
import struct

import pytest

from sim.engine import MS, US
from sim.assembly.skbs import ETH_P_TEST, frame_seq, make_skb, numbered_frame
from stack.core.dev import (dev_queue_xmit, netdev_pick_tx, netif_rx,
                            reciprocal_scale, skb_get_hash)
from stack.core.netdevice import (NET_RX_DROP, NET_RX_SUCCESS, NET_XMIT_SUCCESS, NETIF_F_HW_VLAN_CTAG_TX,
                                  NETIF_F_IP_CSUM, NETIF_F_SG)
from stack.core.qdisc import mq, tc_qdisc_show
from stack.core.skbuff import (CHECKSUM_NONE, CHECKSUM_PARTIAL, ETH_P_IP, consume_skb, skb_clone,
                               skb_from_bytes, skb_to_bytes)
from stack.core.sock import sock
from stack.core.softirq import NET_RX_SOFTIRQ, NET_TX_SOFTIRQ

from tests.stack.harness import FakeDriver
from tests.oracle import ones_sum

L = 100  # frame size of the numbered test frames


def ipv4_frame(src, dst, sport, dport, proto=17, payload=b"hello, world"):
    """Ethernet + IPv4 + UDP/TCP, lengths consistent, checksums zero."""
    if proto == 17:
        l4 = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    else:
        l4 = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 0x50, 0x18, 65535, 0, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0x4000, 64, proto, 0, bytes(src), bytes(dst))
    return bytes.fromhex("020000000002020000000001") + struct.pack("!H", ETH_P_IP) + ip + l4


def sock_with_route(net, dst=True):
    """A socket whose cached route is a stand-in (the device layer only asks whether there is one)."""
    sk = sock(net)
    sk.sk_dst_cache = object() if dst else None
    return sk


def recorder(net, ntx=1, version="recent"):
    """The device layer for ``version`` and an opened fake device with ``ntx`` queues."""
    net.kernel_version = version
    r = FakeDriver(net, "fake0", ntx)
    r.open()
    return r


# --- queue selection --------------------------------------------------------------------------------
def test_a_net_core_has_its_device_layer_and_open_attaches_the_qdiscs(net):
    assert all(sd.backlog is not None and sd.backlog.weight == 64 for sd in net.softnet_data)
    assert net.noop_qdisc is not None
    r = recorder(net)
    assert r.dev.qdisc is not None and r.dev.qdisc is not net.noop_qdisc


def test_one_real_queue_is_always_queue_0(net):
    r = recorder(net, ntx=4)
    r.dev.real_num_tx_queues = 1
    sk = sock_with_route(net)
    sk.sk_tx_queue_mapping = 3
    with net.ctx.on_cpu(0, "task:app"):
        skb = skb_from_bytes(net.skb, numbered_frame(0, L))
        skb.sk, skb.hash = sk, 0xFFFF_FFFF
        assert netdev_pick_tx(r.dev, skb).index == 0 and skb.queue_mapping == 0


def test_flow_hash_scaled_onto_the_real_queues_and_cached_on_the_socket(net):
    r = recorder(net, ntx=8)
    r.dev.real_num_tx_queues = 4
    sk = sock_with_route(net)
    with net.ctx.on_cpu(0, "task:app"):
        def pick(h, ooo=False, sock=sk):
            skb = skb_from_bytes(net.skb, numbered_frame(0, L))
            skb.sk, skb.hash, skb.ooo_okay = sock, h, ooo
            q = netdev_pick_tx(r.dev, skb).index
            assert skb.queue_mapping == q
            skb.sk = None
            consume_skb(skb)
            return q
        assert reciprocal_scale(0x4000_0000, 4) == 1 and reciprocal_scale(0xC000_0000, 4) == 3
        assert pick(0x4000_0000) == 1 and sk.sk_tx_queue_mapping == 1
        assert pick(0xC000_0000) == 1                 # cached queue kept: no reordering
        assert pick(0xC000_0000, ooo=True) == 3       # nothing in flight: re-pick, re-cache
        assert sk.sk_tx_queue_mapping == 3
        sk.sk_tx_queue_mapping = 6                    # beyond real_num_tx_queues: re-pick
        assert pick(0x0000_0001) == 0 and sk.sk_tx_queue_mapping == 0
        no_route = sock_with_route(net, dst=False)
        assert pick(0xC000_0000, sock=no_route) == 3 and no_route.sk_tx_queue_mapping == -1
        assert pick(0x8000_0000, sock=None) == 2


def test_xps_map_of_the_current_cpu_wins_over_the_hash(net):
    r = recorder(net, ntx=4)
    r.dev.xps_cpus = {2: {0}, 3: {1}}
    picks = []
    for cpu in (0, 1):
        with net.ctx.on_cpu(cpu, "task:app"):
            skb = skb_from_bytes(net.skb, numbered_frame(0, L))
            skb.hash = 0x1
            picks.append(netdev_pick_tx(r.dev, skb).index)
            consume_skb(skb)
    assert picks == [2, 3]
    r.dev.xps_cpus = {0: {0}, 2: {0, 1}}  # two queues for CPU 0: the hash picks among [0, 2]
    with net.ctx.on_cpu(0, "task:app"):
        skb = skb_from_bytes(net.skb, numbered_frame(0, L))
        skb.hash = 0xC000_0000
        assert netdev_pick_tx(r.dev, skb).index == 2
        consume_skb(skb)


def test_ndo_select_queue_is_asked_and_capped(net):
    r = recorder(net, ntx=4)
    r.dev.ndo_select_queue = lambda dev, skb: 9
    with net.ctx.on_cpu(0, "task:app"):
        skb = skb_from_bytes(net.skb, numbered_frame(0, L))
        assert netdev_pick_tx(r.dev, skb).index == 0
        r.dev.ndo_select_queue = lambda dev, skb: 2
        assert netdev_pick_tx(r.dev, skb).index == 2
        consume_skb(skb)


def test_flow_hash_from_the_headers_is_reproducible_and_the_same_both_ways(net):
    recorder(net)
    a, b = [10, 0, 0, 1], [10, 0, 0, 2]
    with net.ctx.on_cpu(0, "task:app"):
        one = skb_from_bytes(net.skb, ipv4_frame(a, b, 1000, 80, proto=6))
        two = skb_from_bytes(net.skb, ipv4_frame(a, b, 1000, 80, proto=6))
        back = skb_from_bytes(net.skb, ipv4_frame(b, a, 80, 1000, proto=6))
        other = skb_from_bytes(net.skb, ipv4_frame(a, b, 1001, 80, proto=6))
        hashes = [skb_get_hash(s) for s in (one, two, back, other)]
    assert hashes[0] and hashes[0] == hashes[1] == hashes[2] and hashes[3] != hashes[0]
    assert one.hash == hashes[0]  # kept in skb->hash


def test_3_10_hashes_the_protocol_when_there_is_no_socket(net):
    r = recorder(net, ntx=8, version="3.10")
    picks = set()
    with net.ctx.on_cpu(0, "task:app"):
        for i in range(20):
            skb = skb_from_bytes(net.skb, ipv4_frame([10, 0, 0, 1], [10, 0, 1, i], 1000 + i, 80))
            skb.protocol = ETH_P_IP
            picks.add(netdev_pick_tx(r.dev, skb).index)
            consume_skb(skb)
    assert len(picks) == 1


# --- validation: software checksum ---------------------------------------------------------------
def _udp_ok(frame: bytes) -> bool:
    ip = frame[14:34]
    udp = frame[34:]
    pseudo = ip[12:20] + struct.pack("!BBH", 0, 17, len(udp))
    return ones_sum(pseudo + udp) == 0xFFFF


@pytest.mark.parametrize("version", ["recent", "3.10"])
def test_checksum_partial_is_completed_in_software_when_the_device_cannot(net, version):
    r = recorder(net, version=version)
    r.dev.features = NETIF_F_SG  # no checksum offload
    frame = ipv4_frame([10, 0, 0, 1], [10, 0, 0, 2], 5000, 53, payload=bytes(range(37)))
    with net.ctx.on_cpu(0, "task:app"):
        skb = make_skb(net, frame, csum=True, nr_frags=1)
        skb.dev = r.dev
        assert skb.ip_summed == CHECKSUM_PARTIAL and not _udp_ok(skb_to_bytes(skb))
        assert dev_queue_xmit(skb) == NET_XMIT_SUCCESS
    sent, summed = r.sent[0].data, r.sent[0].ip_summed
    assert summed == CHECKSUM_NONE and _udp_ok(sent)
    assert sent[:40] == frame[:40]  # everything but the checksum field as given


def test_a_device_that_offloads_gets_the_partial_checksum_untouched(net):
    r = recorder(net)
    r.dev.features = NETIF_F_SG | NETIF_F_IP_CSUM
    frame = ipv4_frame([10, 0, 0, 1], [10, 0, 0, 2], 5000, 53)
    with net.ctx.on_cpu(0, "task:app"):
        skb = make_skb(net, frame, csum=True)
        seeded = skb_to_bytes(skb)
        skb.dev = r.dev
        dev_queue_xmit(skb)
    assert r.sent[0].ip_summed == CHECKSUM_PARTIAL and r.sent[0].data == seeded


def test_software_checksum_on_a_clone_leaves_the_original_alone(net):
    r = recorder(net)
    r.dev.features = NETIF_F_SG
    frame = ipv4_frame([10, 0, 0, 1], [10, 0, 0, 2], 5000, 53)
    with net.ctx.on_cpu(0, "task:app"):
        original = make_skb(net, frame, csum=True)
        before = skb_to_bytes(original)
        clone = skb_clone(original)
        clone.dev = r.dev
        dev_queue_xmit(clone)
        assert skb_to_bytes(original) == before
        consume_skb(original)
    assert _udp_ok(r.sent[0].data)
    assert not net.skb.live


def test_offloads_the_model_cannot_do_in_software_are_refused_loudly(net):
    r = recorder(net)
    r.dev.features = NETIF_F_SG | NETIF_F_IP_CSUM | NETIF_F_HW_VLAN_CTAG_TX  # no TSO
    frame = ipv4_frame([10, 0, 0, 1], [10, 0, 0, 2], 5000, 80, proto=6, payload=bytes(3000))
    with net.ctx.on_cpu(0, "task:app"):
        skb = make_skb(net, frame, gso_size=1448)
        skb.dev = r.dev
        with pytest.raises(NotImplementedError, match="software GSO"):
            dev_queue_xmit(skb)


# --- taps -------------------------------------------------------------------------------------------
def test_taps_see_each_transmitted_and_received_frame_with_its_direction(net):
    r = recorder(net)
    seen = []
    r.dev.taps.append(lambda frame, direction, dev: seen.append((direction, frame, dev)))
    net.ptype[ETH_P_TEST] = lambda skb, dev: consume_skb(skb)
    with net.ctx.on_cpu(0, "task:app"):
        skb = skb_from_bytes(net.skb, numbered_frame(1, L))
        skb.dev = r.dev
        dev_queue_xmit(skb)
    with net.ctx.on_cpu(1, "hardirq:eth0"):
        skb = skb_from_bytes(net.skb, numbered_frame(2, L))
        skb.dev = r.dev
        netif_rx(skb)
    net.engine.run()
    assert seen == [("tx", numbered_frame(1, L), r.dev), ("rx", numbered_frame(2, L), r.dev)]


# --- receive: netif_rx, the backlog NAPI, netif_receive_skb ------------------------------------------
def test_netif_rx_is_delivered_by_the_backlog_napi_in_net_rx_context(net):
    r = recorder(net)
    got = []

    def handler(skb, dev):
        cpu = net.ctx.cpu
        number = struct.unpack(">I", skb_to_bytes(skb)[:4])[0]  # data is past the Ethernet header
        got.append((number, cpu.index, cpu.context, skb.protocol, skb.data - skb.head - skb.mac_header, dev))
        consume_skb(skb)

    net.ptype[ETH_P_TEST] = handler
    with net.ctx.on_cpu(1, "hardirq:eth0"):
        rcs = []
        for n in range(3):
            skb = skb_from_bytes(net.skb, numbered_frame(n, L))
            skb.dev = r.dev
            rcs.append(netif_rx(skb))
    assert rcs == [NET_RX_SUCCESS] * 3 and got == []  # nothing runs inside the interrupt
    net.engine.run()
    assert got == [(n, 1, "softirq:NET_RX", ETH_P_TEST, 14, r.dev) for n in range(3)]
    assert net.softirq.count(NET_RX_SOFTIRQ, 1) == 1 and net.softirq.count(NET_RX_SOFTIRQ, 0) == 0
    assert net.softnet_stat()[1]["processed"] == 3 and not net.skb.live


def test_a_full_backlog_drops_and_the_napi_works_64_per_poll(net):
    r = recorder(net)
    got = []
    net.ptype[ETH_P_TEST] = lambda skb, dev: (got.append(1), consume_skb(skb))
    with net.ctx.on_cpu(0, "task:app"):
        rcs = []
        for n in range(1002):
            skb = skb_from_bytes(net.skb, numbered_frame(n, L))
            skb.dev = r.dev
            rcs.append(netif_rx(skb))
    # accepted while the queue holds at most netdev_max_backlog (1000): 1001 fit, the 1002nd drops
    assert rcs == [NET_RX_SUCCESS] * 1001 + [NET_RX_DROP]
    assert net.softnet_stat()[0]["dropped"] == 1 and r.dev.stats.rx_dropped == 1
    net.engine.run()
    assert len(got) == 1001 and not net.skb.live
    # one backlog napi: each NET_RX pass polls it once (64), then re-raises: ceil(1001 / 64) passes
    assert net.softirq.count(NET_RX_SOFTIRQ, 0) == 16
    assert net.softnet_data[0].backlog.polls == 16


def test_no_handler_for_the_protocol_drops_and_counts(net):
    r = recorder(net)
    with net.ctx.on_cpu(0, "task:app"):
        skb = skb_from_bytes(net.skb, numbered_frame(0, L))
        skb.dev = r.dev
        netif_rx(skb)
    dropped = net.skb.dropped
    net.engine.run()
    assert r.dev.rx_nohandler == 1 and net.skb.dropped == dropped + 1 and not net.skb.live
    assert net.layer_stats["netif_receive_skb_nohandler"]["packets"] == 1


# --- igb end to end -------------------------------------------------------------------------------------
def _igb(system, version="recent"):
    s = system(kernel_version=version)
    s.run_for(100 * MS)  # the watchdog task brings the carrier up: linkwatch activates the qdiscs
    return s


def _sender(s, n, burst, gap_ps, rcs, size=1000):
    dev = s.netdev
    for i in range(n):
        skb = skb_from_bytes(s.net.skb, numbered_frame(i, size))
        skb.dev = dev
        rcs.append(dev_queue_xmit(skb))
        if gap_ps and (i + 1) % burst == 0:
            yield gap_ps
    return n


@pytest.mark.parametrize("version", ["recent", "3.10"])
def test_igb_paced_sender_1000_frames_in_order_net_tx_rare(system, version):
    s = _igb(system, version)
    assert isinstance(s.netdev.qdisc, mq)
    assert [n for n, _ in tc_qdisc_show(s.netdev)][:2] == ["mq", "pfifo_fast parent :1"]
    tx0, rx0 = s.net.softirq.count(NET_TX_SOFTIRQ), s.net.softirq.count(NET_RX_SOFTIRQ)
    rcs = []
    s.task(_sender(s, 1000, 4, 50 * US, rcs), cpu=0, comm="sender")
    s.run_for(50 * MS)
    seqs = [frame_seq(f) for f in s.frames()]
    assert seqs == list(range(1000))
    assert rcs == [NET_XMIT_SUCCESS] * 1000
    net_tx = s.net.softirq.count(NET_TX_SOFTIRQ) - tx0
    net_rx = s.net.softirq.count(NET_RX_SOFTIRQ) - rx0
    assert net_tx * 10 < net_rx
    st = s.netdev.qdisc.stats()
    assert st["packets"] == 1000 and st["drops"] == 0 and st["bypasses"] > 900
    s.close()
    s.remove()
    assert not s.leaks().items and not s.net.skb.live


@pytest.mark.parametrize("version", ["recent", "3.10"])
def test_igb_unpaced_burst_of_1000_waits_in_the_qdisc_and_all_arrive_in_order(system, version):
    s = _igb(system, version)
    rcs = []
    s.task(_sender(s, 1000, 1000, 0, rcs), cpu=0, comm="sender")
    s.run_for(50 * MS)
    assert [frame_seq(f) for f in s.frames()] == list(range(1000))
    assert rcs == [NET_XMIT_SUCCESS] * 1000
    st = s.netdev.qdisc.stats()
    # BQL starts at limit 0: after the first packet the rest queue (one is requeued) and NET_TX
    # (woken by BQL completions and the driver's queue wake) sends them.
    assert st["packets"] == 1000 and st["drops"] == 0 and st["enqueues"] >= 990 and st["requeues"] >= 1
    assert s.net.softirq.count(NET_TX_SOFTIRQ) > 0
    s.close()
    s.remove()
    assert not s.leaks().items and not s.net.skb.live


def test_igb_close_drops_what_the_qdisc_still_holds(system):
    s = _igb(system)
    rcs = []
    s.run_task(_sender(s, 1000, 1000, 0, rcs), cpu=0, comm="sender")
    held = s.netdev.qdisc.stats()["qlen"]
    assert held > 900
    dropped = s.net.skb.dropped
    s.close()
    seqs = [frame_seq(f) for f in s.frames()]
    assert seqs == list(range(len(seqs)))
    assert s.net.skb.dropped - dropped >= held and s.netdev.qdisc.stats()["qlen"] == 0
    assert all(t.qdisc is s.net.noop_qdisc for t in s.netdev._tx)
    s.remove()
    assert not s.leaks().items and not s.net.skb.live
