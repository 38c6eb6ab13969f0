"""UDP: sendmsg (copy, checksum, IP header, fragmentation), receive to a bound socket, errors.

The arithmetic of the 4000-byte datagram over a 1500-byte MTU: the IP
payload is 8 (UDP header) + 4000 = 4008 bytes; each fragment carries at
most (1500 - 20) & ~7 = 1480 of them, so 1480 + 1480 + 1048 = 4008, at
offsets 0, 1480, 2960 (frag_off 0, 185, 370), MF on the first two, IP
total lengths 1500, 1500, 1068. The user's bytes are copied once into the
skb (4000 bytes, ``copy_from_user``) and, by the fragmentation slow path,
once more (4008 bytes, ``ip_fragment``).
"""
from stack.core import errno

import pytest
from scapy.all import IP, UDP, Ether, Raw, defragment, fragment

from stack.ipv4.utils import in_aton, in_ntoa
from stack.core.netdevice import NETIF_F_SG
from stack.core.skbuff import CHECKSUM_PARTIAL, consume_skb
from stack.ipv4.udp import udp_bind, udp_close, udp_connect, udp_recvmsg, udp_sendmsg, udp_sock

from tests.stack.ipv4.harness import MAC_A, MAC_B, StackEnv, udp_checksum_ok



@pytest.fixture
def env():
    return StackEnv(nic_csum=True)


def test_4000_byte_datagram_leaves_as_three_fragments(env):
    sk = udp_sock(env.net)
    assert env.task(udp_bind, sk, 0, 7000) == 0
    data = bytes((i * 7) & 0xFF for i in range(4000))
    assert env.task(udp_sendmsg, sk, data, "10.0.0.2", 9999) == 4000
    ips = [Ether(f.data)[IP] for f in env.wire]
    assert [(ip.frag, ip.flags == "MF", ip.len) for ip in ips] == [(0, True, 1500), (185, True, 1500),
                                                                 (370, False, 1068)]
    assert [ip.len - 20 for ip in ips] == [1480, 1480, 1048] and sum(ip.len - 20 for ip in ips) == 4008
    assert len({ip.id for ip in ips}) == 1
    assert all(ip.flags != "DF" and ip.ttl == 64 and ip.proto == 17 for ip in ips)
    assert all(f.ip_summed != CHECKSUM_PARTIAL for f in env.wire)  # checksummed in software
    whole = IP(bytes(defragment([ip.copy() for ip in ips])[0]))
    assert whole[UDP].sport == 7000 and whole[UDP].dport == 9999 and whole[UDP].len == 4008
    assert bytes(whole[UDP].payload) == data
    assert udp_checksum_ok(whole)
    assert env.net.copy_bytes == {"copy_from_user": 4000, "ip_fragment": 4008}
    mib = env.net.mib
    assert (mib["UdpOutDatagrams"], mib["IpOutRequests"], mib["IpFragOKs"], mib["IpFragCreates"]) == (1, 1, 1, 3)
    assert sk.sk_wmem_alloc == 0  # original and fragments freed: the send buffer is empty again
    env.net.skb.assert_no_leaks()


def test_small_datagram_offloads_the_checksum_and_sets_df(env):
    sk = udp_sock(env.net)
    assert env.task(udp_sendmsg, sk, b"hello", "10.0.0.2", 53) == 5
    frame = env.wire[0]
    assert frame.ip_summed == CHECKSUM_PARTIAL  # the seed went down, the "NIC" finished it
    ip = Ether(frame.data)[IP]
    assert ip.flags == "DF" and ip.len == 33
    assert udp_checksum_ok(ip) and bytes(ip[UDP].payload) == b"hello"
    # unconnected, and ignore_df set (PMTUDISC_WANT): the IDs come from the per-destination generator
    env.task(udp_sendmsg, sk, b"again", "10.0.0.2", 53)
    assert Ether(env.wire[1].data)[IP].id == (ip.id + 1) & 0xFFFF
    assert 32768 <= ip[UDP].sport <= 60999  # autobound ephemeral port
    assert env.net.copy_bytes == {"copy_from_user": 10}  # one copy per byte, no fragmentation


def test_without_checksum_offload_the_checksum_is_computed_in_software():
    env = StackEnv(features=NETIF_F_SG, nic_csum=True)
    sk = udp_sock(env.net)
    env.task(udp_sendmsg, sk, b"x" * 101, "10.0.0.2", 53)
    frame = env.wire[0]
    assert frame.ip_summed != CHECKSUM_PARTIAL
    assert udp_checksum_ok(Ether(frame.data)[IP])
    assert env.net.ipv4.stats["sw_checksums"] == 1


def test_connected_socket_looks_the_route_up_once_unconnected_every_call(env):
    stats = env.net.ipv4.stats
    sk = udp_sock(env.net)
    for _ in range(5):
        env.task(udp_sendmsg, sk, b"u", "10.0.0.2", 53)
    assert stats["route_lookups"] == 5
    sk2 = udp_sock(env.net)
    assert env.task(udp_connect, sk2, "10.0.0.2", 53) == 0
    for _ in range(5):
        assert env.task(udp_sendmsg, sk2, b"c") == 1
    assert stats["route_lookups"] == 6
    ids = [Ether(f.data)[IP].id for f in env.wire[5:]]
    assert ids == [(ids[0] + i) & 0xFFFF for i in range(5)]  # connected: the socket's inet_id, + 1 each
    assert env.task(udp_sendmsg, udp_sock(env.net), b"x") == -errno.EDESTADDRREQ


def test_send_buffer_full_is_eagain():
    env = StackEnv(nic_csum=True)
    env.driver.hold = True  # the "device" keeps the skbs: nothing is freed
    sk = udp_sock(env.net)
    sk.sk_sndbuf = 3000
    assert env.task(udp_sendmsg, sk, b"a" * 1000, "10.0.0.2", 53) == 1000
    assert env.task(udp_sendmsg, sk, b"b" * 1000, "10.0.0.2", 53) == 1000
    assert sk.sk_wmem_alloc >= 3000
    assert env.task(udp_sendmsg, sk, b"c" * 1000, "10.0.0.2", 53) == -errno.EAGAIN and sk.sk_nospace
    freed = []
    sk.sk_write_space = lambda s: freed.append(s.sk_wmem_alloc)
    for skb in env.driver.held:
        consume_skb(skb)
    assert sk.sk_wmem_alloc == 0 and len(freed) == 2


def test_receive_to_a_bound_socket(env):
    sk = udp_sock(env.net)
    ready = []
    sk.sk_data_ready = lambda s: ready.append(env.net.ctx.cpu.context)
    assert env.task(udp_bind, sk, "10.0.0.1", 5000) == 0
    env.rx(Ether(dst=MAC_A, src=MAC_B) / IP(src="10.0.0.2", dst="10.0.0.1") / UDP(sport=1234, dport=5000)
           / Raw(b"datagram"))
    assert ready == ["softirq:NET_RX"]
    data, saddr, sport = env.task(udp_recvmsg, sk)
    assert (data, in_ntoa(saddr), sport) == (b"datagram", "10.0.0.2", 1234)
    assert env.task(udp_recvmsg, sk) is None
    assert env.net.mib["UdpInDatagrams"] == 1 and sk.sk_rmem_alloc == 0
    env.net.skb.assert_no_leaks()


def test_receive_errors_no_port_bad_checksum_full_buffer(env):
    sk = udp_sock(env.net)
    env.task(udp_bind, sk, 0, 5000)
    base = Ether(dst=MAC_A, src=MAC_B) / IP(src="10.0.0.2", dst="10.0.0.1")
    env.rx(base / UDP(sport=1, dport=5001) / Raw(b"nobody"))
    bad = bytearray(bytes(base / UDP(sport=1, dport=5000) / Raw(b"corrupt")))
    bad[-1] ^= 0x55
    env.rx(bad)
    sk.sk_rcvbuf = 1
    env.rx(base / UDP(sport=1, dport=5000) / Raw(b"full"))
    mib = env.net.mib
    assert mib["UdpNoPorts"] == 1 and mib["UdpInCsumErrors"] == 1 and mib["UdpRcvbufErrors"] == 1
    assert mib["UdpInErrors"] == 2 and mib["IcmpOutDestUnreachs"] == 1  # port unreachable: counted
    assert not sk.sk_receive_queue
    env.net.skb.assert_no_leaks()


def test_fragmented_datagram_is_reassembled_for_the_socket(env):
    sk = udp_sock(env.net)
    env.task(udp_bind, sk, 0, 6000)
    data = bytes(range(256)) * 20
    pkt = IP(src="10.0.0.2", dst="10.0.0.1", id=4242) / UDP(sport=7, dport=6000) / Raw(data)
    env.rx(*[Ether(dst=MAC_A, src=MAC_B) / f for f in fragment(pkt, fragsize=1480)])
    got = env.task(udp_recvmsg, sk)
    assert got is not None and got[0] == data
    assert env.net.mib["IpReasmOKs"] == 1


def test_bind_conflicts_and_close(env):
    a, b = udp_sock(env.net), udp_sock(env.net)
    assert env.task(udp_bind, a, 0, 5353) == 0
    assert env.task(udp_bind, b, 0, 5353) == -errno.EADDRINUSE
    assert env.task(udp_bind, b, "10.0.0.77", 5353) == -errno.EADDRNOTAVAIL
    udp_close(a)
    assert env.task(udp_bind, b, 0, 5353) == 0
    assert in_aton("10.0.0.1") in env.net.ipv4.local_addrs
