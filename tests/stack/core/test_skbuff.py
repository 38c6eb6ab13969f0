"""sk_buff layout, bytes in host memory, and freeing.

Expected values come from Linux's definitions (skb_put moves tail and len,
skb_push moves data back into the headroom, headlen = len - data_len, the
last reference frees and runs the destructor, clones share data until both
are gone, dev_kfree_skb_any defers to NET_TX in hard-IRQ context) and from
the arithmetic of the even split documented on skb_from_bytes.
"""
import pytest

from sim.host import DmaDirection, Host, POISON_FREE
from sim.engine import Engine
from stack.core.netcore import NetCore
from stack.core.skb_memory import SkbBug, SkbLeak, SkbMemory
from stack.core.skbuff import (CHECKSUM_PARTIAL, MAX_SKB_FRAGS, NET_SKB_PAD, alloc_skb, consume_skb,
                               dev_consume_skb_any, dev_kfree_skb_any, kfree_skb, napi_consume_skb,
                               skb_checksum_start_offset, skb_clone, skb_fill_page_desc, skb_from_bytes, skb_get,
                               skb_headlen, skb_headroom, skb_network_header_len, skb_network_offset,
                               skb_partial_csum_set, skb_pull, skb_push, skb_put, skb_put_data, skb_put_frag_data,
                               skb_set_network_header, skb_shinfo, skb_tailroom, skb_to_bytes,
                               skb_transport_offset)
from stack.core.softirq import NET_TX_SOFTIRQ


def pattern(n, seed=3):
    return bytes((i * 7 + seed) & 0xFF for i in range(n))


# --- layout -------------------------------------------------------------------------------
@pytest.mark.parametrize("n,k,headlen,sizes", [
    (1000, 0, 1000, []),
    (1000, 3, 250, [250, 250, 250]),          # 1000 // 4 linear, 750 split 3 ways
    (1001, 3, 250, [251, 250, 250]),          # the odd byte goes to the first frag
    (9000, 17, 500, [500] * 17),              # 9000 // 18 = 500 each, MAX_SKB_FRAGS
    (60, 1, 30, [30]),
])
def test_bytes_to_skb_with_k_frags_and_back(net, n, k, headlen, sizes):
    frame = pattern(n)
    skb = skb_from_bytes(net.skb, frame, k)
    assert skb.len == n
    assert skb_headlen(skb) == headlen
    assert skb.data_len == n - headlen
    assert [f.size for f in skb_shinfo(skb).frags] == sizes
    assert skb_headroom(skb) == NET_SKB_PAD
    assert skb_to_bytes(skb) == frame
    consume_skb(skb)
    net.skb.assert_no_leaks()


def test_explicit_frag_sizes_and_offsets_are_where_the_bytes_are(net, host):
    frame = pattern(300)
    skb = skb_from_bytes(net.skb, frame, frag_sizes=[100, 50, 96], frag_offset=20)
    assert skb_headlen(skb) == 54
    host.engine.run()  # let the CPU's stores drain: now memory holds them
    assert host.mem.read(skb.data, 54) == frame[:54]
    pos = 54
    for f in skb_shinfo(skb).frags:
        assert f.offset == 20
        assert host.mem.read(f.page + 20, f.size) == frame[pos:pos + f.size]
        pos += f.size
    consume_skb(skb)


def test_the_bytes_are_cpu_stores_a_device_can_dma_read_once_visible(net, host):
    frame = pattern(200)
    skb = skb_from_bytes(net.skb, frame, 1)
    assert skb_headlen(skb) == 100
    # Still in the CPU's store buffer: the CPU sees them, memory does not yet.
    assert skb_to_bytes(skb) == frame
    assert host.mem.read(skb.data, 100) != frame[:100]
    host.engine.run()
    dma = host.dma.dma_map_single(skb.data, 100, DmaDirection.TO_DEVICE)
    assert host.iommu.dma_read(dma, 100, "nic") == frame[:100]
    host.dma.dma_unmap_single(dma, 100, DmaDirection.TO_DEVICE)
    frag = skb_shinfo(skb).frags[0]
    dma = host.dma.dma_map_single(frag.page + frag.offset, frag.size, DmaDirection.TO_DEVICE)
    assert host.iommu.dma_read(dma, frag.size, "nic") == frame[100:]
    host.dma.dma_unmap_single(dma, frag.size, DmaDirection.TO_DEVICE)
    consume_skb(skb)


def test_a_frag_page_may_be_plain_bytes_outside_host_memory(net):
    skb = skb_from_bytes(net.skb, b"head")
    skb_fill_page_desc(skb, 0, b"..payload..", 2, 7)
    skb.len += 7
    skb.data_len += 7
    assert skb_to_bytes(skb) == b"headpayload"
    consume_skb(skb)
    net.skb.assert_no_leaks()


def test_more_than_max_skb_frags_is_refused(net):
    assert MAX_SKB_FRAGS == 17
    with pytest.raises(ValueError):
        skb_from_bytes(net.skb, pattern(1800), 18)
    skb = skb_from_bytes(net.skb, pattern(170), 17)
    with pytest.raises(SkbBug):
        skb_put_frag_data(skb, b"x")
    consume_skb(skb)
    net.skb.assert_no_leaks()


# --- headroom, put, push, pull ------------------------------------------------------------
def test_reserve_put_push_pull_move_data_tail_and_len(net):
    skb = alloc_skb(net.skb, 100, headroom=64)
    assert (skb_headroom(skb), skb_tailroom(skb), skb.len) == (64, 100, 0)
    addr = skb_put_data(skb, b"P" * 60)
    assert addr == skb.head + 64
    assert (skb_tailroom(skb), skb.len) == (40, 60)
    h = skb_push(skb, 14)
    assert h == skb.head + 50 == skb.data
    assert (skb_headroom(skb), skb.len) == (50, 74)
    net.skb.write(h, b"E" * 14)
    assert skb_to_bytes(skb) == b"E" * 14 + b"P" * 60
    assert skb_pull(skb, 14) == skb.head + 64
    assert skb.len == 60 and skb_to_bytes(skb) == b"P" * 60
    assert skb_pull(skb, 61) is None  # longer than the packet
    consume_skb(skb)


def test_running_off_either_end_is_a_panic(net):
    skb = alloc_skb(net.skb, 10, headroom=8)
    with pytest.raises(SkbBug, match="over_panic"):
        skb_put(skb, 11)
    skb2 = alloc_skb(net.skb, 10, headroom=8)
    with pytest.raises(SkbBug, match="under_panic"):
        skb_push(skb2, 9)
    skb3 = skb_from_bytes(net.skb, pattern(100), 1)
    with pytest.raises(SkbBug):
        skb_put(skb3, 1)  # linear put on a nonlinear skb
    for s in (skb, skb2, skb3):
        consume_skb(s)


def test_header_offsets_and_partial_checksum(net):
    frame = pattern(14 + 20 + 20 + 100)
    skb = skb_from_bytes(net.skb, frame, 1, headlen=54)
    skb_set_network_header(skb, 14)
    assert skb_partial_csum_set(skb, 34, 16)
    assert skb.ip_summed == CHECKSUM_PARTIAL
    assert skb.csum_start == NET_SKB_PAD + 34
    assert skb_checksum_start_offset(skb) == 34
    assert skb_network_offset(skb) == 14
    assert skb_transport_offset(skb) == 34
    assert skb_network_header_len(skb) == 20
    assert not skb_partial_csum_set(skb, 40, 14)  # result field past the linear part
    consume_skb(skb)


# --- freeing ---------------------------------------------------------------------------------
def test_last_reference_frees_runs_destructor_and_counts(net, host):
    mem = net.skb
    calls = []
    a = skb_from_bytes(mem, pattern(100))
    a.destructor = calls.append
    host.engine.run()
    head = a.head
    consume_skb(a)
    assert calls == [a]
    assert (mem.allocated, mem.consumed, mem.dropped) == (1, 1, 0)
    assert host.mem.read(head, 100) == bytes([POISON_FREE]) * 100  # kfree poisons
    b = skb_get(skb_from_bytes(mem, pattern(50), 1))
    b.destructor = calls.append
    kfree_skb(b)
    assert b.id in mem.live and calls == [a]  # one reference left
    kfree_skb(b)
    assert calls == [a, b]
    assert (mem.allocated, mem.consumed, mem.dropped, mem.freed) == (2, 1, 1, 2)
    with pytest.raises(SkbBug, match="twice"):
        kfree_skb(b)
    kfree_skb(None)
    assert mem.allocator.live == 0
    mem.assert_no_leaks()


def test_a_clone_shares_the_data_until_both_are_freed(net):
    mem = net.skb
    calls = []
    orig = skb_from_bytes(mem, pattern(400), 2)
    orig.destructor = calls.append
    clone = skb_clone(orig)
    assert clone.id != orig.id and clone.destructor is None
    assert clone.shinfo is orig.shinfo and orig.shinfo.dataref == 2
    assert skb_to_bytes(clone) == pattern(400)
    allocations = mem.allocator.live  # head + 2 pages
    assert allocations == 3
    consume_skb(orig)
    assert calls == [orig] and mem.allocator.live == 3  # clone still holds the data
    assert skb_to_bytes(clone) == pattern(400)
    napi_consume_skb(clone, 64)
    assert mem.allocator.live == 0 and mem.consumed == 2
    mem.assert_no_leaks()


def test_live_skb_counter_reports_leaks(net):
    mem = net.skb
    skbs = [skb_from_bytes(mem, pattern(64)) for _ in range(3)]
    consume_skb(skbs[0])
    kfree_skb(skbs[2])
    assert list(mem.live) == [skbs[1].id]
    with pytest.raises(SkbLeak, match=f"#{skbs[1].id}"):
        mem.assert_no_leaks("after test")
    consume_skb(skbs[1])
    mem.assert_no_leaks()


def test_dev_kfree_skb_any_in_hardirq_defers_to_net_tx_on_that_cpu(net, host):
    mem = net.skb
    irq_skb = skb_from_bytes(mem, pattern(64))
    task_skb = skb_from_bytes(mem, pattern(64))
    with net.ctx.on_cpu(1, "hardirq:eth0"):
        dev_kfree_skb_any(irq_skb)
    assert irq_skb.id in mem.live and mem.dropped == 0  # waiting on cpu1's completion queue
    assert net.softirq.per_cpu[1].pending == 1 << NET_TX_SOFTIRQ
    with net.ctx.on_cpu(0, "task:sender"):
        dev_consume_skb_any(task_skb)
    assert mem.consumed == 1  # process context: freed at once
    host.engine.run()
    assert mem.dropped == 1 and not mem.live
    assert net.softirq.count(NET_TX_SOFTIRQ, 1) == 1
    assert net.softirq.count(NET_TX_SOFTIRQ, 0) == 0


def test_napi_consume_skb_with_zero_budget_is_the_any_context_free(net, host):
    skb = skb_from_bytes(net.skb, pattern(64))
    with net.ctx.on_cpu(0, "hardirq:netpoll"):
        napi_consume_skb(skb, 0)
    host.engine.run()
    assert net.skb.consumed == 1 and net.skb.dropped == 0
    assert net.softirq.count(NET_TX_SOFTIRQ) == 1


class FailingAllocator:
    """Host kmalloc that fails from the ``fail_at``-th allocation on."""

    def __init__(self, host, fail_at):
        self.dma = host.dma
        self.n = 0
        self.fail_at = fail_at
        self.live = 0

    def alloc(self, size, align=64):
        self.n += 1
        if self.n >= self.fail_at:
            return None
        self.live += 1
        return self.dma.kmalloc(size, align)

    def free(self, addr):
        self.live -= 1
        self.dma.kfree(addr)


def test_allocation_failure_returns_none_and_leaks_nothing():
    host = Host(Engine(), "x86-tso", ncpus=1)
    alloc = FailingAllocator(host, fail_at=3)  # head and the first page succeed, the second fails
    net = NetCore(host, allocator=alloc)
    assert skb_from_bytes(net.skb, pattern(300), 2) is None
    assert alloc.live == 0
    assert (net.skb.allocated, net.skb.dropped, net.skb.alloc_failures) == (0, 0, 1)
    net.skb.assert_no_leaks()
    assert alloc_skb(net.skb, 10) is None


def test_copy_cost_is_charged_to_the_writing_cpu(host):
    mem = SkbMemory(host, copy_ps_per_byte=100)
    with mem.ctx.on_cpu(1, "task:sender") as cpu:
        skb = skb_from_bytes(mem, pattern(1000), 1)
        assert cpu.settle() == 100 * 1000   # a synchronous caller takes the owed time itself
    consume_skb(skb)
