"""Fixtures for the driver tests: the kernel API on a bare host; on a whole system, traffic, spies, BQL, teardown.

Each is a session-scoped function (stateless):

* ``kernel(ordering="arm64", *, policy=None, ncpus=2, costs=None, **host_options)``:
  the kernel API (:class:`driver.platform.Kernel`) on a host with no device,
  for the platform tests (``policy``: the engine's choice policy, ``costs``:
  the kernel's CPU cost table, ``host_options``: :class:`sim.host.Host`'s).

The others take the :class:`sim.assembly.system.IgbSystem` they work on:

* ``send_frames(s, count, *, size=1514, queue=0, burst=32)``: a sender on
  CPU 0 writes ``count`` numbered frames of ``size`` bytes on TX ``queue``;
  runs until all are written, then 5 ms so all complete; checks that every
  write was accepted, every frame left the MAC once, intact and in order, no
  skb is left; the sender.
* ``eitr_writes(s)``: from now on, every MMIO write reaching an EITR
  register of the NIC as ``(vector, value)``, in a list it returns.
* ``tx_vector(s, queue=0)``: ``(q_vector, MSI-X vector number)`` of TX ring ``queue``.
* ``no_bql_limit(s, queue=0)``: ``echo 10000000 > …/tx-N/byte_queue_limits/limit_min``:
  BQL never stops the queue before the driver does.
* ``close_and_remove(s)``: ``ip link set down`` and ``rmmod``, checking that
  no skb or page is left after the close and nothing the kernel gave the
  driver after the removal.
"""
import pytest

from driver.igb.e1000_regs import E1000_EITR
from driver.platform import Kernel
from sim.assembly.skbs import numbered_frame
from sim.engine import MS, Engine
from sim.host import Host
from stack.core.netdevice import netdev_get_tx_queue
from stack.core.skbuff import skb_from_bytes


@pytest.fixture(scope="session")
def kernel():
    def build(ordering: str = "arm64", *, policy=None, ncpus: int = 2, costs: dict | None = None,
              **host_options) -> Kernel:
        return Kernel(Host(Engine(policy), ordering, ncpus=ncpus, **host_options), costs=costs)
    return build


@pytest.fixture(scope="session")
def send_frames():
    def send(s, count: int, *, size: int = 1514, queue: int = 0, burst: int = 32):
        s.wire.a_to_b.clear()
        snd = s.sender(cpu=0, queue=queue)
        frames = [numbered_frame(n, size) for n in range(count)]
        snd.send([skb_from_bytes(s.net.skb, f) for f in frames], burst=burst)
        s.run(until=snd.done)
        s.run_for(5 * MS)
        assert snd.sent == count
        assert s.frames() == frames
        assert not s.net.skb.live
        return snd
    return send


@pytest.fixture(scope="session")
def eitr_writes():
    def record(s) -> list[tuple[int, int]]:
        writes = []
        base, n = E1000_EITR(0), s.nic.profile.num_msix_vectors
        mmio_write = s.nic.mmio_write

        def spy(offset, size, value):
            if base <= offset < base + 4 * n:
                writes.append(((offset - base) // 4, value))
            mmio_write(offset, size, value)

        s.nic.mmio_write = spy
        return writes
    return record


@pytest.fixture(scope="session")
def tx_vector():
    def find(s, queue: int = 0):
        for i, q in enumerate(s.adapter.q_vector):
            if q.tx.ring is not None and q.tx.ring.queue_index == queue:
                return q, i + 1
        raise AssertionError(f"no q_vector for TX queue {queue}")
    return find


@pytest.fixture(scope="session")
def no_bql_limit():
    def lift(s, queue: int = 0) -> None:
        d = netdev_get_tx_queue(s.netdev, queue).dql
        d.min_limit = d.limit = 10_000_000
    return lift


@pytest.fixture(scope="session")
def close_and_remove():
    def teardown(s) -> None:
        s.close()
        s.net.skb.assert_no_leaks("after close")
        s.remove()
        s.kernel.assert_no_leaks("after remove")
    return teardown
