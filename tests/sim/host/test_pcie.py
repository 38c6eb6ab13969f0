"""PCIe link timing (sim/host/pcie.py). Expected values are worked out by hand."""
import dataclasses
from fractions import Fraction

import pytest
from hypothesis import given, strategies as st

from sim.host.pcie import PCIE_82576, PCIE_I210, PcieLink

GEN1_X4 = PCIE_82576
NS = 1000  # ps


# --- byte time ---------------------------------------------------------------------------
def test_byte_time_gen1_x4():
    # 2.5 GT/s -> 400 ps per line bit; 8b/10b -> 10 line bits per byte -> 4000 ps
    # per byte on one lane; 4 lanes carry 4 bytes at once -> 1000 ps per byte.
    assert GEN1_X4.byte_time_ps == 1000
    assert GEN1_X4.encoding == "8b10b"


def test_byte_time_gen2_x1_and_i210():
    # 5 GT/s -> 200 ps per bit, x10 line bits = 2000 ps per byte, one lane.
    assert PcieLink(gt_per_s=5, lanes=1).byte_time_ps == 2000
    # I210: 2.5 GT/s x1 -> 4000 ps per byte.
    assert PCIE_I210.lanes == 1 and PCIE_I210.byte_time_ps == 4000


def test_byte_time_gen3_128b130b():
    # 8 GT/s -> 125 ps per bit; 128b/130b -> 8 * 130/128 = 8.125 line bits per
    # byte -> 1015.625 ps per byte per lane; x4 -> 253.90625 ps = 8125/32.
    link = PcieLink(gt_per_s=8, lanes=4)
    assert link.encoding == "128b130b"
    assert link.byte_time_ps == Fraction(8125, 32)


# --- splitting -----------------------------------------------------------------------------
def test_split_read_crossing_4k():
    # 5000 bytes at 0xF00: 0x100 = 256 bytes up to the 4 KiB boundary at 0x1000;
    # 5000 - 256 = 4744 = 9 * 512 + 136 left, in MRRS (512) pieces.
    expected = [(0xF00, 256)]
    expected += [(0x1000 + k * 0x200, 512) for k in range(9)]   # 0x1000 .. 0x2000
    expected += [(0x2200, 136)]                                   # 0x1000 + 9 * 0x200
    assert GEN1_X4.split_read(0xF00, 5000) == expected


def test_split_write_at_mps_and_4k():
    # 1000 bytes at 0xF80: 128 to the boundary, then 256, 256, 256, and
    # 1000 - 128 - 768 = 104.
    assert GEN1_X4.split_write(0xF80, 1000) == [
        (0xF80, 128), (0x1000, 256), (0x1100, 256), (0x1200, 256), (0x1300, 104)]


def test_split_empty_and_bad():
    assert GEN1_X4.split_read(0x10, 0) == []
    with pytest.raises(ValueError):
        GEN1_X4.split_write(0, -1)


def test_read_completions_mps_and_rcb():
    # 512 aligned bytes: one request, answered by two MPS (256) completions.
    assert GEN1_X4.read_completions(0x1000, 512) == [(0x1000, 256), (0x1100, 256)]
    # 300 bytes at 0x1010 (> MPS): the first completion may carry up to 256
    # bytes, i.e. up to 0x1110, but must end on a 64-byte boundary -> 0x1100,
    # 0xF0 = 240 bytes; the remaining 60 come in one completion.
    assert GEN1_X4.read_completions(0x1010, 300) == [(0x1010, 240), (0x1100, 60)]
    # A request that fits in MPS comes back whole, aligned or not.
    assert GEN1_X4.read_completions(0x1001, 200) == [(0x1001, 200)]


def test_read_completions_limited_by_small_mrrs():
    # MRRS 128 < MPS 256: each 128-byte request gets one 128-byte completion.
    link = PcieLink(max_read_request_bytes=128)
    assert link.split_read(0, 256) == [(0, 128), (128, 128)]
    assert link.read_completions(0, 256) == [(0, 128), (128, 128)]


@given(addr=st.integers(0, 1 << 34), n=st.integers(0, 20000),
       mps=st.sampled_from([128, 256, 512]), mrrs=st.sampled_from([128, 512, 4096]),
       rcb=st.sampled_from([64, 128]))
def test_split_properties(addr, n, mps, mrrs, rcb):
    link = PcieLink(max_payload_bytes=mps, max_read_request_bytes=mrrs,
                    read_completion_boundary_bytes=rcb)
    for pieces, limit in ((link.split_read(addr, n), mrrs), (link.split_write(addr, n), mps),
                          (link.read_completions(addr, n), mps)):
        pos = addr
        for a, k in pieces:
            assert a == pos and 0 < k <= limit
            assert a // 4096 == (a + k - 1) // 4096       # never crosses 4 KiB
            pos += k
        assert pos == addr + n
    cpls = link.read_completions(addr, n)
    req_ends = {a + k for a, k in link.split_read(addr, n)}
    for a, k in cpls:
        assert (a + k) % rcb == 0 or (a + k) in req_ends   # only a request's last ends unaligned


# --- timing -------------------------------------------------------------------------------
def test_write_time_256_low_address():
    # one TLP: (256 payload + 20 overhead) bytes * 1000 ps + 150 ns posted latency
    assert GEN1_X4.dma_write_time_ps(0x1000, 256) == (256 + 20) * 1000 + 150 * NS  # 426000


def test_write_time_above_4gib_uses_4dw_header():
    assert GEN1_X4.dma_write_time_ps(0x1_0000_0000, 256) == (256 + 24) * 1000 + 150 * NS


def test_write_time_split():
    # the 5 TLPs of test_split_write_at_mps_and_4k: 1000 payload + 5 * 20 overhead
    assert GEN1_X4.dma_write_time_ps(0xF80, 1000) == (1000 + 5 * 20) * 1000 + 150 * NS


def test_write_time_i210():
    # x1: 4000 ps per byte
    assert PCIE_I210.dma_write_time_ps(0, 256) == (256 + 20) * 4000 + 150 * NS


def test_write_time_gen3_rounds_up_once():
    # 276 bytes * 8125/32 ps = 2242500/32 = 70078.125 ps -> 70079 ps
    link = PcieLink(gt_per_s=8, lanes=4)
    assert link.dma_write_time_ps(0, 256) == 70079 + 150 * NS
    # two TLPs: (256 + 20) + (256 + 20) = 552 bytes * 8125/32 = 140156.25 -> 140157
    # (rounding each TLP separately would give 70079 * 2 = 140158)
    assert link.dma_write_time_ps(0, 512) == 140157 + 150 * NS


def test_read_time_single_completion():
    # 64 bytes: 600 ns latency + request TLP (20, no payload) + completion (64 + 20)
    assert GEN1_X4.dma_read_time_ps(0x2000, 64) == 600 * NS + (20 + 64 + 20) * 1000


def test_read_time_above_4gib_request_is_4dw():
    # the request has a 4DW header (24); the completion header is always 3DW (20)
    assert GEN1_X4.dma_read_time_ps(0x1_0000_0000, 64) == 600 * NS + (24 + 64 + 20) * 1000


def test_read_time_1500_byte_frame():
    # 1500 bytes at 0x10000: requests 512, 512, 476; completions 256+256,
    # 256+256, 256+220 = 6 completions. Wire: first request 20 + payload
    # 1500 + 6 * 20 completion overhead = 1640 bytes.
    assert len(GEN1_X4.read_completions(0x10000, 1500)) == 6
    assert GEN1_X4.dma_read_time_ps(0x10000, 1500) == 600 * NS + (20 + 1500 + 6 * 20) * 1000


def test_zero_length_transfers_take_no_time():
    assert GEN1_X4.dma_read_time_ps(0, 0) == 0
    assert GEN1_X4.dma_write_time_ps(0, 0) == 0


# --- parameters ------------------------------------------------------------------------------
def test_82576_defaults():
    link = PCIE_82576
    assert (link.gt_per_s, link.lanes, link.encoding) == (2.5, 4, "8b10b")
    assert (link.max_payload_bytes, link.max_read_request_bytes,
            link.read_completion_boundary_bytes) == (256, 512, 64)
    assert (link.tlp_overhead_3dw_bytes, link.tlp_overhead_4dw_bytes) == (1 + 2 + 12 + 4 + 1,
                                                                          1 + 2 + 16 + 4 + 1)
    assert (link.read_latency_ps, link.posted_write_latency_ps,
            link.mmio_read_latency_ps) == (600 * NS, 150 * NS, 1000 * NS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        link.lanes = 8


@pytest.mark.parametrize("kw,match", [
    ({"max_payload_bytes": 100}, "max_payload_bytes"),
    ({"max_payload_bytes": 192}, "power of two"),
    ({"max_payload_bytes": 8192}, "128 to 4096"),
    ({"max_read_request_bytes": 64}, "max_read_request_bytes"),
    ({"lanes": 3}, "lanes"),
    ({"lanes": 0}, "lanes"),
    ({"gt_per_s": 3.0}, "GT/s"),
    ({"gt_per_s": 2.5, "encoding": "128b130b"}, "8b10b"),
    ({"gt_per_s": 16, "encoding": "8b10b"}, "128b130b"),
    ({"encoding": "4b5b"}, "encoding"),
    ({"read_completion_boundary_bytes": 32}, "RCB"),
    ({"read_latency_ps": -1}, "read_latency_ps"),
    ({"posted_write_latency_ps": 1.5}, "posted_write_latency_ps"),
    ({"tlp_overhead_4dw_bytes": 16}, "overhead"),
])
def test_parameter_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        PcieLink(**kw)


def test_matching_encoding_accepted():
    assert PcieLink(gt_per_s=16, lanes=16, encoding="128b130b").encoding == "128b130b"
