"""``net->ipv4`` and ``net->mib`` of one host (``include/net/netns/ipv4.h``, ``include/net/netns/mib.h``).

:class:`netns_ipv4` holds IPv4's sysctls, the FIB, the ARP table, the UDP
table and the fragment queues; ``MIB_FIELDS`` names the SNMP counters of
``net.mib``. Both are made by :func:`stack.ipv4.inet.inet_init`.
"""
from __future__ import annotations

from stack.core.jiffies import HZ
from .inetdevice import in_ifaddr

__all__ = ["MIB_FIELDS", "netns_ipv4"]
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
        #: Insertion counter of FIB entries (set to 0 by fib_init): each new entry's ``seq``, the
        #: tie-break between routes of equal prefix length and metric (the older one wins).
        self.fib_seq = 0
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
