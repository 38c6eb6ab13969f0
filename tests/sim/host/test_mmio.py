"""MmioMap: posted writes, master aborts, and reads that must not pass posted writes (PCIe ordering)."""
from sim.engine import Engine, NS
from sim.host.mmio import MmioMap


class Reg:
    """A one-register device that records when each write landed."""

    def __init__(self, engine):
        self.engine = engine
        self.value = 0
        self.landed = []

    def mmio_write(self, offset, size, value):
        self.value = value
        self.landed.append((self.engine.now, value))

    def mmio_read(self, offset, size):
        return self.value


def _map(latency=100 * NS):
    engine = Engine()
    mmio = MmioMap(engine, latency)
    dev = Reg(engine)
    mmio.map("dev", 0x1000, 0x10, dev)
    return engine, mmio, dev


def test_posted_write_lands_after_the_latency():
    engine, mmio, dev = _map()
    mmio.write(0x1000, 4, 7)
    assert dev.value == 0
    engine.run()
    assert dev.landed == [(100 * NS, 7)]


def test_read_pushes_every_posted_write_ahead_of_it_in_order():
    engine, mmio, dev = _map()
    mmio.write(0x1000, 4, 1)
    mmio.write(0x1000, 4, 2)
    assert mmio.read(0x1000, 4) == 2          # a read may not pass a posted write
    assert dev.landed == [(0, 1), (0, 2)]
    engine.run()
    assert dev.landed == [(0, 1), (0, 2)]    # and they do not land a second time


def test_writes_after_a_flush_still_land_once_in_order():
    engine, mmio, dev = _map()
    mmio.write(0x1000, 4, 1)
    engine.run(50 * NS)
    mmio.write(0x1000, 4, 2)
    engine.run()
    assert dev.landed == [(100 * NS, 1), (150 * NS, 2)]


def test_unmapped_access_is_a_master_abort_record_not_an_exception():
    engine, mmio, dev = _map()
    assert mmio.read(0x9000, 4) == 0xFFFF_FFFF
    mmio.write(0x9000, 4, 5)
    assert [f.kind for f in mmio.faults] == ["read", "write"]
