"""The neighbour layer (``net/core/neighbour.c``): next-hop entries, their states and timers, the
unresolved queue, and the link-layer header on output (stack_facts §6).

One :class:`neigh_table` per protocol (ARP's is ``net.ipv4.arp_tbl``,
made by :mod:`stack.ipv4.arp`), holding per device a dict ``next hop address ->``
:class:`neighbour`. A neighbour has a ``nud_state`` (NONE, INCOMPLETE,
REACHABLE, STALE, DELAY, PROBE, FAILED, NOARP, PERMANENT — Linux's bits), a
timer on ``net.timers`` (so its work runs in ``softirq:TIMER``), the
resolved address ``ha``, the ``arp_queue`` of skbs waiting for resolution
(limited in bytes of truesize, ``queue_len_bytes``: the *oldest* is dropped
to make room, counted in ``unres_discards``), and an ``hh`` cache of the
14-byte Ethernet header.

Output: ``neigh_output(n, skb)`` takes the fast path (``neigh_hh_output``:
copy the cached header) when the entry is CONNECTED and the cache is
filled, else ``n.output`` = ``neigh_resolve_output``, which runs
``neigh_event_send`` (state machine; may queue the skb and return 1) and
builds the header from ``n.ha``. Both hand the frame to the device layer with a
direct call of ``dev_queue_xmit(skb)`` (:mod:`stack.core.dev`). Counted per table:
``hh_output`` (fast) and ``resolve_output`` (slow) in ``tbl.stats``.

Timing, as Linux: NONE/FAILED + a packet -> INCOMPLETE with
``probes = ucast_probes`` and an immediate probe (broadcast, because the
unicast slots are skipped), then one probe per ``retrans_time`` (1 s) until
``probes`` reaches ``ucast + app + mcast`` (3 broadcasts) -> FAILED: every
queued skb goes to ``ops.error_report`` (ARP: an ICMP host-unreachable to
the sender, then freed). A reply (``neigh_update`` to REACHABLE) drains
the queue in FIFO order through ``n.output``, in the context that handled
the reply (NET_RX). REACHABLE lasts ``reachable_time`` (30 s base,
randomised 0.5-1.5x at first use with a seeded choice of the engine) past
the last confirmation (``neigh_confirm``: TCP's forward progress); then
DELAY (if used within ``delay_probe_time``) or STALE. STALE + a packet ->
DELAY (5 s) -> REACHABLE if confirmed meanwhile, else PROBE (unicast
probes to the known address, 3, then FAILED). The timer re-arm floor is
HZ/100 (3.10: HZ/2); the queue limit SK_WMEM_MAX (3.10: 64 KiB).

Simplifications: no reference counting (entries live until
``neigh_ifdown``), no periodic GC (a forced GC of FAILED entries runs when
the table reaches ``gc_thresh3``), ``neigh_probe`` hands the queued skb to
``solicit`` without cloning it (it only reads the source address),
``reachable_time`` is not re-randomised every 300 s.
"""
from __future__ import annotations

from collections import deque

from .core import errno
from .core.cputime import charge
from .core.dev import dev_queue_xmit
from .core.jiffies import HZ
from .core.skbuff import ETH_HLEN, kfree_skb, skb_push, skb_reset_mac_header
from .core.sock import SK_WMEM_MAX
from .ipv4.utils import in_ntoa

__all__ = [
    "NUD_NONE", "NUD_INCOMPLETE", "NUD_REACHABLE", "NUD_STALE", "NUD_DELAY", "NUD_PROBE", "NUD_FAILED",
    "NUD_NOARP", "NUD_PERMANENT", "NUD_IN_TIMER", "NUD_VALID", "NUD_CONNECTED", "nud_name",
    "NEIGH_UPDATE_F_OVERRIDE", "NEIGH_UPDATE_F_WEAK_OVERRIDE", "NEIGH_UPDATE_F_OVERRIDE_ISROUTER",
    "NEIGH_UPDATE_F_ADMIN", "neigh_parms", "neigh_parms_clone", "neigh_ops", "neighbour", "neigh_table",
    "neigh_rand_reach_time", "neigh_reachable_time", "neigh_lookup", "neigh_lookup_noref",
    "__neigh_create", "__neigh_lookup", "neigh_event_send", "__neigh_event_send", "neigh_probe",
    "neigh_timer_handler", "neigh_update", "neigh_event_ns", "neigh_invalidate", "neigh_confirm",
    "neigh_output", "neigh_resolve_output", "neigh_connected_output", "neigh_hh_output", "neigh_hh_init",
    "dev_hard_header", "eth_header", "neigh_ifdown",
]

NUD_NONE = 0x00
NUD_INCOMPLETE = 0x01
NUD_REACHABLE = 0x02
NUD_STALE = 0x04
NUD_DELAY = 0x08
NUD_PROBE = 0x10
NUD_FAILED = 0x20
NUD_NOARP = 0x40
NUD_PERMANENT = 0x80
NUD_IN_TIMER = NUD_INCOMPLETE | NUD_REACHABLE | NUD_DELAY | NUD_PROBE
NUD_VALID = NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE | NUD_PROBE | NUD_STALE | NUD_DELAY
NUD_CONNECTED = NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE

_NUD_NAMES = {NUD_NONE: "NONE", NUD_INCOMPLETE: "INCOMPLETE", NUD_REACHABLE: "REACHABLE",
              NUD_STALE: "STALE", NUD_DELAY: "DELAY", NUD_PROBE: "PROBE", NUD_FAILED: "FAILED",
              NUD_NOARP: "NOARP", NUD_PERMANENT: "PERMANENT"}

NEIGH_UPDATE_F_OVERRIDE = 1 << 0
NEIGH_UPDATE_F_WEAK_OVERRIDE = 1 << 1
NEIGH_UPDATE_F_OVERRIDE_ISROUTER = 1 << 2
NEIGH_UPDATE_F_ADMIN = 1 << 31


def nud_name(state: int) -> str:
    return _NUD_NAMES.get(state, f"{state:#x}")


class neigh_parms:
    """Per-device neighbour parameters (``struct neigh_parms``); times in jiffies (``arp_tbl`` defaults)."""

    __slots__ = ("net", "retrans_time", "base_reachable_time", "reachable_time", "delay_probe_time",
                 "gc_staletime", "ucast_probes", "mcast_probes", "mcast_reprobes", "app_probes",
                 "queue_len_bytes", "locktime", "rearm_min", "kernel_version")

    def __init__(self, net, kernel_version: str = "recent"):
        self.net = net
        self.kernel_version = kernel_version
        self.retrans_time = 1 * HZ
        self.base_reachable_time = 30 * HZ
        #: 0 until first used, then randomised in [base/2, 3*base/2) (``neigh_rand_reach_time``).
        self.reachable_time = 0
        self.delay_probe_time = 5 * HZ
        self.gc_staletime = 60 * HZ
        self.ucast_probes = 3
        self.mcast_probes = 3
        self.mcast_reprobes = 0
        self.app_probes = 0
        #: unres_qlen_bytes: SK_WMEM_MAX (212992) recent, 64 KiB in 3.10.
        self.queue_len_bytes = SK_WMEM_MAX if kernel_version == "recent" else 64 * 1024
        self.locktime = 1 * HZ
        #: Floor of a neighbour timer re-arm: HZ/100 recent, HZ/2 in 3.x.
        self.rearm_min = HZ // 100 if kernel_version == "recent" else HZ // 2


def neigh_parms_clone(p: neigh_parms) -> neigh_parms:
    """A device's copy of the table's default parameters (``neigh_parms_alloc``)."""
    c = neigh_parms.__new__(neigh_parms)
    for name in neigh_parms.__slots__:
        setattr(c, name, getattr(p, name))
    return c


class neigh_ops:
    """A protocol's neighbour operations: ``solicit(n, skb)``, ``error_report(n, skb)``, the outputs."""

    __slots__ = ("family", "solicit", "error_report", "output", "connected_output")

    def __init__(self, family: str, solicit, error_report, output, connected_output):
        self.family = family
        self.solicit = solicit
        self.error_report = error_report
        self.output = output
        self.connected_output = connected_output


class neighbour:
    """One next hop on one device (``struct neighbour``). Times (``confirmed``, ``updated``, ``used``) in jiffies."""

    __slots__ = ("tbl", "net", "dev", "primary_key", "ha", "nud_state", "probes", "confirmed", "updated",
                 "used", "arp_queue", "arp_queue_len_bytes", "timer", "output", "ops", "parms", "type",
                 "dead", "hh_len", "hh_data")

    def __init__(self, tbl: "neigh_table", key: int, dev):
        net = tbl.net
        self.tbl = tbl
        self.net = net
        self.dev = dev
        self.primary_key = key
        self.ha = bytes(6)
        self.nud_state = NUD_NONE
        self.probes = 0
        now = net.jiffies
        self.updated = now
        self.used = now
        # neigh_alloc: confirmed = jiffies - (BASE_REACHABLE_TIME << 1)
        self.confirmed = now - (tbl.parms.base_reachable_time << 1)
        self.arp_queue: deque = deque()
        self.arp_queue_len_bytes = 0
        self.timer = net.timers.timer_setup(lambda t, n=self: neigh_timer_handler(n))
        self.output = neigh_blackhole
        self.ops: neigh_ops | None = None
        self.parms = tbl.parms
        self.type = 0
        self.dead = False
        self.hh_len = 0
        self.hh_data = b""

    def __repr__(self) -> str:
        return (f"<neighbour {in_ntoa(self.primary_key)} dev {self.dev.name} {nud_name(self.nud_state)} "
                f"queued={len(self.arp_queue)}>")


class neigh_table:
    """A neighbour table (``struct neigh_table``): entries per device, defaults, statistics.

    ``constructor(n) -> 0 or -errno`` fills a new entry (ARP: ``arp_constructor``).
    ``stats`` holds ``/proc/net/stat/arp_cache``'s counters (allocs, destroys,
    lookups, hits, res_failed, unres_discards, rcv_probes_mcast,
    rcv_probes_ucast, forced_gc_runs, table_fulls) plus the model's:
    queued, drained, error_reports, probes_bcast, probes_ucast, hh_output,
    resolve_output, and ARP packets (arp_req_sent/rcvd, arp_rep_sent/rcvd).
    """

    def __init__(self, net, name: str, constructor, parms: neigh_parms):
        self.net = net
        self.id = name
        self.constructor = constructor
        self.parms = parms
        self.gc_thresh1 = 128
        self.gc_thresh2 = 512
        self.gc_thresh3 = 1024
        self.entries = 0
        self.hash: dict[object, dict[int, neighbour]] = {}
        self.stats = dict.fromkeys((
            "allocs", "destroys", "lookups", "hits", "res_failed", "unres_discards", "rcv_probes_mcast",
            "rcv_probes_ucast", "forced_gc_runs", "table_fulls", "queued", "drained", "error_reports",
            "probes_bcast", "probes_ucast", "hh_output", "resolve_output", "arp_req_sent", "arp_rep_sent",
            "arp_req_rcvd", "arp_rep_rcvd"), 0)


# --- timers and parameters ------------------------------------------------------------------------
def neigh_rand_reach_time(net, base: int) -> int:
    """``neigh_rand_reach_time``: uniform in [base/2, 3*base/2), a seeded engine choice."""
    if not base:
        return 0
    return net.engine.choose_index(base, "neigh_rand_reach_time") + (base >> 1)


def neigh_reachable_time(n: neighbour) -> int:
    p = n.parms
    if not p.reachable_time:
        p.reachable_time = neigh_rand_reach_time(p.net, p.base_reachable_time)
    return p.reachable_time


def _log_state(n: neighbour, old: int, new: int) -> None:
    if old != new:
        n.net.engine.log("neigh", "state", n.dev.name, in_ntoa(n.primary_key), nud_name(old), nud_name(new))


def _set_state(n: neighbour, new: int) -> None:
    _log_state(n, n.nud_state, new)
    n.nud_state = new


def neigh_add_timer(n: neighbour, when: int) -> None:
    n.net.timers.mod_timer(n.timer, when)


def neigh_del_timer(n: neighbour) -> bool:
    if n.nud_state & NUD_IN_TIMER:
        return n.net.timers.del_timer(n.timer)
    return False


def neigh_max_probes(n: neighbour) -> int:
    p = n.parms
    if p.kernel_version == "3.10":
        return p.ucast_probes if n.nud_state & NUD_PROBE else p.ucast_probes + p.app_probes + p.mcast_probes
    return p.ucast_probes + p.app_probes + (p.mcast_reprobes if n.nud_state & NUD_PROBE else p.mcast_probes)


# --- lookup and creation -----------------------------------------------------------------------------
def neigh_lookup(tbl: neigh_table, key: int, dev) -> neighbour | None:
    """``neigh_lookup``: the entry for ``key`` on ``dev`` (counts lookups and hits)."""
    tbl.stats["lookups"] += 1
    entries = tbl.hash.get(dev)
    n = entries.get(key) if entries is not None else None
    if n is not None:
        tbl.stats["hits"] += 1
    return n


#: ``__ipv4_neigh_lookup_noref`` is the same lookup without taking a reference.
neigh_lookup_noref = neigh_lookup


def _forced_gc(tbl: neigh_table) -> None:
    """``neigh_forced_gc``: drop entries nobody waits on that are FAILED or NONE."""
    tbl.stats["forced_gc_runs"] += 1
    for dev, entries in tbl.hash.items():
        for key, n in list(entries.items()):
            if n.nud_state in (NUD_FAILED, NUD_NONE) and not n.arp_queue:
                _destroy(tbl, n)


def _destroy(tbl: neigh_table, n: neighbour) -> None:
    n.net.timers.del_timer(n.timer)
    n.dead = True
    while n.arp_queue:
        kfree_skb(n.arp_queue.popleft())
    n.arp_queue_len_bytes = 0
    del tbl.hash[n.dev][n.primary_key]
    tbl.entries -= 1
    tbl.stats["destroys"] += 1


def __neigh_create(tbl: neigh_table, key: int, dev):
    """``__neigh_create``: a new entry in state NONE (the protocol's constructor fills it); or -errno."""
    if tbl.entries >= tbl.gc_thresh3:
        _forced_gc(tbl)
        if tbl.entries >= tbl.gc_thresh3:
            tbl.stats["table_fulls"] += 1
            return -errno.ENOBUFS
    n = neighbour(tbl, key, dev)
    err = tbl.constructor(n)
    if err < 0:
        return err
    entries = tbl.hash.setdefault(dev, {})
    old = entries.get(key)
    if old is not None:  # raced in: use the existing one
        return old
    entries[key] = n
    tbl.entries += 1
    tbl.stats["allocs"] += 1
    return n


def __neigh_lookup(tbl: neigh_table, key: int, dev, creat: bool):
    """``__neigh_lookup``: look up, and create when ``creat``; None (or -errno) if not found/made."""
    n = neigh_lookup(tbl, key, dev)
    if n is not None or not creat:
        return n
    return __neigh_create(tbl, key, dev)


# --- the state machine ------------------------------------------------------------------------------------
def neigh_event_send(n: neighbour, skb) -> int:
    """``neigh_event_send``: 0 = send now; 1 = queued (or dropped) while resolving. Marks the entry used."""
    now = n.net.jiffies
    if n.used != now:
        n.used = now
    if not n.nud_state & (NUD_CONNECTED | NUD_DELAY | NUD_PROBE):
        return __neigh_event_send(n, skb)
    return 0


def __neigh_event_send(n: neighbour, skb) -> int:
    """The slow part: start resolution, STALE -> DELAY, queue the skb while INCOMPLETE."""
    if n.nud_state & (NUD_CONNECTED | NUD_DELAY | NUD_PROBE):
        return 0
    if n.dead:
        if skb is not None:
            kfree_skb(skb)
        return 1
    p = n.parms
    tbl = n.tbl
    immediate_probe = False
    now = n.net.jiffies
    if not n.nud_state & (NUD_STALE | NUD_INCOMPLETE):
        if p.mcast_probes + p.app_probes:
            n.probes = p.ucast_probes
            neigh_del_timer(n)
            _set_state(n, NUD_INCOMPLETE)
            n.updated = now
            neigh_add_timer(n, now + max(p.retrans_time, p.rearm_min))
            immediate_probe = True
        else:
            _set_state(n, NUD_FAILED)
            n.updated = now
            if skb is not None:
                kfree_skb(skb)
            return 1
    elif n.nud_state & NUD_STALE:
        neigh_del_timer(n)
        _set_state(n, NUD_DELAY)
        n.updated = now
        neigh_add_timer(n, now + p.delay_probe_time)
    rc = 0
    if n.nud_state == NUD_INCOMPLETE:
        if skb is not None:
            limit = p.queue_len_bytes
            while n.arp_queue_len_bytes + skb.truesize > limit and n.arp_queue:
                old = n.arp_queue.popleft()
                n.arp_queue_len_bytes -= old.truesize
                kfree_skb(old)
                tbl.stats["unres_discards"] += 1
            n.arp_queue.append(skb)
            n.arp_queue_len_bytes += skb.truesize
            tbl.stats["queued"] += 1
        rc = 1
    if immediate_probe:
        neigh_probe(n)
    return rc


def neigh_probe(n: neighbour) -> None:
    """``neigh_probe``: solicit (with the newest queued skb, for its source address), count the probe."""
    skb = n.arp_queue[-1] if n.arp_queue else None
    if n.ops is not None and n.ops.solicit is not None:
        n.ops.solicit(n, skb)
    n.probes += 1


def neigh_timer_handler(n: neighbour) -> None:
    """``neigh_timer_handler`` (TIMER softirq): REACHABLE/DELAY/PROBE/INCOMPLETE transitions and probes."""
    net = n.net
    charge(net, "neigh_timer_handler")
    state = n.nud_state
    now = net.jiffies
    p = n.parms
    nxt = now + HZ
    if not state & NUD_IN_TIMER:
        return
    if state & NUD_REACHABLE:
        reach = neigh_reachable_time(n)
        if now <= n.confirmed + reach:
            nxt = n.confirmed + reach
        elif now <= n.used + p.delay_probe_time:
            _set_state(n, NUD_DELAY)
            n.updated = now
            neigh_suspect(n)
            nxt = now + p.delay_probe_time
        else:
            _set_state(n, NUD_STALE)
            n.updated = now
            neigh_suspect(n)
    elif state & NUD_DELAY:
        if now <= n.confirmed + p.delay_probe_time:
            _set_state(n, NUD_REACHABLE)
            n.updated = now
            neigh_connect(n)
            nxt = n.confirmed + neigh_reachable_time(n)
        else:
            _set_state(n, NUD_PROBE)
            n.updated = now
            n.probes = 0
            nxt = now + max(p.retrans_time, p.rearm_min)
    else:  # NUD_PROBE | NUD_INCOMPLETE
        nxt = now + max(p.retrans_time, p.rearm_min)
    if n.nud_state & (NUD_INCOMPLETE | NUD_PROBE) and n.probes >= neigh_max_probes(n):
        _set_state(n, NUD_FAILED)
        neigh_invalidate(n)
        return
    if n.nud_state & NUD_IN_TIMER:
        if nxt < now + p.rearm_min:
            nxt = now + p.rearm_min
        net.timers.mod_timer(n.timer, nxt)
    if n.nud_state & (NUD_INCOMPLETE | NUD_PROBE):
        neigh_probe(n)


def neigh_invalidate(n: neighbour) -> None:
    """``neigh_invalidate``: resolution failed; every queued skb goes to ``error_report`` (which frees it)."""
    tbl = n.tbl
    tbl.stats["res_failed"] += 1
    n.updated = n.net.jiffies
    while n.nud_state == NUD_FAILED and n.arp_queue:
        skb = n.arp_queue.popleft()
        tbl.stats["error_reports"] += 1
        n.ops.error_report(n, skb)
    while n.arp_queue:
        kfree_skb(n.arp_queue.popleft())
    n.arp_queue_len_bytes = 0


def neigh_connect(n: neighbour) -> None:
    """CONNECTED: output through ``connected_output``."""
    n.output = n.ops.connected_output


def neigh_suspect(n: neighbour) -> None:
    """No longer CONNECTED: output through ``ops.output`` (the resolving one)."""
    n.output = n.ops.output


def neigh_update(n: neighbour, lladdr: bytes | None, new: int, flags: int) -> int:
    """``neigh_update``: a new state and/or link address; 0 or -errno.

    Going from a non-VALID state to a VALID one drains ``arp_queue`` in
    FIFO order through ``n.output`` (in the caller's context); to FAILED
    from INCOMPLETE/PROBE invalidates (error reports).
    """
    old = n.nud_state
    now = n.net.jiffies
    if not flags & NEIGH_UPDATE_F_ADMIN and old & (NUD_NOARP | NUD_PERMANENT):
        return -errno.EPERM
    if n.dead:
        return -errno.ENOENT
    if not new & NUD_VALID:
        neigh_del_timer(n)
        if old & NUD_CONNECTED:
            neigh_suspect(n)
        _set_state(n, new)
        if old & (NUD_INCOMPLETE | NUD_PROBE) and new & NUD_FAILED:
            neigh_invalidate(n)
        return 0
    if lladdr is not None:
        if old & NUD_VALID and lladdr == n.ha:
            lladdr = n.ha
    else:
        if not old & NUD_VALID:
            return -errno.EINVAL
        lladdr = n.ha
    if new & NUD_CONNECTED:
        n.confirmed = now
    if old & NUD_VALID:
        if lladdr != n.ha and not flags & NEIGH_UPDATE_F_OVERRIDE:
            if flags & NEIGH_UPDATE_F_WEAK_OVERRIDE and old & NUD_CONNECTED:
                lladdr = n.ha
                new = NUD_STALE
            else:
                return 0
        elif lladdr == n.ha and new == NUD_STALE and not flags & NEIGH_UPDATE_F_ADMIN:
            new = old
    if new != old or lladdr != n.ha:
        n.updated = now
    if new != old:
        neigh_del_timer(n)
        if new & NUD_PROBE:
            n.probes = 0
        if new & NUD_IN_TIMER:
            neigh_add_timer(n, now + (neigh_reachable_time(n) if new & NUD_REACHABLE else 0))
        _set_state(n, new)
    if lladdr != n.ha:
        n.ha = bytes(lladdr)
        neigh_update_hhs(n)
        if not new & NUD_CONNECTED:
            n.confirmed = now - (n.parms.base_reachable_time << 1)
    if new == old:
        return 0
    if new & NUD_CONNECTED:
        neigh_connect(n)
    else:
        neigh_suspect(n)
    if not old & NUD_VALID:
        tbl = n.tbl
        while n.nud_state & NUD_VALID and n.arp_queue:
            skb = n.arp_queue.popleft()
            n.arp_queue_len_bytes -= skb.truesize
            tbl.stats["drained"] += 1
            n.output(n, skb)
        while n.arp_queue:
            kfree_skb(n.arp_queue.popleft())
        n.arp_queue_len_bytes = 0
    return 0


def neigh_event_ns(tbl: neigh_table, lladdr: bytes, saddr: int, dev):
    """``neigh_event_ns``: a neighbour told us its address (an ARP request): create/update it STALE."""
    n = __neigh_lookup(tbl, saddr, dev, True)
    if isinstance(n, neighbour):
        neigh_update(n, lladdr, NUD_STALE, NEIGH_UPDATE_F_OVERRIDE)
        return n
    return None


def neigh_confirm(n: neighbour) -> None:
    """``neigh_confirm``: the upper layer saw the neighbour respond (keeps REACHABLE)."""
    now = n.net.jiffies
    if n.confirmed != now:
        n.confirmed = now


def neigh_ifdown(tbl: neigh_table, dev) -> None:
    """Forget every entry of ``dev`` (``neigh_ifdown``): timers stopped, queued skbs freed."""
    for n in list(tbl.hash.get(dev, {}).values()):
        _destroy(tbl, n)


# --- output ------------------------------------------------------------------------------------------------
def eth_header(skb, dev, type_: int, daddr: bytes, saddr: bytes | None = None) -> int:
    """``eth_header``: push the 14-byte Ethernet header; its length."""
    addr = skb_push(skb, ETH_HLEN)
    skb.mem.write(addr, daddr + (saddr or dev.dev_addr) + type_.to_bytes(2, "big"))
    skb_reset_mac_header(skb)
    return ETH_HLEN


#: ``dev_hard_header`` of an Ethernet device.
dev_hard_header = eth_header


def neigh_hh_init(n: neighbour) -> None:
    """``neigh_hh_init``/``eth_header_cache``: cache the header to the neighbour's address."""
    n.hh_data = n.ha + n.dev.dev_addr + b"\x08\x00"
    n.hh_len = ETH_HLEN


def neigh_update_hhs(n: neighbour) -> None:
    """The address changed: refresh a filled hh cache."""
    if n.hh_len:
        neigh_hh_init(n)


def neigh_hh_output(n: neighbour, skb) -> int:
    """The fast path: copy the cached header in front of the IP header and transmit."""
    n.tbl.stats["hh_output"] += 1
    addr = skb_push(skb, n.hh_len)
    skb.mem.write(addr, n.hh_data)
    skb_reset_mac_header(skb)
    return dev_queue_xmit(skb)


def neigh_resolve_output(n: neighbour, skb) -> int:
    """``neigh_resolve_output``: resolve (maybe queue), then build the header from ``n.ha`` and transmit."""
    if neigh_event_send(n, skb):
        return 0
    dev = n.dev
    if not n.hh_len:
        neigh_hh_init(n)
    n.tbl.stats["resolve_output"] += 1
    offset = skb.network_header - (skb.data - skb.head)
    if offset:
        skb.data += offset
        skb.len -= offset
    dev_hard_header(skb, dev, skb.protocol, n.ha)
    return dev_queue_xmit(skb)


def neigh_connected_output(n: neighbour, skb) -> int:
    """``neigh_connected_output``: the header without resolution (devices without an hh cache)."""
    offset = skb.network_header - (skb.data - skb.head)
    if offset:
        skb.data += offset
        skb.len -= offset
    dev_hard_header(skb, n.dev, skb.protocol, n.ha)
    return dev_queue_xmit(skb)


def neigh_blackhole(n: neighbour, skb) -> int:
    kfree_skb(skb)
    return -errno.ENETDOWN


def neigh_output(n: neighbour, skb, skip_cache: bool = False) -> int:
    """``neigh_output`` (3.10 ``dst_neigh_output``): hh fast path when CONNECTED, else ``n.output``."""
    net = n.net
    charge(net, "neigh_output")
    net.count("neighbour", 1, skb.len)
    if not skip_cache and n.nud_state & NUD_CONNECTED and n.hh_len:
        return neigh_hh_output(n, skb)
    charge(net, "neigh_resolve_output")
    return n.output(n, skb)
