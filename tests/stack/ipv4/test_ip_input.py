"""IPv4 input: header checks, delivery to the registered protocol, hooks, reassembly, minimal ICMP.

Expected behaviour from RFC 791/1122 and ``ip_rcv``/``ip_local_deliver``:
a header with a bad checksum, a wrong version or a total length beyond
the data is dropped and counted; a good one reaches
``net.inet_protos[protocol]`` with ``skb.data`` at the L4 header (the IP
header and any Ethernet padding gone); fragments are held until the
datagram is complete and delivered once. Frames are built with scapy and
enter through a NAPI poll in NET_RX softirq context.
"""
import errno
from collections import deque

import pytest
from scapy.all import ICMP, IP, UDP, Ether, Raw, fragment

from sim.engine import S, US, Engine
from sim.host import Host
from stack.ipv4 import inet
from stack.core.netcore import NetCore
from stack.ipv4.ip_input import NET_RX_DROP
from stack.core.napi import napi_complete_done, napi_enable, napi_schedule, napi_struct, netif_napi_add
from stack.core.netdevice import NetDevice
from stack.netfilter import NF_DROP, NF_INET_LOCAL_IN, NF_INET_PRE_ROUTING, NF_STOLEN, nf_register_hook
from stack.core.skbuff import (consume_skb, kfree_skb, skb_from_bytes, skb_pull, skb_reset_mac_header,
                               skb_to_bytes)
from stack.ipv4.udp import udp_connect, udp_sock

MAC_A = "02:00:00:00:00:01"
MAC_B = "02:00:00:00:00:02"
PROTO = 253  # experimental: a protocol handler the test registers


class Env:
    def __init__(self):
        self.engine = Engine()
        self.host = Host(self.engine, "x86-tso", ncpus=2)
        self.net = NetCore(self.host)
        self.dev = NetDevice(self.net, "eth0")
        inet.install(self.net)
        inet.ip_link_set_address(self.dev, MAC_A)
        inet.ip_addr_add(self.net, self.dev, "10.0.0.1/24")
        inet.ip_neigh_add(self.net, self.dev, "10.0.0.2", MAC_B)
        self.wire = []
        self.net.dev_queue_xmit = self.xmit
        self.delivered = []  # (L4 bytes, context, rc of ip_rcv)
        self.net.inet_protos[PROTO] = self.proto_rcv
        self.rcs = []
        self.rxq: deque = deque()
        self.napi = napi_struct("eth0-rx")
        netif_napi_add(self.dev, self.napi, self._poll)
        napi_enable(self.napi)

    def xmit(self, skb):
        self.wire.append(skb_to_bytes(skb))
        consume_skb(skb)
        return 0

    def proto_rcv(self, skb):
        self.delivered.append((skb_to_bytes(skb), self.net.ctx.cpu.context))
        consume_skb(skb)
        return 0

    def _poll(self, napi, budget):
        work = 0
        while self.rxq and work < budget:
            frame = self.rxq.popleft()
            skb = skb_from_bytes(self.net.skb, frame)
            skb_reset_mac_header(skb)
            skb_pull(skb, 14)
            skb.protocol = int.from_bytes(frame[12:14], "big")
            skb.dev = self.dev
            self.rcs.append(self.net.ptype[skb.protocol](skb, self.dev))
            work += 1
        if work < budget:
            napi_complete_done(napi, work)
        return work

    def rx(self, *frames):
        self.rxq.extend(bytes(f) for f in frames)
        with self.net.ctx.on_cpu(0, "hardirq:eth0-rx"):
            napi_schedule(self.napi)
        self.engine.run(until=self.engine.now + 50 * US)


def eth(pkt):
    return Ether(dst=MAC_A, src=MAC_B) / pkt


@pytest.fixture
def env():
    return Env()


def test_good_packet_reaches_the_protocol_with_data_at_the_l4_header(env):
    env.rx(eth(IP(src="10.0.0.2", dst="10.0.0.1", proto=PROTO) / Raw(b"payload!")))
    assert env.delivered == [(b"payload!", "softirq:NET_RX")]
    mib = env.net.mib
    assert mib["IpInReceives"] == 1 and mib["IpInDelivers"] == 1 and mib["IpExtInOctets"] == 28
    env.net.skb.assert_no_leaks()


def test_ethernet_padding_is_trimmed(env):
    frame = bytes(eth(IP(src="10.0.0.2", dst="10.0.0.1", proto=PROTO) / Raw(b"tiny"))) + bytes(60 - 38)
    assert len(frame) == 60
    env.rx(frame)
    assert env.delivered[0][0] == b"tiny"


def test_bad_header_checksum_is_dropped(env):
    pkt = IP(bytes(IP(src="10.0.0.2", dst="10.0.0.1", proto=PROTO) / Raw(b"x")))
    raw = bytearray(bytes(pkt))
    raw[10] ^= 0xFF
    env.rx(Ether(dst=MAC_A, src=MAC_B, type=0x0800) / Raw(bytes(raw)))
    assert env.delivered == [] and env.rcs == [NET_RX_DROP]
    mib = env.net.mib
    assert mib["IpInHdrErrors"] == 1 and mib["IpExtInCsumErrors"] == 1 and mib["IpInDelivers"] == 0
    assert env.net.skb.dropped == 1
    env.net.skb.assert_no_leaks()


def test_wrong_version_short_header_and_truncation_are_dropped(env):
    good = bytes(IP(src="10.0.0.2", dst="10.0.0.1", proto=PROTO) / Raw(b"y" * 10))
    v6 = bytearray(good)
    v6[0] = 0x65
    env.rx(Ether(dst=MAC_A, src=MAC_B, type=0x0800) / Raw(bytes(v6)))
    env.rx(Ether(dst=MAC_A, src=MAC_B, type=0x0800) / Raw(good[:12]))
    truncated = bytes(IP(src="10.0.0.2", dst="10.0.0.1", proto=PROTO, len=100) / Raw(b"y" * 10))
    env.rx(Ether(dst=MAC_A, src=MAC_B, type=0x0800) / Raw(truncated))
    mib = env.net.mib
    assert mib["IpInHdrErrors"] == 2 and mib["IpExtInTruncatedPkts"] == 1 and env.delivered == []


def test_not_for_us_and_unknown_protocol(env):
    env.rx(eth(IP(src="10.0.0.2", dst="10.0.0.9", proto=PROTO) / Raw(b"x")))
    env.rx(eth(IP(src="10.0.0.2", dst="10.0.0.1", proto=254) / Raw(b"x")))
    mib = env.net.mib
    assert mib["IpInAddrErrors"] == 1 and mib["IpInUnknownProtos"] == 1 and env.delivered == []
    # the subnet broadcast is ours to receive
    env.rx(eth(IP(src="10.0.0.2", dst="10.0.0.255", proto=PROTO) / Raw(b"b")))
    assert env.delivered[0][0] == b"b"


def test_pre_routing_drop_and_local_in_steal(env):
    nf_register_hook(env.net, NF_INET_PRE_ROUTING, lambda skb: NF_DROP if skb_to_bytes(skb)[-1:] == b"D" else 1)
    stolen = []
    nf_register_hook(env.net, NF_INET_LOCAL_IN,
                     lambda skb: (stolen.append(skb) or NF_STOLEN) if skb_to_bytes(skb)[-1:] == b"S" else 1)
    for tail in (b"D", b"S", b"A"):
        env.rx(eth(IP(src="10.0.0.2", dst="10.0.0.1", proto=PROTO) / Raw(b"x" + tail)))
    assert [d[0] for d in env.delivered] == [b"xA"]
    assert len(stolen) == 1 and env.net.nf_stats[NF_INET_PRE_ROUTING]["drop"] == 1
    kfree_skb(stolen[0])
    env.net.skb.assert_no_leaks()


def test_fragments_are_reassembled_and_delivered_once(env):
    payload = bytes(range(256)) * 12
    frags = fragment(IP(src="10.0.0.2", dst="10.0.0.1", proto=PROTO, id=77) / Raw(payload), fragsize=1480)
    assert len(frags) == 3
    env.rx(*[eth(f) for f in (frags[2], frags[0], frags[1])])  # out of order
    assert [d[0] for d in env.delivered] == [payload]
    mib = env.net.mib
    assert mib["IpReasmReqds"] == 3 and mib["IpReasmOKs"] == 1 and mib["IpInDelivers"] == 1
    assert env.net.ipv4.frags == {}
    env.net.skb.assert_no_leaks()


def test_incomplete_datagram_times_out_after_30_seconds(env):
    frags = fragment(IP(src="10.0.0.2", dst="10.0.0.1", proto=PROTO, id=5) / Raw(b"z" * 3000), fragsize=1480)
    env.rx(eth(frags[0]), eth(frags[2]))
    env.engine.run(until=29 * S)
    assert env.net.mib["IpReasmFails"] == 0 and len(env.net.ipv4.frags) == 1
    env.engine.run(until=31 * S)
    mib = env.net.mib
    assert mib["IpReasmFails"] == 1 and mib["IpReasmTimeout"] == 1 and env.net.ipv4.frags == {}
    assert mib["IcmpOutTimeExcds"] == 1 and env.delivered == []


def test_overlapping_fragments_drop_the_datagram(env):
    frags = fragment(IP(src="10.0.0.2", dst="10.0.0.1", proto=PROTO, id=9) / Raw(b"o" * 3000), fragsize=1480)
    overlap = IP(bytes(frags[1]))
    overlap.frag -= 1  # 8 bytes into the first fragment
    del overlap.chksum
    env.rx(eth(frags[0]), eth(overlap))
    mib = env.net.mib
    assert mib["IpReasmFails"] == 1 and mib["IpExtReasmOverlaps"] == 1 and env.net.ipv4.frags == {}


def test_icmp_is_counted_and_errors_reach_the_udp_socket(env):
    env.rx(eth(IP(src="10.0.0.2", dst="10.0.0.1") / ICMP(type=8) / Raw(b"ping")))
    assert env.net.mib["IcmpInMsgs"] == 1 and env.net.mib["IcmpInEchos"] == 1 and env.wire == []
    sk = udp_sock(env.net)
    errs = []
    sk.sk_err_report = lambda s: errs.append(s.sk_err)
    with env.net.ctx.on_cpu(0, "task:app"):
        assert udp_connect(sk, "10.0.0.2", 53) == 0
    quoted = IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=sk.inet_sport, dport=53) / Raw(b"q")
    env.rx(eth(IP(src="10.0.0.2", dst="10.0.0.1") / ICMP(type=3, code=3) / Raw(bytes(quoted)[:28])))
    assert errs == [errno.ECONNREFUSED] and env.net.mib["IcmpInDestUnreachs"] == 1
