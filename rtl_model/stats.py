"""TX statistics: the §1.8 counters a transmitted frame moves.

:class:`TxStats` updates the statistics registers of a
:class:`~rtl_model.regs.RegisterFile` through its side-effect-free
``get``/``set`` (no handlers, no read-to-clear). The driver reads them
through MMIO, where they clear on read (``Access.RC``) and the 64-bit octet
counters clear both halves on the read of the high dword (see
``rtl_model.regs``).

Choices (facts §1.8 lists the registers, not these details):

* Octets count the whole frame as it goes on the wire from destination
  address through FCS: ``length_with_fcs``. DPDK's igb driver takes 4 bytes
  per packet off GOTC and TOT ("Workaround CRC bytes included in size"),
  and QEMU's igb model adds the 4-byte FCS — both say the hardware counts
  the FCS (UNCONFIRMED from a datasheet); padding added by
  TCTL.PSP is part of the frame. VLAN tags inserted by hardware are counted
  if the caller includes them.
* Size buckets (length including FCS): PTC64 <= 64, PTC127 65–127, PTC255
  128–255, PTC511 256–511, PTC1023 512–1023, PTC1522 1024–1522. Frames
  shorter than 64 bytes (only possible with TCTL.PSP = 0) are counted in
  PTC64, as QEMU does — UNCONFIRMED. Frames longer than 1522 bytes (jumbo)
  are counted in no size bucket (GPTC, TPT and the octet counters still
  count them) — UNCONFIRMED; QEMU counts them in PTC1522 instead.
* Counters saturate at their maximum (0xFFFFFFFF; 2**64 - 1 for the 64-bit
  octet pairs) instead of wrapping, as Intel's 8254x manual says its
  statistics "stick" at the maximum and as QEMU's ``e1000x_inc_reg_if_not_full``
  does — UNCONFIRMED for the 82576/I210 silicon.
* Every frame given to :meth:`TxStats.count_frame` is a good frame: GPTC and
  TPT, GOTC and TOT move together (collisions and aborted frames are not
  modelled on a full-duplex link).
* MPTC counts destination addresses with the group bit (bit 0 of the first
  octet) set that are not broadcast; BPTC counts ff:ff:ff:ff:ff:ff. A
  destination shorter than 6 bytes counts as neither.
"""
from __future__ import annotations

from bisect import bisect_left

from rtl_model.regs import MASK32, RegisterFile

__all__ = ["TxStats", "PTC_BUCKETS", "BROADCAST_MAC", "ptc_register"]

MASK64 = (1 << 64) - 1
BROADCAST_MAC = b"\xff" * 6

#: (largest length including FCS, register) for the packet-size counters.
PTC_BUCKETS = ((64, "PTC64"), (127, "PTC127"), (255, "PTC255"),
               (511, "PTC511"), (1023, "PTC1023"), (1522, "PTC1522"))


_PTC_LIMITS = tuple(limit for limit, _ in PTC_BUCKETS)
_PTC_NAMES = tuple(name for _, name in PTC_BUCKETS) + (None,)


def ptc_register(length_with_fcs: int) -> str | None:
    """The PTCxxx register a frame of this length counts in, or None above 1522 bytes."""
    return _PTC_NAMES[bisect_left(_PTC_LIMITS, length_with_fcs)]


class TxStats:
    """Counts transmitted frames into the statistics registers of one register file.

    Counts go straight into the register file's value store (one update per
    counter per frame: ``get``/``set`` by name per counter were a noticeable
    share of a bulk run).
    """

    __slots__ = ("_regs", "_values")

    def __init__(self, regfile: RegisterFile):
        self._regs = regfile
        self._values = regfile.values

    def count_frame(self, length_with_fcs: int, dst_mac: bytes) -> None:
        """Count one good frame of ``length_with_fcs`` bytes (DA through FCS) sent to ``dst_mac``."""
        v = self._values
        length = max(0, int(length_with_fcs))
        if v["GPTC"] < MASK32:
            v["GPTC"] += 1
        if v["TPT"] < MASK32:
            v["TPT"] += 1
        for low, high in _OCTET_PAIRS:
            total = (v[high] << 32 | v[low]) + length
            if total > MASK64:
                total = MASK64
            v[low] = total & MASK32
            v[high] = total >> 32
        bucket = _PTC_NAMES[bisect_left(_PTC_LIMITS, length)]
        if bucket is not None and v[bucket] < MASK32:
            v[bucket] += 1
        if len(dst_mac) >= 6 and dst_mac[0] & 1:
            group = "BPTC" if bytes(dst_mac[:6]) == BROADCAST_MAC else "MPTC"
            if v[group] < MASK32:
                v[group] += 1

    def count_tso_context(self) -> None:
        """Count one TSO context used for a transmitted TSO packet (TSCTC)."""
        v = self._values
        if v["TSCTC"] < MASK32:
            v["TSCTC"] += 1


#: The 64-bit octet counters a frame adds its length to, (low, high) dwords: GOTC and TOT.
_OCTET_PAIRS = (("GOTCL", "GOTCH"), ("TOTL", "TOTH"))
