"""The IOMMU (sim/host/iommu.py): mappings, device accesses, faults."""
import logging

import pytest

from sim.host.iommu import IOVA_BASE, DmaDirection, DmaFault, Iommu, IovaSpaceExhausted
from sim.host.memory import PAGE_SIZE, PhysMemory

BI, TO_DEV, FROM_DEV = DmaDirection.BIDIRECTIONAL, DmaDirection.TO_DEVICE, DmaDirection.FROM_DEVICE
IOVA = 0xC000_0000
PHYS = 0x10_0000


@pytest.fixture
def mem():
    return PhysMemory()


@pytest.fixture
def mmu(mem):
    return Iommu(mem, clock=lambda: 4242)


def test_direction_values_match_linux():
    assert (BI, TO_DEV, FROM_DEV, DmaDirection.NONE) == (0, 1, 2, 3)


def test_mapped_read_and_write(mem, mmu):
    mmu.map(IOVA, PHYS, 0x2000, BI, owner="ring")
    mem.write(PHYS + 0x10, b"hello")
    assert mmu.dma_read(IOVA + 0x10, 5, "nic") == b"hello"
    assert mmu.dma_write(IOVA + 0x1FFE, b"\x01\x02", "nic") is True
    assert mem.read(PHYS + 0x1FFE, 2) == b"\x01\x02"
    assert mmu.translate(IOVA + 0x123) == PHYS + 0x123
    assert mmu.faults == []


def test_unmapped_read_records_fault_and_returns_poison(mem, mmu, caplog):
    mem.write(0xC000_0000, b"secret")   # same number as a physical address: must not leak
    with caplog.at_level(logging.WARNING, logger="sim.host.iommu"):
        data = mmu.dma_read(IOVA, 6, "nic.txq0")
    assert data == b"\xff" * 6
    assert mmu.faults == [DmaFault(4242, IOVA, 6, "nic.txq0", "read", "unmapped")]
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    msg = record.getMessage()
    assert "\n" not in msg and "nic.txq0" in msg and "0xc0000000" in msg and "unmapped" in msg


def test_direction_violations(mem, mmu):
    mmu.map(IOVA, PHYS, PAGE_SIZE, TO_DEV)              # device may only read
    mmu.map(IOVA + PAGE_SIZE, PHYS + PAGE_SIZE, PAGE_SIZE, FROM_DEV)  # device may only write
    mem.write(PHYS, b"tx data")
    assert mmu.dma_read(IOVA, 7, "nic") == b"tx data"
    assert mmu.dma_write(IOVA, b"XX", "nic") is False
    assert mem.read(PHYS, 7) == b"tx data"
    assert mmu.dma_write(IOVA + PAGE_SIZE, b"wb", "nic") is True
    assert mmu.dma_read(IOVA + PAGE_SIZE, 2, "nic") == b"\xff\xff"
    assert [(f.kind, f.reason, f.iova) for f in mmu.faults] == [
        ("write", "direction", IOVA), ("read", "direction", IOVA + PAGE_SIZE)]


def test_partially_mapped_write_writes_nothing(mem, mmu):
    mmu.map(IOVA, PHYS, PAGE_SIZE, BI)
    mem.write(PHYS + PAGE_SIZE - 4, b"keep")
    # 8 bytes from 4 before the end of the mapping: 4 mapped, 4 not.
    ok = mmu.dma_write(IOVA + PAGE_SIZE - 4, b"ABCDEFGH", "nic")
    assert ok is False
    assert mem.read(PHYS + PAGE_SIZE - 4, 8) == b"keep" + bytes(4)
    (fault,) = mmu.faults
    assert (fault.iova, fault.size, fault.kind, fault.reason) == (
        IOVA + PAGE_SIZE - 4, 8, "write", "partially unmapped")


def test_partially_mapped_read_is_poisoned_whole(mem, mmu):
    mmu.map(IOVA + 0x100, PHYS, 0x100, BI)
    mem.write(PHYS, b"\x11" * 0x100)
    # starts 0x10 before the mapping: the whole 0x20 bytes read as 0xff
    assert mmu.dma_read(IOVA + 0xF0, 0x20, "nic") == b"\xff" * 0x20
    assert mmu.faults[-1].reason == "partially unmapped"
    # and a read running past the end
    assert mmu.dma_read(IOVA + 0x1F0, 0x20, "nic") == b"\xff" * 0x20
    assert mmu.faults[-1].reason == "partially unmapped"


def test_access_spanning_adjacent_mappings(mem, mmu):
    # IOVA-contiguous, physically apart (as an IOMMU allows)
    mmu.map(IOVA, 0x50_0000, PAGE_SIZE, TO_DEV)
    mmu.map(IOVA + PAGE_SIZE, 0x90_0000, PAGE_SIZE, BI)
    mem.write(0x50_0000 + PAGE_SIZE - 3, b"abc")
    mem.write(0x90_0000, b"def")
    assert mmu.dma_read(IOVA + PAGE_SIZE - 3, 6, "nic") == b"abcdef"
    assert mmu.faults == []
    # a write across them is refused: the first mapping is TO_DEVICE
    assert mmu.dma_write(IOVA + PAGE_SIZE - 3, b"zzzzzz", "nic") is False
    assert mmu.faults[-1].reason == "direction"
    assert mem.read(0x90_0000, 3) == b"def"


def test_write_spanning_adjacent_writable_mappings(mem, mmu):
    mmu.map(IOVA, 0x50_0000, PAGE_SIZE, FROM_DEV)
    mmu.map(IOVA + PAGE_SIZE, 0x90_0000, PAGE_SIZE, BI)
    assert mmu.dma_write(IOVA + PAGE_SIZE - 2, b"wxyz", "nic") is True
    assert mem.read(0x50_0000 + PAGE_SIZE - 2, 2) == b"wx"
    assert mem.read(0x90_0000, 2) == b"yz"


def test_gap_between_mappings_is_partially_unmapped(mmu):
    mmu.map(IOVA, PHYS, 0x100, BI)
    mmu.map(IOVA + 0x200, PHYS + 0x200, 0x100, BI)
    assert mmu.dma_read(IOVA + 0xF0, 0x120, "nic") == b"\xff" * 0x120
    assert mmu.faults[-1].reason == "partially unmapped"


def test_map_overlap_and_unmap_exactness(mmu):
    mmu.map(IOVA, PHYS, 0x1000, BI, owner="ring0")
    with pytest.raises(ValueError, match="ring0"):
        mmu.map(IOVA + 0xFFF, PHYS, 0x10, BI, owner="other")
    with pytest.raises(ValueError):
        mmu.map(IOVA - 0x10, PHYS, 0x11, BI)
    mmu.map(IOVA + 0x1000, PHYS, 0x10, BI)          # adjacent is fine
    with pytest.raises(ValueError, match="no mapping starts"):
        mmu.unmap(IOVA + 0x10, 0xFF0)
    with pytest.raises(ValueError, match="size"):
        mmu.unmap(IOVA, 0x800)
    mmu.unmap(IOVA, 0x1000)
    assert mmu.dma_read(IOVA, 4, "nic") == b"\xff" * 4
    assert mmu.faults[-1].reason == "unmapped"


def test_map_argument_checks(mmu):
    with pytest.raises(ValueError):
        mmu.map(IOVA, PHYS, 0x10, DmaDirection.NONE)
    with pytest.raises(ValueError):
        mmu.map(IOVA, (1 << 40) - 8, 0x10, BI)    # target beyond physical memory
    with pytest.raises(ValueError):
        mmu.map(IOVA, PHYS, 0, BI)


def test_many_mappings_lookup(mem, mmu):
    # every other page mapped, in shuffled order; each one reads its own tag
    order = [(i * 37) % 200 for i in range(200)]
    for i in order:
        mmu.map(IOVA + 2 * i * PAGE_SIZE, PHYS + i * PAGE_SIZE, PAGE_SIZE, BI)
        mem.write32(PHYS + i * PAGE_SIZE + 8, i)
    for i in range(200):
        assert mmu.dma_read(IOVA + 2 * i * PAGE_SIZE + 8, 4, "nic") == i.to_bytes(4, "little")
        assert mmu.mapping_at(IOVA + (2 * i + 1) * PAGE_SIZE) is None
    assert mmu.faults == []


def test_pass_through(mem):
    mmu = Iommu(mem, enabled=False)
    mem.write(0x1234, b"raw")
    assert mmu.dma_read(0x1234, 3, "nic") == b"raw"
    assert mmu.dma_write(0x2000, b"dev", "nic") is True
    assert mem.read(0x2000, 3) == b"dev"
    assert mmu.translate(0x777) == 0x777
    assert mmu.faults == []
    top = mem.size_bytes
    assert mmu.dma_read(top - 2, 4, "nic") == b"\xff" * 4
    assert mmu.dma_write(top, b"x", "nic") is False
    assert [f.reason for f in mmu.faults] == ["partially unmapped", "unmapped"]


def test_zero_length_access_is_a_no_op(mmu):
    assert mmu.dma_read(0x1, 0, "nic") == b""
    assert mmu.dma_write(0x1, b"", "nic") is True
    assert mmu.faults == []


def test_alloc_iova_page_granular_aligned_and_reused(mmu):
    a = mmu.alloc_iova(100)                      # rounded up to one page
    b = mmu.alloc_iova(PAGE_SIZE + 1)            # two pages
    c = mmu.alloc_iova(PAGE_SIZE, align=0x10000)
    assert a == IOVA_BASE
    assert b == IOVA_BASE + PAGE_SIZE
    assert c == IOVA_BASE + 0x10000              # next 64 KiB boundary after b's 2 pages
    mmu.free_iova(b)
    assert mmu.alloc_iova(2 * PAGE_SIZE) == b
    mmu.map(a, PHYS, 100, BI)
    with pytest.raises(ValueError, match="still live"):
        mmu.free_iova(a)
    with pytest.raises(ValueError):
        mmu.free_iova(0x1234)


def test_iova_space_exhaustion(mem):
    mmu = Iommu(mem, iova_base=0xC000_0000, iova_size=2 * PAGE_SIZE)
    mmu.alloc_iova(2 * PAGE_SIZE)
    with pytest.raises(IovaSpaceExhausted):
        mmu.alloc_iova(1)
