"""IPv4 for one host: ``install``, interface addresses, routes, and what every IPv4 module shares.

Setting a host up (what ``ip addr``/``ip route``/``ip neigh`` would do)::

    from stack import inet
    inet.install(net)                                   # or inet.install(net, kernel_version="3.10")
    inet.ip_link_set_address(dev, "02:00:00:00:00:01")
    inet.ip_addr_add(net, dev, "10.0.0.1/24")           # + connected route, local and broadcast routes
    inet.ip_route_add(net, "0.0.0.0/0", via="10.0.0.254")
    inet.ip_neigh_add(net, dev, "10.0.0.2", "02:00:00:00:00:02")   # optional static entry

:func:`install` creates ``net.ipv4`` (:class:`netns_ipv4`: sysctls, FIB,
ARP table, UDP table, fragment queues), ``net.mib`` (the SNMP counters
under their ``nstat`` names: ``IpOutRequests``, ``IpExtOutOctets``,
``IpFragOKs``, ``UdpOutDatagrams``, ...), and registers ``net.ptype[ETH_P_IP] = ip_rcv``, ``net.ptype[ETH_P_ARP] =
arp_rcv``, ``net.inet_protos[IPPROTO_ICMP]`` and ``[IPPROTO_UDP]``. TCP
registers ``net.inet_protos[IPPROTO_TCP]`` itself.

``net.kernel_version`` ("recent", the default, or "3.10") selects the
behaviours that differ (stack_facts §12): the ARP unresolved-queue limit
(``SK_WMEM_MAX`` = 212992 bytes vs 64 KiB), the neighbour timer re-arm
floor (HZ/100 vs HZ/2), IP ID selection (``ip_select_ident_segs`` vs
``ip_select_ident_more``), where ``IpOutRequests`` is counted, whether a
GSO skb larger than the MTU is checked (recent) or passed (3.10).

**The device layer is reached through** ``net.dev_queue_xmit(skb) -> int``
(``skb.dev`` set, ``skb.data`` at the Ethernet header), an attribute:
``stack/core/dev.py``'s install sets it to its ``dev_queue_xmit``; if nothing
has set it, :func:`install` puts in a stub that calls
``stack.core.dev.dev_queue_xmit`` (imported on first use). Tests assign a fake.

Addresses are ``int`` (host byte order; ``in_aton``/``in_ntoa`` convert);
every API that takes an address also takes a dotted string.

The socket fields IPv4 reads and writes are those of :class:`inet_sock`
(Linux names); a protocol's socket object should subclass it (UDP's
``udp_sock`` does; TCP's sock should).

Shortcuts, all documented where they are made: there is no loopback
device (a route to a local address is refused with -EINVAL), ICMP errors
about locally sent packets go straight to the sending socket (what the
ICMP message looped back through ``lo`` would do), ICMP messages to remote
hosts are counted, not sent.
"""
from __future__ import annotations

import errno
import socket as _socket
import struct

from stack.core.jiffies import HZ
from stack.core.skbuff import SkBuff, skb_frag_bytes

__all__ = [
    "IPPROTO_ICMP", "IPPROTO_TCP", "IPPROTO_UDP", "IP_DF", "IP_MF", "IP_OFFSET", "IP_CE",
    "IP_PMTUDISC_DONT", "IP_PMTUDISC_WANT", "IP_PMTUDISC_DO", "IP_PMTUDISC_PROBE",
    "IP_MAX_MTU", "SK_WMEM_MAX", "SK_RMEM_MAX", "KERNEL_VERSIONS", "LL_RESERVED_SPACE", "CSUM_MANGLED_0",
    "ICMP_ECHOREPLY", "ICMP_DEST_UNREACH", "ICMP_ECHO", "ICMP_TIME_EXCEEDED",
    "ICMP_NET_UNREACH", "ICMP_HOST_UNREACH", "ICMP_PROT_UNREACH", "ICMP_PORT_UNREACH", "ICMP_FRAG_NEEDED",
    "MIB_FIELDS", "in_aton", "in_ntoa", "inet_addr", "inet_prefix", "inet_make_mask", "mac_aton", "mac_ntoa",
    "in_ifaddr", "in_device", "inet_skb_parm", "IPCB", "inet_sock", "netns_ipv4",
    "install", "inet_init", "ip_link_set_address", "ip_addr_add", "ip_addr_del", "ip_route_add",
    "ip_route_del", "ip_neigh_add", "ip_neigh_show",
    "csum_add", "csum_partial", "csum_fold", "ip_fast_csum", "csum_tcpudp_nofold", "csum_tcpudp_magic",
    "skb_copy_bits", "skb_checksum", "skb_checksum_help", "ip_hdr_read", "iphdr",
    "skb_set_owner_w", "sock_wfree", "skb_set_owner_r", "sock_rfree",
    "icmp_send", "sk_icmp_error", "icmp_err_convert", "inet_addr_local",
]

IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17

# iph->frag_off bits
IP_CE = 0x8000
IP_DF = 0x4000
IP_MF = 0x2000
IP_OFFSET = 0x1FFF

IP_PMTUDISC_DONT = 0
IP_PMTUDISC_WANT = 1
IP_PMTUDISC_DO = 2
IP_PMTUDISC_PROBE = 3

IP_MAX_MTU = 0xFFF0
#: ``SK_WMEM_MAX``/``SK_RMEM_MAX`` (and net.core.wmem_default/rmem_default): 212992.
SK_WMEM_MAX = 212992
SK_RMEM_MAX = 212992
CSUM_MANGLED_0 = 0xFFFF
KERNEL_VERSIONS = ("recent", "3.10")

ICMP_ECHOREPLY = 0
ICMP_DEST_UNREACH = 3
ICMP_ECHO = 8
ICMP_TIME_EXCEEDED = 11
ICMP_NET_UNREACH = 0
ICMP_HOST_UNREACH = 1
ICMP_PROT_UNREACH = 2
ICMP_PORT_UNREACH = 3
ICMP_FRAG_NEEDED = 4

#: ``icmp_err_convert``: DEST_UNREACH code -> (errno, fatal).
icmp_err_convert = {
    0: (errno.ENETUNREACH, True), 1: (errno.EHOSTUNREACH, True), 2: (errno.ENOPROTOOPT, True),
    3: (errno.ECONNREFUSED, True), 4: (errno.EMSGSIZE, False), 5: (errno.EOPNOTSUPP, False),
    6: (errno.ENETUNREACH, True), 7: (errno.EHOSTDOWN, True), 8: (errno.ENONET, True),
    9: (errno.ENETUNREACH, True), 10: (errno.EHOSTUNREACH, True), 11: (errno.ENETUNREACH, True),
    12: (errno.EHOSTUNREACH, True), 13: (errno.EHOSTUNREACH, True), 14: (errno.EHOSTUNREACH, True),
    15: (errno.EHOSTUNREACH, True),
}

#: The SNMP counters kept in ``net.mib`` (``nstat`` names), all starting at 0.
MIB_FIELDS = (
    "IpInReceives", "IpInHdrErrors", "IpInAddrErrors", "IpInUnknownProtos", "IpInDiscards",
    "IpInDelivers", "IpOutRequests", "IpOutDiscards", "IpOutNoRoutes", "IpReasmTimeout",
    "IpReasmReqds", "IpReasmOKs", "IpReasmFails", "IpFragOKs", "IpFragFails", "IpFragCreates",
    "IpOutTransmits",
    "IpExtInOctets", "IpExtOutOctets", "IpExtInCsumErrors", "IpExtInTruncatedPkts", "IpExtReasmOverlaps",
    "IcmpInMsgs", "IcmpInErrors", "IcmpInCsumErrors", "IcmpInDestUnreachs", "IcmpInTimeExcds",
    "IcmpInEchos", "IcmpInEchoReps", "IcmpOutMsgs", "IcmpOutDestUnreachs", "IcmpOutTimeExcds",
    "IcmpOutRateLimitHost",
    "UdpInDatagrams", "UdpNoPorts", "UdpInErrors", "UdpOutDatagrams", "UdpRcvbufErrors",
    "UdpSndbufErrors", "UdpInCsumErrors",
)


# --- addresses ----------------------------------------------------------------------------
def in_aton(text: str) -> int:
    """Dotted quad -> int (host order)."""
    return struct.unpack("!I", _socket.inet_aton(text))[0]


def in_ntoa(addr: int) -> str:
    """int (host order) -> dotted quad."""
    return _socket.inet_ntoa(struct.pack("!I", addr & 0xFFFFFFFF))


def inet_addr(addr) -> int:
    """An address given as int or dotted string, as an int."""
    if isinstance(addr, str):
        return in_aton(addr)
    if not 0 <= addr <= 0xFFFFFFFF:
        raise ValueError(f"not an IPv4 address: {addr!r}")
    return addr


def inet_make_mask(plen: int) -> int:
    return (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF if plen else 0


def inet_prefix(text: str) -> tuple[int, int]:
    """"10.0.0.1/24" -> (address, 24); no "/len" means /32; "default" is 0.0.0.0/0."""
    if text == "default":
        return 0, 0
    addr, _, plen = text.partition("/")
    n = int(plen) if plen else 32
    if not 0 <= n <= 32:
        raise ValueError(f"bad prefix length in {text!r}")
    return in_aton(addr), n


def mac_aton(mac) -> bytes:
    """"02:00:00:00:00:01" (or 6 bytes) -> 6 bytes."""
    if isinstance(mac, (bytes, bytearray)):
        if len(mac) != 6:
            raise ValueError(f"a MAC address is 6 bytes, not {len(mac)}")
        return bytes(mac)
    out = bytes(int(x, 16) for x in mac.split(":"))
    if len(out) != 6:
        raise ValueError(f"bad MAC address {mac!r}")
    return out


def mac_ntoa(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def LL_RESERVED_SPACE(dev) -> int:
    """Headroom the link layer needs, rounded as Linux does (16 for Ethernet): HH_DATA_MOD = 16."""
    return ((dev.hard_header_len + dev.needed_headroom) & ~15) + 16


# --- per-device and per-net state ------------------------------------------------------------
class in_ifaddr:
    """One IPv4 address on a device (``struct in_ifaddr``)."""

    __slots__ = ("ifa_local", "ifa_prefixlen", "ifa_mask", "ifa_broadcast", "ifa_dev")

    def __init__(self, local: int, prefixlen: int, broadcast: int, in_dev: "in_device"):
        self.ifa_local = local
        self.ifa_prefixlen = prefixlen
        self.ifa_mask = inet_make_mask(prefixlen)
        self.ifa_broadcast = broadcast
        self.ifa_dev = in_dev

    def __repr__(self) -> str:
        return f"<in_ifaddr {in_ntoa(self.ifa_local)}/{self.ifa_prefixlen} dev {self.ifa_dev.dev.name}>"


class in_device:
    """The IPv4 side of a device (``dev->ip_ptr``): its addresses, its ARP parameters, its config."""

    def __init__(self, dev, arp_parms):
        self.dev = dev
        self.ifa_list: list[in_ifaddr] = []
        #: ``neigh_parms`` of this device for ARP (a copy of the table's defaults).
        self.arp_parms = arp_parms
        #: ``/proc/sys/net/ipv4/conf/<dev>/``: the knobs ARP reads.
        self.cnf = {"arp_announce": 0, "arp_ignore": 0, "arp_accept": 0, "forwarding": 0}


def __in_dev_get(dev) -> in_device | None:
    return getattr(dev, "ip_ptr", None)


in_dev_get = __in_dev_get


class inet_skb_parm:
    """``IPCB(skb)``: what IP keeps per skb in ``skb->cb`` (and the skb bits the model keeps here).

    ``dst`` is the route (``skb_dst``), ``ignore_df`` the skb's ``ignore_df``
    bit (3.10 ``local_df``), ``dst_pending_confirm`` the skb bit TCP sets
    from ``sk_dst_pending_confirm``, ``flags`` the IPSKB_* flags,
    ``frag_max_size`` the largest fragment seen in reassembly.

    IP owns ``skb.cb`` from ``ip_queue_xmit`` on, as in Linux (TCP clears
    the cb for IP before the hand-off): the upper layer's cb object on that
    skb is replaced.
    """

    __slots__ = ("dst", "flags", "frag_max_size", "ignore_df", "dst_pending_confirm", "iif")

    def __init__(self, dst=None):
        self.dst = dst
        self.flags = 0
        self.frag_max_size = 0
        self.ignore_df = False
        self.dst_pending_confirm = False
        self.iif = None

    def copy(self) -> "inet_skb_parm":
        c = inet_skb_parm(self.dst)
        c.flags = self.flags
        c.frag_max_size = self.frag_max_size
        c.ignore_df = self.ignore_df
        c.dst_pending_confirm = self.dst_pending_confirm
        c.iif = self.iif
        return c


def IPCB(skb: SkBuff) -> inet_skb_parm:
    """``IPCB(skb)``; creates an empty one when the skb has none (or another layer's)."""
    cb = skb.cb
    if type(cb) is not inet_skb_parm:
        cb = skb.cb = inet_skb_parm()
    return cb


class inet_sock:
    """The fields of ``struct sock``/``struct inet_sock`` the IPv4 layer reads and writes.

    Addresses are ints (host order), ports ints. Read by IP: ``inet_saddr``
    (0: take the route's source), ``inet_daddr``, ``inet_sport``,
    ``inet_dport``, ``tos``, ``uc_ttl`` (-1: route/sysctl default 64),
    ``pmtudisc`` (IP_PMTUDISC_WANT unless ``ip_no_pmtu_disc``),
    ``sk_priority``, ``sk_bound_dev_if`` (a device or None),
    ``sk_dst_pending_confirm`` (set it to 1 on forward progress:
    ``sk_dst_confirm``; the next transmit confirms the neighbour and clears
    it). Written by IP: ``sk_dst_cache`` (the cached route), ``inet_id``
    (advanced per packet), ``sk_route_caps``, ``sk_gso_max_size``,
    ``sk_gso_max_segs`` (``sk_setup_caps``). Memory: ``sk_wmem_alloc``
    against ``sk_sndbuf`` (``skb_set_owner_w``/``sock_wfree``, which calls
    ``sk_write_space(sk)`` when set), ``sk_rmem_alloc`` against
    ``sk_rcvbuf``. Errors: ``sk_err`` and the callback ``sk_err_report(sk)``
    (Linux ``sk_error_report``); a protocol that wants the ICMP details
    defines ``err_handler(type, code, info, skb)`` instead (UDP's is ``udp_err``).
    """

    sk_protocol = 0

    def __init__(self, net):
        self.sk_net = net
        ipv4 = getattr(net, "ipv4", None)
        self.inet_saddr = 0
        self.inet_rcv_saddr = 0
        self.inet_daddr = 0
        self.inet_sport = 0
        self.inet_dport = 0
        self.inet_id = 0
        self.uc_ttl = -1
        self.tos = 0
        self.pmtudisc = (IP_PMTUDISC_DONT if ipv4 is not None and ipv4.sysctl_ip_no_pmtu_disc
                         else IP_PMTUDISC_WANT)
        self.recverr = False
        self.sk_priority = 0
        self.sk_bound_dev_if = None
        self.sk_dst_cache = None
        self.sk_dst_pending_confirm = 0
        self.sk_route_caps = 0
        self.sk_gso_type = 0
        self.sk_gso_max_size = 0
        self.sk_gso_max_segs = 0
        self.sk_sndbuf = SK_WMEM_MAX
        self.sk_rcvbuf = SK_RMEM_MAX
        self.sk_wmem_alloc = 0
        self.sk_rmem_alloc = 0
        self.sk_err = 0
        self.sk_err_soft = 0
        #: Callbacks the sockets layer sets: errors, write space freed, data arrived.
        self.sk_err_report = None
        self.sk_write_space = None
        self.sk_data_ready = None

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {in_ntoa(self.inet_saddr)}:{self.inet_sport} -> "
                f"{in_ntoa(self.inet_daddr)}:{self.inet_dport}>")


class netns_ipv4:
    """``net->ipv4`` of the model: sysctls, tables and state of IPv4 on one host."""

    def __init__(self, net, kernel_version: str):
        self.net = net
        self.kernel_version = kernel_version
        # sysctls (net.ipv4.*)
        self.sysctl_ip_default_ttl = 64
        self.sysctl_ip_no_pmtu_disc = 0
        self.sysctl_ip_local_port_range = (32768, 60999)
        #: ipfrag_time 30 s; ipfrag_high_thresh 4 MiB (3.10: 256 KiB).
        self.ipfrag_time = 30 * HZ
        self.ipfrag_high_thresh = 4 * 1024 * 1024 if kernel_version == "recent" else 256 * 1024
        #: address -> in_ifaddr of every local address.
        self.local_addrs: dict[int, in_ifaddr] = {}
        #: Set by stack.ipv4.route.fib_init: the local and main FIB tables; bumped on any change.
        self.fib_local = None
        self.fib_main = None
        self.rt_genid = 0
        #: Route lookups and socket dst-cache hits (``ip_route_output`` vs ``__sk_dst_check``).
        #: Receive-side payload copies (``ip_defrag``, ``copy_to_user``) are counted here, not in
        #: ``net.copy_bytes``, which the report divides by the bytes *sent*.
        self.stats = {"route_lookups": 0, "dst_cache_hits": 0, "dst_cache_misses": 0,
                      "headroom_reallocs": 0, "sw_checksums": 0, "gso_oversize_drops": 0,
                      "defrag_copy_bytes": 0, "copy_to_user_bytes": 0}
        #: Set by stack.ipv4.arp.arp_init.
        self.arp_tbl = None
        #: The IP ID generator of unconnected traffic: (saddr, daddr, protocol) -> next id.
        self.ip_idents: dict[tuple[int, int, int], int] = {}
        #: UDP sockets by local port (udp_table).
        self.udp_table: dict[int, list] = {}
        #: Fragment queues (ipq) by (saddr, daddr, id, protocol).
        self.frags: dict = {}
        self.frag_mem = 0
        #: ICMP error handlers of the transport protocols: proto -> fn(net, info dict).
        self.err_handlers: dict[int, object] = {}


# --- install and configuration --------------------------------------------------------------
def install(net, kernel_version: str | None = None) -> netns_ipv4:
    """Set up IPv4 on ``net`` (idempotent): state, FIB, ARP, the ptype and inet_protos handlers.

    ``kernel_version`` (else ``net.kernel_version``, else "recent") is
    stored as ``net.kernel_version``.
    """
    existing = getattr(net, "ipv4", None)
    if existing is not None:
        return existing
    version = kernel_version or getattr(net, "kernel_version", None) or "recent"
    if version not in KERNEL_VERSIONS:
        raise ValueError(f"kernel_version {version!r}: one of {KERNEL_VERSIONS}")
    net.kernel_version = version
    from . import arp, ip_input, route, udp
    from stack.core.skbuff import ETH_P_IP

    ipv4 = net.ipv4 = netns_ipv4(net, version)
    net.mib = dict.fromkeys(MIB_FIELDS, 0)
    route.fib_init(net)
    arp.arp_init(net)
    net.ptype[ETH_P_IP] = ip_input.ip_rcv
    net.inet_protos[IPPROTO_ICMP] = ip_input.icmp_rcv
    net.inet_protos[IPPROTO_UDP] = udp.udp_rcv
    ipv4.err_handlers[IPPROTO_UDP] = udp.udp_err
    if getattr(net, "dev_queue_xmit", None) is None:
        net.dev_queue_xmit = _dev_queue_xmit_default
    return ipv4


inet_init = install


def _dev_queue_xmit_default(skb) -> int:
    """``net.dev_queue_xmit`` until the device layer sets it: ``stack.core.dev.dev_queue_xmit``."""
    try:
        from stack.core import dev as _dev  # type: ignore[attr-defined]
    except ImportError as exc:  # pragma: no cover - depends on the device layer being there
        raise RuntimeError("no device layer: set net.dev_queue_xmit (stack.core.dev.install does)") from exc
    return _dev.dev_queue_xmit(skb)


def _ipv4(net) -> netns_ipv4:
    ipv4 = getattr(net, "ipv4", None)
    if ipv4 is None:
        raise RuntimeError("IPv4 is not installed on this net: call stack.ipv4.inet.install(net) first")
    return ipv4


def ip_link_set_address(dev, mac) -> None:
    """``ip link set dev DEV address MAC``."""
    dev.dev_addr = mac_aton(mac)


def _in_dev_create(net, dev) -> in_device:
    in_dev = __in_dev_get(dev)
    if in_dev is None:
        from stack.neighbour import neigh_parms_clone
        in_dev = dev.ip_ptr = in_device(dev, neigh_parms_clone(_ipv4(net).arp_tbl.parms))
    return in_dev


def ip_addr_add(net, dev, cidr: str, broadcast=None) -> in_ifaddr:
    """``ip addr add CIDR dev DEV`` (brd: the subnet's all-ones unless given).

    Adds the local route (RTN_LOCAL), the broadcast route, and the
    connected route ``prefix/len dev DEV scope link src ADDR`` (main table).
    """
    from . import route
    ipv4 = _ipv4(net)
    addr, plen = inet_prefix(cidr)
    if addr in ipv4.local_addrs:
        raise ValueError(f"{in_ntoa(addr)} is already configured")
    mask = inet_make_mask(plen)
    if broadcast is None:
        brd = (addr | ~mask) & 0xFFFFFFFF if plen < 31 else 0
    else:
        brd = inet_addr(broadcast)
    in_dev = _in_dev_create(net, dev)
    ifa = in_ifaddr(addr, plen, brd, in_dev)
    in_dev.ifa_list.append(ifa)
    ipv4.local_addrs[addr] = ifa
    route.fib_add_ifaddr(net, ifa)
    return ifa


def ip_addr_del(net, dev, cidr: str) -> None:
    """``ip addr del CIDR dev DEV``: the address and the routes it brought."""
    from . import route
    ipv4 = _ipv4(net)
    addr, plen = inet_prefix(cidr)
    in_dev = __in_dev_get(dev)
    ifa = ipv4.local_addrs.get(addr)
    if in_dev is None or ifa is None or ifa.ifa_dev is not in_dev or ifa.ifa_prefixlen != plen:
        raise ValueError(f"{cidr} is not configured on {dev.name}")
    in_dev.ifa_list.remove(ifa)
    del ipv4.local_addrs[addr]
    route.fib_del_ifaddr(net, ifa)


def ip_route_add(net, prefix: str, via=None, dev=None, src=None, mtu: int | None = None,
                 mtu_lock: bool = False, hoplimit: int | None = None, metric: int = 0):
    """``ip route add PREFIX [via GW] [dev DEV] [src ADDR] [mtu [lock] N] [hoplimit N] [metric N]``.

    A gateway must be reachable on-link (through a connected route); the
    device defaults to that route's. Returns the FIB entry.
    """
    from . import route
    return route.fib_route_add(net, prefix, via=via, dev=dev, src=src, mtu=mtu, mtu_lock=mtu_lock,
                               hoplimit=hoplimit, metric=metric)


def ip_route_del(net, prefix: str, via=None, dev=None) -> None:
    """``ip route del PREFIX [via GW] [dev DEV]``."""
    from . import route
    route.fib_route_del(net, prefix, via=via, dev=dev)


def ip_neigh_add(net, dev, addr, lladdr, permanent: bool = True):
    """``ip neigh replace ADDR lladdr MAC dev DEV nud permanent`` (or ``nud reachable``)."""
    from stack.neighbour import NEIGH_UPDATE_F_ADMIN, NEIGH_UPDATE_F_OVERRIDE, NUD_PERMANENT, NUD_REACHABLE
    from stack.neighbour import __neigh_lookup, neigh_update
    n = __neigh_lookup(_ipv4(net).arp_tbl, inet_addr(addr), dev, True)
    if isinstance(n, int):
        raise ValueError(f"cannot create a neighbour for {addr} on {dev.name}: {n}")
    neigh_update(n, mac_aton(lladdr), NUD_PERMANENT if permanent else NUD_REACHABLE,
                 NEIGH_UPDATE_F_OVERRIDE | NEIGH_UPDATE_F_ADMIN)
    return n


def ip_neigh_show(net) -> list[tuple[str, str, str, str]]:
    """``ip neigh show``: (address, device, lladdr, state) per entry."""
    from stack.neighbour import nud_name
    out = []
    for dev, entries in _ipv4(net).arp_tbl.hash.items():
        for key, n in entries.items():
            out.append((in_ntoa(key), dev.name, mac_ntoa(n.ha), nud_name(n.nud_state)))
    return out


def inet_addr_local(net, addr: int):
    """The ``in_ifaddr`` if ``addr`` is one of this host's addresses, else None."""
    return net.ipv4.local_addrs.get(addr)


# --- checksums (one's complement, as lib/checksum.c computes them) ---------------------------------
def csum_add(a: int, b: int) -> int:
    """One's complement sum of two folded 16-bit sums."""
    s = a + b
    return (s & 0xFFFF) + (s >> 16)


def csum_partial(data, initial: int = 0) -> int:
    """Folded (16-bit, uncomplemented) one's complement sum of ``data`` (zero-padded to even) + ``initial``.

    The sum of big-endian 16-bit words with end-around carry equals the
    data's value as a big integer modulo 0xFFFF (2**16 = 1 mod 0xFFFF),
    with 0xFFFF standing for the "negative zero" of non-zero data.
    """
    if len(data) & 1:
        data = bytes(data) + b"\0"
    n = int.from_bytes(data, "big")
    s = n % 0xFFFF
    if s == 0 and n:
        s = 0xFFFF
    return csum_add(s, initial) if initial else s


def csum_fold(s: int) -> int:
    """``csum_fold``: the complemented 16-bit checksum of a folded sum."""
    return ~s & 0xFFFF


def ip_fast_csum(hdr) -> int:
    """``ip_fast_csum``: the header checksum over ``hdr`` (0 when ``hdr`` carries a valid one)."""
    return csum_fold(csum_partial(hdr))


def csum_tcpudp_nofold(saddr: int, daddr: int, length: int, proto: int, s: int = 0) -> int:
    """Pseudo-header sum (saddr, daddr, proto, length) + ``s``, folded, uncomplemented."""
    p = (saddr >> 16) + (saddr & 0xFFFF) + (daddr >> 16) + (daddr & 0xFFFF) + proto + length
    while p >> 16:
        p = (p & 0xFFFF) + (p >> 16)
    return csum_add(p, s) if s else p


def csum_tcpudp_magic(saddr: int, daddr: int, length: int, proto: int, s: int = 0) -> int:
    """``csum_tcpudp_magic``: the complemented checksum with the pseudo-header."""
    return csum_fold(csum_tcpudp_nofold(saddr, daddr, length, proto, s))


# --- skb bytes --------------------------------------------------------------------------------------
def skb_copy_bits(skb: SkBuff, offset: int, length: int) -> bytes:
    """``length`` bytes of the packet from ``offset`` (relative to ``data``), linear part then frags."""
    if offset < 0 or offset + length > skb.len:
        raise ValueError(f"skb_copy_bits({offset}, {length}) outside {skb!r}")
    mem = skb.mem
    headlen = skb.len - skb.data_len
    parts = []
    if offset < headlen:
        n = min(length, headlen - offset)
        parts.append(mem.read(skb.data + offset, n))
        offset += n
        length -= n
    pos = headlen
    for frag in skb.shinfo.frags:
        if not length:
            break
        end = pos + frag.size
        if offset < end:
            n = min(length, end - offset)
            parts.append(skb_frag_bytes(mem, frag)[offset - pos:offset - pos + n])
            offset += n
            length -= n
        pos = end
    return b"".join(parts)


def skb_checksum(skb: SkBuff, offset: int, length: int, initial: int = 0) -> int:
    """Folded one's complement sum over ``length`` bytes from ``offset`` (relative to ``data``)."""
    return csum_partial(skb_copy_bits(skb, offset, length), initial)


def skb_checksum_help(skb: SkBuff) -> int:
    """``skb_checksum_help`` (one implementation: :func:`stack.core.dev.skb_checksum_help`), counted for IPv4."""
    from stack.core.dev import skb_checksum_help as _help
    from stack.core.skbuff import CHECKSUM_PARTIAL
    was_partial = skb.ip_summed == CHECKSUM_PARTIAL
    ret = _help(skb)
    net = skb.mem.net
    if not ret and was_partial and net is not None and getattr(net, "ipv4", None) is not None:
        net.ipv4.stats["sw_checksums"] += 1
    return ret


class iphdr:
    """A parsed IPv4 header (fields as in ``struct iphdr``; addresses as ints)."""

    __slots__ = ("version", "ihl", "tos", "tot_len", "id", "frag_off", "ttl", "protocol", "check",
                 "saddr", "daddr", "raw")

    def __init__(self, raw: bytes):
        vihl, self.tos, self.tot_len, self.id, self.frag_off, self.ttl, self.protocol, self.check, \
            self.saddr, self.daddr = struct.unpack_from("!BBHHHBBHII", raw)
        self.version = vihl >> 4
        self.ihl = vihl & 0xF
        self.raw = raw


def ip_hdr_read(skb: SkBuff) -> iphdr:
    """The IPv4 header at ``skb.network_header`` (options included in ``raw``)."""
    addr = skb.head + skb.network_header
    first = skb.mem.read(addr, 20)
    ihl = (first[0] & 0xF) * 4
    raw = first if ihl <= 20 else first + skb.mem.read(addr + 20, ihl - 20)
    return iphdr(raw)


# --- accounting helpers ---------------------------------------------------------------------------
def sock_wfree(skb: SkBuff) -> None:
    """Destructor of an skb charged to its socket's send buffer (``sock_wfree``)."""
    sk = skb.sk
    if sk is None:
        return
    sk.sk_wmem_alloc -= skb.truesize
    ws = getattr(sk, "sk_write_space", None)
    if ws is not None:
        ws(sk)


def skb_set_owner_w(skb: SkBuff, sk) -> None:
    """Charge ``skb`` to ``sk``'s send buffer; freed by :func:`sock_wfree`."""
    skb.sk = sk
    skb.destructor = sock_wfree
    sk.sk_wmem_alloc = getattr(sk, "sk_wmem_alloc", 0) + skb.truesize


def sock_rfree(skb: SkBuff) -> None:
    """Destructor of an skb charged to its socket's receive buffer (``sock_rfree``)."""
    sk = skb.sk
    if sk is not None:
        sk.sk_rmem_alloc -= skb.truesize


def skb_set_owner_r(skb: SkBuff, sk) -> None:
    """Charge ``skb`` to ``sk``'s receive buffer (``skb_set_owner_r``)."""
    skb.sk = sk
    skb.destructor = sock_rfree
    sk.sk_rmem_alloc += skb.truesize


# --- ICMP errors ----------------------------------------------------------------------------------
def icmp_send(skb: SkBuff, type_: int, code: int, info: int = 0) -> None:
    """``icmp_send``: an ICMP error about ``skb`` (its network header must be set).

    An error about a packet this host sent (its source is local) is
    delivered to the sending socket, ``skb.sk``, as the ICMP message looped
    back through ``lo`` would be (``icmp_rcv`` -> the protocol's
    ``err_handler``): counted as sent and received. An error for a remote
    host would be transmitted; the model only counts it.
    """
    net = skb.mem.net
    mib = net.mib
    mib["IcmpOutMsgs"] += 1
    if type_ == ICMP_DEST_UNREACH:
        mib["IcmpOutDestUnreachs"] += 1
    elif type_ == ICMP_TIME_EXCEEDED:
        mib["IcmpOutTimeExcds"] += 1
    iph = ip_hdr_read(skb)
    if iph.saddr not in net.ipv4.local_addrs:
        return  # to a remote host: not transmitted in the model
    mib["IcmpInMsgs"] += 1
    if type_ == ICMP_DEST_UNREACH:
        mib["IcmpInDestUnreachs"] += 1
    elif type_ == ICMP_TIME_EXCEEDED:
        mib["IcmpInTimeExcds"] += 1
    sk = skb.sk
    if sk is not None:
        sk_icmp_error(sk, type_, code, info, skb)


def sk_icmp_error(sk, type_: int, code: int, info: int, skb: SkBuff | None = None) -> None:
    """Hand an ICMP error to a socket: its ``err_handler`` if it has one, else ``sk_err`` + ``sk_err_report``."""
    handler = getattr(sk, "err_handler", None)
    if handler is not None:
        handler(type_, code, info, skb)
        return
    if type_ == ICMP_DEST_UNREACH:
        err = icmp_err_convert.get(code, (errno.EHOSTUNREACH, True))[0]
    elif type_ == ICMP_TIME_EXCEEDED:
        err = errno.EHOSTUNREACH
    else:
        return
    sk.sk_err = err
    report = getattr(sk, "sk_err_report", None)
    if report is not None:
        report(sk)
