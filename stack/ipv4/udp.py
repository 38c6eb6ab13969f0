"""UDP over IPv4 (``net/ipv4/udp.c``, the datagram half of ``ip_output.c``).

The socket object is :class:`udp_sock` (an :class:`~stack.ipv4.inet_sock.inet_sock`
plus a receive queue); the sockets layer wraps it. Its API, all
synchronous (a call never sleeps; "would block" is an errno)::

    sk = udp_sock(net)
    udp_bind(sk, addr=0, port=0) -> 0 | -EADDRINUSE | -EADDRNOTAVAIL | -EINVAL    (port 0: ephemeral)
    udp_connect(sk, daddr, dport) -> 0 | -errno     (route cached in sk.sk_dst_cache, autobinds)
    udp_disconnect(sk) -> 0
    udp_sendmsg(sk, data, daddr=None, dport=None) -> len(data) | -errno
    udp_recvmsg(sk, size=65535) -> (data, saddr, sport) | None    (None: queue empty)
    udp_close(sk)

Callbacks the sockets layer may set on the socket: ``sk_data_ready(sk)``
(a datagram was queued), ``sk_write_space(sk)`` (send-buffer memory was
freed; ``sk.sk_nospace`` says a send failed with -EAGAIN for lack of it),
``sk_err_report(sk)`` (``sk.sk_err`` was set by an ICMP error: a connected
socket, or ``recverr``).

``udp_sendmsg`` (``ip_make_skb`` + ``udp_send_skb``): one route lookup
per call unless connected (then the socket's cached route); one skb,
charged to the socket's send buffer (-EAGAIN when ``sk_wmem_alloc`` has
reached ``sk_sndbuf``), with ``LL_RESERVED_SPACE`` headroom, the IP header,
the UDP header and the user data **copied** in (``net.copy_bytes
["copy_from_user"]``, charged per byte); the IP header as
``__ip_make_skb`` writes it (DF only when the datagram fits the path MTU
under PMTUDISC_WANT, ``ignore_df`` set, IP ID from the connected socket or
the generator); the UDP checksum left to the device (CHECKSUM_PARTIAL
with the pseudo-header seed) when the datagram fits the MTU and the
device has IP_CSUM/HW_CSUM, else computed in software (0 sent as
0xFFFF). Then ``ip_send_skb`` -> ``ip_local_out``; a datagram larger
than the MTU is fragmented by ``ip_fragment``'s copying slow path. (Linux's
``ip_append_data`` would have built the fragments directly and sent them
without that second copy; see ``stack.ipv4.ip_output``.)

``udp_rcv`` (``net.inet_protos[IPPROTO_UDP]``, ``skb.data`` at the UDP
header): length and checksum checks (``UdpInErrors``,
``UdpInCsumErrors``), socket lookup (a connected socket matching the
4-tuple beats a bound one), then the receive queue if ``sk_rmem_alloc``
is under ``sk_rcvbuf`` (else ``UdpRcvbufErrors``); no socket: ``UdpNoPorts``
(the ICMP port unreachable to the remote sender is counted, not sent).
"""
from __future__ import annotations

import struct
from collections import deque

from stack.core import errno
from stack.core.checksum import CSUM_MANGLED_0, csum_partial, csum_tcpudp_magic, csum_tcpudp_nofold
from stack.core.cputime import charge, charge_bytes
from stack.core.netdevice import NETIF_F_HW_CSUM, NETIF_F_IP_CSUM
from stack.core.skbuff import (CHECKSUM_PARTIAL, CHECKSUM_UNNECESSARY, alloc_skb, consume_skb, kfree_skb,
                               skb_checksum, skb_copy_bits, skb_orphan, skb_put)
from stack.core.sock import skb_set_owner_r, skb_set_owner_w, sock_def_write_space
from .icmp import (ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, ICMP_PORT_UNREACH, ICMP_TIME_EXCEEDED, icmp_err_convert,
                   icmp_send)
from .inet_sock import inet_sock
from .ip import IP_DF, IP_PMTUDISC_DO, IP_PMTUDISC_DONT, IPPROTO_UDP, LL_RESERVED_SPACE, inet_skb_parm
from .ip_input import pskb_trim
from .ip_output import _push_iph, ip_dont_fragment, ip_select_ident, ip_select_ttl, ip_send_skb
from .route import IS_ERR, RTN_BROADCAST, RTN_LOCAL, __sk_dst_check, inet_addr_type, ip_route_output_ports
from .utils import inet_addr

__all__ = [
    "UDP_HLEN", "udp_sock", "udp_bind", "udp_lib_get_port", "udp_connect", "udp_disconnect", "udp_close",
    "udp_sendmsg", "ip_make_skb", "udp_send_skb", "udp_rcv", "udp_queue_rcv_skb", "udp_recvmsg",
    "__udp4_lib_lookup", "udp_err", "udp_err_sk",
]

UDP_HLEN = 8
_ESTABLISHED = "ESTABLISHED"
_CLOSE = "CLOSE"


class udp_sock(inet_sock):
    """A UDP socket: :class:`~stack.ipv4.inet_sock.inet_sock` + receive queue, state, ``sk_no_check_tx``."""

    sk_protocol = IPPROTO_UDP

    def __init__(self, net):
        super().__init__(net)
        #: skbs queued for the reader, ``skb.data`` at the UDP header.
        self.sk_receive_queue: deque = deque()
        #: "ESTABLISHED" once connected (Linux reuses TCP_ESTABLISHED), else "CLOSE".
        self.sk_state = _CLOSE
        #: SO_NO_CHECK: send a zero checksum.
        self.sk_no_check_tx = False
        #: Set when a send failed for lack of send-buffer memory (SOCK_NOSPACE).
        self.sk_nospace = False
        self.sk_write_space = sock_def_write_space
        self.sk_drops = 0

    def err_handler(self, type_: int, code: int, info: int, skb=None) -> None:
        """An ICMP error about a datagram this socket sent (see ``stack.ipv4.icmp.sk_icmp_error``)."""
        udp_err_sk(self, type_, code, info)


# --- binding and connecting -----------------------------------------------------------------------------
def _conflicts(net, port: int, addr: int, sk) -> bool:
    for other in net.ipv4.udp_table.get(port, ()):
        if other is not sk and (not other.inet_rcv_saddr or not addr or other.inet_rcv_saddr == addr):
            return True
    return False


def udp_lib_get_port(sk, snum: int) -> int:
    """Hash ``sk`` on port ``snum`` (0: the first free ephemeral port); 0 or -EADDRINUSE."""
    net = sk.sk_net
    table = net.ipv4.udp_table
    if not snum:
        low, high = net.ipv4.sysctl_ip_local_port_range
        for port in range(low, high + 1):
            if not _conflicts(net, port, sk.inet_rcv_saddr, sk):
                snum = port
                break
        else:
            return -errno.EADDRINUSE
    elif _conflicts(net, snum, sk.inet_rcv_saddr, sk):
        return -errno.EADDRINUSE
    sk.inet_sport = snum
    table.setdefault(snum, []).append(sk)
    return 0


def udp_bind(sk, addr=0, port: int = 0) -> int:
    """``inet_bind`` for UDP: a local (or broadcast, or any) address and a port."""
    if sk.inet_sport:
        return -errno.EINVAL
    net = sk.sk_net
    addr = inet_addr(addr) if addr else 0
    if addr and inet_addr_type(net, addr) not in (RTN_LOCAL, RTN_BROADCAST):
        return -errno.EADDRNOTAVAIL
    sk.inet_rcv_saddr = addr
    sk.inet_saddr = addr if inet_addr_type(net, addr) == RTN_LOCAL else 0
    err = udp_lib_get_port(sk, port)
    if err:
        sk.inet_rcv_saddr = sk.inet_saddr = 0
    return err


def _autobind(sk) -> int:
    if sk.inet_sport:
        return 0
    return -errno.EAGAIN if udp_lib_get_port(sk, 0) else 0


def udp_connect(sk, daddr, dport: int) -> int:
    """``ip4_datagram_connect``: route, source address, peer, a fresh ``inet_id``, the cached route."""
    net = sk.sk_net
    if _autobind(sk):
        return -errno.EAGAIN
    daddr = inet_addr(daddr)
    rt = ip_route_output_ports(net, sk, daddr, sk.inet_saddr, dport, sk.inet_sport, IPPROTO_UDP)
    if IS_ERR(rt):
        if rt == -errno.ENETUNREACH:
            net.mib["IpOutNoRoutes"] += 1
        return rt
    if not sk.inet_saddr:
        sk.inet_saddr = rt.saddr
    if not sk.inet_rcv_saddr:
        sk.inet_rcv_saddr = rt.saddr
    sk.inet_daddr = daddr
    sk.inet_dport = dport
    sk.sk_state = _ESTABLISHED
    if net.kernel_version == "3.10":
        sk.inet_id = net.jiffies & 0xFFFF
    else:
        sk.inet_id = net.engine.choose_index(1 << 16, "inet_id")
    sk.sk_dst_cache = rt
    return 0


def udp_disconnect(sk) -> int:
    """``udp_disconnect``: forget the peer and the cached route."""
    sk.sk_state = _CLOSE
    sk.inet_daddr = 0
    sk.inet_dport = 0
    sk.sk_dst_cache = None
    return 0


def udp_close(sk) -> None:
    """Unhash, drop queued datagrams and the cached route."""
    net = sk.sk_net
    lst = net.ipv4.udp_table.get(sk.inet_sport)
    if lst and sk in lst:
        lst.remove(sk)
        if not lst:
            del net.ipv4.udp_table[sk.inet_sport]
    while sk.sk_receive_queue:
        kfree_skb(sk.sk_receive_queue.popleft())
    udp_disconnect(sk)
    sk.inet_sport = 0


# --- sending ----------------------------------------------------------------------------------------------
def ip_make_skb(sk, rt, saddr: int, daddr: int, data: bytes):
    """One skb with IP header, room for the UDP header, and ``data`` copied in; or a negative errno."""
    net = sk.sk_net
    dev = rt.dev
    mtu = rt.mtu
    length = len(data) + UDP_HLEN
    hlen = 20
    if sk.pmtudisc >= IP_PMTUDISC_DO and hlen + length > mtu:
        return -errno.EMSGSIZE
    if sk.sk_wmem_alloc >= sk.sk_sndbuf:
        sk.sk_nospace = True
        return -errno.EAGAIN
    skb = alloc_skb(net.skb, length, LL_RESERVED_SPACE(dev) + hlen)
    if skb is None:
        return -errno.ENOBUFS
    charge(net, "skb_alloc")
    skb_set_owner_w(skb, sk)
    uh = skb_put(skb, length)
    skb.transport_header = uh - skb.head
    if data:
        skb.mem.write(uh + UDP_HLEN, data)  # copy_from_user
        charge_bytes(net, "copy_from_user", len(data))
        net.count_copy("copy_from_user", len(data))
    cb = inet_skb_parm(rt)
    cb.ignore_df = sk.pmtudisc < IP_PMTUDISC_DO
    skb.cb = cb
    if hlen + length <= mtu and dev.features & (NETIF_F_HW_CSUM | NETIF_F_IP_CSUM):
        skb.ip_summed = CHECKSUM_PARTIAL
        skb.csum_start = skb.transport_header
        skb.csum_offset = 6
    # __ip_make_skb: the IP header
    frag_off = IP_DF if (sk.pmtudisc >= IP_PMTUDISC_DO
                         or (hlen + length <= mtu and ip_dont_fragment(sk, rt))) else 0
    ident = ip_select_ident(net, sk, saddr, daddr, IPPROTO_UDP, frag_off, cb.ignore_df)
    _push_iph(skb, sk.tos, frag_off, ip_select_ttl(sk, rt), IPPROTO_UDP, ident, saddr, daddr)
    skb.priority = sk.sk_priority
    return skb


def udp_send_skb(skb, saddr: int, daddr: int, sport: int, dport: int, payload_sum: int | None = None) -> int:
    """``udp_send_skb``: the UDP header and checksum, then ``ip_send_skb``; 0 or -errno."""
    sk = skb.sk
    net = sk.sk_net
    ulen = skb.len - (skb.transport_header - skb.network_header)
    if sk.sk_no_check_tx:
        check = 0
    elif skb.ip_summed == CHECKSUM_PARTIAL:
        check = csum_tcpudp_nofold(saddr, daddr, ulen, IPPROTO_UDP)  # udp4_hwcsum: the seed
    else:
        if payload_sum is None:
            off = skb.transport_header - (skb.data - skb.head) + UDP_HLEN
            payload_sum = skb_checksum(skb, off, ulen - UDP_HLEN)
        s = csum_partial(struct.pack("!HHHH", sport, dport, ulen, 0), payload_sum)
        check = csum_tcpudp_magic(saddr, daddr, ulen, IPPROTO_UDP, s) or CSUM_MANGLED_0
        charge_bytes(net, "csum_partial", ulen)
        net.ipv4.stats["sw_checksums"] += 1
    skb.mem.write(skb.head + skb.transport_header, struct.pack("!HHHH", sport, dport, ulen, check))
    err = ip_send_skb(net, skb)
    if err:
        if err == -errno.ENOBUFS and not sk.recverr:
            net.mib["UdpSndbufErrors"] += 1
            err = 0
    else:
        net.mib["UdpOutDatagrams"] += 1
    return err


def udp_sendmsg(sk, data, daddr=None, dport: int | None = None, flags: int = 0) -> int:
    """Send one datagram (module docstring); ``len(data)`` or a negative errno."""
    net = sk.sk_net
    charge(net, "udp_sendmsg")
    data = bytes(data)
    if len(data) > 0xFFFF - 20 - UDP_HLEN:
        return -errno.EMSGSIZE
    if daddr is not None:
        daddr = inet_addr(daddr)
        if not dport:
            return -errno.EINVAL
        connected = False
    else:
        if sk.sk_state != _ESTABLISHED:
            return -errno.EDESTADDRREQ
        daddr, dport = sk.inet_daddr, sk.inet_dport
        connected = True
    if _autobind(sk):
        return -errno.EAGAIN
    rt = __sk_dst_check(sk) if connected else None
    if rt is None:
        rt = ip_route_output_ports(net, sk, daddr, sk.inet_saddr, dport, sk.inet_sport, IPPROTO_UDP)
        if IS_ERR(rt):
            if rt == -errno.ENETUNREACH:
                net.mib["IpOutNoRoutes"] += 1
            return rt
        if connected:
            sk.sk_dst_cache = rt
    else:
        net.ipv4.stats["dst_cache_hits"] += 1
    saddr = sk.inet_saddr or rt.saddr
    skb = ip_make_skb(sk, rt, saddr, daddr, data)
    if type(skb) is int:
        if skb == -errno.ENOBUFS:
            net.mib["UdpSndbufErrors"] += 1
        return skb
    net.count("udp", 1, len(data))
    payload_sum = None if skb.ip_summed == CHECKSUM_PARTIAL else csum_partial(data)
    err = udp_send_skb(skb, saddr, daddr, sk.inet_sport, dport, payload_sum)
    return err if err else len(data)


# --- receiving ----------------------------------------------------------------------------------------------
def __udp4_lib_lookup(net, saddr: int, sport: int, daddr: int, dport: int, dev=None):
    """The socket for a datagram saddr:sport -> daddr:dport (most specific match wins), or None."""
    best, best_score = None, -1
    for sk in net.ipv4.udp_table.get(dport, ()):
        score = 0
        if sk.inet_rcv_saddr:
            if sk.inet_rcv_saddr != daddr:
                continue
            score += 4
        if sk.inet_daddr:
            if sk.inet_daddr != saddr:
                continue
            score += 4
        if sk.inet_dport:
            if sk.inet_dport != sport:
                continue
            score += 4
        if sk.sk_bound_dev_if is not None:
            if sk.sk_bound_dev_if is not dev:
                continue
            score += 4
        if score > best_score:
            best, best_score = sk, score
    return best


def udp_queue_rcv_skb(sk, skb) -> int:
    """Queue for the reader if the receive buffer has room (``__udp_enqueue_schedule_skb``)."""
    net = sk.sk_net
    if sk.sk_rmem_alloc + skb.truesize > sk.sk_rcvbuf:
        net.mib["UdpRcvbufErrors"] += 1
        net.mib["UdpInErrors"] += 1
        sk.sk_drops += 1
        kfree_skb(skb)
        return -1
    skb_orphan(skb)
    skb_set_owner_r(skb, sk)
    sk.sk_receive_queue.append(skb)
    ready = sk.sk_data_ready
    if ready is not None:
        ready(sk)
    return 0


def udp_rcv(skb) -> int:
    """``net.inet_protos[IPPROTO_UDP]`` (module docstring). Always 0 (the skb is consumed)."""
    net = skb.mem.net
    charge(net, "udp_rcv")
    net.count("udp_rx", 1, skb.len)
    mib = net.mib
    if skb.len < UDP_HLEN:
        mib["UdpInErrors"] += 1
        kfree_skb(skb)
        return 0
    sport, dport, ulen, check = struct.unpack(">HHHH", skb.mem.read(skb.data, UDP_HLEN))
    if ulen < UDP_HLEN or ulen > skb.len:
        mib["UdpInErrors"] += 1
        kfree_skb(skb)
        return 0
    pskb_trim(skb, ulen)
    nh = skb.mem.read(skb.head + skb.network_header + 12, 8)
    saddr, daddr = struct.unpack("!II", nh)
    if check and skb.ip_summed != CHECKSUM_UNNECESSARY:
        charge_bytes(net, "csum_partial", ulen)
        if csum_tcpudp_magic(saddr, daddr, ulen, IPPROTO_UDP, skb_checksum(skb, 0, ulen)):
            mib["UdpInCsumErrors"] += 1
            mib["UdpInErrors"] += 1
            kfree_skb(skb)
            return 0
        skb.ip_summed = CHECKSUM_UNNECESSARY
    sk = __udp4_lib_lookup(net, saddr, sport, daddr, dport, skb.dev)
    if sk is None:
        mib["UdpNoPorts"] += 1
        if inet_addr_type(net, daddr) != RTN_BROADCAST:
            icmp_send(skb, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0)
        kfree_skb(skb)
        return 0
    udp_queue_rcv_skb(sk, skb)
    return 0


def udp_recvmsg(sk, size: int = 65535):
    """Dequeue one datagram: ``(data, saddr, sport)`` (data cut to ``size``), or None if none is queued."""
    if not sk.sk_receive_queue:
        return None
    net = sk.sk_net
    charge(net, "udp_recvmsg")
    skb = sk.sk_receive_queue.popleft()
    sport, _dport, ulen, _check = struct.unpack(">HHHH", skb.mem.read(skb.data, UDP_HLEN))
    n = min(size, ulen - UDP_HLEN)
    data = skb_copy_bits(skb, UDP_HLEN, n)
    charge_bytes(net, "copy_to_user", n)
    net.ipv4.stats["copy_to_user_bytes"] += n
    saddr = int.from_bytes(skb.mem.read(skb.head + skb.network_header + 12, 4), "big")
    net.mib["UdpInDatagrams"] += 1
    consume_skb(skb)
    return data, saddr, sport


# --- errors -----------------------------------------------------------------------------------------------------
def udp_err_sk(sk, type_: int, code: int, info: int) -> None:
    """``__udp4_lib_err`` on a found socket: hard errors reach connected sockets (or ``recverr`` ones)."""
    harderr = False
    if type_ == ICMP_DEST_UNREACH:
        if code == ICMP_FRAG_NEEDED:
            if sk.pmtudisc == IP_PMTUDISC_DONT:
                return
            err, harderr = errno.EMSGSIZE, True
        else:
            err, harderr = icmp_err_convert.get(code, (errno.EHOSTUNREACH, False))
    elif type_ == ICMP_TIME_EXCEEDED:
        err = errno.EHOSTUNREACH
    else:
        return
    if not sk.recverr and (not harderr or sk.sk_state != _ESTABLISHED):
        return
    sk.sk_err = err
    if sk.sk_err_report is not None:
        sk.sk_err_report(sk)


def udp_err(net, info: dict) -> None:
    """ICMP error received about a datagram we sent (``info`` from ``icmp_rcv``): find the socket."""
    sk = __udp4_lib_lookup(net, info["daddr"], info["dport"], info["saddr"], info["sport"])
    if sk is not None:
        udp_err_sk(sk, info["type"], info["code"], info["info"])
