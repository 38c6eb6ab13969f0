"""``igb.h``: the driver's constants and data structures (igb_facts §3.1, §4).

Plain Python objects stand for the kernel structures. Two pieces live in
simulated host memory because other agents read them concurrently and the
ordering model must see them:

* the descriptor ring (``igb_ring.desc``, coherent DMA memory the NIC reads);
* each ``igb_tx_buffer.next_to_watch`` (8 bytes per slot in the
  ``tx_buffer_info`` vmalloc area, read by the cleaner on another CPU):
  value 0 is NULL, otherwise the EOP descriptor's index + 1. Storing it
  through the CPU is what makes ``dma_wmb`` before it and ``smp_rmb`` after
  reading it matter on a weak profile.

Everything else in ``igb_tx_buffer`` (skb, dma, len, bytecount…) is a
Python attribute: it is written before ``next_to_watch`` is published and
read only after it is seen, the dependency the barriers exist for.
"""
from __future__ import annotations

from stack.core.jiffies import HZ
from stack.core.napi import napi_struct
from stack.core.skbuff import MAX_SKB_FRAGS

# --- ring sizes and limits (facts §4) ----------------------------------------------------------
IGB_DEFAULT_TXD = 256
IGB_MIN_TXD = 80
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

IGB_TYPE_SKB = 0

#: ``sizeof(struct igb_tx_buffer)`` on x86-64 (UNCONFIRMED: from the field list, with padding).
IGB_TX_BUFFER_SIZE = 56
#: Stride of the ``next_to_watch`` slots: it sits at the start of each tx_buffer slot.
NTW_SLOT = IGB_TX_BUFFER_SIZE


class igb_tx_buffer:
    """One slot of ``tx_buffer_info``: what the cleaner needs about the packet that starts here."""

    __slots__ = ("time_stamp", "skb", "bytecount", "gso_segs", "protocol", "dma", "len", "tx_flags", "type")

    def __init__(self):
        self.clear()

    def clear(self) -> None:
        """``memset(tx_buffer, 0)``."""
        self.time_stamp = 0
        self.skb = None
        self.bytecount = 0
        self.gso_segs = 0
        self.protocol = 0
        self.dma = 0
        self.len = 0
        self.tx_flags = 0
        self.type = IGB_TYPE_SKB


class igb_tx_queue_stats:
    __slots__ = ("packets", "bytes", "restart_queue", "restart_queue2")

    def __init__(self):
        self.packets = self.bytes = self.restart_queue = self.restart_queue2 = 0


class igb_ring:
    """A TX ring: descriptors in coherent memory, software indices, per-slot buffer info."""

    def __init__(self, adapter, q_vector, queue_index: int, reg_idx: int, count: int):
        self.adapter = adapter
        self.q_vector = q_vector
        self.netdev = adapter.netdev
        self.dev = adapter.pdev.dev
        self.queue_index = queue_index
        self.reg_idx = reg_idx
        self.count = count
        self.size = 0
        self.desc = None           # CPU address of the descriptor ring
        self.dma = 0               # its bus address
        self.tail = None           # IoAddr of TDT(reg_idx)
        self.next_to_use = 0
        self.next_to_clean = 0
        self.flags = 0
        self.tx_buffer_info: list[igb_tx_buffer] | None = None
        self.ntw = 0               # address of the next_to_watch slots (tx_buffer_info area)
        self.tx_stats = igb_tx_queue_stats()
        self.tx_dropped = 0        # packets dropped by this ring (map failure, reset)

    def __repr__(self) -> str:
        return (f"<igb_ring tx{self.queue_index} reg_idx={self.reg_idx} count={self.count} "
                f"ntu={self.next_to_use} ntc={self.next_to_clean}>")


def igb_desc_unused(ring: igb_ring) -> int:
    """Free descriptors; one slot always stays empty so NTU never catches NTC (facts §3.1)."""
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
