"""A stalled transmitter: the hang report, the TX timeout, the reset, and recovery.

The sequence is igb_facts §3.8 step 5 and §3.11: the watchdog task (every
2 s) arms IGB_RING_FLAG_TX_DETECT_HANG and kicks the queue vectors (EICS);
igb_clean_tx_irq then finds the packet at next_to_clean still without DD
more than tx_timeout_factor × HZ (1 s) after it was queued, with
STATUS.TXOFF clear, prints "Detected Tx Unit Hang" and stops the queue.
The net core's watchdog (watchdog_timeo = 5 s) calls igb_tx_timeout, whose
reset task runs igb_down (packets left in the ring are freed as drops, the
carrier goes off and the deactivated qdisc drops what it held),
igb_reset (CTRL.RST, or DEV_RST on I210) and igb_up.
"""
import pytest

from driver.igb.igb import HZ_FROM_STACK as HZ
from sim.engine import MS, S, US
from sim.assembly.skbs import frame_seq, numbered_frame
from stack.core.jiffies import jiffies
from stack.core.netdevice import netdev_get_tx_queue
from stack.core.skbuff import skb_from_bytes

TCTL, TCTL_EN = 0x400, 0x2


@pytest.mark.parametrize("nic, reset_bit", [("82576", "CTRL.RST"), ("i210", "CTRL.DEV_RST")])
def test_stall_hang_report_timeout_reset_and_recovery(nic, reset_bit, close_and_remove, system):
    s = system(nic, ring_size=256, up=False)
    s.engine.start_trace()
    assert s.open() == 0
    sender = s.sender()
    sender.send([skb_from_bytes(s.net.skb, numbered_frame(n, 1514)) for n in range(20)], burst=4)
    s.run_for(10 * MS)
    assert [frame_seq(f) for f in s.frames()] == list(range(20))
    # the transmitter stops (TCTL.EN cleared behind the driver's back)
    s.nic.mmio_write(TCTL, 4, s.nic.regs.get("TCTL") & ~TCTL_EN)
    stall_j = jiffies(s.engine.now)
    sender.send([skb_from_bytes(s.net.skb, numbered_frame(n, 1514)) for n in range(20, 100)], burst=8)
    s.run_for(20 * MS)
    ring = s.adapter.tx_ring[0]
    stuck_ntc, stuck_ntu = ring.next_to_clean, ring.next_to_use
    assert stuck_ntu != stuck_ntc                     # the packet buffer is full: descriptors wait
    last_xmit_j = netdev_get_tx_queue(s.netdev, 0).trans_start   # nothing more goes in until the reset
    stuck_first = ring.tx_buffer_info[stuck_ntc]
    queued_j = stuck_first.time_stamp
    assert stall_j <= queued_j <= stall_j + 20 * MS // (S // HZ) + 1
    held = s.netdev.qdisc.qlen                        # the rest wait in the qdisc (queue stopped)
    assert held > 0 and not sender.backlog

    s.run_for(15 * S)

    # --- the hang report -------------------------------------------------------------------------
    reports = s.adapter.hang_reports
    r = reports[0]
    # repeated by every watchdog pass (2 s) until the reset, as igb does. Each report is made in
    # the clean after the watchdog's EICS kick: the kick's store-buffer drain (<= 150 ns a store)
    # and the MSI delivery latency (0.5-5 us, sim.host.timing) vary per pass, so successive
    # reports are 2 s apart to within the spread of that path (well under 10 us).
    assert len(reports) >= 2 and all(x.next_to_clean == stuck_ntc for x in reports)
    gaps = [b.time_ps - a.time_ps for a, b in zip(reports, reports[1:])]
    assert all(abs(gap - 2 * S) < 10 * US for gap in gaps), gaps
    assert r.queue == 0
    assert r.next_to_clean == stuck_ntc and r.next_to_use == stuck_ntu
    assert r.tdt == stuck_ntu                         # every packet was doorbelled
    span = (stuck_ntu - stuck_ntc) % 256
    assert (r.tdh - stuck_ntc) % 256 <= span          # the hardware head is inside the stuck span
    assert r.next_to_watch == stuck_ntc               # one descriptor per packet: EOP = first
    assert r.time_stamp == queued_j
    assert r.jiffies > queued_j + HZ                  # older than tx_timeout_factor × HZ
    assert r.jiffies <= queued_j + HZ + 2 * HZ + HZ   # found by the next 2 s watchdog pass (rounded)
    assert r.desc_status & 1 == 0                     # no DD
    text = str(r)
    assert "Detected Tx Unit Hang" in text and f"TDT                  <{stuck_ntu:x}>" in text

    # --- the timeout and the reset ----------------------------------------------------------------
    txq = netdev_get_tx_queue(s.netdev, 0)
    assert txq.trans_timeout == 1 and s.adapter.tx_timeout_count == 1 and s.adapter.resets == 1
    resets = [rec for rec in s.engine.records if rec[1] == "nic" and rec[2] == "reset"]
    assert [rec[3] for rec in resets] == [reset_bit]
    timeout_t = [rec[0] for rec in s.engine.records if rec[2] == "tx_timeout"][0]
    # the net core watchdog checks every 5 s for a queue stopped 5 s after its last transmit
    assert jiffies(timeout_t) > last_xmit_j + 5 * HZ and timeout_t - r.time_ps <= 10 * S
    assert all(x.time_ps < timeout_t for x in reports)
    assert ring.tx_dropped == span                    # the packets left in the ring, freed as drops
    # igb_down's carrier off deactivated the qdisc (dev_deactivate): what it held was dropped
    assert s.net.skb.dropped == span + held

    # --- recovery ------------------------------------------------------------------------------------
    # In order after the stall: the frames the NIC had buffered (completed, lost with the reset:
    # TCTL.EN was off), the ones left in the ring (dropped), the ones the qdisc held (dropped): that is
    # the whole stalled batch. Everything sent afterwards arrives.
    buffered = stuck_ntc - 20 if stuck_ntc >= 20 else stuck_ntc + 256 - 20
    assert buffered + span + held == 80
    assert s.nic.counters["reset_discards"] == buffered   # the packet buffer's frames, gone with the reset
    sender.send([skb_from_bytes(s.net.skb, numbered_frame(n, 1514)) for n in range(100, 130)], burst=8)
    s.run_for(100 * MS)
    assert [n for n in [frame_seq(f) for f in s.frames()] if n >= 20] == list(range(100, 130))
    assert netdev_get_tx_queue(s.netdev, 0).dql.inflight == 0
    close_and_remove(s)
