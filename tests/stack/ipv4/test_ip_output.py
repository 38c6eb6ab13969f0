"""IPv4 output: ip_queue_xmit's header, the socket's route cache, fragmentation, netfilter hooks.

Expected values from stack_facts §5 and first principles: TTL 64
(ip_default_ttl) unless IP_TTL is set; DF for a socket with
IP_PMTUDISC_WANT; the IP ID is the connected socket's inet_id, advanced by
gso_segs per skb; the header checksum is valid (scapy recomputes it);
fragments carry 8-byte-aligned payloads of (mtu - 20) & ~7 bytes, MF on
all but the last, frag_off = offset / 8, and reassemble to the original.
The device is a fake driver whose ``ndo_start_xmit`` records each frame (``StackEnv``).
"""
from stack.core import errno
import math
import struct

from scapy.all import IP, TCP, UDP, Ether, Raw, defragment

from stack.ipv4 import iproute2
from stack.core.checksum import csum_tcpudp_nofold
from stack.ipv4.inet_sock import inet_sock
from stack.ipv4.ip import IP_PMTUDISC_DONT
from stack.ipv4.utils import in_aton
from stack.ipv4.ip_output import ip_build_and_send_pkt, ip_queue_xmit
from stack.core.netdevice import NETIF_F_TSO
from stack.netfilter import (NF_ACCEPT, NF_DROP, NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING, NF_STOLEN,
                             nf_register_hook, nf_unregister_hook)
from stack.core.skbuff import (CHECKSUM_PARTIAL, SKB_GSO_TCPV4, alloc_skb, kfree_skb, skb_put,
                               skb_reset_transport_header, skb_to_bytes)

from tests.stack.ipv4.harness import MAC_A, MAC_B, MAC_GW, StackEnv, udp_checksum_ok
from stack.ipv4.route import ip_route_output



class TcpLikeSock(inet_sock):
    sk_protocol = 6

    def __init__(self, net, daddr="10.0.0.2", sport=40000, dport=5001):
        super().__init__(net)
        self.inet_daddr = in_aton(daddr)
        self.inet_sport = sport
        self.inet_dport = dport
        self.inet_id = 1000
        self.errors = []

    def err_handler(self, type_, code, info, skb=None):
        self.errors.append((type_, code, info))


def tcp_skb(env, sk, payload: bytes, gso_size=0, headroom=128):
    """An skb as __tcp_transmit_skb hands it to IP: data at the TCP header, CHECKSUM_PARTIAL with the seed."""
    net = env.net
    skb = alloc_skb(net.skb, 20 + len(payload), headroom)
    addr = skb_put(skb, 20 + len(payload))
    saddr = in_aton("10.0.0.1")
    seed = csum_tcpudp_nofold(saddr, sk.inet_daddr, 20 + len(payload), 6)
    hdr = struct.pack("!HHIIBBHHH", sk.inet_sport, sk.inet_dport, 1, 0, 5 << 4, 0x10, 65535, seed, 0)
    skb.mem.write(addr, hdr + payload)
    skb_reset_transport_header(skb)
    skb.ip_summed = CHECKSUM_PARTIAL
    skb.csum_start = skb.transport_header
    skb.csum_offset = 16
    if gso_size:
        skb.shinfo.gso_size = gso_size
        skb.shinfo.gso_segs = math.ceil(len(payload) / gso_size)
        skb.shinfo.gso_type = SKB_GSO_TCPV4
    skb.sk = sk
    return skb


def test_ip_header_fields_ttl_df_id_checksum(env):
    sk = TcpLikeSock(env.net)
    rcs = [env.task(ip_queue_xmit, sk, tcp_skb(env, sk, b"a" * 100)),
           env.task(ip_queue_xmit, sk, tcp_skb(env, sk, b"b" * 4 * 1448, gso_size=1448)),
           env.task(ip_queue_xmit, sk, tcp_skb(env, sk, b"c" * 10))]
    assert rcs == [0, 0, 0]
    assert len(env.wire) == 3
    ids = []
    for frame, payload_len in zip(env.wire, (100, 4 * 1448, 10)):
        eth = Ether(frame.data)
        assert eth.dst == MAC_B and eth.src == MAC_A and eth.type == 0x0800
        ip = eth[IP]
        assert ip.version == 4 and ip.ihl == 5 and ip.tos == 0
        assert ip.ttl == 64
        assert ip.flags == "DF" and ip.frag == 0
        assert ip.proto == 6 and ip.src == "10.0.0.1" and ip.dst == "10.0.0.2"
        assert ip.len == 20 + 20 + payload_len
        chk = ip.chksum
        del ip.chksum
        assert IP(bytes(ip)).chksum == chk  # scapy's recomputed checksum equals the one sent
        assert frame.context == "task:app"
        ids.append(ip.id)
    # inet_id 1000: the GSO skb of 4 segments takes IDs 1001..1004 (the NIC increments per segment)
    assert ids == [1000, 1001, 1005]
    assert sk.inet_id == 1006
    mib = env.net.mib
    assert mib["IpOutRequests"] == 3 and mib["IpOutTransmits"] == 3
    assert mib["IpExtOutOctets"] == sum(len(f.data) - 14 for f in env.wire)
    env.net.skb.assert_no_leaks()


def test_socket_ttl_and_route_hoplimit_override_the_default(env):
    sk = TcpLikeSock(env.net)
    sk.uc_ttl = 7
    env.task(ip_queue_xmit, sk, tcp_skb(env, sk, b"x"))
    assert Ether(env.wire[-1].data)[IP].ttl == 7
    iproute2.ip_route_add(env.net, "192.0.2.0/24", via="10.0.0.254", hoplimit=33)
    sk2 = TcpLikeSock(env.net, daddr="192.0.2.9")
    env.task(ip_queue_xmit, sk2, tcp_skb(env, sk2, b"x"))
    frame = Ether(env.wire[-1].data)
    assert frame[IP].ttl == 33 and frame.dst == MAC_GW  # via the gateway's neighbour entry


def test_pmtudisc_dont_and_locked_mtu_clear_df(env):
    sk = TcpLikeSock(env.net)
    sk.pmtudisc = IP_PMTUDISC_DONT
    env.task(ip_queue_xmit, sk, tcp_skb(env, sk, b"x"))
    assert Ether(env.wire[-1].data)[IP].flags == 0
    iproute2.ip_route_add(env.net, "198.51.100.0/24", via="10.0.0.254", mtu=1400, mtu_lock=True)
    sk2 = TcpLikeSock(env.net, daddr="198.51.100.1")
    env.task(ip_queue_xmit, sk2, tcp_skb(env, sk2, b"x"))
    assert Ether(env.wire[-1].data)[IP].flags == 0
    assert sk2.sk_dst_cache.mtu == 1400


def test_route_is_looked_up_once_per_connection(env):
    stats = env.net.ipv4.stats
    sk = TcpLikeSock(env.net)
    for _ in range(10):
        assert env.task(ip_queue_xmit, sk, tcp_skb(env, sk, b"p" * 50)) == 0
    assert stats["route_lookups"] == 1
    assert stats["dst_cache_hits"] == 9
    assert env.net.layer_stats["route"]["calls"] == 1
    rt = sk.sk_dst_cache
    assert rt.dev is env.dev and rt.saddr == in_aton("10.0.0.1") and rt.rt_gateway == 0 and rt.mtu == 1500
    # sk_setup_caps: the device's features (+SG|HW_CSUM with TSO) and its GSO limits
    assert sk.sk_route_caps & NETIF_F_TSO and sk.sk_gso_max_size == 65536
    sk2 = TcpLikeSock(env.net, daddr="10.0.0.3", sport=40001)
    iproute2.ip_neigh_add(env.net, env.dev, "10.0.0.3", "02:00:00:00:00:03")
    env.task(ip_queue_xmit, sk2, tcp_skb(env, sk2, b"q"))
    assert stats["route_lookups"] == 2
    # a FIB change makes cached routes obsolete: one new lookup, then cached again
    iproute2.ip_route_add(env.net, "203.0.113.0/24", via="10.0.0.254")
    env.task(ip_queue_xmit, sk, tcp_skb(env, sk, b"r"))
    env.task(ip_queue_xmit, sk, tcp_skb(env, sk, b"s"))
    assert stats["route_lookups"] == 3


def test_longest_prefix_match_picks_the_most_specific_route(env):
    iproute2.ip_route_add(env.net, "10.1.0.0/16", via="10.0.0.2")
    iproute2.ip_route_add(env.net, "10.1.2.0/24", via="10.0.0.254")
    assert ip_route_output(env.net, "10.1.2.3").rt_gateway == in_aton("10.0.0.254")
    assert ip_route_output(env.net, "10.1.3.3").rt_gateway == in_aton("10.0.0.2")
    assert ip_route_output(env.net, "8.8.8.8").rt_gateway == in_aton("10.0.0.254")
    assert ip_route_output(env.net, "10.0.0.77").rt_gateway == 0  # connected: on-link
    assert ip_route_output(env.net, "10.0.0.1") == -errno.EINVAL  # local: no loopback device
    iproute2.ip_route_del(env.net, "default")
    assert ip_route_output(env.net, "8.8.8.8") == -errno.ENETUNREACH


def test_no_route_frees_the_skb_and_counts(env):
    iproute2.ip_route_del(env.net, "default")
    sk = TcpLikeSock(env.net, daddr="8.8.8.8")
    assert env.task(ip_queue_xmit, sk, tcp_skb(env, sk, b"x")) == -errno.EHOSTUNREACH
    assert env.net.mib["IpOutNoRoutes"] == 1 and env.wire == []
    assert env.net.skb.dropped == 1
    env.net.skb.assert_no_leaks()


def test_df_and_larger_than_the_mtu_fails_with_frag_needed(env):
    env.dev.mtu = 1000
    sk = TcpLikeSock(env.net)
    assert env.task(ip_queue_xmit, sk, tcp_skb(env, sk, b"z" * 1400)) == -errno.EMSGSIZE
    mib = env.net.mib
    assert mib["IpFragFails"] == 1 and mib["IpFragOKs"] == 0 and mib["IpFragCreates"] == 0
    assert mib["IcmpOutDestUnreachs"] == 1
    assert sk.errors == [(3, 4, 1000)]  # ICMP DEST_UNREACH / FRAG_NEEDED, mtu 1000, to the socket
    assert env.wire == []
    env.net.skb.assert_no_leaks()


def test_gso_skb_goes_whole_when_its_segments_fit_the_mtu(env):
    sk = TcpLikeSock(env.net)
    env.task(ip_queue_xmit, sk, tcp_skb(env, sk, b"g" * 20 * 1448, gso_size=1448))
    assert len(env.wire) == 1 and len(env.wire[0].data) == 14 + 40 + 20 * 1448
    # recent: a segment (40 + gso_size) larger than the MTU is not passed on
    env.dev.mtu = 1400
    assert env.task(ip_queue_xmit, sk, tcp_skb(env, sk, b"g" * 4 * 1448, gso_size=1448)) == -errno.EMSGSIZE
    assert env.net.ipv4.stats["gso_oversize_drops"] == 1
    old = StackEnv(kernel_version="3.10")
    old.dev.mtu = 1400
    sk3 = TcpLikeSock(old.net)
    assert old.task(ip_queue_xmit, sk3, tcp_skb(old, sk3, b"g" * 4 * 1448, gso_size=1448)) == 0
    assert len(old.wire) == 1  # 3.10 never fragments a GSO skb


def test_oversize_datagram_without_df_is_fragmented_by_copying(env):
    """The slow path on a CHECKSUM_PARTIAL UDP datagram: software checksum first, then copied fragments."""
    sk = TcpLikeSock(env.net)
    sk.sk_protocol = 17
    sk.pmtudisc = IP_PMTUDISC_DONT
    payload = bytes(range(256)) * 15 + b"end!"  # 3844 bytes
    ulen = 8 + len(payload)
    skb = alloc_skb(env.net.skb, ulen, 128)
    addr = skb_put(skb, ulen)
    seed = csum_tcpudp_nofold(in_aton("10.0.0.1"), sk.inet_daddr, ulen, 17)
    skb.mem.write(addr, struct.pack("!HHHH", 40000, 5001, ulen, seed) + payload)
    skb_reset_transport_header(skb)
    skb.ip_summed = CHECKSUM_PARTIAL
    skb.csum_start = skb.transport_header
    skb.csum_offset = 6
    skb.sk = sk
    assert env.task(ip_queue_xmit, sk, skb) == 0
    frames = [Ether(f.data) for f in env.wire]
    ips = [f[IP] for f in frames]
    assert [(ip.frag * 8, ip.flags == "MF", ip.len - 20) for ip in ips] == [
        (0, True, 1480), (1480, True, 1480), (2960, False, ulen - 2960)]
    assert len({ip.id for ip in ips}) == 1
    for ip in ips:
        chk = ip.chksum
        del ip.chksum
        assert IP(bytes(ip)).chksum == chk
    whole = IP(bytes(defragment([ip.copy() for ip in ips])[0]))
    assert bytes(whole[UDP].payload) == payload
    assert udp_checksum_ok(whole)  # skb_checksum_help finished the seed before fragmenting
    assert env.net.copy_bytes["ip_fragment"] == ulen
    mib = env.net.mib
    assert mib["IpFragOKs"] == 1 and mib["IpFragCreates"] == 3 and mib["IpOutRequests"] == 1
    assert env.net.layer_stats["ip_fragment"]["packets"] == 3
    env.net.skb.assert_no_leaks()


def test_ip_build_and_send_pkt_without_a_connection(env):
    skb = alloc_skb(env.net.skb, 20, 64)
    addr = skb_put(skb, 20)
    skb.mem.write(addr, bytes(TCP(sport=80, dport=1234, flags="R")))
    skb_reset_transport_header(skb)
    assert env.task(ip_build_and_send_pkt, skb, None, "10.0.0.1", "10.0.0.2") == 0
    ip = Ether(env.wire[-1].data)[IP]
    assert ip.proto == 6 and ip.ttl == 64 and ip.dst == "10.0.0.2" and ip[TCP].flags == "R"


def test_headroom_too_small_for_the_link_header_is_reallocated(env):
    sk = TcpLikeSock(env.net)
    skb = tcp_skb(env, sk, b"h" * 30, headroom=24)  # 20 for IP, 4 left: Ethernet needs 16 (LL_RESERVED_SPACE)
    assert env.task(ip_queue_xmit, sk, skb) == 0
    assert env.net.ipv4.stats["headroom_reallocs"] == 1
    frame = Ether(env.wire[-1].data)
    assert bytes(frame[Raw].load) == b"h" * 30 and frame.dst == MAC_B


# --- netfilter ------------------------------------------------------------------------------------
def test_local_out_hook_drops(env):
    seen = []

    def drop(skb):
        seen.append(IP(skb_to_bytes(skb)).dst)
        return NF_DROP

    nf_register_hook(env.net, NF_INET_LOCAL_OUT, drop)
    sk = TcpLikeSock(env.net)
    assert env.task(ip_queue_xmit, sk, tcp_skb(env, sk, b"x")) == -errno.EPERM
    assert seen == ["10.0.0.2"] and env.wire == []
    assert env.net.nf.stats[NF_INET_LOCAL_OUT]["drop"] == 1
    env.net.skb.assert_no_leaks()


def test_post_routing_hook_steals_and_reinjects_nothing(env):
    stolen = []
    ops = nf_register_hook(env.net, NF_INET_POST_ROUTING, lambda skb: stolen.append(skb) or NF_STOLEN)
    sk = TcpLikeSock(env.net)
    assert env.task(ip_queue_xmit, sk, tcp_skb(env, sk, b"x")) == 0  # stolen counts as sent
    assert env.wire == [] and len(stolen) == 1
    assert stolen[0].dev is env.dev  # ip_output set the device before POST_ROUTING
    kfree_skb(stolen.pop())
    nf_unregister_hook(env.net, ops)
    env.task(ip_queue_xmit, sk, tcp_skb(env, sk, b"y"))
    assert len(env.wire) == 1


def test_hooks_run_in_priority_order_and_accept_passes(env):
    order = []
    nf_register_hook(env.net, NF_INET_LOCAL_OUT, lambda s: order.append("filter") or NF_ACCEPT, priority=0)
    nf_register_hook(env.net, NF_INET_LOCAL_OUT, lambda s: order.append("mangle") or NF_ACCEPT, priority=-150)
    nf_register_hook(env.net, NF_INET_POST_ROUTING, lambda s: order.append("snat") or NF_ACCEPT, priority=100)
    sk = TcpLikeSock(env.net)
    assert env.task(ip_queue_xmit, sk, tcp_skb(env, sk, b"x")) == 0
    assert order == ["mangle", "filter", "snat"] and len(env.wire) == 1


def test_310_counts_out_requests_in_ip_output_and_keeps_the_socket_id(env):
    old = StackEnv(kernel_version="3.10")
    sk = TcpLikeSock(old.net)
    old.task(ip_queue_xmit, sk, tcp_skb(old, sk, b"a" * 3 * 1448, gso_size=1448))
    old.task(ip_queue_xmit, sk, tcp_skb(old, sk, b"b"))
    assert [Ether(f.data)[IP].id for f in old.wire] == [1000, 1003]
    assert old.net.mib["IpOutRequests"] == 2 and old.net.mib["IpOutTransmits"] == 0
    assert old.net.mib["IpExtOutOctets"] == sum(len(f.data) - 14 for f in old.wire)
