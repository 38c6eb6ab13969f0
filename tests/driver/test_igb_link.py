"""Link loss with work queued: the watchdog resets the adapter to flush TX (igb_facts §3.11).

igb_msix_other sees ICR.LSC and runs the watchdog timer one jiffy later;
the watchdog task reads STATUS.LU, turns the carrier off and, because the
ring still holds work the stopped controller will never do, counts a TX
timeout and schedules the reset task. When the link returns, LSC again:
carrier on, and traffic resumes.
"""
import struct

from sim.engine import MS, S
from sim.assembly.system import IgbSystem
from stack.core.jiffies import TICK_PS
from stack.core.netdevice import netif_carrier_ok
from stack.core.skbuff import skb_from_bytes


def frame(n: int, size: int = 1514) -> bytes:
    head = bytes.fromhex("02000000000202000000000188b5") + struct.pack(">I", n)
    return head + bytes(size - len(head))


def seqs(frames) -> list[int]:
    return [struct.unpack(">I", f[14:18])[0] for f in frames]


def test_link_loss_with_queued_work_resets_then_traffic_resumes_when_the_link_returns():
    s = IgbSystem("82576")
    s.engine.start_trace()
    assert s.open() == 0
    sender = s.sender()
    sender.send([skb_from_bytes(s.net.skb, frame(n)) for n in range(200)], burst=8)
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
    s.run_for(3 * S)                                  # still down: no reset loop, nothing sent
    assert s.adapter.resets == 1 and len(sender.backlog) > 0
    s.nic.set_link(True)
    s.run_for(100 * MS)
    assert netif_carrier_ok(s.netdev)
    got = seqs(s.frames())
    assert got == sorted(got) and len(set(got)) == len(got)          # in order, none twice
    assert got[-1] == 199 and not sender.backlog
    # every skb was either completed (DD) or freed from the ring by the reset as a drop; a
    # completed one went on the wire, or was lost at the MAC or in the packet buffer at the reset
    completed, dropped = ring.tx_stats.packets, ring.tx_dropped
    assert completed + dropped == 200
    assert s.net.skb.consumed == completed and s.net.skb.dropped == dropped
    assert completed >= len(got) + s.nic.mac.frames_dropped_link_down
    s.close()
    s.net.skb.assert_no_leaks()
