"""What the transmit and completion paths share lives in simulated memory, with Linux's layout.

* ``struct igb_tx_buffer`` and the indices of ``struct igb_ring`` sit at the
  offsets the C rules give on x86-64 (each member at its natural alignment),
  computed here by hand from the member lists of igb.h; a transmitted
  packet leaves its values at those addresses.
* The skb pointer is a handle: after the completion path freed the skb, a
  second completion of the same slot (a driver bug) reads the dead handle
  and is stopped with a use-after-free report (time, CPU, context, site,
  handle), as KASAN stops it.
* A tx_buffer field can be read stale: the cleaner sees the new
  ``next_to_watch`` but the previous lap's ``bytecount`` when no read
  barrier sits between the loads, on arm64 and POWER (loads may be
  satisfied out of order, ordering_facts §2.3: the 2017 POWER bug class);
  never on x86-TSO (loads are not reordered with loads), and never with
  igb's ``smp_rmb``.
"""
import pytest

from driver.igb.clean import igb_clean_tx_irq
from driver.igb.igb import (IGB_RING_FIELDS, IGB_RING_SIZE, IGB_TX_BUFFER_FIELDS, IGB_TX_BUFFER_SIZE,
                            igb_tx_buffer)
from driver.igb.sites import IGB_SITES, SITE
from driver.platform import BarrierSite
from sim.assembly.skbs import numbered_frame
from sim.engine import MS, explore
from stack.core.bug import KernelBug, UseAfterFree
from stack.core.skbuff import skb_from_bytes


# --- layout ------------------------------------------------------------------------------------------
def test_igb_tx_buffer_members_sit_at_the_x86_64_offsets_of_the_c_struct():
    # union e1000_adv_tx_desc *next_to_watch  0..8
    # unsigned long time_stamp                8..16
    # enum igb_tx_buf_type type               16..20, then 4 bytes of padding (the union holds a pointer)
    # union { struct sk_buff *skb; ... }      24..32
    # unsigned int bytecount                  32..36
    # u16 gso_segs                            36..38
    # __be16 protocol                         38..40
    # dma_addr_t dma                          40..48
    # __u32 len                               48..52
    # u32 tx_flags                            52..56 -> sizeof 56 (already a multiple of 8)
    assert IGB_TX_BUFFER_FIELDS == {
        "next_to_watch": (0, 8), "time_stamp": (8, 8), "type": (16, 4), "skb": (24, 8),
        "bytecount": (32, 4), "gso_segs": (36, 2), "protocol": (38, 2), "dma": (40, 8),
        "len": (48, 4), "tx_flags": (52, 4)}
    assert IGB_TX_BUFFER_SIZE == 56


def test_igb_ring_indices_sit_at_the_x86_64_offsets_of_the_c_struct():
    # nine 8-byte members (q_vector, netdev, xdp_prog, dev, tx_buffer_info, desc, flags, tail, dma): 0..72
    # unsigned int size 72..76; u16 count 76..78; u8 queue_index 78; u8 reg_idx 79;
    # bool launchtime_enable 80; bool cbs_enable 81; 2 bytes padding; s32 idleslope 84, sendslope 88,
    # hicredit 92, locredit 96..100; u16 next_to_clean 100, next_to_use 102, next_to_alloc 104..106
    assert IGB_RING_FIELDS["next_to_clean"] == (100, 2)
    assert IGB_RING_FIELDS["next_to_use"] == (102, 2)
    assert IGB_RING_FIELDS["next_to_alloc"] == (104, 2)
    assert IGB_RING_SIZE == 112   # 106 rounded up to the struct's 8-byte alignment


def test_a_transmitted_packet_leaves_its_fields_at_those_addresses(system):
    s = system("82576")
    frame = numbered_frame(0, 1000)
    skb = skb_from_bytes(s.net.skb, frame)
    skb.protocol = 0x0800                            # ETH_P_IP, as ip_output sets it
    handle = 0xFFFF_8880_0000_0000 + 256 * skb.id   # the direct map, one 256-byte slab object per skb
    s.sender().send([skb], burst=1)
    s.run_for(2 * MS)
    assert s.frames() == [frame]
    ring = s.adapter.tx_ring[0]
    mem = s.host.mem
    slot = ring.tx_buffer_info.addr          # slot 0: the packet's only descriptor, no context
    assert mem.read32(slot + 32) == 1000      # bytecount = skb->len
    assert mem.read16(slot + 36) == 1         # gso_segs
    assert mem.read(slot + 38, 2) == b"\x08\x00"   # protocol, __be16 ETH_P_IP
    assert mem.read64(slot + 24) == handle    # skb: completion does not clear it
    assert mem.read64(slot + 0) == 0          # next_to_watch: cleared by igb_clean_tx_irq
    assert mem.read32(slot + 48) == 0         # len: cleared after the unmap
    assert mem.read64(slot + 40) != 0         # dma: the address the buffer was mapped at
    assert mem.read16(ring.addr + 100) == mem.read16(ring.addr + 102) == 1   # next_to_clean, next_to_use
    assert ring.next_to_use == ring.next_to_clean == 1


# --- use-after-free ----------------------------------------------------------------------------------
def test_completing_a_slot_twice_is_stopped_as_a_use_after_free_of_its_skb(system):
    s = system("82576")
    skb = skb_from_bytes(s.net.skb, numbered_frame(0, 600))
    skb_id = skb.id
    s.sender().send([skb], burst=1)
    s.run_for(2 * MS)
    assert s.net.skb.consumed == 1 and not s.kernel.bugs
    q_vector = next(q for q in s.adapter.q_vector if q.tx.ring is s.adapter.tx_ring[0])
    ring = q_vector.tx.ring
    with s.kernel.on_cpu(1, "softirq:NET_RX"):
        # the bug: slot 0 published again although its packet was completed (its DD is still set)
        ring.tx_buffer_info[0].next_to_watch = ring.desc
        ring.next_to_clean = 0
        with pytest.raises(UseAfterFree, match="use-after-free") as caught:
            igb_clean_tx_irq(q_vector, 64)
    assert isinstance(caught.value, KernelBug)
    (report,) = s.kernel.bugs
    assert caught.value.report is report
    assert report.kind == "use-after-free"
    assert report.site == "igb_clean_tx_irq"
    assert report.address == 0xFFFF_8880_0000_0000 + 256 * skb_id
    assert (report.cpu, report.context, report.time_ps) == (1, "softirq:NET_RX", s.engine.now)
    assert f"skb #{skb_id}" in report.detail and "skb->users" in report.detail
    assert s.net.skb.consumed == 1   # the freed skb was not freed again


# --- stale tx_buffer fields ----------------------------------------------------------------------------
START = BarrierSite("test.start", "rmb", "the initial values happen-before both threads")
PUBLISHED = 0x1000   # the EOP descriptor address the writer publishes


def _thread(k, cpu, ops):
    """Each op in its own on_cpu block, with a scheduling point between ops."""
    for n, op in enumerate(ops):
        if n:
            yield 0
        with k.on_cpu(cpu, "softirq:NET_RX"):
            op()


def _reuse_run(kernel, profile, overrides, policy):
    """The writer reuses a slot (bytecount 1 -> 2, dma_wmb, next_to_watch); the cleaner reads both."""
    # drains at 0 ps, as the litmus programs run: every drain order is still a choice (ties)
    k = kernel(profile, policy=policy, mmio_latency=False, drain_delay_ps=0)
    k.sites.declare_all(IGB_SITES + (START,))
    k.sites.apply(overrides)
    addr = k.kzalloc(IGB_TX_BUFFER_SIZE)
    k.host.mem.write32(addr + 32, 1)                   # bytecount left by the previous lap
    slot = igb_tx_buffer(k, None, addr)
    seen = {}

    def xmit():
        slot.bytecount = 2
        k.dma_wmb(SITE["igb_tx_map.publish"])
        slot.next_to_watch = PUBLISHED

    def read_ntw():
        seen["ntw"] = slot.next_to_watch

    def read_bytecount():
        k.smp_rmb(SITE["igb_clean_tx_irq.eop"])
        seen["bytecount"] = slot.bytecount

    k.host.engine.spawn(_thread(k, 0, [xmit]), "xmit")
    k.host.engine.spawn(_thread(k, 1, [lambda: k.rmb(START), read_ntw, read_bytecount]), "clean")
    k.host.engine.run()
    return seen["ntw"], seen["bytecount"]


@pytest.mark.parametrize("profile", ["x86-tso", "arm64", "power"])
@pytest.mark.parametrize("rmb", [True, False])
def test_a_tx_buffer_field_reads_stale_without_the_read_barrier_on_weak_profiles_only(profile, rmb, kernel):
    overrides = {} if rmb else {"igb_clean_tx_irq.eop": None}
    result = explore(lambda policy: _reuse_run(kernel, profile, overrides, policy))
    stale = (PUBLISHED, 1)   # the new next_to_watch with the previous lap's bytecount
    assert (PUBLISHED, 2) in result.outcome_set
    assert (stale in result.outcome_set) == (profile in ("arm64", "power") and not rmb)
