"""IPv4 input: header checks, delivery to the registered protocol, hooks, reassembly, minimal ICMP.

Expected behaviour from RFC 791/1122 and ``ip_rcv``/``ip_local_deliver``:
a header with a bad checksum, a wrong version or a total length beyond
the data is dropped and counted; a good one reaches
``net.inet_protos[protocol]`` with ``skb.data`` at the L4 header (the IP
header and any Ethernet padding gone); fragments are held until the
datagram is complete and delivered once. Frames are built with scapy and
enter through a NAPI poll in NET_RX softirq context.
"""
from stack.core import errno

import pytest
from scapy.all import ICMP, IP, UDP, Ether, Raw, fragment

from sim.engine import S
from stack.core.netdevice import NET_RX_DROP
from stack.netfilter import NF_DROP, NF_INET_LOCAL_IN, NF_INET_PRE_ROUTING, NF_STOLEN, nf_register_hook
from stack.core.skbuff import consume_skb, kfree_skb, skb_to_bytes
from stack.ipv4.udp import udp_connect, udp_sock

from tests.stack.ipv4.harness import MAC_A, MAC_B, StackEnv

PROTO = 253  # experimental: a protocol handler the test registers


def eth(pkt):
    return Ether(dst=MAC_A, src=MAC_B) / pkt


@pytest.fixture
def env():
    """The host (no default route) with protocol PROTO registered: ``env.delivered`` gets (L4 bytes, context)."""
    env = StackEnv(default_route=False, neighbours=(("10.0.0.2", MAC_B),))
    env.delivered = []

    def proto_rcv(skb):
        env.delivered.append((skb_to_bytes(skb), env.net.ctx.cpu.context))
        consume_skb(skb)
        return 0
    env.net.inet_protos[PROTO] = proto_rcv
    return env


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
    assert len(stolen) == 1 and env.net.nf.stats[NF_INET_PRE_ROUTING]["drop"] == 1
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
