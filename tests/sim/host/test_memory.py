"""PhysMemory, Region and RangeAllocator (sim/host/memory.py)."""
import array
import struct

import pytest
from hypothesis import given, strategies as st

from sim.host.memory import (PAGE_SIZE, POISON_FREE, POISON_IOMMU_FAULT, PhysMemory,
                             RangeAllocator, Region)


@pytest.fixture
def mem():
    return PhysMemory()


# --- sparse storage ----------------------------------------------------------------
def test_unwritten_memory_reads_zero_and_allocates_nothing(mem):
    assert mem.read(0x1234, 16) == bytes(16)
    assert mem.read((1 << 39) + 5, 3) == b"\x00\x00\x00"
    assert mem.read32(0x8000) == 0 and mem.read64(0x8FFC) == 0 and mem.read8(7) == 0
    assert mem.pages_allocated == 0


def test_write_allocates_only_the_touched_page(mem):
    mem.write(0x5010, b"abc")
    assert mem.pages_allocated == 1
    assert mem.read(0x500F, 5) == b"\x00abc\x00"


def test_cross_page_write_and_read(mem):
    # 0xFFE..0x1001 spans the boundary at 0x1000: two bytes on each page.
    mem.write(0xFFE, b"\x01\x02\x03\x04")
    assert mem.pages_allocated == 2
    assert mem.read(0xFFE, 4) == b"\x01\x02\x03\x04"
    assert mem.read(0x1000, 2) == b"\x03\x04"
    assert mem.read(0xFFC, 4) == b"\x00\x00\x01\x02"


def test_read_spanning_three_pages_with_unwritten_middle(mem):
    mem.write(0x1FFF, b"A")
    mem.write(0x3000, b"B")
    data = mem.read(0x1FFF, 1 + PAGE_SIZE + 1)   # 0x1FFF, page 0x2000, 0x3000
    assert data == b"A" + bytes(PAGE_SIZE) + b"B"
    assert mem.pages_allocated == 2


def test_large_write_spanning_pages(mem):
    payload = bytes(range(256)) * 40          # 10240 bytes = 2.5 pages
    mem.write(0x7F00, payload)
    assert mem.read(0x7F00, len(payload)) == payload
    assert mem.read(0x7F00 + 5000, 7) == payload[5000:5007]


def test_write_accepts_bytes_like(mem):
    mem.write(0x10, bytearray(b"xy"))
    mem.write(0x12, memoryview(b"zw"))
    mem.write(0x14, array.array("H", [0x0201]))   # 2-byte items: stored as raw bytes
    assert mem.read(0x10, 6) == b"xyzw\x01\x02"


# --- little-endian helpers --------------------------------------------------------
def test_scalar_helpers_are_little_endian(mem):
    mem.write32(0x10, 0x11223344)
    assert mem.read(0x10, 4) == b"\x44\x33\x22\x11" == struct.pack("<I", 0x11223344)
    mem.write16(0x20, 0xBEEF)
    assert mem.read(0x20, 2) == b"\xef\xbe"
    mem.write(0x30, b"\x01\x02\x03\x04\x05\x06\x07\x08")
    assert mem.read64(0x30) == 0x0807060504030201
    assert mem.read16(0x31) == 0x0302
    assert mem.read8(0x37) == 0x08


def test_scalar_across_page_boundary(mem):
    mem.write64(0x1FFC, 0x1122334455667788)   # 4 bytes on each side of 0x2000
    assert mem.read(0x1FFC, 8) == (0x1122334455667788).to_bytes(8, "little")
    assert mem.read32(0x2000) == 0x11223344
    assert mem.read64(0x1FFC) == 0x1122334455667788


WIDTHS = {8: (PhysMemory.write8, PhysMemory.read8), 16: (PhysMemory.write16, PhysMemory.read16),
          32: (PhysMemory.write32, PhysMemory.read32), 64: (PhysMemory.write64, PhysMemory.read64)}


@given(bits=st.sampled_from([8, 16, 32, 64]), addr=st.integers(0, 3 * PAGE_SIZE),
       data=st.data())
def test_scalar_matches_int_from_bytes(bits, addr, data):
    mem = PhysMemory()
    value = data.draw(st.integers(0, (1 << bits) - 1))
    write, read = WIDTHS[bits]
    write(mem, addr, value)
    raw = mem.read(addr, bits // 8)
    assert raw == value.to_bytes(bits // 8, "little")
    assert int.from_bytes(raw, "little") == read(mem, addr) == value


@pytest.mark.parametrize("bits,bad", [(8, 256), (8, -1), (16, 1 << 16), (32, 1 << 32),
                                      (64, 1 << 64), (64, -1)])
def test_scalar_value_out_of_range(mem, bits, bad):
    with pytest.raises(ValueError):
        WIDTHS[bits][0](mem, 0x100, bad)
    assert mem.pages_allocated == 0


# --- bounds ---------------------------------------------------------------------------
def test_access_outside_memory_raises():
    small = PhysMemory(size_bytes=0x2000)
    small.write(0x1FFF, b"\x01")               # last byte is fine
    with pytest.raises(ValueError):
        small.read(0x1FFF, 2)
    with pytest.raises(ValueError):
        small.write(0x2000, b"x")
    with pytest.raises(ValueError):
        small.write32(-4, 0)
    with pytest.raises(ValueError):
        small.fill(0x1000, 0x1001, 0)
    with pytest.raises(ValueError):
        small.read64(0x1FF9)


def test_fill_crosses_pages_and_checks_byte(mem):
    mem.fill(0xFF0, 0x20, POISON_FREE)
    assert mem.read(0xFEF, 0x22) == b"\x00" + b"\x6b" * 0x20 + b"\x00"
    with pytest.raises(ValueError):
        mem.fill(0, 4, 0x100)


def test_poison_constants():
    assert POISON_FREE == 0x6B          # include/linux/poison.h
    assert POISON_IOMMU_FAULT == 0xFF   # all-ones of a failed read completion


# --- write hook ------------------------------------------------------------------------
def test_on_write_called_after_store_with_addr_and_length(mem):
    calls = []
    mem.on_write = lambda addr, n: calls.append((addr, n, mem.read(addr, n)))
    mem.write(0x100, b"abcd")
    mem.write8(0x200, 0x5A)
    mem.write16(0x202, 0x1234)
    mem.write32(0x204, 0xDEADBEEF)
    mem.write64(0xFFC, 1)
    mem.fill(0x300, 3, 0x6B)
    assert calls == [
        (0x100, 4, b"abcd"),
        (0x200, 1, b"\x5a"),
        (0x202, 2, b"\x34\x12"),
        (0x204, 4, b"\xef\xbe\xad\xde"),
        (0xFFC, 8, b"\x01" + bytes(7)),
        (0x300, 3, b"kkk"),
    ]


def test_before_write_sees_old_bytes_then_on_write_sees_new(mem):
    events = []
    mem.write32(0x40, 0x11111111)
    mem.before_write = lambda addr, n: events.append(("before", addr, n, mem.read(addr, n)))
    mem.on_write = lambda addr, n: events.append(("after", addr, n, mem.read(addr, n)))
    mem.write32(0x40, 0x22222222)
    mem.fill(0x42, 2, 0x33)
    assert events == [
        ("before", 0x40, 4, b"\x11" * 4), ("after", 0x40, 4, b"\x22" * 4),
        ("before", 0x42, 2, b"\x22" * 2), ("after", 0x42, 2, b"\x33" * 2),
    ]


def test_failed_write_calls_no_hook(mem):
    calls = []
    mem.before_write = mem.on_write = lambda addr, n: calls.append((addr, n))
    with pytest.raises(ValueError):
        mem.write32(0, 1 << 32)
    with pytest.raises(ValueError):
        mem.write(mem.size_bytes, b"x")
    assert calls == []


def test_on_write_not_called_for_reads_or_empty_writes(mem):
    calls = []
    mem.before_write = mem.on_write = lambda addr, n: calls.append((addr, n))
    mem.read(0, 8)
    mem.read32(0)
    mem.write(0x40, b"")
    mem.fill(0x40, 0, 1)
    assert calls == []


# --- regions ---------------------------------------------------------------------------
def test_regions_add_lookup_and_order(mem):
    b = mem.add_region("b", 0x20000, 0x1000)
    a = mem.add_region("a", 0x10000, 0x1000)
    adj = mem.add_region("adjacent", 0x11000, 0x10)    # touching is not overlapping
    assert a == Region("a", 0x10000, 0x1000) and a.end == 0x11000
    assert mem.regions == (a, adj, b)
    assert mem.region_at(0x10FFF) is a
    assert mem.region_at(0x11000) is adj
    assert mem.region_at(0x11010) is None
    assert mem.region_at(0xFFFF) is None
    assert a.contains(0x10FF0, 0x10) and not a.contains(0x10FF0, 0x11)


def test_region_overlap_names_both(mem):
    mem.add_region("rings", 0x10000, 0x2000)
    with pytest.raises(ValueError, match=r"'skbs'.*'rings'"):
        mem.add_region("skbs", 0x11000, 0x2000)
    with pytest.raises(ValueError, match="rings"):
        mem.add_region("rings", 0x90000, 0x10)
    with pytest.raises(ValueError):
        mem.add_region("empty", 0x90000, 0)


# --- RangeAllocator -------------------------------------------------------------------
def test_range_allocator_first_fit_alignment_and_reuse():
    ra = RangeAllocator("pool", 0x1000, 0x1000)
    a = ra.alloc(0x10, 0x10)
    b = ra.alloc(0x10, 0x100)     # next free is 0x1010; aligned up to 0x1100
    assert (a, b) == (0x1000, 0x1100)
    c = ra.alloc(0x20, 0x10)      # first fit: the hole 0x1010..0x1100
    assert c == 0x1010
    assert ra.free(a) == 0x10
    assert ra.alloc(0x10, 0x10) == 0x1000   # freed block reused
    with pytest.raises(ValueError, match="double free"):
        ra.free(0x1234)


def test_range_allocator_merges_holes_and_exhausts():
    ra = RangeAllocator("pool", 0, 0x300)
    blocks = [ra.alloc(0x100, 0x100) for _ in range(3)]
    assert blocks == [0, 0x100, 0x200]
    assert ra.alloc(1, 1) is None
    ra.free(0x100)
    ra.free(0)
    ra.free(0x200)
    assert ra.free_bytes == 0x300
    assert ra.alloc(0x300, 0x100) == 0      # holes merged back into one
