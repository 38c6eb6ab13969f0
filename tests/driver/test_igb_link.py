"""Link loss with work queued: the watchdog resets the adapter to flush TX (igb_facts §3.11).

igb_msix_other sees ICR.LSC and runs the watchdog timer one jiffy later;
the watchdog task reads STATUS.LU, turns the carrier off and, because the
ring still holds work the stopped controller will never do, counts a TX
timeout and schedules the reset task. The carrier going off deactivates
the qdisc (``dev_deactivate``): what waited there is dropped. When the link
returns, LSC again: carrier on, and traffic resumes.
"""
from sim.engine import MS, S
from sim.assembly.skbs import frame_seq, numbered_frame
from stack.core.jiffies import TICK_PS
from stack.core.netdevice import netif_carrier_ok
from stack.core.skbuff import skb_from_bytes


def test_link_loss_with_queued_work_resets_then_traffic_resumes_when_the_link_returns(system):
    s = system("82576", up=False)
    s.engine.start_trace()
    assert s.open() == 0
    sender = s.sender()
    sender.send([skb_from_bytes(s.net.skb, numbered_frame(n, 1514)) for n in range(200)], burst=8)
    s.run_for(1 * MS)
    sent_before = len(s.frames())
    assert 0 < sent_before < 200
    t_down = s.engine.now
    s.nic.set_link(False)
    s.run_for(50 * MS)
    carrier = [r for r in s.engine.records if r[1] == "eth0" and r[2] == "carrier"]
    assert carrier[-1][3] == 0 and carrier[-1][0] - t_down <= 2 * TICK_PS   # LSC -> watchdog in 1 jiffy
    assert not netif_carrier_ok(s.netdev)
    assert s.adapter.tx_timeout_count == 1 and s.adapter.resets == 1
    ring = s.adapter.tx_ring[0]
    assert ring.tx_dropped > 0 and ring.next_to_use == ring.next_to_clean == 0
    wire_down = len(s.frames())
    s.run_for(3 * S)                                  # still down: no reset loop, nothing sent
    assert s.adapter.resets == 1 and len(s.frames()) == wire_down
    # the carrier going off deactivated the qdisc (dev_deactivate): what it held was dropped, and so
    # was what the program wrote while the carrier was off (the noop qdisc)
    qdisc_dropped = s.net.skb.dropped - ring.tx_dropped
    assert qdisc_dropped > 0 and sender.done.triggered and not sender.backlog
    s.nic.set_link(True)
    s.run_for(100 * MS)
    assert netif_carrier_ok(s.netdev)
    sender.send([skb_from_bytes(s.net.skb, numbered_frame(n, 1514)) for n in range(200, 220)], burst=8)
    s.run_for(10 * MS)
    got = [frame_seq(f) for f in s.frames()]
    assert got == sorted(got) and len(set(got)) == len(got)          # in order, none twice
    assert got[-20:] == list(range(200, 220))                        # traffic resumes
    # every skb was either completed (DD), freed from the ring by the reset as a drop, or dropped
    # above the driver; a completed one went on the wire, or was lost at the MAC or in the packet
    # buffer at the reset
    completed, dropped = ring.tx_stats.packets, ring.tx_dropped
    assert completed + dropped + qdisc_dropped == 220
    assert s.net.skb.consumed == completed and s.net.skb.dropped == dropped + qdisc_dropped
    assert completed >= len(got) + s.nic.mac.frames_dropped_link_down
    s.close()
    s.net.skb.assert_no_leaks()
