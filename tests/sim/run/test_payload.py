"""sim.run.payload: the streamed payload (deterministic, random access) and its incremental checks."""
from __future__ import annotations

import random

import pytest

from sim.run.payload import BLOCK, DatagramCheck, PayloadStream, StreamCheck


def test_block_k_is_the_documented_seeded_generator():
    s = PayloadStream(3, 3 * BLOCK)
    assert s[0:BLOCK] == random.Random("igbsim-payload:3:0").randbytes(BLOCK)
    assert s[2 * BLOCK:2 * BLOCK + 10] == random.Random("igbsim-payload:3:2").randbytes(BLOCK)[:10]


def test_any_range_in_any_order_gives_the_same_bytes():
    size = 5 * BLOCK + 123
    whole = PayloadStream(7, size)[0:size]
    assert len(whole) == size
    rng = random.Random(1)
    other = PayloadStream(7, size)            # a fresh stream, read backwards and at random
    for _ in range(200):
        a = rng.randrange(size)
        n = rng.randrange(3 * BLOCK)
        assert other.read(a, n) == whole[a:a + n]
    assert b"".join(other.read(p, 1000) for p in range(0, size, 1000)) == whole
    assert other[size - 1] == whole[-1] and other[-1] == whole[-1]
    assert other.read(size, 10) == b"" and other[size - 5:size + 5] == whole[-5:]


def test_the_seed_changes_the_bytes_and_size_costs_no_memory():
    assert PayloadStream(0, 1000)[0:1000] != PayloadStream(1, 1000)[0:1000]
    huge = PayloadStream(0, 10**15)            # a petabyte: only the block asked for is made
    tail = huge.read(10**15 - 5, 5)
    assert len(tail) == 5 and tail == random.Random(f"igbsim-payload:0:{(10**15 - 5) // BLOCK}").randbytes(
        BLOCK)[(10**15 - 5) % BLOCK:(10**15 - 5) % BLOCK + 5]


def test_stream_check_accepts_the_stream_in_pieces_and_finds_the_first_corrupt_byte():
    size = 3 * BLOCK + 17
    s = PayloadStream(5, size)
    ok = StreamCheck(PayloadStream(5, size))
    for pos in range(0, size, 1448):
        ok.feed(s[pos:pos + 1448])
    assert ok.complete and ok.received == size
    bad = StreamCheck(PayloadStream(5, size))
    for pos in range(0, size, 1448):
        piece = bytearray(s[pos:pos + 1448])
        if pos <= 100_000 < pos + len(piece):
            piece[100_000 - pos] ^= 0x01
        bad.feed(bytes(piece))
    assert not bad.ok and bad.first_difference == 100_000 and bad.received == size
    prefix = StreamCheck(PayloadStream(5, size))
    prefix.feed(s[0:5000])
    assert prefix.ok and not prefix.complete
    extra = StreamCheck(PayloadStream(5, 10))
    extra.feed(s[0:10] + b"x")                 # a byte more than was sent
    assert extra.first_difference == 10


def test_datagram_check_counts_lost_datagrams_and_catches_a_wrong_one():
    s = PayloadStream(2, 10 * 4000)
    d = DatagramCheck(PayloadStream(2, 10 * 4000), 4000)
    for k in (0, 1, 4, 5, 9):
        d.feed(s[k * 4000:(k + 1) * 4000])
    assert d.ok and d.lost == 5 and d.datagrams == 5 and d.received == 20_000 and not d.complete
    w = DatagramCheck(PayloadStream(2, 10 * 4000), 4000)
    w.feed(s[0:4000])
    w.feed(s[4000:7999] + bytes([s[7999] ^ 1]))
    assert not w.ok and w.first_difference == 4000


def test_slicing_with_a_step_is_refused():
    with pytest.raises(ValueError):
        PayloadStream(0, 10)[0:10:2]
