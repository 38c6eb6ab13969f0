"""The kernel DMA API model (sim/host/dma.py)."""
import pytest
from hypothesis import given, settings, strategies as st

from sim.host.dma import (COHERENT_POOL_BASE, COHERENT_POOL_SIZE, CoherentBuffer, DmaApi,
                          DmaPoolExhausted)
from sim.host.iommu import DmaDirection, Iommu
from sim.host.memory import PAGE_SIZE, PhysMemory
from sim.host.dma import kmalloc_size

TO_DEV, FROM_DEV, BI = DmaDirection.TO_DEVICE, DmaDirection.FROM_DEVICE, DmaDirection.BIDIRECTIONAL


def make(enabled=True, **kw):
    mem = PhysMemory()
    mmu = Iommu(mem, enabled=enabled)
    return mem, mmu, DmaApi(mem, mmu, **kw)


# --- coherent ---------------------------------------------------------------------------
def test_coherent_buffer_is_shared_and_zeroed():
    mem, mmu, dma = make()
    buf = dma.dma_alloc_coherent(256, owner="tx ring 0")
    assert mem.region_at(buf.cpu_addr).name == "coherent-pool"
    assert buf.size == 256 and buf.dma_addr != buf.cpu_addr
    assert mmu.translate(buf.dma_addr) == buf.cpu_addr
    assert mmu.mapping_at(buf.dma_addr).direction is BI
    assert mem.read(buf.cpu_addr, 256) == bytes(256)
    mem.write32(buf.cpu_addr + 8, 0xCAFE)                         # CPU writes,
    assert mmu.dma_read(buf.dma_addr + 8, 4, "nic") == b"\xfe\xca\x00\x00"  # device sees it
    assert mmu.dma_write(buf.dma_addr + 12, b"\x01", "nic")        # and the other way
    assert mem.read8(buf.cpu_addr + 12) == 1


def test_coherent_alignment_honoured():
    _, _, dma = make()
    dma.dma_alloc_coherent(100)
    big = dma.dma_alloc_coherent(PAGE_SIZE, align=0x10000)
    assert big.cpu_addr % 0x10000 == 0 and big.dma_addr % 0x10000 == 0


def test_free_poisons_unmaps_and_reuses():
    mem, mmu, dma = make()
    buf = dma.dma_alloc_coherent(100)
    mem.write(buf.cpu_addr, b"descriptor")
    dma.dma_free_coherent(buf)
    assert mem.read(buf.cpu_addr, PAGE_SIZE) == b"\x6b" * PAGE_SIZE   # whole page poisoned
    assert mmu.dma_read(buf.dma_addr, 4, "nic") == b"\xff" * 4        # device access faults
    assert mmu.faults[-1].reason == "unmapped"
    again = dma.dma_alloc_coherent(100)
    assert again.cpu_addr == buf.cpu_addr                         # first fit reuses it
    assert mem.read(again.cpu_addr, 100) == bytes(100)            # zeroed again


def test_coherent_double_free_and_unknown_buffer():
    _, _, dma = make()
    buf = dma.dma_alloc_coherent(64)
    dma.dma_free_coherent(buf)
    with pytest.raises(ValueError, match="double free"):
        dma.dma_free_coherent(buf)
    with pytest.raises(ValueError):
        dma.dma_free_coherent(CoherentBuffer(COHERENT_POOL_BASE + 0x5000, 0xC000_5000, 64))


def test_coherent_pool_exhausted():
    _, _, dma = make(coherent_size=2 * PAGE_SIZE)
    dma.dma_alloc_coherent(PAGE_SIZE)
    dma.dma_alloc_coherent(1)
    with pytest.raises(DmaPoolExhausted):
        dma.dma_alloc_coherent(1)
    assert issubclass(DmaPoolExhausted, MemoryError)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 5 * PAGE_SIZE),
                          st.sampled_from([64, PAGE_SIZE, 0x2000, 0x10000])),
                max_size=40))
def test_random_alloc_free_never_overlap_and_stay_aligned(ops):
    mem, mmu, dma = make(coherent_size=64 * PAGE_SIZE)
    live: list[tuple[CoherentBuffer, int]] = []
    for is_free, size, align in ops:
        if is_free and live:
            buf, _ = live.pop(size % len(live))
            dma.dma_free_coherent(buf)
            continue
        try:
            buf = dma.dma_alloc_coherent(size, align=align)
        except DmaPoolExhausted:
            continue
        live.append((buf, align))
    pool = dma.coherent_region
    spans = []
    for buf, align in live:
        need = max(align, PAGE_SIZE)
        assert buf.cpu_addr % need == 0 and buf.dma_addr % need == 0
        assert pool.contains(buf.cpu_addr, buf.size)
        spans.append(("cpu", buf.cpu_addr, buf.cpu_addr + buf.size))
        spans.append(("dma", buf.dma_addr, buf.dma_addr + buf.size))
    for space in ("cpu", "dma"):
        ranges = sorted((lo, hi) for s, lo, hi in spans if s == space)
        for (_, hi), (lo, _) in zip(ranges, ranges[1:]):
            assert hi <= lo
    for buf, _ in live:
        dma.dma_free_coherent(buf)
    assert mmu.mappings == ()
    whole = dma.dma_alloc_coherent(64 * PAGE_SIZE)               # everything merged back
    assert whole.cpu_addr == pool.base


# --- streaming -------------------------------------------------------------------------
def test_map_single_keeps_page_offset_and_direction():
    mem, mmu, dma = make()
    buf = dma.kmalloc(1500)
    mem.write(buf, b"frame")
    addr = dma.dma_map_single(buf + 0x40, 1400, TO_DEV)
    assert addr % PAGE_SIZE == (buf + 0x40) % PAGE_SIZE
    assert mmu.translate(addr) == buf + 0x40
    mem.write(buf + 0x40, b"payload")
    assert mmu.dma_read(addr, 7, "nic") == b"payload"
    assert mmu.dma_write(addr, b"!", "nic") is False                # TO_DEVICE: read only
    dma.dma_unmap_single(addr, 1400, TO_DEV)
    assert mmu.dma_read(addr, 7, "nic") == b"\xff" * 7
    assert dma.streaming_maps == () and mmu.mappings == ()


def test_unmap_mismatches_are_errors():
    _, _, dma = make()
    buf = dma.kmalloc(2048)
    addr = dma.dma_map_single(buf, 2048, FROM_DEV)
    with pytest.raises(ValueError, match="different direction.*DMA_FROM_DEVICE.*DMA_TO_DEVICE"):
        dma.dma_unmap_single(addr, 2048, TO_DEV)
    with pytest.raises(ValueError, match="different size"):
        dma.dma_unmap_single(addr, 1024, FROM_DEV)
    with pytest.raises(ValueError, match="not allocated"):
        dma.dma_unmap_single(addr + 4, 2048, FROM_DEV)
    dma.dma_unmap_single(addr, 2048, FROM_DEV)
    with pytest.raises(ValueError, match="not allocated"):
        dma.dma_unmap_single(addr, 2048, FROM_DEV)            # double unmap


def test_map_single_rejects_none_direction():
    _, _, dma = make()
    with pytest.raises(ValueError):
        dma.dma_map_single(dma.kmalloc(64), 64, DmaDirection.NONE)


def test_without_iommu_dma_address_is_physical():
    mem, mmu, dma = make(enabled=False)
    buf = dma.dma_alloc_coherent(512)
    assert buf.dma_addr == buf.cpu_addr
    data = dma.kmalloc(100)
    a1 = dma.dma_map_single(data, 100, TO_DEV)
    a2 = dma.dma_map_single(data, 100, BI)      # same memory mapped twice
    assert a1 == a2 == data
    with pytest.raises(ValueError, match="different size"):
        dma.dma_unmap_single(data, 99, TO_DEV)
    dma.dma_unmap_single(data, 100, BI)
    dma.dma_unmap_single(data, 100, TO_DEV)
    assert dma.streaming_maps == ()


# --- kmalloc -----------------------------------------------------------------------------
def test_kmalloc_alignment_poison_and_double_free():
    mem, _, dma = make()
    a = dma.kmalloc(10)
    b = dma.kmalloc(10)
    assert a % 64 == 0 and b % 64 == 0 and b >= a + 10
    assert mem.region_at(a).name == "kmalloc"
    c = dma.kmalloc(100, align=PAGE_SIZE)
    assert c % PAGE_SIZE == 0
    mem.write(a, b"0123456789")
    dma.kfree(a)
    assert mem.read(a, 10) == b"k" * 10                          # 0x6b == ord("k")
    assert dma.kmalloc(10) == a and mem.read(a, 10) == b"k" * 10  # kmalloc does not zero
    dma.kfree(a)
    assert mem.read(dma.kzalloc(10), 10) == bytes(10)
    with pytest.raises(ValueError, match="double free"):
        dma.kfree(b + 1)


def test_kmalloc_pool_exhausted():
    _, _, dma = make(kmalloc_size=PAGE_SIZE)
    dma.kmalloc(PAGE_SIZE)
    with pytest.raises(DmaPoolExhausted, match="kmalloc"):
        dma.kmalloc(1)


def test_pools_are_named_regions():
    mem, _, dma = make()
    names = [r.name for r in mem.regions]
    assert names == ["coherent-pool", "kmalloc"]
    assert dma.coherent_region.base == COHERENT_POOL_BASE
    assert dma.coherent_region.size == COHERENT_POOL_SIZE


def test_kmalloc_rounds_to_slub_size_classes():
    """ksize(): 60 -> 64, 65 -> 96, 1514 -> 2048, 5000 -> 8192, 9000 -> three pages."""
    assert [kmalloc_size(n) for n in (1, 60, 65, 1514, 5000, 9000)] == [8, 64, 96, 2048, 8192, 12288]
