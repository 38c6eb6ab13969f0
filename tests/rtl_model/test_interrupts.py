"""The interrupt block (rtl_model/interrupts.py), checked against research/igb_facts.md.

Expected values are worked by hand from the facts: IVAR slots from the §1.6
formulas, message times from the EITR rules of §6.4 (send at once when the
counter is idle, else at expiry; at most one message per interval), auto-clear
and auto-mask from §6.5, ICR read semantics from §1.6/§6.5 and the GPIE.NSICR
datasheet text quoted in the module docstring.
"""
import pytest

from sim.engine import US, Engine
from rtl_model.regs import EITR_CNT_IGNR
from rtl_model.interrupts import (
    GPIE_EIAME, GPIE_MSIX_MODE, GPIE_NSICR, GPIE_PBA, ICR_DMA_FAULT,
    ICR_INT_ASSERTED, ICR_LSC, ICR_TXDW, InterruptBlock, ivar_tx_slot,
)

#: What igb_configure_msix writes on 82576/I210 (§1.6).
GPIE_IGB_MSIX = GPIE_MSIX_MODE | GPIE_PBA | GPIE_EIAME | GPIE_NSICR


def eitr_us(interval_us: int) -> int:
    """EITR value for an interval in µs: Interval sits in bits 14:2, 1 µs units (§1.7)."""
    return interval_us << 2


class Rig:
    """An engine, an InterruptBlock and recorders for what it sends."""

    def __init__(self, layout="column", num_vectors=10, num_tx_queues=16):
        self.eng = Engine()
        self.trace = self.eng.start_trace()
        self.msgs = []   # (time, vector)
        self.line = []   # (time, level)
        self.irq = InterruptBlock(
            self.eng, num_vectors=num_vectors, num_tx_queues=num_tx_queues,
            ivar_layout=layout,
            send_msix=lambda v: self.msgs.append((self.eng.now, v)),
            set_intx=lambda level: self.line.append((self.eng.now, level)))

    def at(self, t_ps, fn, *args):
        """Run ``fn(*args)`` at absolute time ``t_ps``."""
        self.eng.call_later(t_ps - self.eng.now, fn, *args)

    def run(self, until=None):
        self.eng.run(until)


def msix_rig(interval_us=0, gpie=GPIE_MSIX_MODE, eims=0b10, **kw):
    """MSI-X mode, TX queue 0 -> vector 1 (82576: IVAR0[0] bits 15:8 = 0x81), EITR(1) set."""
    r = Rig(**kw)
    r.irq.write_gpie(gpie)
    r.irq.write_ivar(0, 0x81 << 8)
    r.irq.write_eitr(1, eitr_us(interval_us) | EITR_CNT_IGNR)
    r.irq.write_eims(eims)
    return r


def times_of(msgs, v=1):
    return [t for t, vec in msgs if vec == v]


# --- IVAR decode (§1.6) ------------------------------------------------------------
def test_ivar_slot_formulas_worked_by_hand():
    # 82576 column-major: index q & 7, offset ((q & 8) << 1) + 8
    assert ivar_tx_slot(0, "column") == (0, 8)
    assert ivar_tx_slot(5, "column") == (5, 8)
    assert ivar_tx_slot(8, "column") == (0, 24)     # (8 & 8) << 1 = 16, + 8
    assert ivar_tx_slot(13, "column") == (5, 24)    # 13 & 7 = 5
    assert ivar_tx_slot(15, "column") == (7, 24)
    # I210 row-major: index q >> 1, offset ((q & 1) << 4) + 8
    assert ivar_tx_slot(0, "row") == (0, 8)
    assert ivar_tx_slot(1, "row") == (0, 24)
    assert ivar_tx_slot(2, "row") == (1, 8)
    assert ivar_tx_slot(3, "row") == (1, 24)


def test_ivar_column_layout_82576_routes_tx_queues():
    r = Rig("column")
    irq = r.irq
    irq.write_gpie(GPIE_MSIX_MODE)
    irq.write_eims(0x3FF)
    # IVAR0[5] bytes, low to high: RX q5, TX q5, RX q13, TX q13
    irq.write_ivar(5, 0x84838281)
    # igb_write_ivar(TX q9 -> vector 3): index 9 & 7 = 1, offset 24
    irq.write_ivar(1, 0x83 << 24)
    assert irq.read_ivar(5) == 0x84838281
    assert irq.tx_vector_of(5) == 2
    assert irq.tx_vector_of(13) == 4
    assert irq.tx_vector_of(9) == 3
    assert irq.tx_vector_of(1) is None              # IVAR0[1] bits 15:8 = 0: not valid
    for q in (5, 13, 9):
        irq.tx_queue_cause(q)
    assert r.msgs == [(0, 2), (0, 4), (0, 3)]
    assert irq.read_eicr() == (1 << 2) | (1 << 4) | (1 << 3)


def test_ivar_row_layout_i210_routes_tx_queues():
    r = Rig("row", num_vectors=5, num_tx_queues=4)
    irq = r.irq
    irq.write_gpie(GPIE_MSIX_MODE)
    irq.write_eims(0x1F)
    # IVAR0[1] bytes: RX q2, TX q2, RX q3, TX q3
    irq.write_ivar(1, 0x84838281)
    # IVAR0[0]: TX q0 (bits 15:8) -> vector 1, TX q1 (bits 31:24) -> vector 3
    irq.write_ivar(0, 0x83008100)
    assert [irq.tx_vector_of(q) for q in range(4)] == [1, 3, 2, 4]
    for q in range(4):
        irq.tx_queue_cause(q)
    assert [v for _, v in r.msgs] == [1, 3, 2, 4]


# --- moderation (§6.4) -------------------------------------------------------------
def test_low_load_sends_at_once():
    r = msix_rig(interval_us=50, eims=0b10)
    for t in (0, 200, 260):
        r.at(t * US, r.irq.tx_queue_cause, 0)
    r.run()
    # counter idle at each cause (200 > 0 + 50, 260 > 200 + 50): no added latency
    assert times_of(r.msgs) == [0, 200 * US, 260 * US]
    assert r.irq.msix_sent[1] == 3
    assert not r.irq.counter_running(1)


def test_heavy_load_at_most_one_message_per_interval():
    r = msix_rig(interval_us=50, eims=0b10)
    for k in range(100):                       # a cause every 10 µs for 1 ms: t = 0 .. 990 µs
        r.at(k * 10 * US, r.irq.tx_queue_cause, 0)
    r.run()
    sent = times_of(r.msgs)
    # 0 (idle counter), then one per expiry 50, 100, ..., 1000 µs (the last carries
    # the causes at 960..990 µs); the expiry at 1050 µs finds nothing and idles.
    assert sent == [k * 50 * US for k in range(21)]
    assert len(sent) == 21
    assert all(b - a >= 50 * US for a, b in zip(sent, sent[1:]))
    assert r.irq.msix_times[1] == sent
    assert not r.irq.counter_running(1)
    assert r.eng.now == 1050 * US


def test_eitr_interval_zero_means_no_throttling():
    r = msix_rig(interval_us=0, eims=0b10)
    for k in range(5):
        r.at(k * US, r.irq.tx_queue_cause, 0)
    r.run()
    assert times_of(r.msgs) == [k * US for k in range(5)]


def _cnt_ignr_case(write_value):
    """Cause at 0 (sent, counter -> 50 µs), cause at 10 (owed), EITR write at 20, cause at 60."""
    r = msix_rig(interval_us=50, eims=0b10)
    r.at(0, r.irq.tx_queue_cause, 0)
    r.at(10 * US, r.irq.tx_queue_cause, 0)
    r.at(20 * US, r.irq.write_eitr, 1, write_value)
    r.at(60 * US, r.irq.tx_queue_cause, 0)
    r.run()
    return times_of(r.msgs)


def test_cnt_ignr_write_leaves_the_running_counter_alone():
    # counter keeps its expiry at 50 µs; the reload there uses the new 100 µs
    # interval, so the cause at 60 µs waits for 150 µs
    assert _cnt_ignr_case(eitr_us(100) | EITR_CNT_IGNR) == [0, 50 * US, 150 * US]


def test_write_without_cnt_ignr_restarts_the_counter():
    # counter restarts at 20 µs with 100 µs: expiry at 120 carries both owed causes
    assert _cnt_ignr_case(eitr_us(100)) == [0, 120 * US]


def test_write_of_interval_zero_without_cnt_ignr_fires_the_pending_cause():
    # counter forced to 0 at 20 µs: the owed cause goes at once; no throttling after
    assert _cnt_ignr_case(0) == [0, 20 * US, 60 * US]


def test_write_without_cnt_ignr_leaves_an_idle_counter_idle():
    r = msix_rig(interval_us=50, eims=0b10)
    r.at(0, r.irq.tx_queue_cause, 0)           # counter runs 0 -> 50 µs, then idles
    r.at(70 * US, r.irq.write_eitr, 1, eitr_us(50))
    r.at(80 * US, r.irq.tx_queue_cause, 0)
    r.run()
    assert times_of(r.msgs) == [0, 80 * US]


def test_eitr_reads_back_the_interval_field_only():
    r = Rig()
    r.irq.write_eitr(3, 196 | EITR_CNT_IGNR)   # IGB_20K_ITR, as igb_write_itr writes it
    assert r.irq.read_eitr(3) == 196
    assert r.irq.interval_ps(3) == 49 * US     # 196 >> 2 = 49 µs (§3.10)
    r.irq.write_eitr(3, 0xFFFF_FFFF)
    assert r.irq.read_eitr(3) == 0x7FFC


def test_queue_interval_follows_ivar_in_msix_mode_and_eitr0_in_legacy_mode():
    r = Rig()
    irq = r.irq
    irq.write_eitr(0, eitr_us(10))
    irq.write_eitr(1, eitr_us(50))
    assert irq.queue_interval_ps(0) == 10 * US      # legacy: EITR(0) (§1.7)
    irq.write_gpie(GPIE_MSIX_MODE)
    irq.write_ivar(0, 0x81 << 8)                    # TX q0 -> vector 1
    assert irq.queue_interval_ps(0) == 50 * US
    assert irq.queue_interval_ps(1) == 0            # entry not valid


# --- EIAC auto-clear, EIAM auto-mask (§6.5, §3.9, §7.5) ------------------------------
def _auto_rig(interval_us=0, gpie=GPIE_IGB_MSIX):
    r = msix_rig(interval_us=interval_us, gpie=gpie, eims=0)
    r.irq.write_eiac(0b10)
    r.irq.write_eiam(0b10)
    r.irq.write_eims(0b10)                     # igb_irq_enable order: EIAC, EIAM, EIMS
    return r


def test_eiac_auto_clears_and_eiam_auto_masks_then_eims_fires_the_pending_cause():
    r = _auto_rig()
    irq = r.irq
    irq.tx_queue_cause(0)
    assert r.msgs == [(0, 1)]
    assert irq.read_eicr() == 0                # auto-cleared (EIAC)
    assert irq.read_eims() == 0                # auto-masked (EIAM + EIAME)
    r.at(5 * US, irq.tx_queue_cause, 0)
    r.run()
    assert r.msgs == [(0, 1)]                  # masked: held
    assert irq.read_eicr() == 0b10
    r.at(8 * US, irq.write_eims, 0b10)         # igb_ring_irq_enable
    r.run()
    assert r.msgs == [(0, 1), (8 * US, 1)]
    assert irq.read_eicr() == 0 and irq.read_eims() == 0


def test_eims_re_enable_is_still_gated_by_eitr():
    r = _auto_rig(interval_us=50)
    r.at(0, r.irq.tx_queue_cause, 0)           # sent; counter to 50 µs; auto-masked
    r.at(10 * US, r.irq.tx_queue_cause, 0)     # owed, masked
    r.at(20 * US, r.irq.write_eims, 0b10)      # unmasked but counter running
    r.run()
    assert times_of(r.msgs) == [0, 50 * US]


def test_no_auto_mask_without_gpie_eiame():
    r = _auto_rig(gpie=GPIE_MSIX_MODE | GPIE_NSICR)
    r.irq.tx_queue_cause(0)
    assert r.irq.read_eims() == 0b10
    assert r.irq.read_eicr() == 0              # EIAC does not need EIAME


def test_without_eiac_eicr_stays_set_and_is_not_clear_on_read_in_msix_mode():
    r = msix_rig(eims=0b10)
    r.irq.tx_queue_cause(0)
    assert r.irq.read_eicr() == 0b10
    assert r.irq.read_eicr() == 0b10           # MSI-X: not clear-on-read (§1.6)
    r.irq.write_eicr(0b10)                     # W1C
    assert r.irq.read_eicr() == 0


def test_eicr_is_clear_on_read_in_legacy_mode():
    r = Rig()
    r.irq.write_eics(0b100)
    assert r.irq.read_eicr() == 0b100
    assert r.irq.read_eicr() == 0
    assert r.msgs == [] and r.line == []       # legacy: EICS sets EICR only


# --- masks hold causes ---------------------------------------------------------------
def test_masked_vector_holds_its_cause_until_eims():
    r = msix_rig(interval_us=50, eims=0)
    r.at(0, r.irq.tx_queue_cause, 0)
    r.run(1000 * US)
    assert r.msgs == []
    assert r.irq.read_eicr() == 0b10
    assert r.irq.pending() == 0b10
    r.irq.write_eims(0b10)
    assert r.msgs == [(1000 * US, 1)]          # counter never started: immediate


def test_clearing_eicr_drops_the_owed_message():
    r = msix_rig(eims=0)
    r.irq.tx_queue_cause(0)
    r.irq.write_eicr(0b10)
    r.irq.write_eims(0b10)
    assert r.msgs == []


def test_eimc_masks_without_losing_the_cause():
    r = msix_rig(interval_us=50, eims=0b10)
    r.at(0, r.irq.tx_queue_cause, 0)           # sent; counter to 50 µs
    r.at(10 * US, r.irq.tx_queue_cause, 0)     # owed
    r.at(20 * US, r.irq.write_eimc, 0b10)      # masked before the expiry
    r.at(70 * US, r.irq.write_eims, 0b10)      # counter idle since 50: at once
    r.run()
    assert times_of(r.msgs) == [0, 70 * US]


# --- bad input ------------------------------------------------------------------------
def test_invalid_ivar_entry_is_ignored_and_logged():
    r = Rig()
    irq = r.irq
    irq.write_gpie(GPIE_MSIX_MODE)
    irq.write_eims(0x3FF)
    irq.write_ivar(0, 0x01 << 8)               # TX q0 -> vector 1 without IVAR_VALID
    irq.write_ivar(1, (0x80 | 12) << 8)        # TX q1 -> vector 12, beyond 10 vectors
    irq.tx_queue_cause(0)
    irq.tx_queue_cause(1)
    irq.tx_queue_cause(16)                     # no such queue
    assert r.msgs == []
    assert irq.read_eicr() == 0
    assert irq.ignored_causes == 3
    assert [rec[2:] for rec in r.trace] == [("ivar_invalid", 0), ("ivar_invalid", 1),
                                            ("bad_queue", 16)]
    assert all(rec[1] == "nic.irq" for rec in r.trace)


def test_bad_register_index_is_ignored():
    r = Rig()
    r.irq.write_ivar(8, 0x8181)
    r.irq.write_eitr(10, 200)
    assert r.irq.read_ivar(8) == 0 and r.irq.read_eitr(10) == 0
    assert r.irq.bad_accesses == 4


# --- legacy INTx (§1.6, §3.9, §6.5) ---------------------------------------------------
def test_legacy_intx_level_follows_icr_and_ims():
    r = Rig()
    irq = r.irq
    irq.tx_queue_cause(0)                      # IMS = 0: cause held in ICR, line low
    assert r.line == [] and irq.read_ims() == 0
    r.at(1 * US, irq.write_ims, ICR_TXDW)
    r.at(2 * US, irq.write_imc, ICR_TXDW)
    r.at(3 * US, irq.write_ims, ICR_TXDW)
    r.run()
    assert r.line == [(1 * US, True), (2 * US, False), (3 * US, True)]
    # NSICR = 0 and IMS != 0: the read clears because INT_ASSERTED is set
    assert irq.read_icr() == ICR_TXDW | ICR_INT_ASSERTED
    assert r.line[-1] == (3 * US, False)
    assert irq.read_icr() == 0
    assert [rec[2:] for rec in r.trace if rec[2] == "intx"] == [
        ("intx", True), ("intx", False), ("intx", True), ("intx", False)]


def test_icr_read_without_nsicr_keeps_a_cause_that_asserted_nothing():
    r = Rig()
    irq = r.irq
    irq.write_ims(ICR_LSC)                     # IMS != 0, but TXDW is masked
    irq.tx_queue_cause(0)
    assert irq.read_icr() == ICR_TXDW
    assert irq.read_icr() == ICR_TXDW          # no INT_ASSERTED, NSICR = 0: not cleared
    irq.write_gpie(GPIE_NSICR)
    assert irq.read_icr() == ICR_TXDW          # NSICR: every read clears
    assert irq.read_icr() == 0


def test_icr_read_clears_when_ims_is_zero():
    r = Rig()
    r.irq.tx_queue_cause(0)
    assert r.irq.read_icr() == ICR_TXDW
    assert r.irq.read_icr() == 0


def test_icr_read_with_nsicr_drops_the_line_and_iam_auto_masks():
    r = Rig()
    irq = r.irq
    irq.write_gpie(GPIE_NSICR)
    irq.write_ims(ICR_TXDW | ICR_LSC)          # igb_irq_enable, non-MSI-X: IMS = IAM
    irq.write_iam(ICR_TXDW | ICR_LSC)
    irq.tx_queue_cause(0)
    assert r.line == [(0, True)]
    assert irq.read_icr() == ICR_TXDW | ICR_INT_ASSERTED
    assert r.line == [(0, True), (0, False)]
    assert irq.read_ims() == 0                 # IAM auto-mask on ICR read
    irq.tx_queue_cause(0)
    assert len(r.line) == 2                    # masked now
    irq.write_ims(ICR_TXDW)                    # igb_irq_enable after the poll
    assert r.line[-1] == (0, True)


def test_legacy_line_rise_is_moderated_by_eitr0():
    r = Rig()
    irq = r.irq
    irq.write_eitr(0, eitr_us(50) | EITR_CNT_IGNR)
    irq.write_ims(ICR_TXDW)
    r.at(0, irq.tx_queue_cause, 0)             # line up, EITR(0) runs to 50 µs
    r.at(5 * US, irq.read_icr)                 # cleared: line down
    r.at(10 * US, irq.tx_queue_cause, 0)       # rise deferred to the expiry
    r.run()
    assert r.line == [(0, True), (5 * US, False), (50 * US, True)]


def test_legacy_mode_ignores_ivar():
    r = Rig()
    r.irq.write_ims(ICR_TXDW)
    r.irq.tx_queue_cause(3)                    # no IVAR programmed: still ICR.TXDW
    assert r.line == [(0, True)] and r.msgs == []


# --- software-triggered interrupts (§6.5) ----------------------------------------------
def test_ics_raises_a_legacy_interrupt():
    r = Rig()
    r.irq.write_ims(ICR_LSC)
    r.irq.write_ics(ICR_LSC)
    assert r.line == [(0, True)]
    assert r.irq.read_icr() == ICR_LSC | ICR_INT_ASSERTED


def test_ics_and_other_causes_go_to_ivar_misc_vector_in_msix_mode():
    r = Rig()
    irq = r.irq
    irq.write_gpie(GPIE_IGB_MSIX)
    irq.write_ivar_misc((0x80 | 0) << 8)       # igb_configure_msix: other -> vector 0
    irq.write_ims(ICR_LSC | ICR_DMA_FAULT)
    irq.write_eims(0b1)
    irq.write_ics(ICR_LSC)
    assert r.msgs == [(0, 0)]
    assert irq.read_eicr() == 0b1
    # igb_msix_other: the ICR read (NSICR) clears ICR and the other vector's EICR bit
    assert irq.read_icr() == ICR_LSC | ICR_INT_ASSERTED
    assert irq.read_eicr() == 0
    irq.other_cause(ICR_DMA_FAULT)
    assert r.msgs == [(0, 0), (0, 0)]
    assert irq.read_icr() & ICR_DMA_FAULT


def test_other_cause_masked_in_ims_sends_nothing_until_ims():
    r = Rig()
    irq = r.irq
    irq.write_gpie(GPIE_IGB_MSIX)
    irq.write_ivar_misc(0x80 << 8)
    irq.write_eims(0b1)
    irq.other_cause(ICR_LSC)
    assert r.msgs == []
    irq.write_ims(ICR_LSC)
    assert r.msgs == [(0, 0)]


def test_eics_fires_unmasked_vectors_only():
    r = msix_rig(eims=0b100)
    r.irq.write_eics(0b100)
    assert r.msgs == [(0, 2)]
    r.irq.write_eics(0b1000)                   # vector 3 masked: held in EICR
    assert r.msgs == [(0, 2)]
    assert r.irq.read_eicr() == 0b1100
    assert [rec[2:] for rec in r.trace if rec[2] == "msix"] == [("msix", 2)]


# --- reset ---------------------------------------------------------------------------------
def test_reset_flushes_pending_and_keeps_eitr():
    r = msix_rig(interval_us=50, eims=0b10)
    r.at(0, r.irq.tx_queue_cause, 0)
    r.at(10 * US, r.irq.tx_queue_cause, 0)     # owed at 50 µs
    r.at(20 * US, r.irq.reset)
    r.run()
    assert times_of(r.msgs) == [0]
    assert r.irq.read_eitr(1) == eitr_us(50)
    assert r.irq.read_eicr() == 0 and r.irq.read_gpie() == 0


def test_constructor_rejects_bad_configuration():
    with pytest.raises(ValueError):
        InterruptBlock(Engine(), num_vectors=4, num_tx_queues=4, ivar_layout="diagonal",
                       send_msix=print, set_intx=print)
    with pytest.raises(ValueError):
        InterruptBlock(Engine(), num_vectors=33, num_tx_queues=4, ivar_layout="row",
                       send_msix=print, set_intx=print)
