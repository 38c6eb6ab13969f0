"""The NIC's interrupt block: ICR/IMS, EICR/EIMS, IVAR, EITR moderation, MSI-X messages, INTx.

Facts: research/igb_facts.md §1.1 (offsets), §1.6 (bits, GPIE, IVAR), §1.7 (EITR),
§3.9/§3.10 (how igb drives it), §6.4 (moderation), §6.5 (cause plumbing), §7.5.

The block keeps its own register state. The register table names the
``read_*``/``write_*`` methods as the handlers of these registers
(``rtl_model.regs``), so MMIO accesses reach them (all values 32-bit); the TX
queues report causes with :meth:`InterruptBlock.tx_queue_cause` and the rest
of the NIC with :meth:`InterruptBlock.other_cause`. Interrupts leave through
two callbacks: ``send_msix(vector)`` (one MSI-X message; the NIC adds the
PCIe write timing) and ``set_intx(level)`` (the level-triggered INTx line,
called on every change).

Two modes, chosen by GPIE.MSIX_MODE (b4):

* **MSI-X** — EICR bit v = vector v. A TX queue's cause goes to the vector in
  its IVAR entry, an "other" (ICR) cause to IVAR_MISC's vector. A vector
  sends a message when it has a *pending* cause (one no message was sent for
  yet), its EIMS bit is set and its EITR counter is idle (0). Sending reloads
  the counter with the interval; expiry with a pending, unmasked cause sends
  and reloads again, expiry with nothing to send leaves the counter idle — so
  low load interrupts at once and heavy load at most once per interval (§6.4).
  On sending: EICR bits in EIAC are cleared, and with GPIE.EIAME the EIMS bits
  in EIAM too (auto-mask, §6.5). EICR is not clear-on-read (§1.6).
* **Legacy** (MSIX_MODE = 0) — causes are ICR bits (a TX write-back is
  ICR.TXDW). The INTx line follows (ICR & IMS) != 0, but it *rises* only when
  EITR(0)'s counter is idle (assertion reloads it, like a message above);
  asserting sets ICR.INT_ASSERTED. It falls as soon as ICR & IMS becomes 0
  (an ICR read that clears ICR, IMC). EICR is clear-on-read in this mode.

Semantics chosen where the facts are silent (each also noted at its method):

* ICR read clears ICR when GPIE.NSICR = 1, or IMS = 0, or ICR.INT_ASSERTED is
  set; the same read applies the IAM auto-mask (IMS &= ~IAM) when NSICR = 1 or
  (IMS != 0 and INT_ASSERTED). This is the I210/82576 datasheet GPIE.NSICR text
  (§7.3.2.1.2, quoted in the QEMU igb_core.c ``igb_nsicr`` comment); both
  conditions are evaluated on the state before the read. In MSI-X mode a
  clearing read also clears the "other" vector's EICR bit (§6.5, driver
  comment in igb_msix_other).
* In MSI-X mode, routing an unmasked ICR cause to IVAR_MISC's vector sets
  ICR.INT_ASSERTED ("a true interrupt"), so a read with NSICR = 0 still clears.
* TX queue causes do not touch ICR in MSI-X mode, nor EICR in legacy mode (the
  non-MSI-X EICR layout differs between 82575/82576/I210); EICS in legacy mode
  only sets EICR bits.
* EICS and EIMS-re-enable are gated by EITR like any cause (§6.4: every EICR
  cause bit is gated by its vector's counter).
* Clearing an EICR bit (W1C write, auto-clear, clearing read) also drops the
  vector's pending cause: a message is only owed for a cause still in EICR.
* EITR write without CNT_IGNR: a *running* counter restarts with the new
  interval from now (new interval 0: stops, so a pending cause fires at once);
  an idle counter stays idle. With CNT_IGNR the counter runs on to its old
  expiry; the new interval applies from the next reload. EITR reads return
  the interval field only (CNT_IGNR is a write-time command and reads 0, as in
  QEMU; the other I210 fields are UNCONFIRMED and not modelled).
* Bad input (queue or register index out of range, IVAR entry not valid or
  naming a vector beyond ``num_vectors``) is ignored, counted in
  ``ignored_causes``/``bad_accesses`` and logged; nothing raises.
* DMA faults: the NIC reports them with ``other_cause(ICR_DMA_FAULT)``; the
  bit chosen is ICR.DOUTSYNC (0x10000000, "DMA out of sync"), because igb
  enables it in IMS in both modes and handles it in igb_msix_other/igb_intr.
"""
from __future__ import annotations

from typing import Callable

from .regs import EITR_CNT_IGNR, IVAR_VALID, MASK32

__all__ = [
    "InterruptBlock",
    "ICR_TXDW", "ICR_LSC", "ICR_RXSEQ", "ICR_RXDMT0", "ICR_RXT0", "ICR_VMMB", "ICR_TS",
    "ICR_DOUTSYNC", "ICR_DRSTA", "ICR_INT_ASSERTED", "ICR_DMA_FAULT",
    "GPIE_NSICR", "GPIE_MSIX_MODE", "GPIE_EIAME", "GPIE_PBA",
    "EITR_INTERVAL_MASK", "NUM_IVAR",
    "ivar_tx_slot",
]


# ICR / ICS / IMS / IMC / IAM bits (§1.6, e1000_defines.h)
ICR_TXDW = 0x0000_0001          # TX descriptor written back
ICR_LSC = 0x0000_0004           # link status change
ICR_RXSEQ = 0x0000_0008
ICR_RXDMT0 = 0x0000_0010
ICR_RXT0 = 0x0000_0080
ICR_VMMB = 0x0000_0100
ICR_TS = 0x0008_0000            # time sync
ICR_DOUTSYNC = 0x1000_0000      # DMA out of sync
ICR_DRSTA = 0x4000_0000         # device reset asserted
ICR_INT_ASSERTED = 0x8000_0000  # a true interrupt was asserted
#: The cause the NIC raises for a DMA fault (see module docstring).
ICR_DMA_FAULT = ICR_DOUTSYNC

# GPIE bits (§1.6)
GPIE_NSICR = 0x0000_0001        # every ICR read clears ICR
GPIE_MSIX_MODE = 0x0000_0010    # Multiple_MSIX: EICR bit v = vector v
GPIE_EIAME = 0x4000_0000        # auto-mask EIMS bits in EIAM after a message
GPIE_PBA = 0x8000_0000          # PBA support

# IVAR (§1.6) and EITR (§1.7)
IVAR_VECTOR_MASK = 0x7F
NUM_IVAR = 8                    # IVAR0 array entries (82576: 8 rows)
EITR_INTERVAL_MASK = 0x7FFC     # Interval, bits 14:2


def ivar_tx_slot(q: int, layout: str) -> tuple[int, int]:
    """(IVAR0 index, bit offset) of TX queue ``q``'s entry, per igb_write_ivar (§1.6).

    82576 is column-major (8 rows x 2 columns); 82580/i350/I210 are row-major.
    """
    if layout == "column":
        return q & 7, ((q & 8) << 1) + 8
    return q >> 1, ((q & 1) << 4) + 8


class InterruptBlock:
    """ICR/EICR causes, masks, IVAR routing, per-vector EITR moderation, MSI-X and INTx.

    ``num_vectors`` MSI-X vectors (and EITR registers), ``num_tx_queues`` TX
    queues, ``ivar_layout`` "column" (82576) or "row" (I210), EITR interval
    unit ``eitr_unit_ps`` (1 µs on 82576/I210, §1.7).
    """

    def __init__(self, engine, *, num_vectors: int, num_tx_queues: int, ivar_layout: str,
                 eitr_unit_ps: int = 1_000_000, send_msix: Callable[[int], None],
                 set_intx: Callable[[bool], None], log_source: str = "nic.irq"):
        if ivar_layout not in ("column", "row"):
            raise ValueError(f"ivar_layout must be 'column' or 'row', not {ivar_layout!r}")
        if not 1 <= num_vectors <= 32:
            raise ValueError(f"num_vectors must be 1..32 (one EICR bit each), not {num_vectors}")
        self.engine = engine
        self.num_vectors = num_vectors
        self.num_tx_queues = num_tx_queues
        self.ivar_layout = ivar_layout
        self.eitr_unit_ps = eitr_unit_ps
        self._send_msix = send_msix
        self._set_intx = set_intx
        self.log_source = log_source
        self._eitr = [0] * num_vectors          # interval field (bits 14:2) per vector
        # observability
        self.msix_sent = [0] * num_vectors      # messages per vector
        self.msix_times: list[list[int]] = [[] for _ in range(num_vectors)]
        self.intx_changes: list[tuple[int, bool]] = []  # (time, level) on every change
        self.ignored_causes = 0                 # causes dropped (bad queue, invalid IVAR)
        self.bad_accesses = 0                   # register accesses with a bad index
        self._counter = [None] * num_vectors    # running EITR counter: call_later handle
        self._clear_state()

    def _clear_state(self) -> None:
        """Power-on values of everything but EITR and the counters of the past."""
        self._icr = self._ims = self._iam = 0
        self._eicr = self._eims = self._eiac = self._eiam = 0
        self._gpie = 0
        self._pending = 0                       # per vector: a message is owed
        self._ivar = [0] * NUM_IVAR
        self._ivar_misc = 0
        self._line = False

    def reset(self, *, keep_eitr: bool = True) -> None:
        """Device reset: flush all pending interrupts and clear causes, masks and routing (§6.4).

        Running EITR counters stop and the INTx line drops (a Deassert
        message follows any Assert already posted). With ``keep_eitr`` (the
        default: CTRL.DEV_RST, which §6.4 says does not reset EITR) the
        intervals survive; the software reset CTRL.RST passes False and they
        return to 0 with every other register of the block. Messages already
        handed to ``send_msix`` are not recalled: they are on the link.
        """
        for v in range(self.num_vectors):
            self._stop_counter(v)
        if not keep_eitr:
            self._eitr = [0] * self.num_vectors
        line = self._line
        self._clear_state()
        if line:
            self._drive_line(False)

    # ------------------------------------------------------------------ observability
    @property
    def msix_mode(self) -> bool:
        """GPIE.MSIX_MODE: EICR bit v is MSI-X vector v."""
        return bool(self._gpie & GPIE_MSIX_MODE)

    @property
    def intx_level(self) -> bool:
        """The INTx line as last driven."""
        return self._line

    def counter_running(self, v: int) -> bool:
        """True while vector ``v``'s EITR counter counts down (not idle)."""
        return self._counter[v] is not None

    def pending(self) -> int:
        """Bitmask of vectors owed a message (cause seen, not yet sent)."""
        return self._pending

    def _log(self, what: str, *data) -> None:
        self.engine.log(self.log_source, what, *data)

    # ------------------------------------------------------------------ ICR / ICS / IMS / IMC / IAM
    def read_icr(self) -> int:
        """ICR read: returns ICR; may clear it and auto-mask IMS (see module docstring).

        Clears when GPIE.NSICR, or IMS == 0, or ICR.INT_ASSERTED; IMS &= ~IAM
        when GPIE.NSICR, or IMS != 0 and INT_ASSERTED (datasheet GPIE.NSICR
        text). A clearing read in MSI-X mode also clears the "other" vector's
        EICR bit; in legacy mode it lowers the INTx line.
        """
        value = self._icr
        nsicr = bool(self._gpie & GPIE_NSICR)
        asserted = bool(value & ICR_INT_ASSERTED)
        if nsicr or (self._ims and asserted):
            self._ims &= ~self._iam
        if nsicr or not self._ims or asserted:
            self._icr = 0
            if self.msix_mode:
                v = self._misc_vector()
                if v is not None:
                    self._clear_eicr(1 << v)
        self._update_legacy()
        return value

    def write_ics(self, value: int) -> None:
        """ICS: set ICR cause bits by software; they interrupt if unmasked in IMS (§6.5)."""
        self._raise_icr(value & MASK32 & ~ICR_INT_ASSERTED)

    def read_ims(self) -> int:
        """IMS read: the ICR interrupt mask."""
        return self._ims

    def write_ims(self, value: int) -> None:
        """IMS write: OR bits into the mask; a pending cause now unmasked interrupts."""
        new = value & MASK32 & ~ICR_INT_ASSERTED & ~self._ims
        self._ims |= new
        if self.msix_mode:
            if self._icr & new:
                self._route_other()
        else:
            self._update_legacy()

    def write_imc(self, value: int) -> None:
        """IMC write: clear mask bits (no read-modify-write needed, §6.5)."""
        self._ims &= ~(value & MASK32)
        self._update_legacy()

    def read_iam(self) -> int:
        """IAM read: IMS bits auto-masked by an ICR read."""
        return self._iam

    def write_iam(self, value: int) -> None:
        """IAM write."""
        self._iam = value & MASK32

    # ------------------------------------------------------------------ EICR / EICS / EIMS / EIMC / EIAC / EIAM
    def read_eicr(self) -> int:
        """EICR read. MSI-X mode: not clear-on-read (§1.6, §6.5). Legacy mode: clear-on-read (§1.1 R/clr)."""
        value = self._eicr
        if not self.msix_mode:
            self._clear_eicr(MASK32)
        return value

    def write_eicr(self, value: int) -> None:
        """EICR write: write-1-to-clear (§6.5); a cleared cause is no longer owed a message."""
        self._clear_eicr(value & MASK32)

    def write_eics(self, value: int) -> None:
        """EICS: set EICR bits by software; each unmasked vector fires, EITR permitting (§6.5)."""
        value &= MASK32
        self._eicr |= value
        if self.msix_mode:
            self._pending |= value & self._vector_bits()
            self._evaluate(value)

    def read_eims(self) -> int:
        """EIMS read: the EICR interrupt mask."""
        return self._eims

    def write_eims(self, value: int) -> None:
        """EIMS write: set mask bits; a pending cause now unmasked fires (EITR permitting)."""
        value &= MASK32
        self._eims |= value
        if self.msix_mode:
            self._evaluate(value)

    def write_eimc(self, value: int) -> None:
        """EIMC write: clear mask bits; pending causes stay pending."""
        self._eims &= ~(value & MASK32)

    def read_eiac(self) -> int:
        """EIAC read: EICR bits auto-cleared when their vector sends a message."""
        return self._eiac

    def write_eiac(self, value: int) -> None:
        """EIAC write."""
        self._eiac = value & MASK32

    def read_eiam(self) -> int:
        """EIAM read: EIMS bits auto-masked after a message when GPIE.EIAME is set."""
        return self._eiam

    def write_eiam(self, value: int) -> None:
        """EIAM write."""
        self._eiam = value & MASK32

    def _clear_eicr(self, bits: int) -> None:
        self._eicr &= ~bits
        self._pending &= ~bits

    # ------------------------------------------------------------------ GPIE / IVAR / EITR
    def read_gpie(self) -> int:
        """GPIE read."""
        return self._gpie

    def write_gpie(self, value: int) -> None:
        """GPIE write (NSICR b0, MSIX_MODE b4, EIAME b30, PBA b31); a mode change re-evaluates."""
        was_msix = self.msix_mode
        self._gpie = value & MASK32
        if self.msix_mode == was_msix:
            return
        if self.msix_mode:
            if self._line:
                self._icr &= ~ICR_INT_ASSERTED
                self._drive_line(False)
            self._evaluate(MASK32)
        else:
            self._update_legacy()

    def read_ivar(self, idx: int) -> int:
        """IVAR0[idx] read (0 for an index out of range, counted as a bad access)."""
        if not self._check_index(idx, NUM_IVAR, "IVAR"):
            return 0
        return self._ivar[idx]

    def write_ivar(self, idx: int, value: int) -> None:
        """IVAR0[idx] write: four 8-bit entries, each vector | IVAR_VALID (§1.6)."""
        if self._check_index(idx, NUM_IVAR, "IVAR"):
            self._ivar[idx] = value & MASK32

    def read_ivar_misc(self) -> int:
        """IVAR_MISC read."""
        return self._ivar_misc

    def write_ivar_misc(self, value: int) -> None:
        """IVAR_MISC write: the "other" cause vector at bits 15:8, vector | IVAR_VALID (§1.6)."""
        self._ivar_misc = value & MASK32

    def read_eitr(self, n: int) -> int:
        """EITR(n) read: the interval field, bits 14:2 (CNT_IGNR reads 0)."""
        if not self._check_index(n, self.num_vectors, "EITR"):
            return 0
        return self._eitr[n]

    def write_eitr(self, n: int, value: int) -> None:
        """EITR(n) write: interval in bits 14:2 (``eitr_unit_ps`` units; 0 = no throttling).

        Without CNT_IGNR a running counter restarts with the new interval from
        now (interval 0 stops it, so a pending cause fires at once); with
        CNT_IGNR the counter is left alone (§1.7, §6.4).
        """
        if not self._check_index(n, self.num_vectors, "EITR"):
            return
        self._eitr[n] = value & EITR_INTERVAL_MASK
        if value & EITR_CNT_IGNR or self._counter[n] is None:
            return
        self._stop_counter(n)
        self._start_counter(n)
        if self._counter[n] is None:
            self._counter_idle(n)

    def interval_ps(self, v: int) -> int:
        """Vector ``v``'s moderation interval in picoseconds (0 = no throttling)."""
        return (self._eitr[v] >> 2) * self.eitr_unit_ps

    def queue_interval_ps(self, q: int) -> int:
        """EITR interval of TX queue ``q``'s vector, for the write-back flush timer (§6.2).

        MSI-X mode: the vector from IVAR (0 when the entry is not valid);
        legacy mode: EITR(0) (§1.7).
        """
        if not self.msix_mode:
            return self.interval_ps(0)
        if not 0 <= q < self.num_tx_queues:
            return 0
        v = self.tx_vector_of(q)
        return 0 if v is None else self.interval_ps(v)

    def _check_index(self, idx: int, n: int, reg: str) -> bool:
        if 0 <= idx < n:
            return True
        self.bad_accesses += 1
        self._log("bad_index", reg, idx)
        return False

    # ------------------------------------------------------------------ IVAR decode
    def tx_vector_of(self, q: int) -> int | None:
        """MSI-X vector of TX queue ``q`` from IVAR, or None if the entry is not valid."""
        idx, shift = ivar_tx_slot(q, self.ivar_layout)
        if idx >= NUM_IVAR:
            return None
        return self._entry_vector((self._ivar[idx] >> shift) & 0xFF)

    def _misc_vector(self) -> int | None:
        """The "other" cause vector from IVAR_MISC bits 15:8, or None if not valid."""
        return self._entry_vector((self._ivar_misc >> 8) & 0xFF)

    def _entry_vector(self, entry: int) -> int | None:
        if not entry & IVAR_VALID:
            return None
        v = entry & IVAR_VECTOR_MASK
        return v if v < self.num_vectors else None

    def _vector_bits(self) -> int:
        return (1 << self.num_vectors) - 1

    # ------------------------------------------------------------------ causes from the model
    def tx_queue_cause(self, q: int) -> None:
        """TX queue ``q`` wrote back descriptors (TXDW): raise its interrupt cause.

        MSI-X mode: EICR bit of q's IVAR vector (an invalid entry is ignored and
        logged). Legacy mode: ICR.TXDW, moderated by EITR(0).
        """
        if not 0 <= q < self.num_tx_queues:
            self._ignore("bad_queue", q)
            return
        if not self.msix_mode:
            self._raise_icr(ICR_TXDW)
            return
        v = self.tx_vector_of(q)
        if v is None:
            self._ignore("ivar_invalid", q)
            return
        self._raise_vector(v)

    def other_cause(self, bits: int) -> None:
        """An ICR "other" cause (e.g. ICR_LSC, ICR_DMA_FAULT): to IVAR_MISC's vector in MSI-X mode."""
        self._raise_icr(bits & MASK32 & ~ICR_INT_ASSERTED)

    def _ignore(self, why: str, *data) -> None:
        self.ignored_causes += 1
        self._log(why, *data)

    def _raise_icr(self, bits: int) -> None:
        """Set ICR causes; an unmasked one interrupts (misc vector or INTx)."""
        self._icr |= bits
        if not self.msix_mode:
            self._update_legacy()
        elif bits & self._ims:
            self._route_other()

    def _route_other(self) -> None:
        """MSI-X mode: an unmasked ICR cause raises IVAR_MISC's vector."""
        v = self._misc_vector()
        if v is None:
            self._ignore("ivar_misc_invalid", self._ivar_misc)
            return
        self._icr |= ICR_INT_ASSERTED
        self._raise_vector(v)

    def _raise_vector(self, v: int) -> None:
        bit = 1 << v
        self._eicr |= bit
        self._pending |= bit
        self._evaluate(bit)

    # ------------------------------------------------------------------ MSI-X moderation and emission
    def _evaluate(self, bits: int) -> None:
        """Send for every vector in ``bits`` that is pending, unmasked and idle."""
        ready = bits & self._pending & self._eims & self._vector_bits()
        v = 0
        while ready:
            if ready & 1 and self._counter[v] is None:
                self._emit(v)
            ready >>= 1
            v += 1

    def _emit(self, v: int) -> None:
        """Send vector v's message: auto-clear (EIAC), auto-mask (EIAM + EIAME), reload EITR.

        State changes come before the callback, so a handler that runs
        synchronously sees what it would see on hardware, where the message
        arrives after the auto-clear/auto-mask (§6.5).
        """
        bit = 1 << v
        self._pending &= ~bit
        self._clear_eicr(self._eiac & bit)
        if self._gpie & GPIE_EIAME:
            self._eims &= ~(self._eiam & bit)
        self._start_counter(v)
        self.msix_sent[v] += 1
        self.msix_times[v].append(self.engine.now)
        self._log("msix", v)
        self._send_msix(v)

    def _start_counter(self, v: int) -> None:
        """Load vector v's counter with its interval; interval 0 leaves it idle."""
        interval = self.interval_ps(v)
        if interval:
            self._counter[v] = self.engine.call_later(interval, self._expire, v)

    def _stop_counter(self, v: int) -> None:
        handle = self._counter[v]
        if handle is not None:
            handle.cancel()
        self._counter[v] = None

    def _expire(self, v: int) -> None:
        """Vector v's counter reached 0: send what is owed (and reload), else stay idle."""
        self._counter[v] = None
        self._counter_idle(v)

    def _counter_idle(self, v: int) -> None:
        if self.msix_mode:
            self._evaluate(1 << v)
        elif v == 0:
            self._update_legacy()

    # ------------------------------------------------------------------ legacy INTx
    def _update_legacy(self) -> None:
        """Legacy mode: drive INTx from ICR & IMS; a rise waits for EITR(0) to be idle."""
        if self.msix_mode:
            return
        want = self._icr & self._ims & ~ICR_INT_ASSERTED
        if not want:
            if self._line:
                self._icr &= ~ICR_INT_ASSERTED
                self._drive_line(False)
            return
        if self._line or self._counter[0] is not None:
            return  # already up, or the rise is deferred to EITR(0)'s expiry
        self._icr |= ICR_INT_ASSERTED
        self._start_counter(0)
        self._drive_line(True)

    def _drive_line(self, level: bool) -> None:
        self._line = level
        self.intx_changes.append((self.engine.now, level))
        self._log("intx", level)
        self._set_intx(level)
