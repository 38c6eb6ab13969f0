"""The device layer: ``dev_queue_xmit`` down to the driver, and ``netif_rx``/``netif_receive_skb`` up.

``net/core/dev.c`` (stack_facts §7, §9.1, §10); the qdiscs it runs are
:mod:`stack.core.qdisc` (``net/sched/sch_generic.c``):

**Transmit.** :func:`dev_queue_xmit` resets the MAC header, picks a TX
queue (:func:`netdev_pick_tx`) and hands the skb to that queue's qdisc
(:func:`__dev_xmit_skb`: enqueue and run it, or bypass an empty one). It runs in the caller's context (a sender's
``task:``, or a softirq) — Linux disables BHs around it, so what it raises
(NET_TX, say) runs right after, on the same CPU, as softirq time. The
qdisc hands skbs on through :func:`validate_xmit_skb` (software checksum
when the device cannot offload it for the protocol; software GSO, software
VLAN insertion and linearising are not modelled — igb needs none of them:
it offloads TSO for TCPv4/v6, checksums, VLAN insertion and takes page
frags — and raise ``NotImplementedError`` if a device would need them)
and :func:`dev_hard_start_xmit`, which gives each skb of a (bulk) chain to
the driver with the ``xmit_more`` hint and copies it to the packet taps
first.

Queue selection (``netdev_pick_tx``/``__netdev_pick_tx``): one real TX
queue → 0; ``ndo_select_queue`` if the driver has one (igb has not); else
the socket's cached queue (``sk.sk_tx_queue_mapping``) unless the skb says
``ooo_okay``, none is cached or it is out of range; then XPS
(``dev.xps_cpus``: queue → CPUs; the current CPU's queues, one picked by
the flow hash if several), else ``skb_tx_hash``: recent kernels scale the
flow hash (``skb.hash`` if the caller set it, else a jhash of the
canonical IP addresses and ports read from the headers) onto the real
queues; 3.10 hashes the socket's ``sk_hash`` or the protocol. The pick is
cached on a socket that has a route (``sk.sk_dst_cache`` not None, or no
such attribute). Linux seeds its flow hash with a random key at boot; the
model's hash is reproducible (seed 0).

**Packet taps.** ``dev.taps`` holds callables ``fn(frame, direction,
dev)``: ``frame`` a copy of the frame's bytes from the MAC header,
``direction`` ``"tx"`` (each skb handed to the driver, just before
``ndo_start_xmit`` — a retried skb is seen again, as tcpdump sees it) or
``"rx"`` (each skb ``netif_receive_skb`` delivers). The time is
``dev.net.engine.now``.

**Receive.** :func:`netif_rx` queues an skb on the current CPU's backlog
(``netdev_max_backlog``: accepted while at most 1000 wait, else dropped and
counted in ``softnet_stat`` dropped) and schedules that CPU's backlog NAPI,
which :func:`process_backlog` runs in NET_RX softirq context (weight
``dev_weight``, 64), calling :func:`netif_receive_skb`: Ethernet header
pulled and ``protocol`` set if the caller did not (``eth_type_trans``),
``softnet_stat`` processed + 1, taps, then ``net.ptype[protocol](skb,
dev)``; no handler → ``dev.rx_nohandler`` + 1 and the skb is dropped.
RPS, GRO, VLAN acceleration on receive, ``pkt_type`` and the flow limit are
not modelled.

Every function charges its CPU cost (:func:`stack.core.cputime.charge`) in the
context it runs in, and counts in ``net.count``.
"""
from __future__ import annotations

import inspect
import struct
from functools import partial

from .bitops import __test_and_set_bit
from .checksum import CSUM_MANGLED_0, csum_fold, csum_partial
from .cputime import charge
from .errno import EINVAL
from .napi import NAPI_STATE_SCHED, napi_schedule_on, napi_state_alloc, napi_struct
from .netdevice import (NET_RX_DROP, NET_RX_SUCCESS, NET_XMIT_DROP, NET_XMIT_MASK, NET_XMIT_SUCCESS, NETDEV_TX_BUSY, NETDEV_TX_OK,
                        NETIF_F_HW_CSUM, NETIF_F_HW_VLAN_CTAG_TX, NETIF_F_IP_CSUM, NETIF_F_IPV6_CSUM, NETIF_F_SG,
                        __LINK_STATE_START, NetDevice, __netdev_watchdog_up, netdev_get_tx_queue, netdev_start_xmit,
                        netif_carrier_ok, netif_running, netif_trans_update, netif_tx_queue_stopped)
from .qdisc import (Qdisc, TCQ_F_CAN_BYPASS, TCQ_F_NOLOCK, __netif_reschedule, __qdisc_run,
                    __QDISC_STATE_DEACTIVATED, __QDISC_STATE_SCHED, bstats_update, dev_activate, dev_deactivate,
                    dev_xmit_complete, nolock_qdisc_is_empty, noop_qdisc, qdisc_run, qdisc_run_begin,
                    qdisc_run_end, sch_direct_xmit)
from .skbuff import (CHECKSUM_COMPLETE, CHECKSUM_NONE, CHECKSUM_PARTIAL, CHECKSUM_UNNECESSARY, ETH_HLEN,
                     ETH_P_8021Q, ETH_P_IP, ETH_P_IPV6, SKB_GSO_TCPV4, SKB_GSO_TCPV6, kfree_skb, pskb_expand_head,
                     skb_checksum_start_offset, skb_header_cloned, skb_is_gso, skb_mac_header_was_set, skb_pull,
                     skb_reset_mac_header, skb_reset_network_header, skb_reset_transport_header,
                     skb_to_bytes, skb_transport_header_was_set, vlan_get_protocol)
from .spinlock import local_bh_disable, local_bh_enable, spin_lock, spin_trylock, spin_unlock

__all__ = [
    "NETIF_F_GSO_SHIFT", "NETIF_F_GSO_MASK", "NETIF_F_CSUM_MASK",
    "dev_queue_xmit", "netdev_pick_tx", "__netdev_pick_tx", "dev_cap_txqueue",
    "get_xps_queue", "skb_tx_hash", "skb_get_hash", "reciprocal_scale", "jhash_3words", "jhash_1word",
    "sk_tx_queue_get", "sk_tx_queue_set", "can_checksum_protocol", "netif_skb_features", "net_gso_ok",
    "validate_xmit_skb", "validate_xmit_skb_list", "skb_checksum_help", "dev_queue_xmit_nit", "xmit_one",
    "dev_hard_start_xmit", "eth_type_trans", "netif_receive_skb", "netif_rx",
    "enqueue_to_backlog", "process_backlog", "qdisc_pkt_len_init", "dev_qdisc_enqueue", "__dev_xmit_skb",
    "dev_open", "dev_close", "net_tx_action", "net_dev_init",
]

#: ``NETIF_F_GSO_SHIFT``: feature bit of GSO type ``t`` is ``t << 16`` (NETIF_F_TSO = SKB_GSO_TCPV4 << 16).
NETIF_F_GSO_SHIFT = 16
NETIF_F_GSO_MASK = ((1 << 18) - 1) << NETIF_F_GSO_SHIFT
NETIF_F_CSUM_MASK = NETIF_F_IP_CSUM | NETIF_F_HW_CSUM | NETIF_F_IPV6_CSUM
_U32 = 0xFFFF_FFFF


# --- __dev_xmit_skb ---------------------------------------------------------------------------
def qdisc_pkt_len_init(skb) -> None:
    """``pkt_len = len``, plus the headers of the other segments for GSO: ``(gso_segs - 1) × hdr_len``.

    ``hdr_len`` = MAC + network headers (transport offset from the MAC
    header) + the TCP header (its data offset, read from the packet) or 8
    for UDP.
    """
    skb.pkt_len = skb.len
    sh = skb.shinfo
    if sh.gso_size and skb.transport_header != 0xFFFF:
        hdr_len = skb.transport_header - skb.mac_header
        if sh.gso_type & (SKB_GSO_TCPV4 | SKB_GSO_TCPV6):
            doff = skb.mem.read(skb.head + skb.transport_header + 12, 1)
            hdr_len += (doff[0] >> 4) * 4
        else:
            hdr_len += 8
        skb.pkt_len += (sh.gso_segs - 1) * hdr_len


def dev_qdisc_enqueue(skb, q: Qdisc, txq) -> int:
    return q.enqueue(skb) & NET_XMIT_MASK


def __dev_xmit_skb(skb, q: Qdisc, dev, txq) -> int:
    """Queue ``skb`` on ``q`` or send it straight to the driver when the qdisc is empty; NET_XMIT_*."""
    net = q.net
    qdisc_pkt_len_init(skb)
    if q.flags & TCQ_F_NOLOCK:
        if q.flags & TCQ_F_CAN_BYPASS and nolock_qdisc_is_empty(q) and qdisc_run_begin(q):
            if not nolock_qdisc_is_empty(q):  # retest under the seqlock (a requeue raced)
                rc = dev_qdisc_enqueue(skb, q, txq)
                __qdisc_run(q)
                qdisc_run_end(q)
                return rc
            bstats_update(q, skb)
            q.bypasses += 1
            net.count("qdisc_bypass", 1, skb.len)
            if sch_direct_xmit(skb, q, dev, txq, None, True) and not nolock_qdisc_is_empty(q):
                __qdisc_run(q)
            qdisc_run_end(q)
            return NET_XMIT_SUCCESS
        rc = dev_qdisc_enqueue(skb, q, txq)
        qdisc_run(q)
        return rc
    # locked qdiscs (every qdisc in 3.10; noop): under the root lock
    root_lock = q.q_lock
    spin_lock(root_lock)
    if q.state & __QDISC_STATE_DEACTIVATED:
        kfree_skb(skb)
        rc = NET_XMIT_DROP
    elif q.flags & TCQ_F_CAN_BYPASS and q.qlen == 0 and qdisc_run_begin(q):
        bstats_update(q, skb)
        q.bypasses += 1
        net.count("qdisc_bypass", 1, skb.len)
        if sch_direct_xmit(skb, q, dev, txq, root_lock, True):
            __qdisc_run(q)
        qdisc_run_end(q)
        rc = NET_XMIT_SUCCESS
    else:
        rc = dev_qdisc_enqueue(skb, q, txq)
        if qdisc_run_begin(q):
            __qdisc_run(q)
            qdisc_run_end(q)
    spin_unlock(root_lock)
    return rc



# --- transmit -------------------------------------------------------------------------------
def dev_queue_xmit(skb) -> int:
    """Transmit ``skb`` on ``skb.dev`` (``data`` at the Ethernet header); NET_XMIT_* (skb consumed)."""
    dev = skb.dev
    net = dev.net
    charge(net, "dev_queue_xmit")
    net.count("dev_queue_xmit", 1, skb.len)
    skb_reset_mac_header(skb)
    local_bh_disable(net)   # rcu_read_lock_bh: softirqs raised on the way wait for the end
    txq = netdev_pick_tx(dev, skb)
    rc = __dev_xmit_skb(skb, txq.qdisc, dev, txq)
    local_bh_enable(net)    # rcu_read_unlock_bh: pending softirqs (NET_RX, NET_TX) run here
    return rc


def dev_cap_txqueue(dev, queue_index: int) -> int:
    if queue_index >= dev.real_num_tx_queues or queue_index < 0:
        dev.net.engine.log(dev.name, "selects TX queue out of range", queue_index)
        return 0
    return queue_index


def netdev_pick_tx(dev, skb):
    """Choose the TX queue, record it in ``skb.queue_mapping``; the ``netdev_queue``."""
    charge(dev.net, "netdev_pick_tx")
    queue_index = 0
    if dev.real_num_tx_queues != 1:
        if dev.ndo_select_queue is not None:
            queue_index = dev.ndo_select_queue(dev, skb)
        else:
            queue_index = __netdev_pick_tx(dev, skb)
        queue_index = dev_cap_txqueue(dev, queue_index)
    skb.queue_mapping = queue_index
    return netdev_get_tx_queue(dev, queue_index)


def sk_tx_queue_get(sk) -> int:
    return sk.sk_tx_queue_mapping if sk is not None else -1


def sk_tx_queue_set(sk, queue_index: int) -> None:
    sk.sk_tx_queue_mapping = queue_index


def __netdev_pick_tx(dev, skb) -> int:
    """The socket's cached queue, unless re-picking is allowed or needed: XPS, else the flow hash."""
    sk = skb.sk
    queue_index = sk_tx_queue_get(sk)
    if queue_index < 0 or skb.ooo_okay or queue_index >= dev.real_num_tx_queues:
        new_index = get_xps_queue(dev, skb)
        if new_index < 0:
            new_index = skb_tx_hash(dev, skb)
        if queue_index != new_index and sk is not None and sk.sk_dst_cache is not None:
            sk_tx_queue_set(sk, new_index)
        queue_index = new_index
    return queue_index


def reciprocal_scale(val: int, ep_ro: int) -> int:
    """``(u32)(((u64) val * ep_ro) >> 32)``: ``val`` scaled onto ``[0, ep_ro)``."""
    return ((val & _U32) * ep_ro) >> 32


def get_xps_queue(dev, skb) -> int:
    """The XPS queue for the current CPU (``dev.xps_cpus``), or -1."""
    xps = dev.xps_cpus
    if not xps:
        return -1
    cpu = dev.net.ctx.cpu.index
    queues = [q for q in sorted(xps) if cpu in xps[q]]
    if not queues:
        return -1
    if len(queues) == 1:
        queue_index = queues[0]
    else:
        queue_index = queues[reciprocal_scale(skb_get_hash(skb), len(queues))]
    return queue_index if queue_index < dev.real_num_tx_queues else -1


def skb_tx_hash(dev, skb) -> int:
    """The flow's queue among the real TX queues (recent: scaled flow hash; 3.10: jhash of sk_hash/protocol)."""
    qcount = dev.real_num_tx_queues
    if dev.net.kernel_version == "3.10":
        sk = skb.sk
        h = sk.sk_hash if sk is not None else 0
        if not h:
            h = skb.protocol
        return reciprocal_scale(jhash_1word(h, 0), qcount)
    return reciprocal_scale(skb_get_hash(skb), qcount)


def _rol32(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _U32


def _jhash_nwords(a: int, b: int, c: int, initval: int) -> int:
    a = (a + initval) & _U32
    b = (b + initval) & _U32
    c = (c + initval) & _U32
    # __jhash_final
    c ^= b; c = (c - _rol32(b, 14)) & _U32  # noqa: E702
    a ^= c; a = (a - _rol32(c, 11)) & _U32  # noqa: E702
    b ^= a; b = (b - _rol32(a, 25)) & _U32  # noqa: E702
    c ^= b; c = (c - _rol32(b, 16)) & _U32  # noqa: E702
    a ^= c; a = (a - _rol32(c, 4)) & _U32  # noqa: E702
    b ^= a; b = (b - _rol32(a, 14)) & _U32  # noqa: E702
    c ^= b; c = (c - _rol32(b, 24)) & _U32  # noqa: E702
    return c


def jhash_3words(a: int, b: int, c: int, initval: int) -> int:
    """``jhash_3words`` (include/linux/jhash.h)."""
    return _jhash_nwords(a & _U32, b & _U32, c & _U32, (initval + 0xDEADBEEF + (3 << 2)) & _U32)


def jhash_1word(a: int, initval: int) -> int:
    return _jhash_nwords(a & _U32, 0, 0, (initval + 0xDEADBEEF + (1 << 2)) & _U32)


def _fold_addr(addr: bytes) -> int:
    """An address as one u32 (IPv4 as is; IPv6 words XORed, like ``ipv6_addr_hash``)."""
    v = 0
    for (w,) in struct.iter_unpack("!I", addr):
        v ^= w
    return v


def _flow_hash(skb) -> int:
    """A reproducible flow hash from the packet's headers (``__skb_get_hash`` with a fixed key)."""
    base = skb.mac_header if skb_mac_header_was_set(skb) else skb.data - skb.head
    frame = skb.mem.read(skb.head + base, max(0, min(skb.tail - base, 128)))
    if len(frame) < ETH_HLEN:
        return jhash_1word(skb.protocol, 0) or 1
    (proto,) = struct.unpack_from("!H", frame, 12)
    l3 = ETH_HLEN
    if proto == ETH_P_8021Q and len(frame) >= 18:
        (proto,) = struct.unpack_from("!H", frame, 16)
        l3 = 18
    src = dst = ports = 0
    ip_proto = 0
    if proto == ETH_P_IP and len(frame) >= l3 + 20:
        ihl = (frame[l3] & 0xF) * 4
        (frag,) = struct.unpack_from("!H", frame, l3 + 6)
        ip_proto = frame[l3 + 9]
        src, dst = struct.unpack_from("!II", frame, l3 + 12)
        l4 = l3 + ihl
        if frag & 0x3FFF:
            l4 = None  # a fragment: no ports
    elif proto == ETH_P_IPV6 and len(frame) >= l3 + 40:
        ip_proto = frame[l3 + 6]
        src = _fold_addr(frame[l3 + 8:l3 + 24])
        dst = _fold_addr(frame[l3 + 24:l3 + 40])
        l4 = l3 + 40
    else:
        return jhash_1word(proto, 0) or 1
    sport = dport = 0
    if l4 is not None and ip_proto in (6, 17, 132) and len(frame) >= l4 + 4:
        sport, dport = struct.unpack_from("!HH", frame, l4)
    if dst < src or (dst == src and dport < sport):  # __flow_hash_consistentify
        src, dst, sport, dport = dst, src, dport, sport
    ports = (sport << 16) | dport
    return jhash_3words(src, dst, ports, ip_proto) or 1


def skb_get_hash(skb) -> int:
    """``skb.hash``, computed from the headers (and kept) if the caller did not set one."""
    if not skb.hash:
        skb.hash = _flow_hash(skb)
    return skb.hash


# --- validation ---------------------------------------------------------------------------------
def can_checksum_protocol(features: int, protocol: int) -> bool:
    if features & NETIF_F_HW_CSUM:
        return True
    if protocol == ETH_P_IP:
        return bool(features & NETIF_F_IP_CSUM)
    if protocol == ETH_P_IPV6:
        return bool(features & NETIF_F_IPV6_CSUM)
    return False


def netif_skb_features(skb, dev) -> int:
    """The device's features as they apply to ``skb`` (no checksum/GSO for a protocol it cannot sum)."""
    features = dev.features
    if skb_is_gso(skb) and skb.shinfo.gso_segs > dev.gso_max_segs:
        features &= ~NETIF_F_GSO_MASK
    if skb.ip_summed != CHECKSUM_NONE and not can_checksum_protocol(features, vlan_get_protocol(skb)):
        features &= ~(NETIF_F_CSUM_MASK | NETIF_F_GSO_MASK)
    return features


def net_gso_ok(features: int, gso_type: int) -> bool:
    feature = (gso_type << NETIF_F_GSO_SHIFT) & NETIF_F_GSO_MASK
    return (features & feature) == feature


def validate_xmit_skb(skb, dev):
    """Make ``skb`` something the device can send; the skb, or None if it had to be dropped."""
    net = dev.net
    charge(net, "validate_xmit_skb")
    features = netif_skb_features(skb, dev)
    if skb.vlan_present and not features & NETIF_F_HW_VLAN_CTAG_TX:
        raise NotImplementedError(f"{dev.name}: software VLAN insertion (__vlan_hwaccel_push_inside) "
                                  "is not modelled")
    if skb_is_gso(skb):
        if (not net_gso_ok(features, skb.shinfo.gso_type)
                or skb.ip_summed not in (CHECKSUM_PARTIAL, CHECKSUM_UNNECESSARY)):
            raise NotImplementedError(f"{dev.name}: software GSO (skb_gso_segment) is not modelled; "
                                      f"the device cannot segment gso_type {skb.shinfo.gso_type:#x}")
        return skb
    if skb.shinfo.frags and not features & NETIF_F_SG:
        raise NotImplementedError(f"{dev.name}: linearising a paged skb (no NETIF_F_SG) is not modelled")
    if skb.ip_summed == CHECKSUM_PARTIAL:
        skb.transport_header = skb.csum_start  # skb_set_transport_header(checksum start)
        if not features & NETIF_F_CSUM_MASK and skb_checksum_help(skb):
            kfree_skb(skb)
            dev.stats.tx_dropped += 1
            net.count("validate_xmit_drop", 1, skb.len)
            return None
    return skb


def validate_xmit_skb_list(skb, dev):
    """:func:`validate_xmit_skb` on each skb of a chain; the chain of survivors."""
    head = tail = None
    while skb is not None:
        nxt = skb.next
        skb.next = None
        skb = validate_xmit_skb(skb, dev)
        if skb is not None:
            if head is None:
                head = skb
            else:
                tail.next = skb
            tail = skb
        skb = nxt
    return head


def skb_checksum_help(skb) -> int:
    """Finish a CHECKSUM_PARTIAL checksum in software; 0, or -EINVAL/-ENOMEM.

    Sums from ``csum_start`` to the end (the pseudo-header seed in the
    field included), stores the complement at ``csum_start + csum_offset``
    (0 becomes 0xFFFF, CSUM_MANGLED_0) — a CPU store, into a private copy
    of the header if the skb is a clone — and sets CHECKSUM_NONE.
    """
    if skb.ip_summed == CHECKSUM_COMPLETE:
        skb.ip_summed = CHECKSUM_NONE
        return 0
    if skb_is_gso(skb):
        return -EINVAL
    headlen = skb.len - skb.data_len
    offset = skb_checksum_start_offset(skb)
    if offset >= headlen:
        return -EINVAL
    data = skb_to_bytes(skb)[offset:]
    net = skb.mem.net if skb.mem.net is not None else skb.dev.net
    charge(net, "skb_checksum_help", len(data), "csum_partial")
    value = csum_fold(csum_partial(data)) or CSUM_MANGLED_0
    offset += skb.csum_offset
    if offset + 2 > headlen:
        return -EINVAL
    if skb_header_cloned(skb):  # skb_ensure_writable
        ret = pskb_expand_head(skb, 0, 0)
        if ret:
            return ret
    skb.mem.write(skb.data + offset, value.to_bytes(2, "big"))
    skb.ip_summed = CHECKSUM_NONE
    return 0


# --- to the driver --------------------------------------------------------------------------------
def _frame_from_mac(skb) -> bytes:
    """The frame's bytes from the MAC header on (the header may have been pulled already)."""
    if not skb_mac_header_was_set(skb):
        return skb_to_bytes(skb)
    pulled = (skb.data - skb.head) - skb.mac_header
    head = skb.mem.read(skb.head + skb.mac_header, pulled) if pulled > 0 else b""
    return head + skb_to_bytes(skb)


def _feed_taps(skb, dev, direction: str) -> None:
    net = dev.net
    charge(net, "dev_queue_xmit_nit")
    frame = _frame_from_mac(skb)
    for tap in list(dev.taps):
        charge(net, "skb_clone")
        tap(frame, direction, dev)


def dev_queue_xmit_nit(skb, dev) -> None:
    """Give each packet tap a copy of the frame about to be sent (direction "tx")."""
    _feed_taps(skb, dev, "tx")


def xmit_one(skb, dev, txq, more: bool) -> int:
    """Taps, then ``ndo_start_xmit`` with the "more follow" hint; the driver's code."""
    if dev.taps:
        dev_queue_xmit_nit(skb, dev)
    net = dev.net
    charge(net, "dev_hard_start_xmit")
    net.count("dev_hard_start_xmit", 1, skb.len)
    if net.kernel_version == "3.10":
        more = False  # no xmit_more before 3.18
    return netdev_start_xmit(skb, dev, txq, more)


def dev_hard_start_xmit(first, dev, txq) -> tuple:
    """Send each skb of the chain ``first``; (what is left unsent, or None; the last code).

    Stops at a NETDEV_TX_BUSY (that skb heads what is left) or when the
    driver stopped the queue with skbs still to go (code NETDEV_TX_BUSY).
    """
    skb = first
    rc = NETDEV_TX_OK
    while skb is not None:
        nxt = skb.next
        skb.next = None
        rc = xmit_one(skb, dev, txq, nxt is not None)
        if not dev_xmit_complete(rc):
            skb.next = nxt
            return skb, rc
        skb = nxt
        if skb is not None and netif_tx_queue_stopped(txq):
            return skb, NETDEV_TX_BUSY
    return None, rc


# --- receive --------------------------------------------------------------------------------------
def eth_type_trans(skb, dev) -> int:
    """Set the MAC header, pull the Ethernet header; the EtherType (``skb.protocol`` to be)."""
    skb.dev = dev
    skb_reset_mac_header(skb)
    hdr = skb.mem.read(skb.data, ETH_HLEN)
    if skb_pull(skb, ETH_HLEN) is None or len(hdr) < ETH_HLEN:
        return 0
    (proto,) = struct.unpack_from("!H", hdr, 12)
    return proto


def netif_receive_skb(skb) -> int:
    """Deliver a received skb to its protocol handler (``net.ptype``); NET_RX_SUCCESS or NET_RX_DROP."""
    dev = skb.dev
    net = dev.net
    charge(net, "netif_receive_skb")
    if not skb.protocol:
        skb.protocol = eth_type_trans(skb, dev)
    net.softnet_data[net.ctx.cpu.index].processed += 1
    skb_reset_network_header(skb)
    if not skb_transport_header_was_set(skb):
        skb_reset_transport_header(skb)
    net.count("netif_receive_skb", 1, skb.len)
    if dev.taps:
        _feed_taps(skb, dev, "rx")
    handler = net.ptype.get(skb.protocol)
    if handler is None:
        dev.rx_nohandler += 1
        net.count("netif_receive_skb_nohandler", 1, skb.len)
        kfree_skb(skb)
        return NET_RX_DROP
    rc = handler(skb, dev)
    return NET_RX_SUCCESS if rc is None else rc


def enqueue_to_backlog(skb, cpu: int) -> int:
    """Queue ``skb`` on CPU ``cpu``'s backlog, scheduling its backlog NAPI if it was idle."""
    dev = skb.dev
    net = dev.net
    sd = net.softnet_data[cpu]
    napi = sd.backlog
    if napi is None:
        raise RuntimeError("netif_rx: the device layer is not initialised (stack.core.dev.net_dev_init)")
    if netif_running(dev):
        qlen = len(sd.input_pkt_queue)
        if qlen <= net.netdev_max_backlog:
            # non-atomic: only this CPU, under the backlog lock, sets the backlog's SCHED
            if not qlen and not __test_and_set_bit(net.ctx.cpu, NAPI_STATE_SCHED, napi.state_addr):
                napi_schedule_on(net, cpu, napi)
            sd.input_pkt_queue.append(skb)
            return NET_RX_SUCCESS
    sd.dropped += 1
    dev.stats.rx_dropped += 1
    net.count("netif_rx_drop", 1, skb.len)
    kfree_skb(skb)
    return NET_RX_DROP


def netif_rx(skb) -> int:
    """Queue a received skb (``skb.dev`` set) for NET_RX on this CPU; NET_RX_SUCCESS or NET_RX_DROP."""
    net = skb.dev.net
    charge(net, "netif_rx")
    net.count("netif_rx", 1, skb.len)
    return enqueue_to_backlog(skb, net.ctx.cpu.index)


def process_backlog(net, napi, quota: int) -> int:
    """The backlog NAPI's poll (``napi.priv`` is its softnet_data): up to ``quota`` skbs received."""
    sd = napi.priv
    charge(net, "process_backlog")
    napi.weight = net.dev_weight  # dev_rx_weight (recent) / weight_p (3.10), both dev_weight here
    work = 0
    while True:
        pq = sd.process_queue
        while pq:
            netif_receive_skb(pq.popleft())
            work += 1
            if work >= quota:
                net.count("process_backlog", work, 0)
                return work
        if not sd.input_pkt_queue:
            # the backlog's own __napi_complete: only this CPU owns it, so a plain store, no smp_mb
            net.ctx.cpu.store(napi.state_addr, 8, 0)
            net.count("process_backlog", work, 0)
            return work
        pq.extend(sd.input_pkt_queue)
        sd.input_pkt_queue.clear()


# --- dev_open / dev_close ------------------------------------------------------------------------
def _call(fn, *args):
    """Run a callback that may be a generator function (it may sleep); its return value."""
    result = fn(*args)
    if inspect.isgenerator(result):
        result = yield from result
    return result


def dev_open(dev: NetDevice):
    """Generator: bring the device up (START, ``ndo_open``, watchdog); 0 or ``ndo_open``'s error."""
    if netif_running(dev):
        return 0
    dev.state |= __LINK_STATE_START
    ret = 0
    if dev.ndo_open is not None:
        ret = yield from _call(dev.ndo_open, dev)
    if ret:
        dev.state &= ~__LINK_STATE_START
        return ret
    dev_activate(dev)  # attach the default qdiscs; live now if there is carrier
    netif_trans_update(dev)  # dev_activate
    if netif_carrier_ok(dev):
        __netdev_watchdog_up(dev)
    return 0


def dev_close(dev: NetDevice):
    """Generator: take the device down (clear START, deactivate the qdiscs, stop the watchdog, ``ndo_stop``)."""
    if not netif_running(dev):
        return
    dev.state &= ~__LINK_STATE_START
    dev_deactivate(dev)  # qdiscs to noop, queued skbs freed (qdisc_reset)
    dev.net.timers.del_timer(dev.watchdog_timer)
    if dev.ndo_stop is not None:
        yield from _call(dev.ndo_stop, dev)


# --- NET_TX -------------------------------------------------------------------------------------------
def net_tx_action(net, index: int) -> None:
    """NET_TX_SOFTIRQ on CPU ``index``: free the completion queue, then run every scheduled qdisc."""
    charge(net, "net_tx_action")
    net.free_completion_queue(index)
    net.count("net_tx_action", 0, 0)
    sd = net.softnet_data[index]
    if not sd.output_queue:
        return
    head = sd.output_queue
    sd.output_queue = []
    recent = net.kernel_version != "3.10"
    for q in head:
        root_lock = None
        if not q.flags & TCQ_F_NOLOCK:
            root_lock = q.q_lock
            if recent:
                spin_lock(root_lock)
            elif not spin_trylock(root_lock):   # 3.10: busy elsewhere, try again in a later NET_TX
                if not q.state & __QDISC_STATE_DEACTIVATED:
                    __netif_reschedule(q)
                else:
                    q.state &= ~__QDISC_STATE_SCHED
                continue
        elif q.state & __QDISC_STATE_DEACTIVATED:
            q.state &= ~__QDISC_STATE_SCHED
            continue
        q.state &= ~__QDISC_STATE_SCHED
        qdisc_run(q)
        if root_lock is not None:
            spin_unlock(root_lock)



# --- init ------------------------------------------------------------------------------------------
def net_dev_init(net) -> None:
    """``net_dev_init``: the device layer on ``net`` — the noop qdisc and the per-CPU backlog NAPIs.

    Run by :class:`stack.core.netcore.NetCore` as it is built, with the
    NET_TX and NET_RX softirqs it opens, so every net core has its device
    layer, as every Linux kernel does: ``dev_open`` attaches the default
    qdiscs (:func:`stack.core.qdisc.dev_activate`), ``dev_close`` and
    carrier loss deactivate them.
    """
    net.noop_qdisc = noop_qdisc(net)
    for sd in net.softnet_data:
        n = napi_struct(f"backlog/{sd.index}")
        n.poll = partial(process_backlog, net)
        n.weight = net.dev_weight
        napi_state_alloc(net, n)  # idle (0): the backlog is never disabled
        n.priv = sd
        sd.backlog = n
