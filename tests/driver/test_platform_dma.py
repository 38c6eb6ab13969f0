"""DMA API, k*alloc/v*alloc, failure injection and leak accounting.

Expected behaviour is Linux's: allocation failures return NULL, mapping
failures return DMA_MAPPING_ERROR (~(dma_addr_t)0 with a 64-bit
dma_addr_t) and dma_mapping_error() detects them; nothing raises for an
out-of-memory condition. Misuse that CONFIG_DMA_API_DEBUG reports (freeing
with another size, function or direction, double free) is an error.
"""
import pytest

from driver.platform import DMA_FROM_DEVICE, DMA_MAPPING_ERROR, DMA_TO_DEVICE, Device, LeakError
from sim.host.memory import PAGE_SIZE

DEV = Device("0000:01:00.0")


@pytest.fixture
def k(kernel):
    return kernel("arm64")


def skb_data(k, size=1514):
    """A CPU buffer to map, as the stack would hand the driver."""
    return k.host.dma.kmalloc(size)


def test_dma_mapping_error_is_all_ones_64_bit():
    assert DMA_MAPPING_ERROR == 0xFFFF_FFFF_FFFF_FFFF


def test_coherent_memory_is_zeroed_page_aligned_and_reachable_by_the_device(k):
    k.host.mem.write(0x1000_0000, b"\x55" * 64)  # garbage where the pool starts
    cpu_addr, dma = k.dma_alloc_coherent(DEV, 256 * 16)
    assert cpu_addr % PAGE_SIZE == 0 and dma % PAGE_SIZE == 0
    assert cpu_addr != dma  # the IOMMU is on: the device sees an IOVA
    assert k.host.iommu.dma_read(dma, 64, "nic") == bytes(64)
    k.write_le64(cpu_addr, 0x1122_3344_5566_7788)
    k.host.drain_all()
    assert k.host.iommu.dma_read(dma, 8, "nic") == (0x1122_3344_5566_7788).to_bytes(8, "little")


def test_an_exhausted_coherent_pool_returns_null_and_leaks_nothing(k):
    assert k.dma_alloc_coherent(DEV, 64 << 20) == (None, None)
    assert not k.leaks()


def test_injected_coherent_failure_returns_null_once(k):
    k.inject_failure("dma_alloc_coherent", after=1)
    assert k.dma_alloc_coherent(DEV, 4096) == (None, None)
    assert k.dma_alloc_coherent(DEV, 4096)[0] is not None


def test_dma_free_coherent_checks_what_it_frees(k):
    cpu_addr, dma = k.dma_alloc_coherent(DEV, 4096)
    with pytest.raises(ValueError, match="size=8192"):
        k.dma_free_coherent(DEV, 8192, cpu_addr, dma)
    k.dma_free_coherent(DEV, 4096, cpu_addr, dma)
    with pytest.raises(ValueError, match="double free"):
        k.dma_free_coherent(DEV, 4096, cpu_addr, dma)


def test_map_failure_after_n_fails_exactly_the_nth_next_mapping(k):
    buf = skb_data(k)
    k.inject_dma_map_failure(after=3)
    got = [k.dma_map_single(DEV, buf, 100, DMA_TO_DEVICE) for _ in range(4)]
    assert [k.dma_mapping_error(DEV, a) for a in got] == [False, False, True, False]
    assert got[2] == DMA_MAPPING_ERROR
    assert k.faults.injected["dma_map"] == 1


def test_map_failure_after_1_is_the_very_next_mapping_including_pages(k):
    page = k.host.dma.kmalloc(PAGE_SIZE, align=PAGE_SIZE)
    k.inject_dma_map_failure(after=1)
    addr = k.dma_map_page(DEV, page, 128, 256, DMA_TO_DEVICE)
    assert addr == DMA_MAPPING_ERROR and k.dma_mapping_error(DEV, addr)
    assert not k.leaks().streaming


def test_map_failure_by_predicate_until_cleared(k):
    buf = skb_data(k, 9000)
    k.inject_dma_map_failure(when=lambda req: req.size > 4096)
    assert k.dma_map_single(DEV, buf, 9000, DMA_TO_DEVICE) == DMA_MAPPING_ERROR
    assert k.dma_map_single(DEV, buf, 9000, DMA_TO_DEVICE) == DMA_MAPPING_ERROR
    small = k.dma_map_single(DEV, buf, 64, DMA_TO_DEVICE)
    assert not k.dma_mapping_error(DEV, small)
    k.clear_failures()
    assert not k.dma_mapping_error(DEV, k.dma_map_single(DEV, buf, 9000, DMA_TO_DEVICE))


def test_failure_injection_refuses_nonsense(k):
    with pytest.raises(ValueError):
        k.inject_dma_map_failure(after=0)
    with pytest.raises(ValueError):
        k.inject_dma_map_failure()
    with pytest.raises(ValueError):
        k.inject_failure("kmalloc_typo", after=1)


def test_unmap_checks_size_function_and_direction(k):
    buf = skb_data(k)
    dma = k.dma_map_single(DEV, buf, 1514, DMA_TO_DEVICE)
    assert not k.dma_mapping_error(DEV, dma)
    with pytest.raises(ValueError, match="different size"):
        k.dma_unmap_single(DEV, dma, 1500, DMA_TO_DEVICE)
    with pytest.raises(ValueError, match="wrong function"):
        k.dma_unmap_page(DEV, dma, 1514, DMA_TO_DEVICE)
    with pytest.raises(ValueError, match="different direction"):
        k.dma_unmap_single(DEV, dma, 1514, DMA_FROM_DEVICE)
    k.dma_unmap_single(DEV, dma, 1514, DMA_TO_DEVICE)
    with pytest.raises(ValueError, match="has not allocated"):
        k.dma_unmap_single(DEV, dma, 1514, DMA_TO_DEVICE)
    assert k.dma.warnings == []


def test_unmapping_a_mapping_never_checked_for_error_warns_like_dma_debug(k):
    dma = k.dma_map_single(DEV, skb_data(k), 64, DMA_TO_DEVICE)
    k.dma_unmap_single(DEV, dma, 64, DMA_TO_DEVICE)
    assert len(k.dma.warnings) == 1 and "failed to check map error" in k.dma.warnings[0]


def test_allocations_fail_as_null(k):
    k.inject_failure("vmalloc", after=1)
    assert k.vzalloc(4096, lambda: [None] * 256) is None
    k.inject_failure("kzalloc", after=1)
    assert k.kzalloc(64) is None
    assert not k.leaks()


def test_kzalloc_memory_is_zeroed_and_goes_through_the_cpu(k):
    k.host.mem.fill(k.host.dma.kmalloc_region.base, 128, 0xAA)  # no garbage may survive
    addr = k.kzalloc(128)
    assert k.read_bytes(addr, 128) == bytes(128)
    k.WRITE_ONCE(addr, 7)
    assert k.READ_ONCE(addr) == 7  # forwarded from the CPU's own store buffer
    k.kfree(addr)


def test_frees_are_checked(k):
    objs = k.vzalloc(16 * 256, lambda: [0] * 256)
    with pytest.raises(ValueError, match="free it with vfree"):
        k.kfree(objs)
    k.vfree(objs)
    with pytest.raises(ValueError, match="double free"):
        k.vfree(objs)
    k.kfree(None)
    k.vfree(None)


def igb_like_open(k):
    """What a TX ring bring-up holds: a descriptor ring, a buffer array, a q_vector, one mapped packet."""
    ring = k.dma_alloc_coherent(DEV, 256 * 16)
    info = k.vzalloc(256 * 48, lambda: [dict(len=0, dma=0) for _ in range(256)])
    q_vector = k.kzalloc(512, lambda: {"napi": None})
    ntw = k.kzalloc(8)
    buf = skb_data(k)
    dma = k.dma_map_single(DEV, buf, 1514, DMA_TO_DEVICE)
    assert not k.dma_mapping_error(DEV, dma)
    page = k.host.dma.kmalloc(PAGE_SIZE, align=PAGE_SIZE)
    frag = k.dma_map_page(DEV, page, 0, 2048, DMA_TO_DEVICE)
    assert not k.dma_mapping_error(DEV, frag)
    return ring, info, q_vector, ntw, dma, frag


def test_leaks_list_exactly_what_is_still_held_with_owner_and_size(k):
    ring, info, q_vector, ntw, dma, frag = igb_like_open(k)
    report = k.leaks()
    got = sorted((i.kind, i.size, i.owner) for i in report.items)
    me = "igb_like_open"
    assert got == sorted([
        ("coherent", 4096, f"{DEV.name} {me}"),
        ("streaming", 1514, f"{DEV.name} {me}"),
        ("streaming", 2048, f"{DEV.name} {me}"),
        ("vmalloc", 256 * 48, me),
        ("kzalloc", 512, me),
        ("kzalloc", 8, me),
    ])
    assert len(report.coherent) == 1 and len(report.streaming) == 2 and len(report.allocations) == 3
    assert "dma_map_page" in str(report) and "DMA_TO_DEVICE" in str(report)

    k.dma_unmap_single(DEV, dma, 1514, DMA_TO_DEVICE)
    k.dma_unmap_page(DEV, frag, 2048, DMA_TO_DEVICE)
    k.dma_free_coherent(DEV, 4096, *ring)
    k.vfree(info)
    k.kfree(q_vector)
    assert [i.kind for i in k.leaks().items] == ["kzalloc"]
    k.kfree(ntw)
    assert not k.leaks() and str(k.leaks()) == "no leaks"
    k.assert_no_leaks()
    assert k.host.dma.streaming_maps == () and k.host.dma.coherent_buffers == ()


def test_assert_no_leaks_raises_a_readable_list(k):
    igb_like_open(k)
    with pytest.raises(LeakError) as err:
        k.assert_no_leaks("after igb_close")
    text = str(err.value)
    assert text.startswith("after igb_close: 6 resource(s) still held:")
    assert "coherent" in text and "4096 bytes" in text and "igb_like_open" in text
