"""NAPI: interrupt-scheduled polling, run by the NET_RX softirq (``net/core/dev.c``).

TX completions on igb are reaped here, not in NET_TX (stack_facts §9.4):
``igb_msix_ring`` (hard IRQ) calls :func:`napi_schedule`, which marks the
napi SCHED, appends it to *this CPU's* ``softnet_data.poll_list`` and raises
NET_RX; :func:`net_rx_action` then calls each listed napi's
``poll(napi, weight)`` on that CPU in ``softirq:NET_RX`` context.

State bits follow Linux 4.10+: SCHED (scheduled or being polled), MISSED
(a schedule arrived while SCHED was set: poll once more instead of
re-enabling the IRQ), DISABLE (``napi_disable`` pending), NPSVC (owned by
``napi_disable``/netpoll). ``netif_napi_add`` leaves a napi disabled (SCHED
and NPSVC set) until ``napi_enable``.

The state word is shared between CPUs (the IRQ handler's CPU claims the
napi, the poll's CPU completes it, a task disables it), so it lives in
simulated memory (``napi.state_addr``, an ``unsigned long`` kzalloc'd by
``netif_napi_add``, or with the per-CPU backlog) and is read and written
through the executing CPU (``napi.net.ctx.cpu``), with 6.x's accesses
(cpu_time_facts §3): ``napi_schedule_prep``, ``napi_complete_done``,
``napi_disable`` and ``napi_enable`` are ``READ_ONCE`` + ``try_cmpxchg``
loops (fully ordered when the exchange succeeds), ``netif_napi_add`` and
``napi_disable`` use ``set_bit``/``clear_bit``, the poll's tests are
``test_bit``.

``net_rx_action`` works as in Linux 4.x–5.x: splice the poll list; poll
each napi with its weight; a napi that used its whole weight goes on a
repoll list; stop when ``netdev_budget`` (300) packets are done or the time
limit (``netdev_budget_usecs``, rounded up to jiffies) is reached,
counting ``time_squeeze``; put back, in order, the napis not yet polled,
those scheduled meanwhile, then the repolls; raise NET_RX again if any.
(6.x instead polls napis scheduled during the run in the same run, without
a re-raise, so its NET_RX count can be a little lower.)
The handler spends each poll's CPU time as the poll runs, so simulated time
advances between polls and interrupts can arrive in between.

GRO, busy polling, threaded NAPI and netpoll are not modelled.
"""
from __future__ import annotations

import logging
from collections import deque
from itertools import chain
from typing import Callable

from sim.engine import US

from .bitops import clear_bit, set_bit, test_bit
from .jiffies import jiffies, time_after_eq, usecs_to_jiffies
from .softirq import NET_RX_SOFTIRQ

__all__ = [
    "NAPI_POLL_WEIGHT", "NAPI_STATE_SCHED", "NAPI_STATE_MISSED", "NAPI_STATE_DISABLE", "NAPI_STATE_NPSVC",
    "NAPIF_STATE_SCHED", "NAPIF_STATE_MISSED", "NAPIF_STATE_DISABLE",
    "NAPIF_STATE_NPSVC", "NapiBug", "napi_struct", "softnet_data",
    "napi_state_alloc", "netif_napi_add", "netif_napi_del", "napi_schedule_prep", "____napi_schedule", "napi_schedule_on",
    "__napi_schedule", "napi_schedule", "napi_complete_done", "napi_complete", "napi_disable", "napi_enable",
    "net_rx_action",
]

log = logging.getLogger("igbsim.stack.core.napi")

#: Default NAPI weight (``NAPI_POLL_WEIGHT``, = ``dev_weight`` 64).
NAPI_POLL_WEIGHT = 64

#: Bit numbers of ``napi->state`` (enum, as in include/linux/netdevice.h) and their masks.
NAPI_STATE_SCHED = 0
NAPI_STATE_MISSED = 1
NAPI_STATE_DISABLE = 2
NAPI_STATE_NPSVC = 3
NAPIF_STATE_SCHED = 1 << NAPI_STATE_SCHED
NAPIF_STATE_MISSED = 1 << NAPI_STATE_MISSED
NAPIF_STATE_DISABLE = 1 << NAPI_STATE_DISABLE
NAPIF_STATE_NPSVC = 1 << NAPI_STATE_NPSVC


class NapiBug(RuntimeError):
    """A NAPI misuse Linux would WARN or BUG on (completing an unscheduled napi, double enable)."""


class softnet_data:
    """Per-CPU network softirq state (``struct softnet_data``) and ``/proc/net/softnet_stat``."""

    __slots__ = ("index", "cpu", "poll_list", "completion_queue", "output_queue",
                 "input_pkt_queue", "process_queue", "backlog",
                 "processed", "dropped", "time_squeeze", "cpu_collision", "received_rps")

    def __init__(self, index: int, cpu):
        self.index = index
        self.cpu = cpu
        #: napis scheduled on this CPU, in order.
        self.poll_list: deque = deque()
        #: skbs freed from hard-IRQ context, (skb, dropped) pairs, for NET_TX to free (LIFO).
        self.completion_queue: list = []
        #: Qdiscs to run from NET_TX (the qdisc layer fills and drains it).
        self.output_queue: list = []
        #: ``netif_rx``'s per-CPU backlog (``stack.core.dev``): skbs queued, skbs being processed,
        #: and the backlog napi that drains them (made by ``net_dev_init`` as the NetCore is built).
        self.input_pkt_queue: deque = deque()
        self.process_queue: deque = deque()
        self.backlog: napi_struct | None = None
        self.processed = 0
        self.dropped = 0
        self.time_squeeze = 0
        self.cpu_collision = 0
        self.received_rps = 0


class napi_struct:
    """One NAPI context: ``poll(napi, budget) -> work done``, its ``weight``, its state word's address.

    ``state_addr`` and ``net`` (whose ``ctx.cpu`` executes the state
    operations) are set by :func:`netif_napi_add` (or with the per-CPU
    backlog); until then the napi has no state word.
    """

    __slots__ = ("state_addr", "net", "weight", "poll", "dev", "list_owner", "on_list", "polls", "work", "name",
                 "priv")

    def __init__(self, name: str = "napi"):
        #: ``&napi->state`` in simulated memory (None until the napi is added).
        self.state_addr: int | None = None
        self.net = None
        self.weight = NAPI_POLL_WEIGHT
        self.poll: Callable[["napi_struct", int], int] | None = None
        self.dev = None
        #: CPU whose poll list holds it (-1: none).
        self.list_owner = -1
        #: The deque it is linked on (None: ``list_empty(&n->poll_list)``).
        self.on_list: deque | None = None
        self.polls = 0
        self.work = 0
        self.name = name
        #: The driver's object holding this napi (what C gets with container_of).
        self.priv = None

    def __repr__(self) -> str:
        if self.state_addr is None:
            return f"<napi {self.name} (not added) polls={self.polls}>"
        # memory as it is now, not through a CPU (a repr must not be a load of the model)
        state = self.net.host.mem.read64(self.state_addr)
        return f"<napi {self.name} state={state:#x} polls={self.polls}>"


def _list_add_tail(lst: deque, n: napi_struct) -> None:
    lst.append(n)
    n.on_list = lst


def _list_del_init(n: napi_struct) -> None:
    lst = n.on_list
    if lst is not None:
        if lst and lst[0] is n:
            lst.popleft()
        else:
            lst.remove(n)
        n.on_list = None


# --- setup ------------------------------------------------------------------------------
def napi_state_alloc(net, napi: napi_struct) -> None:
    """Give ``napi`` its zeroed state word in ``net``'s host memory (the struct is kzalloc'd in Linux)."""
    napi.net = net
    napi.state_addr = net.host.dma.kzalloc(8, 8)


def netif_napi_add(dev, napi: napi_struct, poll: Callable[[napi_struct, int], int],
                   weight: int = NAPI_POLL_WEIGHT) -> napi_struct:
    """Attach ``napi`` to ``dev`` with ``poll`` and ``weight``; it stays disabled until napi_enable."""
    if weight > NAPI_POLL_WEIGHT:
        log.warning("%s: netif_napi_add() called with weight %d", dev.name, weight)
    napi.dev = dev
    napi.poll = poll
    napi.weight = weight
    napi_state_alloc(dev.net, napi)
    cpu = dev.net.ctx.cpu
    set_bit(cpu, NAPI_STATE_SCHED, napi.state_addr)
    set_bit(cpu, NAPI_STATE_NPSVC, napi.state_addr)
    dev.napi_list.append(napi)
    return napi


def netif_napi_del(napi: napi_struct) -> None:
    """Detach a disabled ``napi`` from its device and free its state word."""
    if napi.dev is not None and napi in napi.dev.napi_list:
        napi.dev.napi_list.remove(napi)
    if napi.state_addr is not None:
        napi.net.host.dma.kfree(napi.state_addr)
        napi.state_addr = None


# --- scheduling ----------------------------------------------------------------------------
def napi_schedule_prep(n: napi_struct) -> bool:
    """Claim the napi for scheduling: True if it was idle; if already SCHED, mark MISSED.

    6.x: ``READ_ONCE`` the state, then ``try_cmpxchg`` SCHED (or MISSED) in
    until it succeeds (fully ordered on success); a DISABLE seen refuses.
    """
    cpu = n.net.ctx.cpu
    addr = n.state_addr
    val = cpu.load(addr, 8)
    while True:
        if val & NAPIF_STATE_DISABLE:
            return False
        new = val | NAPIF_STATE_SCHED
        if val & NAPIF_STATE_SCHED:
            new |= NAPIF_STATE_MISSED
        seen = cpu.cmpxchg(addr, 8, val, new, cpu.profile.barriers["smp_mb"])
        if seen == val:
            return not val & NAPIF_STATE_SCHED
        val = seen


def ____napi_schedule(net, index: int, n: napi_struct) -> None:
    """Put a claimed napi on CPU ``index``'s poll list and raise NET_RX there.

    (``____napi_schedule(sd, napi)``; the backlog napi, which has no device, is scheduled with it.)
    """
    _list_add_tail(net.softnet_data[index].poll_list, n)
    n.list_owner = index
    net.softirq.raise_on(index, NET_RX_SOFTIRQ)


#: Alias callable from class bodies (Python mangles ``____napi_schedule`` there).
napi_schedule_on = ____napi_schedule


def __napi_schedule(n: napi_struct) -> None:
    """Put a claimed napi on the current CPU's poll list and raise NET_RX there."""
    net = n.dev.net
    ____napi_schedule(net, net.ctx.cpu.index, n)


def napi_schedule(n: napi_struct) -> bool:
    """Schedule ``n`` on the current CPU (from its IRQ handler); True if this call did it."""
    if napi_schedule_prep(n):
        __napi_schedule(n)
        return True
    return False


def napi_complete_done(n: napi_struct, work_done: int) -> bool:
    """The driver is done polling: clear SCHED; True means "re-enable your interrupt".

    If a schedule was MISSED meanwhile, the napi stays SCHED, goes back on
    the poll list, and the answer is False (the IRQ stays off). The state
    change is 6.x's ``READ_ONCE`` + ``try_cmpxchg`` loop.
    """
    cpu = n.net.ctx.cpu
    addr = n.state_addr
    if cpu.load(addr, 8) & NAPIF_STATE_NPSVC:
        return False
    _list_del_init(n)
    n.list_owner = -1
    val = cpu.load(addr, 8)
    while True:
        if not val & NAPIF_STATE_SCHED:
            raise NapiBug(f"napi_complete_done on {n!r}, which is not scheduled")
        new = val & ~(NAPIF_STATE_MISSED | NAPIF_STATE_SCHED)
        if val & NAPIF_STATE_MISSED:
            new |= NAPIF_STATE_SCHED
        seen = cpu.cmpxchg(addr, 8, val, new, cpu.profile.barriers["smp_mb"])
        if seen == val:
            break
        val = seen
    if val & NAPIF_STATE_MISSED:
        __napi_schedule(n)
        return False
    return True


def napi_complete(n: napi_struct) -> bool:
    return napi_complete_done(n, 0)


def napi_disable(n: napi_struct):
    """Generator (it sleeps): stop scheduling, wait for a running poll to finish, own the napi.

    6.x: ``set_bit(DISABLE)``; ``READ_ONCE`` the state, sleeping while SCHED
    or NPSVC is set; ``try_cmpxchg`` SCHED|NPSVC in; ``clear_bit(DISABLE)``.
    The executing CPU is looked up after every sleep (the task may move).
    """
    net = n.net
    addr = n.state_addr
    set_bit(net.ctx.cpu, NAPI_STATE_DISABLE, addr)
    val = net.ctx.cpu.load(addr, 8)
    while True:
        while val & (NAPIF_STATE_SCHED | NAPIF_STATE_NPSVC):
            yield 20 * US  # usleep_range(20, 200)
            val = net.ctx.cpu.load(addr, 8)
        cpu = net.ctx.cpu
        seen = cpu.cmpxchg(addr, 8, val, val | NAPIF_STATE_SCHED | NAPIF_STATE_NPSVC,
                           cpu.profile.barriers["smp_mb"])
        if seen == val:
            break
        val = seen
    clear_bit(net.ctx.cpu, NAPI_STATE_DISABLE, addr)


def napi_enable(n: napi_struct) -> None:
    """Let ``n`` be scheduled again (it must be disabled).

    Clears SCHED and NPSVC only (6.x: ``READ_ONCE`` + ``try_cmpxchg``): a
    schedule attempted while disabled left MISSED set, and it stays (as in
    Linux), so the first poll after enabling is followed by one more.
    """
    cpu = n.net.ctx.cpu
    addr = n.state_addr
    val = cpu.load(addr, 8)
    while True:
        if not val & NAPIF_STATE_SCHED:
            raise NapiBug(f"napi_enable on {n!r}, which is not disabled")
        seen = cpu.cmpxchg(addr, 8, val, val & ~(NAPIF_STATE_SCHED | NAPIF_STATE_NPSVC),
                           cpu.profile.barriers["smp_mb"])
        if seen == val:
            return
        val = seen


# --- the NET_RX softirq ------------------------------------------------------------------------
def _napi_poll(n: napi_struct) -> tuple[int, bool]:
    """``napi_poll``: unlink, poll with the weight; (work, whether to poll it again)."""
    _list_del_init(n)
    weight = n.weight
    work = 0
    if test_bit(n.net.ctx.cpu, NAPI_STATE_SCHED, n.state_addr):
        work = n.poll(n, weight)
        n.polls += 1
        n.work += work
        if work > weight:
            log.error("NAPI poll function %s returned %d, exceeding its budget of %d", n.name, work, weight)
    if work < weight:
        return work, False
    if test_bit(n.net.ctx.cpu, NAPI_STATE_DISABLE, n.state_addr):  # napi_disable_pending
        napi_complete(n)
        return work, False
    if n.on_list is not None:
        log.warning("%s: Budget exhausted after napi rescheduled", n.name)
        return work, False
    return work, True


def net_rx_action(net, index: int) -> None:
    """The NET_RX_SOFTIRQ handler on CPU ``index`` (time passes between polls)."""
    engine = net.engine
    softirq = net.softirq
    sd = net.softnet_data[index]
    cpu = sd.cpu
    time_limit = jiffies(engine.now) + usecs_to_jiffies(net.netdev_budget_usecs)
    budget = net.netdev_budget
    todo = sd.poll_list
    sd.poll_list = deque()
    repoll: deque = deque()
    while True:
        if not todo:
            if not repoll:
                return
            break
        n = todo[0]
        work, again = _napi_poll(n)
        if again:
            _list_add_tail(repoll, n)
        cpu.settle()
        budget -= work
        if budget <= 0 or time_after_eq(jiffies(engine.now), time_limit):
            sd.time_squeeze += 1
            engine.log("napi", "time_squeeze", index)
            break
    merged: deque = deque()
    for n in chain(todo, sd.poll_list, repoll):
        _list_add_tail(merged, n)
    sd.poll_list = merged
    if merged:
        softirq.raise_on(index, NET_RX_SOFTIRQ)
