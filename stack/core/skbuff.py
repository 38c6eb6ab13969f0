"""``struct sk_buff``: a packet whose bytes live in simulated host memory.

The driver DMA-maps an skb's bytes and the NIC reads them through the IOMMU,
so the bytes must really be in :class:`~sim.host.PhysMemory`, written by a
simulated CPU (through its store buffer — the payload copy of
``tcp_sendmsg`` is a memory write like any other, stack_facts §2.3):

* the **linear area** is one allocation, laid out as in Linux::

      head            data             head+tail        head+end
       | headroom      | linear bytes    | tailroom        |

  ``head`` and ``data`` are physical addresses; ``tail``, ``end`` and the
  ``*_header`` fields are offsets from ``head`` (Linux on 64-bit,
  NET_SKBUFF_DATA_USES_OFFSET). ``skb_reserve``/``skb_put``/``skb_push``/
  ``skb_pull`` move them; running past either end is Linux's
  ``skb_over_panic``/``skb_under_panic``, here :class:`SkbBug`.
* **page fragments** (``skb_shinfo(skb).frags``, at most
  :data:`MAX_SKB_FRAGS`): each an :class:`SkbFrag` ``(page, offset, size)``
  where ``page`` is the physical address of a page allocation (reference
  counted by :meth:`SkbMemory.get_page`/:meth:`SkbMemory.put_page`), or a
  ``bytes`` object for a page that is not in host memory (nothing can
  DMA-map that; it is for models above the driver that only read bytes).

``len`` is all bytes, ``data_len`` the bytes in frags, ``skb_headlen`` the
linear ones. The GSO fields are in ``skb_shinfo`` as in Linux (so clones
share them).

Where the memory comes from and who writes it is an :class:`~stack.core.skb_memory.SkbMemory`:
an allocator (``alloc(size, align) -> address | None``, ``free(address)``;
:class:`~stack.core.skb_memory.HostAllocator` draws from the host's kmalloc pool, a driver's
Kernel can stand in to get its failure injection and leak report), the
execution context whose current CPU does the stores, live-skb bookkeeping
for leak checks, and free counters (consumed vs dropped, as the
``consume_skb``/``kfree_skb`` tracepoints tell them apart).

Freeing: ``kfree_skb`` (a drop) and ``consume_skb`` (normal end of life)
drop one reference; the last one runs the destructor, releases the data
(when no clone still shares it) and counts. ``dev_kfree_skb_any`` in
hard-IRQ context defers to the CPU's completion queue and NET_TX, as Linux
does; that needs the :class:`~stack.core.netcore.NetCore` the memory belongs to.

Name clash note: Python mangles ``__name`` inside a class body, so code in a
class method must call the underscore-free aliases.
"""
from __future__ import annotations

import copy
from typing import Callable

from .checksum import csum_partial
from .context import in_hardirq
from .errno import ENOMEM
from .skb_memory import SkbBug, SkbMemory

__all__ = [
    "MAX_SKB_FRAGS", "NET_SKB_PAD", "SKB_TRUESIZE_OVERHEAD",
    "CHECKSUM_NONE", "CHECKSUM_UNNECESSARY", "CHECKSUM_COMPLETE", "CHECKSUM_PARTIAL",
    "SKB_GSO_TCPV4", "SKB_GSO_TCPV6", "SKB_GSO_UDP_L4", "SKBTX_HW_TSTAMP",
    "ETH_P_IP", "ETH_P_IPV6", "ETH_P_ARP", "ETH_P_8021Q", "ETH_HLEN",
    "SkbFrag", "skb_shared_info", "SkBuff",
    "alloc_skb", "skb_from_bytes", "skb_to_bytes", "skb_clone", "skb_get",
    "skb_header_cloned", "pskb_expand_head", "skb_cow_head",
    "skb_reserve", "skb_put", "skb_put_data", "skb_push", "skb_pull",
    "skb_headroom", "skb_tailroom", "skb_headlen",
    "skb_shinfo", "skb_frag_size", "skb_frag_off", "skb_frag_page",
    "skb_frag_bytes", "skb_fill_page_desc", "skb_put_frag_data",
    "skb_reset_mac_header", "skb_reset_network_header", "skb_reset_transport_header",
    "skb_mac_header_was_set", "skb_transport_header_was_set",
    "skb_set_network_header", "skb_set_transport_header", "skb_network_offset",
    "skb_transport_offset", "skb_network_header_len", "skb_checksum_start_offset",
    "skb_partial_csum_set", "skb_is_gso",
    "skb_vlan_tag_present", "skb_vlan_tag_get", "__vlan_hwaccel_put_tag", "__vlan_hwaccel_clear_tag",
    "vlan_get_protocol",
    "skb_orphan", "kfree_skb", "consume_skb", "dev_kfree_skb", "dev_kfree_skb_any",
    "dev_consume_skb_any", "dev_kfree_skb_irq", "napi_consume_skb",
    "skb_free_deferred",
]

#: Most page fragments per skb (``MAX_SKB_FRAGS``, stack_facts §0).
MAX_SKB_FRAGS = 17
#: Default headroom ``netdev_alloc_skb`` reserves (max(32, L1_CACHE_BYTES) on x86-64).
NET_SKB_PAD = 64
#: ``SKB_TRUESIZE(0)`` on x86-64: aligned sizeof(sk_buff) + sizeof(skb_shared_info).
#: UNCONFIRMED (256 + 320, from memory of a 6.x build); only socket memory accounting uses it.
SKB_TRUESIZE_OVERHEAD = 576

# skb->ip_summed
CHECKSUM_NONE = 0
CHECKSUM_UNNECESSARY = 1
CHECKSUM_COMPLETE = 2
CHECKSUM_PARTIAL = 3

# skb_shinfo(skb)->gso_type (bit positions as in 5.x include/linux/skbuff.h)
SKB_GSO_TCPV4 = 1 << 0
SKB_GSO_TCPV6 = 1 << 4
SKB_GSO_UDP_L4 = 1 << 17

# skb_shinfo(skb)->tx_flags
SKBTX_HW_TSTAMP = 1 << 0

# skb->protocol values (host byte order here; __be16 in Linux)
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_8021Q = 0x8100
ETH_P_IPV6 = 0x86DD
ETH_HLEN = 14

#: Value of an unset ``*_header`` offset (``(u16)~0U``).
_UNSET = 0xFFFF


class SkbFrag:
    """One page fragment (``skb_frag_t``): ``page`` (address or bytes), ``offset``, ``size``."""

    __slots__ = ("page", "offset", "size")

    def __init__(self, page, offset: int, size: int):
        self.page = page
        self.offset = offset
        self.size = size

    def __iter__(self):
        return iter((self.page, self.offset, self.size))

    def __repr__(self) -> str:
        page = f"{self.page:#x}" if type(self.page) is int else f"bytes[{len(self.page)}]"
        return f"SkbFrag({page}, {self.offset}, {self.size})"


class skb_shared_info:
    """The part of an skb its clones share: frags, GSO parameters, TX flags, the data refcount."""

    __slots__ = ("frags", "gso_size", "gso_segs", "gso_type", "tx_flags", "dataref")

    def __init__(self):
        self.frags: list[SkbFrag] = []
        self.gso_size = 0
        self.gso_segs = 0
        self.gso_type = 0
        self.tx_flags = 0
        self.dataref = 1

    @property
    def nr_frags(self) -> int:
        return len(self.frags)


class SkBuff:
    """One ``struct sk_buff`` (see the module docstring for the layout)."""

    __slots__ = (
        "mem", "id", "head", "data", "tail", "end", "len", "data_len", "users", "cloned", "shinfo",
        "mac_header", "network_header", "transport_header", "protocol", "ip_summed",
        "csum_start", "csum_offset", "priority", "queue_mapping", "vlan_proto", "vlan_tci",
        "vlan_present", "xmit_more", "destructor", "sk", "dev", "cb", "truesize", "next",
        "hash", "ooo_okay", "pkt_len",
    )

    def __init__(self, mem: "SkbMemory", head: int, size: int):
        self.mem = mem
        self.id = mem._new_id()
        self.head = head
        self.data = head
        self.tail = 0
        self.end = size
        self.len = 0
        self.data_len = 0
        self.users = 1
        self.cloned = False
        self.shinfo = skb_shared_info()
        self.mac_header = _UNSET
        self.network_header = _UNSET
        self.transport_header = _UNSET
        self.protocol = 0
        self.ip_summed = CHECKSUM_NONE
        self.csum_start = 0
        self.csum_offset = 0
        self.priority = 0
        self.queue_mapping = 0
        self.vlan_proto = 0
        self.vlan_tci = 0
        self.vlan_present = False
        self.xmit_more = False
        #: Called with the skb when its last reference goes (e.g. tcp_wfree).
        self.destructor: Callable[["SkBuff"], None] | None = None
        self.sk = None
        self.dev = None
        #: Control block: any object a layer keeps per skb (TCP_SKB_CB); copied on clone.
        self.cb = None
        self.truesize = SKB_TRUESIZE_OVERHEAD + size
        self.next: SkBuff | None = None
        #: Flow hash (``skb->hash``; 0: not computed yet). TX queue selection reads it.
        self.hash = 0
        #: ``skb->ooo_okay``: no packet of this flow is still in a host queue, so the
        #: device layer may move the flow to another TX queue (TCP sets it).
        self.ooo_okay = False
        #: ``qdisc_skb_cb(skb)->pkt_len``: wire-byte estimate the qdisc layer accounts.
        self.pkt_len = 0

    def __repr__(self) -> str:
        return (f"<skb #{self.id} len={self.len} data_len={self.data_len} "
                f"frags={len(self.shinfo.frags)} users={self.users}>")


# --- allocation ------------------------------------------------------------------------
def alloc_skb(mem: SkbMemory, size: int, headroom: int = 0) -> SkBuff | None:
    """An empty skb with ``headroom`` reserved and ``size`` bytes of tailroom, or None.

    Linux: ``alloc_skb(headroom + size)`` then ``skb_reserve(headroom)``.
    """
    if size < 0 or headroom < 0:
        raise ValueError(f"alloc_skb({size}, headroom={headroom})")
    total = headroom + size
    head = mem.allocator.alloc(total or 1, 64)
    if head is None:
        mem.alloc_failures += 1
        return None
    skb = SkBuff(mem, head, total)
    if headroom:
        skb.data = head + headroom
        skb.tail = headroom
    mem.allocated += 1
    mem.live[skb.id] = skb
    return skb


def skb_from_bytes(mem: SkbMemory, frame: bytes, nr_frags: int = 0, *, headlen: int | None = None,
                   frag_sizes: list[int] | None = None, headroom: int = NET_SKB_PAD,
                   frag_offset: int = 0) -> SkBuff | None:
    """An skb holding ``frame``: ``headlen`` bytes linear, the rest in ``nr_frags`` page frags.

    Without ``frag_sizes``, ``headlen`` defaults to an even share
    (``len // (nr_frags + 1)``; all of it when ``nr_frags`` is 0) and the
    rest is split as evenly as possible, earlier frags taking the odd bytes.
    Each frag gets its own page, with its bytes at ``frag_offset`` in it.
    Returns None (nothing leaked) if an allocation fails.
    """
    n = len(frame)
    if frag_sizes is None:
        if headlen is None:
            headlen = n if nr_frags == 0 else n // (nr_frags + 1)
        if nr_frags:
            base, extra = divmod(n - headlen, nr_frags)
            frag_sizes = [base + (i < extra) for i in range(nr_frags)]
        else:
            frag_sizes = []
    else:
        if headlen is None:
            headlen = n - sum(frag_sizes)
    if headlen < 0 or headlen + sum(frag_sizes) != n:
        raise ValueError(f"skb_from_bytes: headlen {headlen} + frags {frag_sizes} != {n} bytes")
    if len(frag_sizes) > MAX_SKB_FRAGS:
        raise ValueError(f"skb_from_bytes: {len(frag_sizes)} frags > MAX_SKB_FRAGS ({MAX_SKB_FRAGS})")
    if any(s <= 0 for s in frag_sizes):
        raise ValueError(f"skb_from_bytes: {n} bytes cannot fill frags {frag_sizes} (empty frag)")
    skb = alloc_skb(mem, headlen, headroom)
    if skb is None:
        return None
    skb_put_data(skb, frame[:headlen])
    pos = headlen
    for size in frag_sizes:
        if not skb_put_frag_data(skb, frame[pos:pos + size], frag_offset):
            skb.users = 0
            _release(skb, None)  # never handed out: neither a drop nor a consume
            mem.allocated -= 1
            return None
        pos += size
    return skb


def skb_clone(skb: SkBuff) -> SkBuff:
    """A new skb header sharing ``skb``'s data and frags (``dataref`` + 1); no destructor, no socket."""
    mem = skb.mem
    n = SkBuff.__new__(SkBuff)
    for name in SkBuff.__slots__:
        setattr(n, name, getattr(skb, name))
    n.id = mem._new_id()
    n.users = 1
    n.destructor = None
    n.sk = None
    n.next = None
    if skb.cb is not None:
        n.cb = copy.copy(skb.cb)
    n.cloned = skb.cloned = True
    skb.shinfo.dataref += 1
    mem.allocated += 1
    mem.live[n.id] = n
    return n


def skb_header_cloned(skb: SkBuff) -> bool:
    """True if another skb shares this one's linear data (writing headers would change it too)."""
    return skb.cloned and skb.shinfo.dataref > 1


def pskb_expand_head(skb: SkBuff, nhead: int, ntail: int) -> int:
    """Give ``skb`` a private linear area with ``nhead``/``ntail`` more bytes; 0 or -ENOMEM.

    The linear bytes are copied (a CPU copy through the current CPU). A
    cloned skb gets its own ``skb_shared_info`` holding new references to
    the frag pages, and drops its share of the old data, as Linux does.
    """
    if nhead < 0 or ntail < 0:
        raise SkbBug(f"pskb_expand_head({skb!r}, {nhead}, {ntail})")
    mem = skb.mem
    size = skb.end + nhead + ntail
    head = mem.allocator.alloc(size or 1, 64)
    if head is None:
        mem.alloc_failures += 1
        return -ENOMEM
    mem.write(head + nhead, mem.read(skb.head, skb.end))
    old = skb.shinfo
    if skb_header_cloned(skb):
        sh = skb_shared_info()
        sh.frags = list(old.frags)
        sh.gso_size, sh.gso_segs, sh.gso_type, sh.tx_flags = (old.gso_size, old.gso_segs,
                                                               old.gso_type, old.tx_flags)
        for frag in sh.frags:
            if type(frag.page) is int:
                mem.get_page(frag.page)
        old.dataref -= 1
        skb.shinfo = sh
    else:
        mem.allocator.free(skb.head)
    offset = skb.data - skb.head
    skb.head = head
    skb.data = head + nhead + offset
    skb.tail += nhead
    skb.end = size
    for name in ("mac_header", "network_header", "transport_header"):
        value = getattr(skb, name)
        if value != _UNSET:
            setattr(skb, name, value + nhead)
    if skb.ip_summed == CHECKSUM_PARTIAL:
        skb.csum_start += nhead
    skb.cloned = False
    if skb.sk is None:  # an skb charged to a socket keeps its truesize (the charge must match)
        skb.truesize += nhead + ntail
    return 0


def skb_cow_head(skb: SkBuff, headroom: int) -> int:
    """Make the headers writable with ``headroom`` bytes before ``data``; 0 or -ENOMEM."""
    delta = max(headroom - skb_headroom(skb), 0)
    if delta or skb_header_cloned(skb):
        return pskb_expand_head(skb, (delta + 63) & ~63 if delta else 0, 0)
    return 0


def skb_get(skb: SkBuff) -> SkBuff:
    """Take another reference to ``skb``."""
    skb.users += 1
    return skb


# --- the linear area --------------------------------------------------------------------
def skb_reserve(skb: SkBuff, n: int) -> None:
    """Move data and tail forward by ``n`` on an empty skb (make headroom)."""
    skb.data += n
    skb.tail += n
    if skb.tail > skb.end:
        raise SkbBug(f"skb_reserve({n}) past the end of {skb!r}")


def skb_put(skb: SkBuff, n: int) -> int:
    """Extend the linear data by ``n`` bytes at the tail; the address of the new bytes."""
    if skb.data_len:
        raise SkbBug(f"skb_put on nonlinear {skb!r}")
    tail = skb.tail
    skb.tail = tail + n
    skb.len += n
    if skb.tail > skb.end:
        raise SkbBug(f"skb_over_panic: put {n} on {skb!r}, tail {skb.tail} > end {skb.end}")
    return skb.head + tail


def skb_put_data(skb: SkBuff, data) -> int:
    """``skb_put`` then copy ``data`` there through the current CPU; the address written."""
    addr = skb_put(skb, len(data))
    if data:
        skb.mem.write(addr, data)
    return addr


def skb_push(skb: SkBuff, n: int) -> int:
    """Grow the data at the front by ``n`` bytes of headroom; the new data address."""
    skb.data -= n
    skb.len += n
    if skb.data < skb.head:
        raise SkbBug(f"skb_under_panic: push {n} on {skb!r}, headroom was {skb.data + n - skb.head}")
    return skb.data


def skb_pull(skb: SkBuff, n: int) -> int | None:
    """Remove ``n`` bytes from the front of the linear data; the new data address (None if too long)."""
    if n > skb.len:
        return None
    if skb.len - n < skb.data_len:
        raise SkbBug(f"skb_pull({n}) into the frags of {skb!r}")
    skb.len -= n
    skb.data += n
    return skb.data


def skb_headroom(skb: SkBuff) -> int:
    return skb.data - skb.head


def skb_tailroom(skb: SkBuff) -> int:
    return 0 if skb.data_len else skb.end - skb.tail


def skb_headlen(skb: SkBuff) -> int:
    """Bytes in the linear area."""
    return skb.len - skb.data_len


# --- frags -----------------------------------------------------------------------------
def skb_shinfo(skb: SkBuff) -> skb_shared_info:
    return skb.shinfo


def skb_frag_size(frag: SkbFrag) -> int:
    return frag.size


def skb_frag_off(frag: SkbFrag) -> int:
    return frag.offset


def skb_frag_page(frag: SkbFrag):
    return frag.page


def skb_frag_bytes(mem: SkbMemory, frag: SkbFrag) -> bytes:
    """The frag's bytes, as the current CPU sees them."""
    page = frag.page
    if type(page) is int:
        return mem.read(page + frag.offset, frag.size)
    return bytes(page[frag.offset:frag.offset + frag.size])


def skb_fill_page_desc(skb: SkBuff, i: int, page, off: int, size: int) -> None:
    """Make frag ``i`` = (page, off, size) and ``nr_frags = i + 1``; the page reference moves in.

    Like Linux, this does not touch ``len``/``data_len``/``truesize``.
    """
    if i >= MAX_SKB_FRAGS:
        raise SkbBug(f"frag {i} of {skb!r}: more than MAX_SKB_FRAGS ({MAX_SKB_FRAGS})")
    frags = skb.shinfo.frags
    del frags[i:]
    if i != len(frags):
        raise SkbBug(f"skb_fill_page_desc({i}) leaves a hole after frag {len(frags) - 1}")
    frags.append(SkbFrag(page, off, size))


def skb_put_frag_data(skb: SkBuff, data, offset: int = 0) -> bool:
    """Append ``data`` as a new frag on a fresh page (bytes at ``offset``); False if no memory.

    The model's shorthand for: allocate a page, copy into it, then
    ``skb_fill_page_desc`` and grow ``len``/``data_len``/``truesize``.
    """
    nfr = len(skb.shinfo.frags)
    if nfr >= MAX_SKB_FRAGS:
        raise SkbBug(f"{skb!r} already has MAX_SKB_FRAGS ({MAX_SKB_FRAGS}) frags")
    mem = skb.mem
    size = len(data)
    page = mem.alloc_page(offset + size)
    if page is None:
        return False
    mem.write(page + offset, data)
    skb_fill_page_desc(skb, nfr, page, offset, size)
    skb.len += size
    skb.data_len += size
    skb.truesize += size
    return True


def skb_to_bytes(skb: SkBuff) -> bytes:
    """The packet's bytes: linear part, then each frag, as the current CPU sees them."""
    mem = skb.mem
    parts = [mem.read(skb.data, skb.len - skb.data_len)]
    for frag in skb.shinfo.frags:
        parts.append(skb_frag_bytes(mem, frag))
    return b"".join(parts)


# --- header offsets -----------------------------------------------------------------------
def skb_mac_header_was_set(skb: SkBuff) -> bool:
    """``skb_mac_header_was_set``: the MAC header offset has been set."""
    return skb.mac_header != _UNSET


def skb_transport_header_was_set(skb: SkBuff) -> bool:
    """``skb_transport_header_was_set``: the transport header offset has been set."""
    return skb.transport_header != _UNSET


def skb_reset_mac_header(skb: SkBuff) -> None:
    skb.mac_header = skb.data - skb.head


def skb_reset_network_header(skb: SkBuff) -> None:
    skb.network_header = skb.data - skb.head


def skb_reset_transport_header(skb: SkBuff) -> None:
    skb.transport_header = skb.data - skb.head


def skb_set_network_header(skb: SkBuff, offset: int) -> None:
    skb.network_header = skb.data - skb.head + offset


def skb_set_transport_header(skb: SkBuff, offset: int) -> None:
    skb.transport_header = skb.data - skb.head + offset


def skb_network_offset(skb: SkBuff) -> int:
    """Network header position relative to ``data``."""
    return skb.network_header - (skb.data - skb.head)


def skb_transport_offset(skb: SkBuff) -> int:
    """Transport header position relative to ``data``."""
    return skb.transport_header - (skb.data - skb.head)


def skb_network_header_len(skb: SkBuff) -> int:
    return skb.transport_header - skb.network_header


def skb_checksum_start_offset(skb: SkBuff) -> int:
    """Where checksumming starts, relative to ``data``."""
    return skb.csum_start - (skb.data - skb.head)


def skb_partial_csum_set(skb: SkBuff, start: int, off: int) -> bool:
    """CHECKSUM_PARTIAL from ``start`` (relative to data), result at ``start + off``."""
    if start + off + 2 > skb.len - skb.data_len:
        return False
    skb.ip_summed = CHECKSUM_PARTIAL
    skb.csum_start = skb.data - skb.head + start
    skb.csum_offset = off
    skb.transport_header = skb.csum_start
    return True


def skb_is_gso(skb: SkBuff) -> bool:
    return skb.shinfo.gso_size != 0


def skb_vlan_tag_present(skb: SkBuff) -> bool:
    return skb.vlan_present


def skb_vlan_tag_get(skb: SkBuff) -> int:
    return skb.vlan_tci


def __vlan_hwaccel_put_tag(skb: SkBuff, proto: int, tci: int) -> None:
    """Ask the hardware to insert an 802.1Q tag ``tci`` (protocol ``proto``)."""
    skb.vlan_proto = proto
    skb.vlan_tci = tci
    skb.vlan_present = True


def __vlan_hwaccel_clear_tag(skb: SkBuff) -> None:
    skb.vlan_present = False
    skb.vlan_tci = 0


def vlan_get_protocol(skb: SkBuff, load: Callable[[int, int], bytes] | None = None) -> int:
    """``vlan_get_protocol`` (``if_vlan.h``): the L3 protocol, read past an in-band 802.1Q tag
    (``data`` at the Ethernet header) when the frame holds one; else ``skb.protocol``.

    ``load(addr, n)`` reads the tag's bytes: the driver passes its CPU's load (its accesses go
    through the memory model); the device layer reads the skb's memory directly.
    """
    if skb.protocol == ETH_P_8021Q and skb.len >= ETH_HLEN + 4:
        raw = (load or skb.mem.read)(skb.data + ETH_HLEN + 2, 2)
        return int.from_bytes(raw, "big")
    return skb.protocol


# --- freeing -------------------------------------------------------------------------------
def skb_orphan(skb: SkBuff) -> None:
    """Run and drop the destructor now, detaching the skb from its socket."""
    d = skb.destructor
    if d is not None:
        skb.destructor = None
        d(skb)
    skb.sk = None


def _unref(skb: SkBuff) -> bool:
    """Drop one reference; True if it was the last (``skb_unref``)."""
    users = skb.users
    if users == 1:
        skb.users = 0
        return True
    if users <= 0:
        raise SkbBug(f"{skb!r} freed twice")
    skb.users = users - 1
    return False


def _release(skb: SkBuff, dropped: bool | None) -> None:
    """``__kfree_skb``: destructor, data (unless a clone still shares it), accounting.

    ``dropped`` picks the counter: True drop, False consume, None neither.
    """
    d = skb.destructor
    if d is not None:
        skb.destructor = None
        d(skb)
    mem = skb.mem
    sh = skb.shinfo
    last = True
    if skb.cloned:
        sh.dataref -= 1
        last = sh.dataref == 0
    if last:
        for frag in sh.frags:
            if type(frag.page) is int:
                mem.put_page(frag.page)
        mem.allocator.free(skb.head)
    del mem.live[skb.id]
    if dropped:
        mem.dropped += 1
    elif dropped is not None:
        mem.consumed += 1


def kfree_skb(skb: SkBuff | None) -> None:
    """Drop a reference; the last one frees the skb, counted as a drop."""
    if skb is not None and _unref(skb):
        _release(skb, True)


def consume_skb(skb: SkBuff | None) -> None:
    """Drop a reference; the last one frees the skb, counted as consumed (normal end of life)."""
    if skb is not None and _unref(skb):
        _release(skb, False)


#: ``#define dev_kfree_skb(a) consume_skb(a)``
dev_kfree_skb = consume_skb


def _dev_free_irq(skb: SkBuff | None, dropped: bool) -> None:
    """``__dev_kfree_skb_irq``: the last reference queues the skb for NET_TX to free."""
    if skb is None or not _unref(skb):
        return
    net = skb.mem.net
    if net is None:
        raise SkbBug(f"{skb!r} freed from hard-IRQ context but its memory has no NetCore to defer to")
    net.completion_queue_add(skb, dropped)


def _dev_free_any(skb: SkBuff | None, dropped: bool) -> None:
    """``__dev_kfree_skb_any``: defer in hard-IRQ context, else free now."""
    if skb is None:
        return
    if skb.mem.net is not None and in_hardirq(skb.mem.ctx.cpu):
        _dev_free_irq(skb, dropped)
    elif dropped:
        kfree_skb(skb)
    else:
        consume_skb(skb)


def dev_kfree_skb_irq(skb: SkBuff | None) -> None:
    """Free from hard-IRQ context: deferred to NET_TX, counted as a drop."""
    _dev_free_irq(skb, True)


def dev_kfree_skb_any(skb: SkBuff | None) -> None:
    """Free from any context, counted as a drop (Linux 4.x+: SKB_REASON_DROPPED)."""
    _dev_free_any(skb, True)


def dev_consume_skb_any(skb: SkBuff | None) -> None:
    """Free from any context, counted as consumed."""
    _dev_free_any(skb, False)


def napi_consume_skb(skb: SkBuff | None, budget: int) -> None:
    """Free a transmitted skb from NAPI poll (consumed); budget 0 means not NAPI (netpoll).

    Linux parks the head in a per-CPU cache for bulk freeing; the bytes are
    released at once either way, which is all the model keeps.
    """
    if skb is None:
        return
    if not budget:
        dev_consume_skb_any(skb)
    elif _unref(skb):
        _release(skb, False)


def skb_free_deferred(skb: SkBuff, dropped: bool) -> None:
    """Free an skb whose last reference was already dropped (the completion queue's entries)."""
    if skb.users:
        raise SkbBug(f"{skb!r} on the completion queue still has {skb.users} user(s)")
    _release(skb, dropped)


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
