"""The environment's vocabulary: what sequences ask for and what monitors report.

Two kinds of object cross the environment:

* **requests** — :class:`TxPacket` (configuration a: one packet as descriptors
  in a ring, built by the descriptor agent) and :class:`SkbSpec`
  (configuration b: one skb handed to the igb driver's ``ndo_start_xmit``).
  They are plain dataclasses so the predictor and coverage can use them
  without pyuvm; :class:`sim.verif.agents` wraps them in
  ``uvm_sequence_item`` subclasses for the sequencers.
* **observations** — :class:`RegTxn`, :class:`DmaTxn`, :class:`IrqTxn`,
  :class:`WireFrame`: what the transport seam (:mod:`sim.verif.transport`)
  reports at the DUT's ports, each stamped with HDL time in picoseconds.
  Monitors publish them on analysis ports to the scoreboard, coverage and
  the waveform writer.

Nothing here imports the NIC model: the scoreboard side of the environment
(predictor, scoreboard, coverage, register model) must stay independent of
``rtl_model`` (``tests/sim/verif/test_independence.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["TxPacket", "SkbSpec", "RegTxn", "DmaTxn", "IrqTxn", "WireFrame",
           "ERROR_KINDS", "DMA_KINDS"]

#: What a configuration-(a) packet may do wrong on purpose, and what the NIC must do about it.
#:   ``None``            a well-formed packet
#:   ``"overlong"``      a non-TSO packet longer than the 9728-byte maximum: dropped, descriptors completed
#:   ``"zero_len_mid"``  a zero-length data descriptor without EOP: dropped, descriptors completed
#:   ``"bad_paylen"``    PAYLEN disagrees with the buffer bytes: dropped, descriptors completed
#:   ``"tso_mss0"``      TSE with MSS 0 in its context: dropped, descriptors completed
#:   ``"no_ifcs"``       an offload asked for without IFCS: dropped, descriptors completed
#:   ``"dma_fault"``     a buffer the IOMMU does not map: a DMA fault, the queue stops, DOUTSYNC
ERROR_KINDS = (None, "overlong", "zero_len_mid", "bad_paylen", "tso_mss0", "no_ifcs", "dma_fault")

#: DmaTxn.kind values (facts §6: what the TX path reads and writes in host memory).
DMA_KINDS = ("desc_fetch", "buffer_read", "writeback", "head_wb")


@dataclass
class TxPacket:
    """One packet as configuration (a) posts it: descriptor format, buffers, command bits, offloads.

    ``frame`` is the L2 frame as software built it: no FCS, no hardware-inserted
    VLAN tag; for TSO the whole super-packet with the headers the stack wrote
    (IPv4 total length and UDP length over the whole packet, the first
    segment's IP ID and TCP sequence number). Checksum fields hold what Linux
    leaves there for offload: the pseudo-header sum (with the L4 length for
    checksum offload, without it for TSO, as ``igb_tso`` leaves it).

    ``buffers`` are the byte counts of the data descriptors, in order, summing
    to ``len(frame)`` (a 0 is a zero-length descriptor). ``fmt`` is
    ``"adv"`` (advanced data descriptors, with a context descriptor first when
    ``context``) or ``"legacy"``.
    """

    frame: bytes
    buffers: list[int]
    queue: int = 0
    fmt: str = "adv"
    # command bits (last data descriptor for EOP/RS; every descriptor for IFCS/VLE/TSE)
    rs: bool = True
    ifcs: bool = True
    # advanced offloads (TSE, TXSM, IXSM, VLE) and the context descriptor describing the headers
    context: bool = False
    tse: bool = False
    mss: int = 0
    txsm: bool = False
    ixsm: bool = False
    l4t: str = "tcp"          # "tcp" | "udp" | "sctp"
    ipv4: bool = True
    maclen: int = 14
    iplen: int = 20
    l4len: int = 20
    vlan: int | None = None   # VLE with this TCI (advanced: in the context; legacy: in the descriptor)
    # legacy checksum insertion (IC): sum from CSS to the end, stored at CSO
    ic: bool = False
    css: int = 0
    cso: int = 0
    error: str | None = None  # one of ERROR_KINDS
    doorbell: bool = True     # write TDT after this packet (False: batch it with the next ones)
    idle_before: bool = False # wait until the ring is done and the wire quiet before posting it
    seq: int = 0              # position in the test's stream, set by the sequence

    def __post_init__(self):
        if self.error not in ERROR_KINDS:
            raise ValueError(f"unknown error kind {self.error!r}; kinds: {ERROR_KINDS}")

    @property
    def n_descriptors(self) -> int:
        return len(self.buffers) + (1 if self.context and self.fmt == "adv" else 0)


@dataclass
class SkbSpec:
    """One skb for configuration (b), as ``dev_queue_xmit`` hands it to igb.

    ``frame`` as for :class:`TxPacket`; ``nr_frags`` page fragments after the
    linear part; ``gso_size`` > 0 asks for TSO; ``csum`` for checksum offload
    (CHECKSUM_PARTIAL); ``vlan`` for hardware VLAN insertion; ``xmit_more``:
    more skbs follow at once (the doorbell waits for the last of a burst).
    """

    frame: bytes
    nr_frags: int = 0
    gso_size: int = 0
    csum: bool = False
    vlan: int | None = None
    xmit_more: bool = False
    l4t: str = "tcp"
    ipv4: bool = True
    seq: int = 0


@dataclass(slots=True)
class RegTxn:
    """One BAR0 register access at the NIC's register port."""

    op: str          # "rd" | "wr"
    offset: int
    value: int
    t_ps: int


@dataclass(slots=True)
class DmaTxn:
    """One DMA access of host memory by the NIC (kind in :data:`DMA_KINDS`).

    Reads carry the data the NIC got and are stamped when it arrived;
    writes carry the data and are stamped when they landed in memory.
    ``ok`` is False for an access the IOMMU refused.
    """

    kind: str
    queue: int
    addr: int
    data: bytes
    ok: bool
    t_ps: int


@dataclass(slots=True)
class IrqTxn:
    """An interrupt message as the host received it: an MSI-X write or an INTx level change."""

    kind: str            # "msix" | "intx"
    t_ps: int
    vector: int = -1     # MSI-X: the table entry whose address/data it carried
    data: int = 0        # MSI-X: the message data
    level: bool = False  # INTx: the new level
    pushed: bool = False # landed early: a register read's completion pushed it out (PCIe ordering)


@dataclass(slots=True)
class WireFrame:
    """A frame as it left the MAC: bytes including FCS, first and last bit times."""

    frame: bytes
    start_ps: int
    end_ps: int
    extra: dict = field(default_factory=dict)
