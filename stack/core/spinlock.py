"""Spinlocks (``include/linux/spinlock.h``) and bottom-half masking, on the simulated CPUs.

A :class:`spinlock_t` is owned by one execution context at a time
(:mod:`sim.host.sched`). Taking a free lock costs ``spin_lock`` from the
cost table (plus ``lock_line_transfer`` when another CPU held it last: its cache
line must move); a context that finds it held *spins* on its CPU -- busy,
accounted to what it runs, preemptible by interrupts unless they are masked
-- until the owner releases it, and waiters get it in arrival order (ticket
locks). A context that spins on a lock held by a context on its own CPU can
never get it (the owner cannot run): Linux deadlocks, the model raises
:class:`~sim.host.sched.Deadlock` naming both.

Memory ordering: ``spin_lock`` is an ACQUIRE and ``spin_unlock`` a RELEASE
(memory-barriers.txt, "LOCK ACQUISITION FUNCTIONS"). The handover itself is
not a memory access here, so the model adds its effect where it matters:
when a CPU takes a lock another CPU released last, the releaser's memory
stores from before its unlock become visible first (the unlock store cannot
be seen before them; its later stores may still wait), and the acquirer's later loads may not return values older than the
acquisition. Only memory is involved: a device write the releaser left in
its buffer (a relaxed doorbell) is not pushed out by someone else's lock. A CPU
re-taking its own lock needs neither (it forwards its own stores). This is
at least as strong as Linux, so it never shows an outcome Linux forbids.

The ``_bh`` and ``_irqsave`` variants mask bottom halves or interrupts on
the CPU first, exactly as Linux orders it, and unmask after the release
(``spin_unlock_bh`` runs the softirqs that became pending meanwhile).

Costs (:data:`stack.core.cputime.COSTS_PS`, cpu_time_facts §5): an
uncontended lock+unlock is 14-16 ns on x86 servers [Brouer]; a core-to-core
cache-line transfer 40-100 ns within a socket (UNCONFIRMED).
"""
from __future__ import annotations

from collections import deque

from sim.host.ordering import MR, Fence, M
from sim.host.sched import Deadlock

__all__ = [
    "Deadlock",
    "local_bh_disable",
    "local_bh_enable",
    "spin_lock",
    "spin_lock_bh",
    "spin_lock_irqsave",
    "spin_trylock",
    "spin_unlock",
    "spin_unlock_bh",
    "spin_unlock_irqrestore",
    "spinlock_t",
]



#: What it needs of the acquiring CPU: no memory load older than the handover.
_ACQUIRE = Fence.of("spin_lock (acquire)", (MR, M))


class spinlock_t:
    """A spinlock of the net core ``net``; ``name`` is what a deadlock report calls it."""

    __slots__ = ("acquired", "contended", "last_cpu", "name", "net", "owner", "release_mark", "waiters")

    def __init__(self, net, name: str):
        self.net = net
        self.name = name
        #: The context holding it (a sim.host.sched.Context), or a CPU for a synchronous caller.
        self.owner = None
        self.waiters: deque = deque()
        self.last_cpu = -1
        #: The releasing CPU's store mark at the last unlock (what a handover must publish).
        self.release_mark = 0
        self.acquired = 0
        #: Acquisitions that had to spin.
        self.contended = 0

    def __repr__(self) -> str:
        return f"<spinlock {self.name} owner={self.owner!r}>"


def _me(lock: spinlock_t):
    running = lock.net.host.sched.running
    return running if running is not None else lock.net.ctx.cpu


def _take(lock: spinlock_t, me, cpu) -> None:
    lock.acquired += 1
    costs = lock.net.costs
    cost = costs["spin_lock"]
    if lock.last_cpu not in (-1, cpu.index):
        cost += costs["lock_line_transfer"]
        lock.net.host.cpus[lock.last_cpu].publish_before(lock.release_mark)   # RELEASE: its stores before the unlock
        cpu.fence(_ACQUIRE)                                                  # ACQUIRE: later loads see them
    lock.last_cpu = cpu.index
    cpu.charge(cost)


def spin_lock(lock: spinlock_t) -> None:
    """Take ``lock``, spinning on this CPU while another context holds it."""
    me = _me(lock)
    cpu = lock.net.ctx.cpu
    if cpu.owed_ps:
        cpu.run.settle()   # the time before the lock passes first: the lock is looked at after it
    if lock.owner is None:
        lock.owner = me
    elif me is lock.net.ctx.cpu:
        raise Deadlock(f"{lock.name} is held by {lock.owner!r}; a synchronous caller on {cpu.name} cannot wait")
    else:
        lock.contended += 1
        cpu.run.spin(lock)   # returns once the releaser handed it over (owner is me)
    _take(lock, me, cpu)


def spin_trylock(lock: spinlock_t) -> bool:
    """Take ``lock`` if it is free; False (and nothing else) if it is held."""
    cpu = lock.net.ctx.cpu
    if cpu.owed_ps:
        cpu.run.settle()
    if lock.owner is not None:
        return False
    lock.owner = _me(lock)
    _take(lock, lock.owner, lock.net.ctx.cpu)
    return True


def spin_unlock(lock: spinlock_t) -> None:
    """Release ``lock``: the longest waiter (if any) gets it."""
    if lock.owner is None:
        raise RuntimeError(f"spin_unlock of {lock.name}, which is not held")
    cpu = lock.net.ctx.cpu
    if cpu.owed_ps:
        cpu.run.settle()   # the critical section's time passes before others see the lock free
    lock.release_mark = cpu.store_mark()
    if lock.waiters:
        ctx = lock.waiters.popleft()
        lock.owner = ctx
        ctx.run.granted(ctx)
    else:
        lock.owner = None


def local_bh_disable(net) -> None:
    """Bottom halves off on this CPU (``local_bh_disable``, ``rcu_read_lock_bh``)."""
    net.softirq.local_bh_disable(net.ctx.cpu.run)


def local_bh_enable(net) -> None:
    """Bottom halves back on; at zero, softirqs that became pending run now, here."""
    net.softirq.local_bh_enable(net.ctx.cpu.run)


def spin_lock_bh(lock: spinlock_t) -> None:
    local_bh_disable(lock.net)
    spin_lock(lock)


def spin_unlock_bh(lock: spinlock_t) -> None:
    spin_unlock(lock)
    local_bh_enable(lock.net)


def spin_lock_irqsave(lock: spinlock_t) -> None:
    """Mask interrupts on this CPU, then take ``lock`` (``flags`` are the CPU's mask depth)."""
    lock.net.ctx.cpu.run.local_irq_disable()
    spin_lock(lock)


def spin_unlock_irqrestore(lock: spinlock_t) -> None:
    spin_unlock(lock)
    lock.net.ctx.cpu.run.local_irq_enable()
