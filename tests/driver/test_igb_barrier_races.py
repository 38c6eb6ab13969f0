"""Directed executions for the three transmit barrier sites that only a second CPU can break.

Each test constructs one execution of the real driver and stack code on two
CPUs -- the transmit path on CPU 0, NAPI's ``igb_clean_tx_irq`` on CPU 1 --
with a :class:`Directed` policy: it answers the engine's questions by a
script (at same-time ties, which CPU goes next; at a weak load, whether it
returns the newest value or the oldest one allowed), not by seed luck. The
same script runs with the Linux barrier (safe) and with the site dropped
(the violation), and the violating run's recorded choices replay it exactly
(:class:`~sim.engine.choice.ReplayPolicy`).

To make the schedule the script's alone, the racing stretch runs with every
CPU cost set to zero (so both CPUs are at the same instant, and each shared
memory access is an interleaving point: ``host.sched.interleave``), with
fixed latencies, and with store-buffer drains slower than the stretch.

* ``igb_clean_tx_irq.wake`` (``smp_mb``): the cleaner stores
  ``next_to_clean`` and tests ``__QUEUE_STATE_DRV_XOFF``; the transmitter
  sets the bit and re-reads ``next_to_clean`` (store buffering, the SB
  litmus shape). Without the barrier the cleaner's store can still sit in
  its store buffer when it reads the bit clear, and the transmitter then
  reads the old index: the queue stays stopped with room in the ring. On
  x86-TSO too: a store may wait in the FIFO store buffer past a later load
  (the one reordering TSO allows), and only a fence or a LOCK'd instruction
  drains it (ordering_facts, cpu_time_facts §3).
* ``igb_maybe_stop_tx.recheck`` (``smp_mb``): the other half of the same
  pair. On arm64 ``set_bit`` is an unordered atomic (atomic_bitops.txt), so
  the re-read of ``next_to_clean`` may return a value older than the
  cleaner's already visible store: the queue stays stopped with room. On
  x86-TSO the site cannot matter: ``set_bit`` is ``lock bts``, a full
  barrier by itself (x86 LOCK'd RMWs are full barriers, cpu_time_facts §3;
  that is why ``smp_mb__after_atomic`` is empty there), so the same
  execution is safe with the site dropped.
* ``igb_clean_tx_irq.eop`` (``smp_rmb``): the cleaner reads
  ``next_to_watch`` and then the rest of the ``tx_buffer``. On arm64 and
  POWER, loads may be satisfied out of order, so without a read barrier the
  later loads may return values older than the ``next_to_watch`` it saw --
  the previous lap's ``skb`` pointer, already freed: a use-after-free (the
  2017 POWER report). ``dma_wmb`` on the transmit side orders the stores;
  only the reader's barrier orders the loads.
"""
from __future__ import annotations

import pytest
from _pytest.monkeypatch import MonkeyPatch

from driver.igb import clean as clean_module
from driver.igb import xmit as xmit_module
from driver.igb.e1000_regs import E1000_EIMC
from driver.igb.hw import wr32
from driver.igb.igb import (
    IGB_RING_FIELDS,
    IGB_TX_BUFFER_FIELDS,
    TX_WAKE_THRESHOLD,
    igb_desc_unused,
)
from driver.platform.costs import DEFAULT_COSTS_PS
from sim.assembly.skbs import numbered_frame
from sim.assembly.system import IgbSystem
from sim.engine import MS, US
from sim.engine.choice import Policy, ReplayPolicy
from stack.core import bitops
from stack.core.bug import UseAfterFree
from stack.core.dynamic_queue_limits import DQL_ADJ_LIMIT
from stack.core.napi import napi_schedule
from stack.core.netdevice import __QUEUE_STATE_DRV_XOFF, netdev_get_tx_queue
from stack.core.skbuff import skb_from_bytes

RING = 80
FAR = 10 * MS   # store-buffer drain latency during the race: longer than any racing stretch


class Directed(Policy):
    """Answers by a script: ties go to CPU ``prefer`` when it has work ready; a weak load of an address
    in ``stale`` returns the oldest value allowed, any other the newest; everything else option 0."""

    choose_ties = True

    def __init__(self):
        super().__init__()
        self.engine = None
        self.prefer: int | None = None
        self.stale: set[int] = set()

    def _pick(self, n: int, why: str) -> int:
        if why == "tie" and self.prefer is not None:
            for i, item in enumerate(list(self.engine._ready)[:n]):
                args = getattr(item, "args", ())
                ctx = args[0] if args else None
                if getattr(getattr(ctx, "run", None), "index", None) == self.prefer:
                    return i
            return 0
        if why.startswith("stale-load") and self.stale and int(why.rsplit(" ", 1)[1], 16) in self.stale:
            return n - 1
        return 0


def _system(ordering: str, policy, dropped: str | None) -> IgbSystem:
    s = IgbSystem("82576", ordering=ordering, ncpus=2, irq_cpu=1, ring_size=RING, policy=policy,
                  drain_delay_ps=0, msi_latency_ps=1 * US, dma_read_jitter_ps=0)
    if isinstance(policy, Directed):
        policy.engine = s.engine
    if dropped:
        s.kernel.sites.apply({dropped: None})
    s.bring_up()
    d = netdev_get_tx_queue(s.netdev, 0).dql
    d.min_limit = d.limit = 10_000_000   # BQL out of the way: only the driver stops the queue
    s.host.mem.write32(d.addr + DQL_ADJ_LIMIT, d.limit + d.num_completed)   # as dql_completed sets it
    return s


def _send(s, first: int, n: int) -> None:
    """``n`` 60-byte frames from a sender on CPU 0 (one descriptor each), then 2 ms for the NIC."""
    with s.kernel.on_cpu(0, "task:sender"):
        skbs = [skb_from_bytes(s.net.skb, numbered_frame(first + k, 60)) for k in range(n)]
    s.sender(cpu=0).send(skbs, burst=n)
    s.run_for(2 * MS)


def _mask_tx_vector(s, monkeypatch) -> None:
    """No completion interrupt from now on: the test decides when CPU 1 cleans."""
    q = s.adapter.tx_ring[0].q_vector
    wr32(s.adapter.hw, E1000_EIMC, q.eims_value, "igb_irq_disable.eimc")
    s.host.drain_all()
    s.host.mmio.flush_posted()
    monkeypatch.setattr(q, "eims_value", 0)   # NAPI's re-arm writes EIMS with this: nothing


def _race_mode(s, monkeypatch) -> None:
    """No CPU costs, no drains during the race (slow, and buffers with room for all of its stores), every
    memory access an interleaving point: the script decides."""
    monkeypatch.setattr(s.kernel.costs, "table", {k: 0 for k in DEFAULT_COSTS_PS})
    for k in list(s.net.costs):
        s.net.costs[k] = 0
    for cpu in s.host.cpus:
        cpu.drain_options = (FAR,)
        cpu.store_buffer_entries = 10_000   # no stall for room either: nothing leaves during the race
    s.host.sched.interleave = True


def _script(policy: Directed, monkeypatch) -> None:
    """CPU 0 runs until it is about to stop the queue (it has read next_to_clean: no room); then CPU 1
    cleans, stores next_to_clean and tests the queue bit; then CPU 0 sets the bit and re-reads
    next_to_clean, getting the oldest value its CPU may still see."""
    policy.prefer = 0
    inner_stopped = clean_module.__netif_subqueue_stopped
    inner_stop = xmit_module.__igb_maybe_stop_tx

    def maybe_stop(tx_ring, size):
        policy.prefer = 1
        try:
            return inner_stop(tx_ring, size)
        finally:
            policy.stale = set()
            policy.prefer = None

    def stopped(dev, index):
        r = inner_stopped(dev, index)
        policy.prefer = 0   # CPU 1 has read the queue bit
        policy.stale = {_ntc_addr(dev_ring[0])}
        return r
    dev_ring = []
    policy.ring_of = dev_ring
    monkeypatch.setattr(xmit_module, "__igb_maybe_stop_tx", maybe_stop)
    monkeypatch.setattr(clean_module, "__netif_subqueue_stopped", stopped)


def _ntc_addr(ring) -> int:
    return ring.addr + IGB_RING_FIELDS["next_to_clean"][0]


def _patched(run, ordering: str, dropped: str | None, policy):
    """One ``run(ordering, dropped, monkeypatch, policy)``, its patches undone after (a replay starts
    from scratch)."""
    m = MonkeyPatch()
    try:
        return run(ordering, dropped, m, policy)
    finally:
        m.undo()


def _lost_wakeup(ordering: str, dropped: str | None, policy=None):
    return _patched(_lost_wakeup_run, ordering, dropped, policy)


def _lost_wakeup_run(ordering: str, dropped: str | None, monkeypatch, policy=None):
    """CPU 1 cleans 58 completed packets while CPU 0 queues one that stops the queue.

    Returns (queue stopped, free descriptors, the policy) when both sides are done (the new packet is
    not completed yet); the script is :func:`_script`'s unless ``policy`` is given (a replay).
    """
    script = policy is None
    policy = Directed() if script else policy
    s = _system(ordering, policy, dropped)
    ring = s.adapter.tx_ring[0]
    txq = netdev_get_tx_queue(s.netdev, 0)
    _mask_tx_vector(s, monkeypatch)
    # 58 completed but uncleaned packets leave 21 descriptors: the next one fits (count + 3 = 4) and
    # leaves 20 < DESC_NEEDED (21), so it stops the queue and re-checks.
    _send(s, 0, 58)
    assert igb_desc_unused(ring) == 21
    assert not bitops.test_bit(s.host.cpus[0], __QUEUE_STATE_DRV_XOFF, txq.state_addr)
    _race_mode(s, monkeypatch)
    if script:
        _script(policy, monkeypatch)
        policy.ring_of.append(ring)
    s.host.sched.cpus[1].interrupt("test-clean", napi_schedule, ring.q_vector.napi)
    with s.kernel.on_cpu(0, "task:sender"):
        skb = skb_from_bytes(s.net.skb, numbered_frame(100, 60))
    s.sender(cpu=0).send([skb])
    s.run_for(1)   # the whole race is at one instant; the NIC has not fetched the new packet yet
    s.host.drain_all()
    stopped_now = bool(bitops.test_bit(s.host.cpus[0], __QUEUE_STATE_DRV_XOFF, txq.state_addr))
    return stopped_now, igb_desc_unused(ring), policy


@pytest.mark.parametrize("ordering", ["x86-tso", "arm64"])
def test_clean_wake_barrier_prevents_a_lost_wake_up(ordering):
    stopped, free, _ = _lost_wakeup(ordering, None)
    assert not stopped and free >= TX_WAKE_THRESHOLD     # the re-check saw the cleaned ring: reprieve


@pytest.mark.parametrize("ordering", ["x86-tso", "arm64"])
def test_without_the_clean_wake_barrier_the_queue_stays_stopped_with_room(ordering):
    stopped, free, policy = _lost_wakeup(ordering, "igb_clean_tx_irq.wake")
    assert stopped and free >= TX_WAKE_THRESHOLD          # a lost wake-up
    again = _lost_wakeup(ordering, "igb_clean_tx_irq.wake", ReplayPolicy(policy.trace()))
    assert again[:2] == (stopped, free)                   # the recorded choices replay it


@pytest.mark.parametrize("ordering, lost", [("arm64", True), ("power", True), ("x86-tso", False)])
def test_without_the_stop_recheck_barrier_a_weak_cpu_keeps_the_queue_stopped_with_room(ordering, lost):
    stopped, free, _ = _lost_wakeup(ordering, None)
    assert not stopped                                    # with the barrier: safe on every profile
    stopped, free, policy = _lost_wakeup(ordering, "igb_maybe_stop_tx.recheck")
    assert stopped == lost and free >= TX_WAKE_THRESHOLD  # x86: set_bit is LOCK'd, a full barrier
    if lost:
        again = _lost_wakeup(ordering, "igb_maybe_stop_tx.recheck", ReplayPolicy(policy.trace()))
        assert again[:2] == (stopped, free)


# --- igb_clean_tx_irq.eop ---------------------------------------------------------------------------------
HANDLER_PS = 50 * US   # CPU 1's interrupt handler runs this long before its exit polls NAPI


def _stale_field(ordering: str, dropped: str | None, policy=None):
    return _patched(_stale_field_run, ordering, dropped, policy)


def _stale_field_run(ordering: str, dropped: str | None, monkeypatch, policy=None):
    """Slot 0's second packet is cleaned by CPU 1 with its read horizon from before CPU 0 filled the slot.

    One lap around the ring (80 packets, sent and cleaned) leaves slot 0 with packet 0's fields, its
    skb freed. Then CPU 1 takes an interrupt whose handler schedules NAPI (a fully ordered cmpxchg: a
    full barrier, CPU 1's last) and works 50 µs; meanwhile CPU 0 queues packet 80 into slot 0 and the
    NIC completes it; then CPU 1's NET_RX polls. The script: CPU 1's loads of slot 0's fields other
    than next_to_watch return the oldest value allowed. Returns (the policy, the kernel's bug reports).
    """
    script = policy is None
    policy = Directed() if script else policy
    s = _system(ordering, policy, dropped)
    ring = s.adapter.tx_ring[0]
    _send(s, 0, 40)
    _send(s, 40, 40)
    assert (ring.next_to_use, ring.next_to_clean) == (0, 0)   # a full lap, every packet cleaned
    _mask_tx_vector(s, monkeypatch)
    if script:
        slot = ring.tx_buffer_info[0].addr
        policy.stale = {slot + off for name, (off, _) in IGB_TX_BUFFER_FIELDS.items() if name != "next_to_watch"}
    q = ring.q_vector

    def handler():
        napi_schedule(q.napi)
        s.kernel.cpu.charge(HANDLER_PS)

    s.host.sched.cpus[1].interrupt("test-clean", handler)
    with s.kernel.on_cpu(0, "task:sender"):
        skb = skb_from_bytes(s.net.skb, numbered_frame(80, 60))
    s.sender(cpu=0).send([skb])
    try:
        s.run_for(1 * MS)
    except UseAfterFree:
        pass   # the report is in kernel.bugs; the test checks it
    return policy, s.kernel.bugs, ring


@pytest.mark.parametrize("ordering, stale", [("arm64", True), ("power", True), ("x86-tso", False)])
def test_without_the_eop_read_barrier_the_cleaner_reads_the_previous_laps_skb(ordering, stale):
    policy, bugs, ring = _stale_field(ordering, None)
    assert not bugs and ring.next_to_clean == 1           # with smp_rmb: packet 80 cleaned, nothing else
    policy, bugs, _ = _stale_field(ordering, "igb_clean_tx_irq.eop")
    assert bool(bugs) == stale                            # x86: loads are not reordered with loads
    if stale:
        (report,) = bugs
        assert report.kind == "use-after-free" and report.site == "igb_clean_tx_irq"
        assert report.cpu == 1 and report.context == "softirq:NET_RX"
        _, again, _ = _stale_field(ordering, "igb_clean_tx_irq.eop", ReplayPolicy(policy.trace()))
        assert [(b.kind, b.site, b.address, b.time_ps) for b in again] == \
            [(b.kind, b.site, b.address, b.time_ps) for b in bugs]   # the recorded choices replay it
