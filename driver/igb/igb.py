"""``igb.h``: the driver's constants and data structures (igb_facts §3.1, §4).

Plain Python objects stand for most kernel structures. What the transmit
path (``igb_xmit_frame_ring`` on the sending CPU) and the completion path
(``igb_clean_tx_irq`` in NET_RX, usually on another CPU) share lives in
simulated host memory, with Linux's x86-64 layout, and is read and written
through the current CPU's loads and stores — so store buffers, stale loads
and barriers apply to it (cpu_time_facts §2, "the igb clean path holds no
lock": the two sides share only these fields, with the barrier pairs of
ordering_facts §2.3):

* the descriptor ring (``igb_ring.desc``, coherent DMA memory the NIC reads);
* every ``struct igb_tx_buffer`` (:data:`IGB_TX_BUFFER_FIELDS`): the
  ``tx_buffer_info`` array is one vmalloc area, and
  ``tx_ring.tx_buffer_info[i]`` is a view (:class:`igb_tx_buffer`) whose
  attributes are plain loads and stores at slot ``i``'s field offsets.
  ``next_to_watch`` holds the EOP descriptor's CPU address (NULL = 0), ``skb``
  a handle (:mod:`stack.core.skb_handle`): using a freed skb through it is
  reported as a use-after-free;
* the ring's ``next_to_clean`` and ``next_to_use`` (u16 fields of
  ``struct igb_ring``, :data:`IGB_RING_FIELDS`; the struct is kzalloc'd with
  its q_vector): each read of ``tx_ring->next_to_use`` in C is one load of
  the property.

Everything else on the ring (count, flags, statistics…) is touched by one
side only, or only under the reset's exclusion, and stays Python.
"""
from __future__ import annotations

from stack.core.jiffies import HZ
from stack.core.napi import napi_struct
from stack.core.skb_handle import skb_from_handle, skb_handle
from stack.core.skbuff import MAX_SKB_FRAGS

# --- ring sizes and limits (facts §4) ----------------------------------------------------------
IGB_DEFAULT_TXD = 256
#: 64 since Linux 6.6 (2023, "igb: Change IGB_MIN to allow set rx/tx value between 64 and 80",
#: also in the stable trees); 80 before.
IGB_MIN_TXD = 64
IGB_MAX_TXD = 4096
REQ_TX_DESCRIPTOR_MULTIPLE = 8
IGB_DEFAULT_TX_WORK = 128
IGB_MAX_TXD_PWR = 15
IGB_MAX_DATA_PER_TXD = 1 << IGB_MAX_TXD_PWR
#: MAX_SKB_FRAGS + 4: the worst-case descriptors of one skb, plus a context and a gap.
DESC_NEEDED = MAX_SKB_FRAGS + 4
#: ``#define TX_WAKE_THRESHOLD (DESC_NEEDED * 2)`` inside igb_clean_tx_irq.
TX_WAKE_THRESHOLD = DESC_NEEDED * 2
#: TCTL.PSP pads to 64 bytes, but the frame must hold at least 17 (igb_xmit_frame).
IGB_MIN_TX_LEN = 17
IGB_MAX_MAC_HDR_LEN = 127
IGB_MAX_NETWORK_HDR_LEN = 511

# --- TXDCTL thresholds (facts §1.5) --------------------------------------------------------------
IGB_TX_PTHRESH = 8
IGB_TX_HTHRESH = 1

# --- interrupt moderation (facts §3.10) ------------------------------------------------------------
IGB_DEFAULT_ITR = 3
IGB_START_ITR = 648
IGB_4K_ITR = 980
IGB_20K_ITR = 196
IGB_70K_ITR = 56
IGB_MIN_ITR_USECS = 10
IGB_MAX_ITR_USECS = 10000
lowest_latency, low_latency, bulk_latency = 0, 1, 2

# --- queues and vectors (facts §4) ------------------------------------------------------------------
IGB_MAX_TX_QUEUES = 8
MAX_Q_VECTORS = 8
NON_Q_VECTORS = 1

# --- tx_flags (facts §2.5) -------------------------------------------------------------------------
IGB_TX_FLAGS_VLAN = 0x01
IGB_TX_FLAGS_TSO = 0x02
IGB_TX_FLAGS_TSTAMP = 0x04
IGB_TX_FLAGS_IPV4 = 0x10
IGB_TX_FLAGS_CSUM = 0x20
IGB_TX_FLAGS_VLAN_MASK = 0xFFFF0000
IGB_TX_FLAGS_VLAN_SHIFT = 16

# --- ring flags, adapter flags and state bits -------------------------------------------------------
IGB_RING_FLAG_TX_CTX_IDX = 1 << 0
IGB_RING_FLAG_TX_DETECT_HANG = 1 << 1
IGB_FLAG_HAS_MSIX = 1 << 0
IGB_FLAG_QUEUE_PAIRS = 1 << 1
IGB_FLAG_NEED_LINK_UPDATE = 1 << 2
__IGB_TESTING, __IGB_RESETTING, __IGB_DOWN = "testing", "resetting", "down"

#: ``enum igb_tx_buf_type``: the model transmits skbs only (no XDP).
IGB_TYPE_SKB = 0


def _c_layout(fields: tuple[tuple[str, int], ...]) -> dict[str, tuple[int, int]]:
    """``{name: (offset, size)}`` of a C struct whose members have these sizes, each at its natural alignment."""
    out, offset = {}, 0
    for name, size in fields:
        offset = -(-offset // size) * size
        out[name] = (offset, size)
        offset += size
    return out


#: ``struct igb_tx_buffer`` (igb.h since the XDP patch; igb_facts §3.1) on x86-64, member sizes in
#: declaration order: the union of ``skb``/``xdpf`` is one pointer, ``dma``/``len`` are
#: DEFINE_DMA_UNMAP_ADDR (dma_addr_t) and DEFINE_DMA_UNMAP_LEN (__u32).
IGB_TX_BUFFER_FIELDS = _c_layout((
    ("next_to_watch", 8),   # union e1000_adv_tx_desc *
    ("time_stamp", 8),      # unsigned long (jiffies)
    ("type", 4),            # enum igb_tx_buf_type
    ("skb", 8),             # union { struct sk_buff *skb; struct xdp_frame *xdpf; }
    ("bytecount", 4),       # unsigned int
    ("gso_segs", 2),        # u16
    ("protocol", 2),        # __be16
    ("dma", 8),             # dma_addr_t
    ("len", 4),             # __u32
    ("tx_flags", 4),        # u32
))
#: ``sizeof(struct igb_tx_buffer)``: the last member's end, rounded up to the 8-byte alignment.
IGB_TX_BUFFER_SIZE = 56

#: The head of ``struct igb_ring`` (igb.h, recent field list) on x86-64, through ``next_to_alloc``:
#: the model keeps ``next_to_clean`` and ``next_to_use`` there; the members before them are
#: Python attributes of :class:`igb_ring`, listed for the offsets.
IGB_RING_FIELDS = _c_layout((
    ("q_vector", 8), ("netdev", 8), ("xdp_prog", 8), ("dev", 8), ("tx_buffer_info", 8),
    ("desc", 8), ("flags", 8), ("tail", 8), ("dma", 8), ("size", 4),
    ("count", 2), ("queue_index", 1), ("reg_idx", 1), ("launchtime_enable", 1), ("cbs_enable", 1),
    ("idleslope", 4), ("sendslope", 4), ("hicredit", 4), ("locredit", 4),
    ("next_to_clean", 2), ("next_to_use", 2), ("next_to_alloc", 2),
))
#: Bytes of ``struct igb_ring`` the model allocates: through ``next_to_alloc``, 8-byte aligned
#: (the whole struct also holds the statistics and XDP info, and is cache-line aligned).
IGB_RING_SIZE = 112


def _field(offset: int, size: int) -> property:
    """A little-endian member at ``offset``: a plain load/store of ``size`` bytes by the current CPU."""
    def load(self) -> int:
        return self.kernel.cpu.load(self.addr + offset, size)

    def store(self, value: int) -> None:
        self.kernel.cpu.store(self.addr + offset, size, value)

    return property(load, store)


def _be16_field(offset: int) -> property:
    """A ``__be16`` member: big-endian bytes in memory, a host-order int in Python."""
    def load(self) -> int:
        return int.from_bytes(self.kernel.cpu.load_bytes(self.addr + offset, 2), "big")

    def store(self, value: int) -> None:
        self.kernel.cpu.store_bytes(self.addr + offset, value.to_bytes(2, "big"))

    return property(load, store)


def _skb_field(offset: int) -> property:
    """A ``struct sk_buff *`` member: an skb handle in memory, the skb (or None, or a freed skb) in Python."""
    def load(self):
        return skb_from_handle(self.skbs, self.kernel.cpu.load(self.addr + offset, 8), 2)

    def store(self, skb) -> None:
        self.kernel.cpu.store(self.addr + offset, 8, skb_handle(skb))

    return property(load, store)


class igb_tx_buffer:
    """``&tx_ring->tx_buffer_info[i]``: the struct at ``addr``; each member access is a CPU load or store."""

    __slots__ = ("kernel", "skbs", "addr")

    def __init__(self, kernel, skbs, addr: int):
        self.kernel = kernel
        self.skbs = skbs    # the SkbMemory whose live table resolves skb handles
        self.addr = addr

    next_to_watch = _field(*IGB_TX_BUFFER_FIELDS["next_to_watch"])
    time_stamp = _field(*IGB_TX_BUFFER_FIELDS["time_stamp"])
    type = _field(*IGB_TX_BUFFER_FIELDS["type"])
    skb = _skb_field(IGB_TX_BUFFER_FIELDS["skb"][0])
    bytecount = _field(*IGB_TX_BUFFER_FIELDS["bytecount"])
    gso_segs = _field(*IGB_TX_BUFFER_FIELDS["gso_segs"])
    protocol = _be16_field(IGB_TX_BUFFER_FIELDS["protocol"][0])
    dma = _field(*IGB_TX_BUFFER_FIELDS["dma"])
    len = _field(*IGB_TX_BUFFER_FIELDS["len"])
    tx_flags = _field(*IGB_TX_BUFFER_FIELDS["tx_flags"])

    def __repr__(self) -> str:
        return f"<igb_tx_buffer at {self.addr:#x}>"


class igb_tx_buffer_info(list):
    """``tx_ring->tx_buffer_info``: the vmalloc area at ``addr``, indexed like the C array (a view per slot)."""

    __slots__ = ("addr",)

    def __init__(self, kernel, skbs, addr: int, count: int):
        super().__init__(igb_tx_buffer(kernel, skbs, addr + IGB_TX_BUFFER_SIZE * i) for i in range(count))
        self.addr = addr

    def index_of(self, tx_buffer: igb_tx_buffer) -> int:
        """``tx_buffer - tx_ring->tx_buffer_info``: the slot a view stands for."""
        return (tx_buffer.addr - self.addr) // IGB_TX_BUFFER_SIZE


class igb_tx_queue_stats:
    __slots__ = ("packets", "bytes", "restart_queue", "restart_queue2")

    def __init__(self):
        self.packets = self.bytes = self.restart_queue = self.restart_queue2 = 0


class igb_ring:
    """A TX ring: descriptors in coherent memory, its indices in the ring struct at ``addr``, buffer info.

    ``addr`` is the ring's ``struct igb_ring`` in host memory (:data:`IGB_RING_SIZE` bytes);
    ``next_to_clean``/``next_to_use`` are u16 loads and stores there by the current CPU.
    """

    def __init__(self, adapter, q_vector, queue_index: int, reg_idx: int, count: int, addr: int):
        self.adapter = adapter
        self.kernel = adapter.kernel
        self.q_vector = q_vector
        self.netdev = adapter.netdev
        self.dev = adapter.pdev.dev
        self.queue_index = queue_index
        self.reg_idx = reg_idx
        self.count = count
        self.addr = addr
        self.size = 0
        self.desc = None           # CPU address of the descriptor ring
        self.dma = 0               # its bus address
        self.tail = None           # IoAddr of TDT(reg_idx)
        self.flags = 0
        self.tx_buffer_info: igb_tx_buffer_info | None = None
        self.tx_stats = igb_tx_queue_stats()
        self.tx_dropped = 0        # packets dropped by this ring (map failure, reset)

    next_to_clean = _field(*IGB_RING_FIELDS["next_to_clean"])
    next_to_use = _field(*IGB_RING_FIELDS["next_to_use"])

    def __repr__(self) -> str:
        mem = self.kernel.host.mem   # memory, not a CPU load: printing must not change an execution
        return (f"<igb_ring tx{self.queue_index} reg_idx={self.reg_idx} count={self.count} "
                f"ntu={mem.read16(self.addr + IGB_RING_FIELDS['next_to_use'][0])} "
                f"ntc={mem.read16(self.addr + IGB_RING_FIELDS['next_to_clean'][0])}>")


def igb_desc_unused(ring: igb_ring) -> int:
    """Free descriptors; one slot always stays empty so NTU never catches NTC (facts §3.1).

    One load of each index, as the compiled inline function makes.
    """
    ntc, ntu = ring.next_to_clean, ring.next_to_use
    return (ntc - ntu - 1) if ntc > ntu else ring.count + ntc - ntu - 1


def TXD_USE_COUNT(size: int) -> int:
    """Descriptors for ``size`` bytes: one per 32 KiB chunk."""
    return -(-size // IGB_MAX_DATA_PER_TXD)


class igb_ring_container:
    """``q_vector->tx``/``->rx``: the vector's ring and its ITR bookkeeping."""

    def __init__(self):
        self.ring: igb_ring | None = None
        self.total_bytes = 0
        self.total_packets = 0
        self.count = 0
        self.itr = low_latency
        self.work_limit = IGB_DEFAULT_TX_WORK


class igb_q_vector:
    """One interrupt vector's worth of work: a NAPI context, its rings, its EITR."""

    def __init__(self, adapter, v_idx: int):
        self.adapter = adapter
        self.v_idx = v_idx
        self.name = ""
        self.napi = napi_struct(f"{adapter.netdev.name}-q{v_idx}")
        self.napi.priv = self
        self.tx = igb_ring_container()
        self.rx = igb_ring_container()
        self.rx_ring_index: int | None = None   # RX rings are not modelled: the index only
        self.itr_val = IGB_START_ITR
        self.set_itr = 0
        self.itr_register = None
        self.eims_value = 0
        self.msix_vector = None
        self.cpu = 0

#: ``adapter->link_speed`` values.
SPEED_10, SPEED_100, SPEED_1000 = 10, 100, 1000
#: CONFIG_HZ, as the driver's modules import it (one definition for all layers: stack.core.jiffies).
HZ_FROM_STACK = HZ
