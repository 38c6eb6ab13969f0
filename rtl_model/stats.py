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

from rtl_model.regs import MASK32, RegisterFile

__all__ = ["TxStats", "PTC_BUCKETS", "BROADCAST_MAC", "ptc_register"]

MASK64 = (1 << 64) - 1
BROADCAST_MAC = b"\xff" * 6

#: (largest length including FCS, register) for the packet-size counters.
PTC_BUCKETS = ((64, "PTC64"), (127, "PTC127"), (255, "PTC255"),
               (511, "PTC511"), (1023, "PTC1023"), (1522, "PTC1522"))


def ptc_register(length_with_fcs: int) -> str | None:
    """The PTCxxx register a frame of this length counts in, or None above 1522 bytes."""
    for limit, name in PTC_BUCKETS:
        if length_with_fcs <= limit:
            return name
    return None


class TxStats:
    """Counts transmitted frames into the statistics registers of one register file."""

    __slots__ = ("_regs",)

    def __init__(self, regfile: RegisterFile):
        self._regs = regfile

    def count_frame(self, length_with_fcs: int, dst_mac: bytes) -> None:
        """Count one good frame of ``length_with_fcs`` bytes (DA through FCS) sent to ``dst_mac``."""
        length = max(0, int(length_with_fcs))
        self._inc("GPTC")
        self._inc("TPT")
        self._add64("GOTCL", "GOTCH", length)
        self._add64("TOTL", "TOTH", length)
        bucket = ptc_register(length)
        if bucket is not None:
            self._inc(bucket)
        dst = bytes(dst_mac[:6])
        if dst == BROADCAST_MAC:
            self._inc("BPTC")
        elif len(dst) == 6 and dst[0] & 1:
            self._inc("MPTC")

    def count_tso_context(self) -> None:
        """Count one TSO context used for a transmitted TSO packet (TSCTC)."""
        self._inc("TSCTC")

    def _inc(self, name: str) -> None:
        """Add 1 to a 32-bit counter, sticking at 0xFFFFFFFF."""
        value = self._regs.get(name)
        if value < MASK32:
            self._regs.set(name, value + 1)

    def _add64(self, low: str, high: str, amount: int) -> None:
        """Add ``amount`` to the 64-bit counter held in ``high``:``low``, sticking at 2**64 - 1."""
        regs = self._regs
        total = min((regs.get(high) << 32 | regs.get(low)) + amount, MASK64)
        regs.set(low, total & MASK32)
        regs.set(high, total >> 32)
