"""A DMA mapping failure in the middle of a multi-frag packet: igb_tx_map's ``dma_error`` unwind.

igb_facts §3.6: walk back from the failed slot to ``first``, dma_unmap_page
every buffer with a length, dma_unmap_single the linear part, free the skb
(dev_kfree_skb_any: a drop), and set next_to_use back to first's index, so
a context descriptor written for the packet is reclaimed too. The caller
returns NETDEV_TX_OK: the packet is gone, the queue goes on.
"""
import pytest

from sim.engine import MS, US
from sim.assembly.skbs import frame_seq, numbered_frame
from stack.core.skbuff import ETH_P_8021Q, __vlan_hwaccel_put_tag, skb_from_bytes


@pytest.mark.parametrize("vlan", [False, True], ids=["no-context", "with-context"])
@pytest.mark.parametrize("fail_at", [2, 4, 6])   # the 2nd/4th/6th map of linear + 5 frags
def test_mapping_failure_unwinds_the_packet_drops_it_and_leaks_nothing(fail_at, vlan, system, close_and_remove):
    s = system("82576")
    ring = s.adapter.tx_ring[0]
    sender = s.sender()
    sender.send([skb_from_bytes(s.net.skb, numbered_frame(n, 1200)) for n in range(3)])
    s.run_for(1 * MS)
    ntu_before = ring.next_to_use

    calls = {"map": 0, "unmap_single": 0, "unmap_page": 0}
    k = s.kernel
    for name in ("dma_unmap_single", "dma_unmap_page"):
        inner = getattr(k, name)

        def spy(*a, _inner=inner, _key=name[4:]):
            calls[_key] += 1
            return _inner(*a)
        setattr(k, name, spy)
    k.inject_dma_map_failure(after=fail_at)
    bad = skb_from_bytes(s.net.skb, numbered_frame(99, 1200), 5)          # linear + 5 frags: 6 mappings
    if vlan:
        __vlan_hwaccel_put_tag(bad, ETH_P_8021Q, 5)        # VLAN insertion needs a context descriptor
    sender.send([bad])
    s.run_for(100 * US)   # the sender's write reaches the driver after microseconds of CPU time
    assert not s.leaks().streaming                          # every mapping of the packet undone
    assert calls["unmap_single"] == 1                       # the linear part
    assert calls["unmap_page"] == fail_at - 2               # the frags mapped before the failure
    assert ring.next_to_use == ntu_before                   # its descriptors (and context) given back
    assert s.net.skb.dropped == 1 and ring.tx_dropped == 1
    k.clear_failures()
    sender.send([skb_from_bytes(s.net.skb, numbered_frame(n, 1200), 2) for n in range(3, 10)], burst=3)
    s.run_for(5 * MS)
    assert [frame_seq(f) for f in s.frames()] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]   # 99 never left; nothing else lost
    close_and_remove(s)
