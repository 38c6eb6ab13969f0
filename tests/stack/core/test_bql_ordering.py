"""BQL's stop/wake pair across two CPUs, every execution enumerated (store drains, stale loads, order).

The shape (cpu_time_facts §3, netdevice.h): CPU 0 transmits and goes over the
limit — ``dql_queued``, ``set_bit(STACK_XOFF)``, ``smp_mb__after_atomic()``,
re-check ``dql_avail``; CPU 1 completes — ``dql_completed`` (stores
``adj_limit``), ``smp_mb()``, then ``test_and_clear_bit(STACK_XOFF)`` if
there is room. It is store buffering: without the barriers each CPU can miss
the other's store, and the queue stays stopped although the completion made
room (a lost wake-up). With Linux's barriers no execution loses it.

Starting point, by hand: limit 3000, 3000 bytes in flight, ``adj_limit``
3000 (avail 0). CPU 0 queues 1000 (avail -1000: over, it stops the queue).
CPU 1 completes the 3000: neither the starved nor the busy branch applies
(prev_num_queued 0), the limit stays 3000 and ``adj_limit`` becomes 6000,
so afterwards avail = 6000 - 4000 = 2000: room, the queue must end awake.

Dropping ``smp_mb`` loses the wake-up on arm64 (the completion's
``adj_limit`` store is still buffered when CPU 0 re-checks, and its
``test_and_clear_bit`` may read the bit stale), and on x86 too: CPU 0's
LOCK'd ``set_bit`` is a full barrier, but CPU 1's ``adj_limit`` store can
still sit in its FIFO store buffer while CPU 1's ``test_and_clear_bit``,
finding the bit clear, is only a load.
"""
import pytest

from sim.engine import Engine, explore
from sim.host import Host
from sim.host.ordering import get_profile
from stack.core import qdisc
from stack.core.bql import netdev_tx_completed_queue, netdev_tx_sent_queue
from stack.core.dynamic_queue_limits import DQL_ADJ_LIMIT, DQL_NUM_QUEUED, DQL_SHARED_SIZE, dql, dql_init
from stack.core.jiffies import HZ
from stack.core.netdevice import QUEUE_STATE_STACK_XOFF


class _Ctx:
    """The executing CPU, switched by each thread before its step (steps never interleave inside)."""
    cpu = None


class _Txq:
    """What the two hooks use of a netdev_queue: ctx, the state word, the dql, a qdisc slot."""

    def __init__(self, host, ctx):
        block = host.dma.kzalloc(64 + 8)
        self.ctx = ctx
        self.dql = dql(ctx, block, lambda: 0)
        self.state_addr = block + 64
        self.qdisc = "root"


def run_once(profile, policy, woken, drain_delay_ps):
    engine = Engine(policy)
    host = Host(engine, profile, ncpus=2, mmio_latency=False, stale_window=1, drain_delay_ps=drain_delay_ps)
    ctx = _Ctx()
    ctx.cpu = host.cpus[0]
    txq = _Txq(host, ctx)
    d = txq.dql
    dql_init(d, HZ)
    d.limit = 3000
    ctx.cpu.store(d.addr + DQL_NUM_QUEUED, 4, 3000)
    ctx.cpu.store(d.addr + DQL_ADJ_LIMIT, 4, 3000)
    host.drain_all()
    for cpu in host.cpus:  # the starting point happens-before both CPUs
        cpu.horizon = host.history.gver if host.history is not None else 0
    woken.clear()

    def on(cpu, fn):
        ctx.cpu = cpu
        fn()
        yield 0

    engine.spawn(on(host.cpus[0], lambda: netdev_tx_sent_queue(txq, 1000)), "xmit")
    engine.spawn(on(host.cpus[1], lambda: netdev_tx_completed_queue(txq, 3, 3000)), "clean")
    engine.run(max_steps=10_000)
    host.drain_all()
    mem = host.mem
    stopped = bool(mem.read64(txq.state_addr) & QUEUE_STATE_STACK_XOFF)
    avail = (mem.read32(d.addr + DQL_ADJ_LIMIT) - mem.read32(d.addr + DQL_NUM_QUEUED)) & 0xFFFF_FFFF
    room = avail < 0x8000_0000
    return stopped and room and not woken   # the lost wake-up


def lost_wakeup_possible(profile, monkeypatch, drain_delay_ps=1_000) -> bool:
    """Whether some execution loses the wake-up.

    With the default 1 ns drain delay both CPUs' steps run while every store
    a barrier did not flush is still buffered (the window where store
    buffering bites), in either order and with every stale load; with 0 the
    drains interleave with the steps as well (exhaustive, slower).
    """
    woken = []
    monkeypatch.setattr(qdisc, "__netif_schedule", woken.append)
    runs = explore(lambda policy: run_once(profile, policy, woken, drain_delay_ps), ties=True)
    return True in runs.outcome_set


@pytest.mark.parametrize("name", ["x86-tso", "arm64", "power", "riscv"])
def test_with_linux_barriers_no_execution_loses_the_wakeup(name, monkeypatch):
    assert not lost_wakeup_possible(get_profile(name), monkeypatch)


def test_with_linux_barriers_no_execution_loses_the_wakeup_with_every_drain_order(monkeypatch):
    assert not lost_wakeup_possible(get_profile("arm64"), monkeypatch, drain_delay_ps=0)


@pytest.mark.parametrize("name", ["x86-tso", "arm64"])
def test_without_smp_mb_the_wakeup_can_be_lost(name, monkeypatch):
    assert lost_wakeup_possible(get_profile(name).without_barrier("smp_mb"), monkeypatch)
