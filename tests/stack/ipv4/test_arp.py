"""Neighbour resolution over ARP: requests, queueing, replies, timers, failure, the queue's byte limit.

Expected behaviour from stack_facts §6 and §12: the first packet to an
unresolved next hop makes the entry INCOMPLETE, is queued, and one
broadcast who-has goes out at once; then one per retrans_time (1 s) until
ucast + app + mcast probes (3 + 0 + 3, starting from 3) are used: three
broadcasts at 0, 1, 2 s and FAILED at 3 s, where every queued packet is
freed with an ICMP host-unreachable to its socket. A unicast reply makes
the entry REACHABLE and its queue leaves in FIFO order from the NET_RX
softirq that processed the reply. The unresolved queue is limited in
bytes of truesize (212992 recent, 65536 in 3.10), dropping the oldest.
Frames are checked with scapy; received frames enter through a NAPI poll
in NET_RX softirq context, as the driver's RX clean would deliver them.
"""
from stack.core import errno
import struct

import pytest
from scapy.all import ARP, IP, Ether, Raw

from sim.engine import MS, S
from stack.ipv4.inet_sock import inet_sock
from stack.ipv4.utils import in_aton
from stack.ipv4.ip_output import ip_queue_xmit
from stack.core.jiffies import HZ
from stack.neighbour import (NUD_DELAY, NUD_FAILED, NUD_INCOMPLETE, NUD_PROBE, NUD_REACHABLE, NUD_STALE,
                             neigh_lookup)
from stack.ipv4.route import sk_dst_confirm
from stack.core.skbuff import alloc_skb, skb_put, skb_reset_transport_header, skb_to_bytes
from stack.ipv4.udp import udp_connect, udp_sendmsg, udp_sock

from tests.stack.ipv4.harness import MAC_A, MAC_B, MAC_GW, StackEnv



class Sock(inet_sock):
    sk_protocol = 253  # experimental protocol: the IP layer does not care

    def __init__(self, net, daddr="10.0.0.2"):
        super().__init__(net)
        self.inet_daddr = in_aton(daddr)
        self.reports = []
        self.sk_err_report = lambda sk: self.reports.append(sk.sk_err)


def send(env, sk, payload=b"data", size=None):
    """A packet from ``sk`` (data at the L4 header; ``size`` bytes of buffer for a larger truesize)."""
    skb = alloc_skb(env.net.skb, size or len(payload), 64)
    addr = skb_put(skb, len(payload))
    skb.mem.write(addr, payload)
    skb_reset_transport_header(skb)
    skb.sk = sk
    return env.task(ip_queue_xmit, sk, skb)


def reply(src_mac=MAC_B, src_ip="10.0.0.2", dst_mac=MAC_A):
    return Ether(dst=dst_mac, src=src_mac) / ARP(op=2, hwsrc=src_mac, psrc=src_ip, hwdst=MAC_A, pdst="10.0.0.1")


def arp_env(**kw):
    """The host with no neighbour known: every next hop resolves over ARP."""
    return StackEnv(neighbours=(), **kw)


@pytest.fixture
def env():
    return arp_env()


def test_first_packet_sends_one_broadcast_request_and_is_queued(env):
    sk = Sock(env.net)
    assert send(env, sk, b"first") == 0  # queued counts as sent
    assert len(env.wire) == 1
    frame = Ether(env.wire[0].data)
    assert frame.dst == "ff:ff:ff:ff:ff:ff" and frame.src == MAC_A and frame.type == 0x0806
    arp = frame[ARP]
    assert (arp.hwtype, arp.ptype, arp.hwlen, arp.plen, arp.op) == (1, 0x0800, 6, 4, 1)
    assert arp.hwsrc == MAC_A and arp.psrc == "10.0.0.1"
    assert arp.hwdst == "00:00:00:00:00:00" and arp.pdst == "10.0.0.2"
    assert env.wire[0].context == "task:app" and env.wire[0].time == 0
    n = neigh_lookup(env.tbl, in_aton("10.0.0.2"), env.dev)
    assert n.nud_state == NUD_INCOMPLETE and len(n.arp_queue) == 1
    # a second packet while INCOMPLETE is queued without another request
    send(env, sk, b"second")
    assert len(env.wire) == 1 and len(n.arp_queue) == 2


def test_reply_drains_the_queue_in_order_from_net_rx(env):
    sk = Sock(env.net)
    for i in range(3):
        send(env, sk, b"pkt%d" % i)
    env.run_for(10 * MS)
    env.rx(reply())
    n = neigh_lookup(env.tbl, in_aton("10.0.0.2"), env.dev)
    assert n.nud_state == NUD_REACHABLE and not n.arp_queue and n.ha == bytes.fromhex("020000000002")
    ips = env.ips()
    assert [bytes(Ether(f.data)[Raw].load) for f in ips] == [b"pkt0", b"pkt1", b"pkt2"]
    for f in ips:
        eth = Ether(f.data)
        assert eth.dst == MAC_B and eth.src == MAC_A
        assert f.context == "softirq:NET_RX"
    assert env.tbl.stats["drained"] == 3 and env.tbl.stats["resolve_output"] == 3
    # from now on: the hh-cache fast path, from the sender's context
    send(env, sk, b"later")
    assert env.wire[-1].context == "task:app" and Ether(env.wire[-1].data).dst == MAC_B
    assert env.tbl.stats["hh_output"] == 1
    assert len(env.arps()) == 1
    env.net.skb.assert_no_leaks()


def test_next_hop_of_a_gatewayed_route_is_the_gateway(env):
    sk = Sock(env.net, daddr="192.0.2.7")
    send(env, sk)
    arp = Ether(env.arps()[0].data)[ARP]
    assert arp.pdst == "10.0.0.254"
    env.rx(reply(MAC_GW, "10.0.0.254"))
    eth = Ether(env.ips()[0].data)
    assert eth.dst == MAC_GW and eth[IP].dst == "192.0.2.7"


def test_three_probes_one_second_apart_then_failed_with_error_reports(env):
    sk = Sock(env.net)
    for i in range(2):
        send(env, sk, b"lost%d" % i)
    env.run_until(5 * S)
    arps = env.arps()
    # a second apart: each probe leaves in the millisecond of its timer tick (the tick's interrupt,
    # the TIMER softirq and the ARP output path take microseconds of CPU time)
    assert [f.time // MS for f in arps] == [0, 1000, 2000]
    assert [f.context for f in arps] == ["task:app", "softirq:TIMER", "softirq:TIMER"]
    assert all(Ether(f.data).dst == "ff:ff:ff:ff:ff:ff" for f in arps)
    n = neigh_lookup(env.tbl, in_aton("10.0.0.2"), env.dev)
    assert n.nud_state == NUD_FAILED and not n.arp_queue
    assert env.tbl.stats["res_failed"] == 1 and env.tbl.stats["error_reports"] == 2
    assert env.net.skb.dropped == 2 and env.ips() == []
    # each queued skb: an ICMP host unreachable to its socket
    assert sk.reports == [errno.EHOSTUNREACH, errno.EHOSTUNREACH]
    assert env.net.mib["IcmpOutDestUnreachs"] == 2 and env.net.mib["IcmpInDestUnreachs"] == 2
    # a new packet restarts resolution with an immediate probe
    send(env, sk, b"again")
    assert len(env.arps()) == 4 and n.nud_state == NUD_INCOMPLETE


def test_failed_resolution_reaches_a_connected_udp_socket(env):
    sk = udp_sock(env.net)
    errors = []
    sk.sk_err_report = lambda s: errors.append(s.sk_err)
    env.task(udp_connect, sk, "10.0.0.2", 9)
    assert env.task(udp_sendmsg, sk, b"hello") == 5
    env.run_until(4 * S)
    assert errors == [errno.EHOSTUNREACH] and sk.sk_err == errno.EHOSTUNREACH
    assert sk.sk_wmem_alloc == 0  # the freed skb gave its send-buffer memory back


def test_queue_byte_limit_drops_the_oldest(env):
    sk = Sock(env.net)
    assert env.tbl.parms.queue_len_bytes == 212992
    big = 60000  # truesize ~ 60.6 KB: three fit in 212992, the fourth pushes the first out
    for i in range(4):
        send(env, sk, b"q%d" % i, size=big)
    n = neigh_lookup(env.tbl, in_aton("10.0.0.2"), env.dev)
    assert len(n.arp_queue) == 3 and env.tbl.stats["unres_discards"] == 1
    assert n.arp_queue_len_bytes == sum(s.truesize for s in n.arp_queue) <= 212992
    assert env.net.skb.dropped == 1
    env.rx(reply())
    assert [bytes(Ether(f.data)[Raw].load) for f in env.ips()] == [b"q1", b"q2", b"q3"]
    env.net.skb.assert_no_leaks()


def test_310_queue_is_64k_and_an_oversize_skb_still_queues_alone():
    env = arp_env(kernel_version="3.10")
    sk = Sock(env.net)
    assert env.tbl.parms.queue_len_bytes == 65536
    send(env, sk, b"a", size=40000)
    send(env, sk, b"b", size=40000)
    n = neigh_lookup(env.tbl, in_aton("10.0.0.2"), env.dev)
    assert [skb_to_bytes(s)[-1:] for s in n.arp_queue] == [b"b"] and env.tbl.stats["unres_discards"] == 1
    send(env, sk, b"c", size=70000)  # a 64 KB TSO skb's truesize: more than the limit on its own
    assert len(n.arp_queue) == 1 and n.arp_queue[0].truesize > 65536
    assert env.tbl.stats["unres_discards"] == 2


def test_probe_rearm_floor_is_hz_over_100_recent_and_hz_over_2_in_310():
    for version, gap in (("recent", HZ // 100), ("3.10", HZ // 2)):
        env = arp_env(kernel_version=version)
        env.dev.ip_ptr.arp_parms.retrans_time = 1  # ip neigh: retrans 4 ms, below both floors
        send(env, Sock(env.net))
        env.run_until(3 * S)
        times = [f.time // (S // HZ) for f in env.arps()]
        assert times == [0, gap, 2 * gap], version


def test_answers_a_request_for_our_address(env):
    req = Ether(dst="ff:ff:ff:ff:ff:ff", src=MAC_B) / ARP(op=1, hwsrc=MAC_B, psrc="10.0.0.2",
                                                          hwdst="00:00:00:00:00:00", pdst="10.0.0.1")
    env.rx(req)
    assert len(env.wire) == 1
    frame = Ether(env.wire[0].data)
    assert frame.dst == MAC_B and frame.src == MAC_A and frame.type == 0x0806
    arp = frame[ARP]
    assert arp.op == 2 and arp.hwsrc == MAC_A and arp.psrc == "10.0.0.1"
    assert arp.hwdst == MAC_B and arp.pdst == "10.0.0.2"
    assert env.wire[0].context == "softirq:NET_RX"
    n = neigh_lookup(env.tbl, in_aton("10.0.0.2"), env.dev)
    assert n.nud_state == NUD_STALE and n.ha == bytes.fromhex("020000000002")
    # not ours: no answer
    env.rx(Ether(dst="ff:ff:ff:ff:ff:ff", src=MAC_B) / ARP(op=1, hwsrc=MAC_B, psrc="10.0.0.2", pdst="10.0.0.99"))
    assert len(env.wire) == 1
    # a packet to the STALE entry goes at once (old address), and the entry goes to DELAY
    send(env, Sock(env.net))
    assert Ether(env.wire[-1].data).dst == MAC_B and n.nud_state == NUD_DELAY


def test_unsolicited_reply_for_an_unknown_neighbour_is_ignored(env):
    env.rx(reply())
    assert neigh_lookup(env.tbl, in_aton("10.0.0.2"), env.dev) is None and env.wire == []


def test_reachable_time_is_randomised_within_half_to_one_and_a_half_base(env):
    sk = Sock(env.net)
    send(env, sk)
    env.rx(reply())
    rt = env.dev.ip_ptr.arp_parms.reachable_time  # the device's parameters, chosen at first use
    assert 15 * HZ <= rt < 45 * HZ
    other = arp_env()  # same engine seed, same choice
    send(other, Sock(other.net))
    other.rx(reply())
    assert other.dev.ip_ptr.arp_parms.reachable_time == rt


def test_confirmations_keep_reachable_and_without_them_it_goes_stale_then_probes(env):
    sk = Sock(env.net)
    send(env, sk)
    env.rx(reply())
    n = neigh_lookup(env.tbl, in_aton("10.0.0.2"), env.dev)
    reach = env.dev.ip_ptr.arp_parms.reachable_time
    # traffic with TCP's confirmation every second: REACHABLE throughout, no ARP
    t = env.engine.now
    while env.engine.now < t + 2 * reach * (S // HZ):
        sk_dst_confirm(sk)
        send(env, sk)
        assert sk.sk_dst_pending_confirm == 0  # the transmit consumed it
        env.run_for(1 * S)
        assert n.nud_state == NUD_REACHABLE
    assert len(env.arps()) == 1
    # traffic without confirmations: the hh fast path does not mark the entry used -> STALE
    env.run_for(reach * (S // HZ) + 1 * S)
    assert n.nud_state == NUD_STALE
    send(env, sk)  # sent at once with the old address; STALE -> DELAY
    assert n.nud_state == NUD_DELAY and Ether(env.wire[-1].data).dst == MAC_B
    env.run_for(5 * S + 10 * MS)  # delay_probe_time without confirmation -> PROBE, unicast request
    assert n.nud_state == NUD_PROBE
    probe = Ether(env.arps()[-1].data)
    assert probe.dst == MAC_B and probe[ARP].pdst == "10.0.0.2"
    assert env.tbl.stats["probes_ucast"] == 1
    env.rx(reply())
    assert n.nud_state == NUD_REACHABLE


def test_probe_state_fails_after_three_unicast_probes(env):
    sk = Sock(env.net)
    send(env, sk)
    env.rx(reply())
    n = neigh_lookup(env.tbl, in_aton("10.0.0.2"), env.dev)
    reach = env.dev.ip_ptr.arp_parms.reachable_time
    env.run_for(reach * (S // HZ) + 1 * S)
    send(env, sk)
    env.run_for(5 * S + 5 * S)
    assert n.nud_state == NUD_FAILED
    unicast = [f for f in env.arps() if Ether(f.data).dst == MAC_B]
    assert len(unicast) == 3
    assert [unicast[i + 1].time - unicast[i].time for i in range(2)] == [1 * S, 1 * S]


def test_request_frame_is_42_bytes(env):
    """The request's bytes: 14 + 28, no padding (the MAC pads to 60)."""
    send(env, Sock(env.net))
    data = env.arps()[0].data
    assert len(data) == 42
    assert struct.unpack("!HHBBH", data[14:22]) == (1, 0x0800, 6, 4, 1)
