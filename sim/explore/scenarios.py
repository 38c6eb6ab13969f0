"""The explorer's scenarios: a warm machine built once, and what starts at the instant an execution begins.

Each scenario is small: a few packets, the sender on CPU 0, the queue
vector's interrupt and NAPI's ``igb_clean_tx_irq`` on CPU 1, both starting
at the same instant ``t0`` so that every ordering of their shared accesses
is one of the execution's choices (:mod:`sim.explore.machine`).

* ``tx`` — packets onto a warm ring: every slot holds the previous lap's
  written-back descriptor (DD set) and a cleaned ``igb_tx_buffer``, and
  ``next_to_use`` is one slot before the wrap, so two packets wrap. At
  ``t0`` the sender writes its packets and the queue vector fires on CPU 1
  (the igb watchdog's EICS kick; ``irq_inject_interrupt``).
* ``tx-full`` — the ring near full: the NIC has sent and written back the
  packets in flight but CPU 1 has not cleaned them (its vector was masked).
  On the default 8 descriptors, 3 are left free, fewer than the ``count +
  3`` a packet needs, so ``igb_xmit_frame_ring`` stops the queue, re-checks
  and returns ``NETDEV_TX_BUSY`` while CPU 1 cleans: the stop/wake race
  with nothing left in flight to wake the queue later. (A ring of 64 or
  more leaves ``DESC_NEEDED`` free: the first packet is taken and
  ``igb_tx_map`` stops the queue after it.)
* ``tx-burst`` — the packets already wait in the qdisc behind a stopped
  queue; at ``t0`` CPU 0 wakes the queue (``netif_wake_subqueue``), and
  NET_TX dequeues them in bulk: ``xmit_more`` on all but the last, one
  doorbell for the batch.
* ``tx-mapfail`` — ``tx-burst`` where each DMA mapping may fail, as a
  choice (``fault dma_map``: 0 maps, 1 fails).

The warm state is built once per configuration by running the real driver
(a lap of packets sent and cleaned), then each execution starts from it in
a forked process (:mod:`sim.explore.runner`): an execution costs its few
packets, not a warm-up lap.

Ring sizes below igb's minimum (64 descriptors) are allowed for
exploration and marked: ``DESC_NEEDED`` (``MAX_SKB_FRAGS + 4`` = 21) and
``TX_WAKE_THRESHOLD`` (42) would not fit, so such a ring runs with
``DESC_NEEDED = ring / 4`` and ``TX_WAKE_THRESHOLD = 2 * DESC_NEEDED``
(:func:`ring_thresholds`), as a kernel with a smaller ``MAX_SKB_FRAGS``
would have.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from dataclasses import dataclass, field

from driver.igb import clean as igb_clean
from driver.igb import xmit as igb_xmit
from driver.igb.e1000_regs import E1000_EIMC
from driver.igb.hw import wr32
from driver.igb.igb import DESC_NEEDED, TX_WAKE_THRESHOLD, igb_desc_unused
from sim.assembly.skbs import numbered_frame
from sim.assembly.system import IgbSystem
from sim.engine import MS, US
from sim.engine.choice import FirstPolicy
from stack.core.dynamic_queue_limits import DQL_ADJ_LIMIT
from stack.core.netdevice import netdev_get_tx_queue, netif_stop_subqueue, netif_wake_subqueue
from stack.core.skbuff import skb_from_bytes

from .config import IGB_MIN_TXD, SCENARIOS, Scenario, ScenarioConfig, ring_thresholds

__all__ = ["Scenario", "SCENARIOS", "ScenarioConfig", "Warm", "build_warm", "ring_thresholds",
           "IGB_MIN_TXD", "FIRST_PACKET", "PACKET_SIZE"]   # the scenario table is sim.explore.config's

#: The scenario's packets carry these numbers (``numbered_frame``): the warm lap's are below.
FIRST_PACKET = 1000
PACKET_SIZE = 60
#: The MSI delivery latency of the warm machine (explore mode adds a delayed option).
MSI_LATENCY_PS = 1 * US


@contextmanager
def thresholds(ring: int):
    """The driver runs with :func:`ring_thresholds` while inside (module docstring); restored after."""
    need, wake = ring_thresholds(ring)
    saved = igb_xmit.DESC_NEEDED, igb_clean.TX_WAKE_THRESHOLD
    igb_xmit.DESC_NEEDED, igb_clean.TX_WAKE_THRESHOLD = need, wake
    try:
        yield
    finally:
        igb_xmit.DESC_NEEDED, igb_clean.TX_WAKE_THRESHOLD = saved


def set_thresholds(ring: int, namespaces=()) -> None:
    """:func:`thresholds` for good (a forked execution): in every driver module that names them, and in
    ``namespaces`` (a variant's module, which imports them itself)."""
    need, wake = ring_thresholds(ring)
    if (need, wake) == (DESC_NEEDED, TX_WAKE_THRESHOLD):
        return
    spaces = [vars(m) for name, m in list(sys.modules.items()) if name.startswith("driver.igb")]
    for ns in [*spaces, *namespaces]:
        if "DESC_NEEDED" in ns:
            ns["DESC_NEEDED"] = need
        if "TX_WAKE_THRESHOLD" in ns:
            ns["TX_WAKE_THRESHOLD"] = wake


@dataclass
class Warm:
    """A warm machine and what its execution starts with."""

    config: ScenarioConfig
    system: IgbSystem
    skbs: list = field(default_factory=list)      # the packets the sender writes at t0 (tx, tx-full)
    frames: list = field(default_factory=list)    # every packet of the execution, as it should leave
    queued: int = 0                               # packets waiting in the qdisc at t0 (tx-burst)
    in_flight: int = 0                            # sent, written back, not cleaned at t0 (tx-full)

    @property
    def ring(self):
        return self.system.adapter.tx_ring[0]


def build_warm(config: ScenarioConfig) -> Warm:
    """Build the scenario's warm state with the real driver (module docstring)."""
    config.check()
    ring_size = config.ring_size
    with thresholds(ring_size):
        s = IgbSystem(config.nic, ordering=config.profile, ncpus=config.cpus, irq_cpu=1, ring_size=ring_size,
                      policy=FirstPolicy(), drain_delay_ps=0, msi_latency_ps=MSI_LATENCY_PS,
                      dma_read_jitter_ps=0, itr=config.itr)
        s.bring_up()
        if config.wthresh is not None:
            _set_wthresh(s, config.wthresh)
        warm = Warm(config, s)
        _lap(s, ring_size)
        n = config.packet_count
        frames = [numbered_frame(FIRST_PACKET + k, PACKET_SIZE) for k in range(n)]
        warm.frames = frames
        if config.scenario == "tx":
            warm.skbs = _skbs(s, frames)
        elif config.scenario == "tx-full":
            warm.in_flight = _fill(s, ring_size)
            warm.skbs = _skbs(s, frames)
        else:
            _queue_behind_stop(s, frames)
            warm.queued = n
        s.run_for(1 * MS)   # interrupt moderation and drains settle
        s.host.drain_all()
    return warm


def _set_wthresh(s: IgbSystem, wthresh: int) -> None:
    """TXDCTL.WTHRESH of queue 0, as a driver built with ``IGB_TX_WTHRESH = wthresh`` programs it."""
    from driver.igb.e1000_regs import E1000_TXDCTL   # (only this option needs the register)
    from driver.igb.hw import rd32   # (idem)
    hw = s.adapter.hw
    with s.kernel.on_cpu(0, "task:ethtool"):
        v = rd32(hw, E1000_TXDCTL(0), "rd32")
        wr32(hw, E1000_TXDCTL(0), (v & ~(0x1F << 16)) | wthresh << 16, "igb_configure_tx_ring.txdctl")


def _skbs(s: IgbSystem, frames: list[bytes]) -> list:
    with s.kernel.on_cpu(0, "task:sender"):
        skbs = [skb_from_bytes(s.net.skb, f) for f in frames]
    s.host.drain_all()
    return skbs


def _lap(s: IgbSystem, ring_size: int) -> None:
    """Send and clean ``2 * ring - 1`` packets: every slot written back once, next_to_use one before the wrap."""
    ring = s.adapter.tx_ring[0]
    total = 2 * ring_size - 1
    sent = 0
    sender = s.sender(cpu=0)
    while sent < total:
        k = min(ring_size // 4, total - sent)
        sender.send(_skbs(s, [numbered_frame(sent + j, PACKET_SIZE) for j in range(k)]), burst=k)
        sent += k
        s.run_until(lambda: ring.next_to_clean == ring.next_to_use and sender.done.triggered, s.engine.now + 50 * MS,
                    step_ps=20 * US)
    if ring.next_to_use != ring_size - 1 or ring.next_to_clean != ring_size - 1:
        raise RuntimeError(f"warm lap ended at next_to_use {ring.next_to_use}, next_to_clean {ring.next_to_clean}")


#: igb_xmit_frame_ring takes a one-descriptor packet only with ``count + 3`` = 4 descriptors free.
_FIT = 4


def _fill(s: IgbSystem, ring_size: int) -> int:
    """Fill the ring (packets sent and written back, their vector masked) leaving ``DESC_NEEDED`` free, or
    3 when that is fewer (a ring below igb's minimum): then the next packet does not fit."""
    ring = s.adapter.tx_ring[0]
    q = ring.q_vector
    need, _ = ring_thresholds(ring_size)
    with s.kernel.on_cpu(1, "hardirq:mask"):
        wr32(s.adapter.hw, E1000_EIMC, q.eims_value, "igb_irq_disable.eimc")
    s.host.drain_all()
    s.host.mmio.flush_posted()
    eims, q.eims_value = q.eims_value, 0     # NAPI's re-arm writes nothing while the ring fills
    _bql_out_of_the_way(s)
    leave = max(need, _FIT - 1)
    count = igb_desc_unused(ring) - leave
    sender = s.sender(cpu=0)
    sender.send(_skbs(s, [numbered_frame(500 + j, PACKET_SIZE) for j in range(count)]), burst=count)
    s.run_until(lambda: sender.done.triggered and s.nic.queues[0].head == ring.next_to_use, s.engine.now + 50 * MS,
                step_ps=20 * US)
    q.eims_value = eims
    if igb_desc_unused(ring) != leave:
        raise RuntimeError(f"tx-full: {igb_desc_unused(ring)} descriptors free, wanted {leave}")
    return count


def _bql_out_of_the_way(s: IgbSystem) -> None:
    """A BQL limit no ring of these sizes reaches (as ``limit_min`` in sysfs): only the driver stops the queue."""
    d = netdev_get_tx_queue(s.netdev, 0).dql
    d.min_limit = d.limit = 10_000_000
    s.host.mem.write32(d.addr + DQL_ADJ_LIMIT, d.limit + d.num_completed)   # as dql_completed sets it


def _queue_behind_stop(s: IgbSystem, frames: list[bytes]) -> None:
    """The packets wait in the qdisc: the queue is stopped (as the driver stops it when the ring fills)."""
    with s.kernel.on_cpu(0, "task:sender"):
        netif_stop_subqueue(s.netdev, 0)
    s.host.drain_all()
    sender = s.sender(cpu=0)
    sender.send(_skbs(s, frames), burst=len(frames))
    s.run_until(lambda: sender.done.triggered, s.engine.now + 10 * MS, step_ps=20 * US)


def start(warm: Warm) -> None:
    """Schedule what happens at ``t0`` (module docstring); the execution's engine run follows."""
    s = warm.system
    engine = s.engine
    q = warm.ring.q_vector
    if warm.skbs:
        engine.call_later(0, s.sender(cpu=0).send, list(warm.skbs), len(warm.skbs))
    else:
        engine.call_later(0, s.task, _wake_queue(s), 0, "waker")
    engine.call_later(0, s.kernel.irq.irq_inject_interrupt, q.name)
    if warm.config.scenario == "tx-mapfail":
        s.kernel.faults.arm("dma_map", when=lambda req: engine.choose_index(2, "fault dma_map") == 1)


def _wake_queue(s: IgbSystem):
    """CPU 0 wakes the stopped queue (as igb's clean or reset path does): NET_TX dequeues the batch."""
    netif_wake_subqueue(s.netdev, 0)
    return
    yield
