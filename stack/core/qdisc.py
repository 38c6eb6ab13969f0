"""The qdisc layer: pfifo_fast under an mq root, ``__qdisc_run``, ``sch_direct_xmit``, ``__netif_schedule``.

``net/sched/sch_generic.c`` and ``net/sched/sch_mq.c`` (stack_facts §8);
``__dev_xmit_skb`` and ``net_tx_action``, which run the qdiscs, are in
:mod:`stack.core.dev` as in ``net/core/dev.c``. For the two kernels
``net.kernel_version`` selects:

* **recent** (6.x): pfifo_fast is lockless (``TCQ_F_NOLOCK``): three rings
  of ``tx_queue_len`` (1000) slots, one per band; the bypass is taken when
  the qdisc is *nolock-empty* (neither ``MISSED`` nor ``DRAINING`` set) and
  the run can begin; a run that exhausts its quota (``dev_tx_weight``, 64),
  a requeue and a contended run set ``MISSED``, and ``qdisc_run_end``
  reschedules a qdisc left ``MISSED``; a dequeue that finds the txq stopped
  clears ``MISSED`` and sets ``DRAINING`` (so later packets queue behind
  the stuck ones instead of bypassing); **bulk dequeue** chains skbs
  (``skb.next``) while BQL's ``dql_avail`` lasts, handed to the driver with
  ``xmit_more``; ``sch_direct_xmit`` validates outside the lock and returns
  true after a successful transmit even if the queue is now stopped (the
  next dequeue notices).
* **3.10**: pfifo_fast is locked: three lists with one limit of
  ``tx_queue_len`` packets in total (a requeued skb counts); bypass when
  ``qlen == 0``; quota ``weight_p`` (``net.dev_weight``, 64) counted per
  skb; no bulk dequeue, no ``xmit_more``; ``sch_direct_xmit`` returns
  "continue" only while the qdisc holds more and the txq is running.

Common to both: ``qdisc_pkt_len_init`` (``pkt_len = len + (gso_segs - 1)
× header length``), strict priority between the bands (``prio2band`` on
``skb.priority & 15``), the requeue slot (``gso_skb``) served first and
only once its txq runs again, ``dev_requeue_skb`` (head of the queue,
``requeues`` + 1, NET_TX) and ``__netif_schedule`` (the qdisc goes on this
CPU's ``softnet_data.output_queue`` once, NET_TX is raised).
Every place that raises NET_TX in §8.7 goes through :func:`__netif_schedule`
here or ``NetCore.completion_queue_add``.

Attaching: every device starts on the noop qdisc (``dev_init_scheduler``,
in :class:`stack.core.netdevice.NetDevice`); :func:`dev_activate` (called
by ``dev_open`` and, through ``linkwatch_do_dev``, on carrier up) creates
the default qdiscs once — ``mq`` with one pfifo_fast child per TX queue when
the device has more than one (``num_tx_queues > 1``, as igb), else one
pfifo_fast — flagged ``ONETXQUEUE | NOPARENT``, and makes them live if the
device has carrier; :func:`dev_deactivate` (``dev_close``, carrier down)
points every txq at the noop qdisc (which drops and returns ``NET_XMIT_CN``)
and resets the real ones: what they held is freed as drops. Carrier changes
reach here synchronously (:mod:`stack.core.link_watch`; Linux's linkwatch
work runs from a workqueue, carrier-off possibly up to a second later).

``__netif_schedule`` is ``net/core/dev.c``'s; it is here, beside the qdisc
state it sets, because every caller but the netdevice.h inlines (queue
wake, BQL's completion) is in this file: in :mod:`stack.core.dev` it would
make ``netdevice.h``'s inlines and every requeue in this file call back
into dev.py. The driver's queue wake and BQL's completion call it directly
with ``txq->qdisc``.

The model runs every qdisc operation synchronously on one CPU, so a run
never finds another CPU inside it: ``qdisc_run_begin`` fails only for a
re-entrant call. ``need_resched()`` is always false (no scheduler), the
busylock, ``skb_bad_txq``, the slow (multi-txq) bulk variant and
``TCQ_F_CPUSTATS`` per-CPU counters are not modelled (the counters here
are the per-CPU sums).
"""
from __future__ import annotations

from collections import deque


from .cputime import charge
from .dynamic_queue_limits import dql_avail
from .netdevice import (NET_XMIT_CN, NET_XMIT_DROP, NET_XMIT_MASK, NET_XMIT_SUCCESS, NETDEV_TX_BUSY,
                        netif_carrier_ok, netif_xmit_frozen_or_stopped, skb_get_tx_queue)
from .skbuff import kfree_skb, skb_is_gso
from .softirq import NET_TX_SOFTIRQ
from .spinlock import spin_lock, spin_trylock, spin_unlock, spinlock_t

__all__ = [
    "TCQ_F_BUILTIN", "TCQ_F_CAN_BYPASS", "TCQ_F_MQROOT", "TCQ_F_ONETXQUEUE", "TCQ_F_CPUSTATS",
    "TCQ_F_NOPARENT", "TCQ_F_NOLOCK", "__QDISC_STATE_SCHED", "__QDISC_STATE_DEACTIVATED",
    "__QDISC_STATE_MISSED", "__QDISC_STATE_DRAINING", "QDISC_STATE_NON_EMPTY", "TC_PRIO_MAX",
    "PFIFO_FAST_BANDS", "prio2band",
    "Qdisc", "noop_qdisc", "pfifo_fast", "mq",
    "qdisc_pkt_len", "qdisc_drop", "qdisc_reset", "qdisc_run_begin", "qdisc_run_end",
    "nolock_qdisc_is_empty", "qdisc_run", "__qdisc_run", "qdisc_restart", "dequeue_skb",
    "try_bulk_dequeue_skb", "sch_direct_xmit", "dev_requeue_skb", "qdisc_maybe_clear_missed",
    "bstats_update", "__netif_schedule", "__netif_reschedule", "dev_xmit_complete",
    "attach_default_qdiscs", "dev_activate", "dev_deactivate", "tc_qdisc_show",
]

# --- flags (include/net/sch_generic.h) ---------------------------------------------------------
TCQ_F_BUILTIN = 0x1
TCQ_F_CAN_BYPASS = 0x4
TCQ_F_MQROOT = 0x8
TCQ_F_ONETXQUEUE = 0x10
TCQ_F_CPUSTATS = 0x20
TCQ_F_NOPARENT = 0x40
TCQ_F_NOLOCK = 0x100

# --- qdisc state bits (enum qdisc_state_t, as masks) ----------------------------------------------
__QDISC_STATE_SCHED = 1 << 0
__QDISC_STATE_DEACTIVATED = 1 << 1
__QDISC_STATE_MISSED = 1 << 2
__QDISC_STATE_DRAINING = 1 << 3
QDISC_STATE_NON_EMPTY = __QDISC_STATE_MISSED | __QDISC_STATE_DRAINING
_SCHED, _DEACTIVATED, _MISSED, _DRAINING = (__QDISC_STATE_SCHED, __QDISC_STATE_DEACTIVATED,
                                            __QDISC_STATE_MISSED, __QDISC_STATE_DRAINING)

TC_PRIO_MAX = 15
PFIFO_FAST_BANDS = 3
#: Band of each ``skb.priority & TC_PRIO_MAX`` (``prio2band``): 6/7 -> 0, 0/4/8-15 -> 1, 1-3/5 -> 2.
prio2band = (1, 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1)

def _recent(net) -> bool:
    return net.kernel_version != "3.10"


def dev_xmit_complete(rc: int) -> bool:
    """True unless the driver asked for a retry: codes below NET_XMIT_MASK (TX_OK, NET_XMIT_*, -errno) are final."""
    return rc < NET_XMIT_MASK


# --- the Qdisc object ---------------------------------------------------------------------------
class Qdisc:
    """``struct Qdisc``: flags, state bits, the requeue list, and the ``tc -s qdisc`` counters.

    ``bytes``/``packets`` count what left the qdisc (dequeued or bypassed;
    ``packets`` counts GSO segments), ``backlog`` the bytes queued,
    ``drops``/``requeues``/``overlimits`` as Linux. ``enqueues``, ``bypasses``,
    ``quota_exhausted`` and ``schedules`` are the model's (stack_facts §13).
    Subclasses provide ``_enqueue``/``_dequeue``/``_peek``/``_reset`` and ``_qlen``.
    """

    id = "noop"

    def __init__(self, net, dev_queue, flags: int = 0):
        self.net = net
        #: The netdev_queue this qdisc feeds (None for the noop qdisc).
        self.dev_queue = dev_queue
        self.flags = flags
        self.state = 0
        #: ``qdisc_is_running`` (recent: the seqlock of a NOLOCK qdisc / ``q->running``).
        self.running = False
        #: The root lock (``qdisc_lock(q)``), taken around enqueue and dequeue unless NOLOCK.
        self.q_lock = spinlock_t(net, f"qdisc {self.id} root lock")
        #: A NOLOCK qdisc's run lock (``q->seqlock``): whoever holds it dequeues.
        self.seqlock = spinlock_t(net, f"qdisc {self.id} seqlock")
        #: Requeued skbs (``q->gso_skb``: a list in recent kernels, one pointer in 3.10).
        self.gso_skb: deque = deque()
        self.backlog = 0
        self.bytes = 0
        self.packets = 0
        self.drops = 0
        self.requeues = 0
        self.overlimits = 0
        self.enqueues = 0
        self.bypasses = 0
        self.quota_exhausted = 0
        self.schedules = 0

    def __repr__(self) -> str:
        where = f" {self.dev_queue.dev.name}:{self.dev_queue.index}" if self.dev_queue is not None else ""
        return f"<{self.id}{where} qlen={self.qlen} state={self.state:#x}>"

    # --- ops -------------------------------------------------------------------------
    def enqueue(self, skb) -> int:
        """``q->enqueue``: NET_XMIT_SUCCESS, or a drop code (the skb is freed)."""
        charge(self.net, "qdisc_enqueue")
        return self._enqueue(skb)

    def dequeue(self):
        """``q->dequeue``: the next skb by the qdisc's order, counted as sent by the qdisc; or None."""
        skb = self._dequeue()
        if skb is not None:
            charge(self.net, "qdisc_dequeue")
            self.net.count("qdisc_dequeue", 1, skb.len)
        return skb

    def peek(self):
        return self._peek()

    def reset(self) -> None:
        """``ops->reset``: free every queued skb (a drop each); the counters stay."""
        self._reset()

    @property
    def qlen(self) -> int:
        """Packets held, the requeued ones included (``qdisc_qlen``)."""
        return len(self.gso_skb) + self._qlen()

    def stats(self) -> dict[str, int]:
        """``tc -s qdisc`` numbers (+ the model's counters)."""
        return {"bytes": self.bytes, "packets": self.packets, "drops": self.drops,
                "overlimits": self.overlimits, "requeues": self.requeues, "backlog": self.backlog,
                "qlen": self.qlen, "enqueues": self.enqueues, "bypasses": self.bypasses,
                "quota_exhausted": self.quota_exhausted, "schedules": self.schedules}

    # --- the noop qdisc's behaviour (subclasses override) -------------------------------
    def _enqueue(self, skb) -> int:
        kfree_skb(skb)  # noop_enqueue: __qdisc_drop, no counter
        return NET_XMIT_CN

    def _dequeue(self):
        return None

    def _peek(self):
        return None

    def _reset(self) -> None:
        pass

    def _qlen(self) -> int:
        return 0


def noop_qdisc(net) -> Qdisc:
    """The noop qdisc (``noop_qdisc``): drops everything with NET_XMIT_CN; one per NetCore."""
    return Qdisc(net, None, TCQ_F_BUILTIN)


def qdisc_pkt_len(skb) -> int:
    return skb.pkt_len or skb.len


def bstats_update(q: Qdisc, skb) -> None:
    q.bytes += qdisc_pkt_len(skb)
    q.packets += skb.shinfo.gso_segs if skb_is_gso(skb) and skb.shinfo.gso_segs else 1


def qdisc_drop(skb, q: Qdisc) -> int:
    """``qdisc_drop``: count, free (a drop), NET_XMIT_DROP."""
    q.drops += 1
    q.net.count("qdisc_drop", 1, skb.len)
    kfree_skb(skb)
    return NET_XMIT_DROP


class pfifo_fast(Qdisc):
    """Three FIFO bands served in strict priority; band from ``prio2band[skb.priority & 15]``.

    Recent: each band is a ring of ``tx_queue_len`` slots fixed at creation
    (``limit``), lockless. 3.10: one limit of ``dev.tx_queue_len`` packets
    over the bands and the requeue slot, read at each enqueue.
    """

    id = "pfifo_fast"

    def __init__(self, net, dev_queue, flags: int = 0):
        recent = _recent(net)
        flags |= TCQ_F_CAN_BYPASS | ((TCQ_F_NOLOCK | TCQ_F_CPUSTATS) if recent else 0)
        super().__init__(net, dev_queue, flags)
        self.bands = tuple(deque() for _ in range(PFIFO_FAST_BANDS))
        self.recent = recent
        #: Ring size per band (recent); 3.10 reads dev.tx_queue_len at each enqueue instead.
        self.limit = dev_queue.dev.tx_queue_len

    def _enqueue(self, skb) -> int:
        band = prio2band[skb.priority & TC_PRIO_MAX]
        lst = self.bands[band]
        if self.recent:
            if len(lst) >= self.limit:  # skb_array_produce: ring full
                return qdisc_drop(skb, self)
        elif self.qlen >= self.dev_queue.dev.tx_queue_len:
            return qdisc_drop(skb, self)
        lst.append(skb)
        self.backlog += qdisc_pkt_len(skb)
        self.enqueues += 1
        self.net.count("qdisc_enqueue", 1, skb.len)
        return NET_XMIT_SUCCESS

    def _dequeue(self):
        need_retry = True
        while True:
            for lst in self.bands:
                if lst:
                    skb = lst.popleft()
                    self.backlog -= qdisc_pkt_len(skb)
                    bstats_update(self, skb)
                    return skb
            if self.recent and need_retry and self.state & QDISC_STATE_NON_EMPTY:
                # Empty: clear MISSED/DRAINING, look once more (another CPU may have enqueued).
                self.state &= ~QDISC_STATE_NON_EMPTY
                need_retry = False
                continue
            return None

    def _peek(self):
        for lst in self.bands:
            if lst:
                return lst[0]
        return None

    def _reset(self) -> None:
        for lst in self.bands:
            while lst:
                kfree_skb(lst.popleft())

    def _qlen(self) -> int:
        return len(self.bands[0]) + len(self.bands[1]) + len(self.bands[2])

    def band_lengths(self) -> tuple[int, int, int]:
        return tuple(len(lst) for lst in self.bands)


class mq(Qdisc):
    """The multiqueue root: one child qdisc per TX queue; its numbers are the children's sums."""

    id = "mq"

    def __init__(self, net, dev):
        super().__init__(net, dev._tx[0], TCQ_F_MQROOT)
        self.dev = dev
        self.children = [pfifo_fast(net, txq, TCQ_F_ONETXQUEUE | TCQ_F_NOPARENT) for txq in dev._tx]

    def attach(self) -> None:
        """``mq_attach``: each child becomes its TX queue's own qdisc."""
        for txq, child in zip(self.dev._tx, self.children):
            txq.qdisc_sleeping = child

    def stats(self) -> dict[str, int]:
        total = dict.fromkeys(super().stats(), 0)
        for child in self.children:
            for k, v in child.stats().items():
                total[k] += v
        return total

    @property
    def qlen(self) -> int:
        return sum(child.qlen for child in self.children)

    def _enqueue(self, skb) -> int:
        raise RuntimeError("mq has no enqueue: packets go to the per-queue children")


def tc_qdisc_show(dev) -> list[tuple[str, dict[str, int]]]:
    """``tc -s qdisc show dev DEV``: the root, then each child (``pfifo_fast parent :N``)."""
    root = dev.qdisc
    if root is None:
        return []
    out = [(root.id, root.stats())]
    if isinstance(root, mq):
        out += [(f"{c.id} parent :{i + 1:x}", c.stats()) for i, c in enumerate(root.children)]
    return out


# --- running a qdisc ---------------------------------------------------------------------------
def qdisc_run_begin(q: Qdisc) -> bool:
    """Take the right to dequeue. A NOLOCK qdisc: ``spin_trylock(&q->seqlock)`` (an ACQUIRE, so the
    runner sees what the previous one -- maybe on another CPU -- published); if busy, mark MISSED for
    the runner and try once more. A locked qdisc: the ``running`` flag, under its root lock."""
    if q.flags & TCQ_F_NOLOCK:
        if spin_trylock(q.seqlock):
            q.running = True
            return True
        q.state |= _MISSED
        if spin_trylock(q.seqlock):
            q.running = True
            return True
        return False
    if not q.running:
        q.running = True
        return True
    return False


def qdisc_run_end(q: Qdisc) -> None:
    """Give the run up; a NOLOCK qdisc left MISSED is rescheduled (NET_TX)."""
    q.running = False
    if q.flags & TCQ_F_NOLOCK:
        spin_unlock(q.seqlock)
        # spin_unlock() is only a store-release; the unlock and the MISSED test are a store-load pair,
        # so Linux puts a full barrier here (sch_generic.h, since 5.14)
        q.net.ctx.cpu.barrier("smp_mb")
        if q.state & _MISSED:
            __netif_schedule(q)


def nolock_qdisc_is_empty(q: Qdisc) -> bool:
    return not q.state & QDISC_STATE_NON_EMPTY


def qdisc_run(q: Qdisc) -> None:
    if qdisc_run_begin(q):
        if not (q.flags & TCQ_F_NOLOCK and q.state & _DEACTIVATED):
            __qdisc_run(q)
        qdisc_run_end(q)


def __qdisc_run(q: Qdisc) -> None:
    """Dequeue and transmit until the queue empties, the txq stops, or the quota is used up.

    Quota: ``dev_tx_weight`` (recent) / ``weight_p`` = ``dev_weight`` (3.10),
    64 by default; a bulk-dequeued chain counts one per skb, a GSO skb one.
    When the quota runs out the qdisc is rescheduled: NET_TX (recent NOLOCK:
    MISSED, and ``qdisc_run_end`` schedules).
    """
    net = q.net
    quota = net.dev_tx_weight if _recent(net) else net.dev_weight
    while True:
        more, packets = qdisc_restart(q)
        if not more:
            return
        quota -= packets
        if quota <= 0:  # need_resched() is never true in the model
            q.quota_exhausted += 1
            net.engine.log("qdisc", "quota", q.dev_queue.index if q.dev_queue is not None else -1)
            if q.flags & TCQ_F_NOLOCK:
                q.state |= _MISSED
            else:
                __netif_schedule(q)
            return


def qdisc_restart(q: Qdisc) -> tuple[bool, int]:
    """Dequeue (maybe a chain) and hand it to the driver; (carry on?, packets dequeued)."""
    skb, validate, packets = dequeue_skb(q)
    if skb is None:
        return False, packets
    dev = q.dev_queue.dev
    txq = skb_get_tx_queue(dev, skb)
    root_lock = None if q.flags & TCQ_F_NOLOCK else q.q_lock
    return sch_direct_xmit(skb, q, dev, txq, root_lock, validate), packets


def qdisc_maybe_clear_missed(q: Qdisc, txq) -> None:
    """Recent: the txq is stopped — forget MISSED, and mark DRAINING (or MISSED if it runs again)."""
    q.state &= ~_MISSED
    if not netif_xmit_frozen_or_stopped(txq):
        q.state |= _MISSED
    else:
        q.state |= _DRAINING


def dequeue_skb(q: Qdisc):
    """``dequeue_skb``: (skb or chain or None, validate, packets).

    A requeued skb comes first, but only once its txq is neither stopped
    nor frozen (it was validated already). A ONETXQUEUE qdisc whose txq is
    stopped gives nothing. Recent kernels then bulk-dequeue within BQL's
    budget.
    """
    recent = _recent(q.net)
    txq = q.dev_queue
    if q.gso_skb:
        skb = q.gso_skb[0]
        txq = skb_get_tx_queue(txq.dev, skb)
        if not netif_xmit_frozen_or_stopped(txq):
            q.gso_skb.popleft()
            q.backlog -= qdisc_pkt_len(skb)
        else:
            skb = None
            if recent:
                qdisc_maybe_clear_missed(q, txq)
        return skb, False, 1
    if q.flags & TCQ_F_ONETXQUEUE and netif_xmit_frozen_or_stopped(txq):
        if recent:
            qdisc_maybe_clear_missed(q, txq)
        return None, True, 1
    skb = q.dequeue()
    packets = 1
    if skb is not None and recent and q.flags & TCQ_F_ONETXQUEUE:  # qdisc_may_bulk
        packets = try_bulk_dequeue_skb(q, skb, txq)
    return skb, True, packets


def try_bulk_dequeue_skb(q: Qdisc, skb, txq) -> int:
    """Chain more skbs behind ``skb`` (``skb.next``) while BQL's ``dql_avail`` allows; packets in the chain."""
    bytelimit = dql_avail(txq.dql) - skb.len
    packets = 1
    last = skb
    while bytelimit > 0:
        nskb = q.dequeue()
        if nskb is None:
            break
        bytelimit -= nskb.len  # covers GSO len
        last.next = nskb
        last = nskb
        packets += 1
    last.next = None
    return packets


def sch_direct_xmit(skb, q: Qdisc, dev, txq, root_lock, validate: bool = True) -> bool:
    """Validate and transmit under the TX lock (the root lock, if any, dropped meanwhile).

    Returns whether the caller may send more. ``NETDEV_TX_BUSY``, or a
    stopped txq, requeues what was not sent (:func:`dev_requeue_skb`). The
    root lock and the TX lock are never held together (3.10's comment).
    """
    # mutual call: dev.c runs the qdisc, sch_generic.c calls back
    from .dev import dev_hard_start_xmit, validate_xmit_skb_list
    net = q.net
    charge(net, "sch_direct_xmit")
    ret = NETDEV_TX_BUSY
    if root_lock is not None:
        spin_unlock(root_lock)
    if validate:
        skb = validate_xmit_skb_list(skb, dev)
        if skb is None:
            if root_lock is not None:
                spin_lock(root_lock)
            return True
    HARD_TX_LOCK(txq)   # igb is not LLTX
    try:
        if not netif_xmit_frozen_or_stopped(txq):
            skb, ret = dev_hard_start_xmit(skb, dev, txq)
        elif _recent(net):
            qdisc_maybe_clear_missed(q, txq)
    finally:
        HARD_TX_UNLOCK(txq)
    if root_lock is not None:
        spin_lock(root_lock)
    if not dev_xmit_complete(ret):
        dev_requeue_skb(skb, q)
        return False
    if not _recent(net):
        # 3.10: "continue" is qdisc_qlen(q), and 0 once the txq is stopped.
        return q.qlen > 0 and not netif_xmit_frozen_or_stopped(txq)
    return True


def HARD_TX_LOCK(txq) -> None:
    """``__netif_tx_lock``: the queue's ``_xmit_lock`` (its owner is the lock's)."""
    spin_lock(txq._xmit_lock)


def HARD_TX_UNLOCK(txq) -> None:
    spin_unlock(txq._xmit_lock)


def dev_requeue_skb(skb, q: Qdisc) -> None:
    """Put ``skb`` (and the rest of its chain) back at the head: ``requeues`` + 1 each; NET_TX."""
    while skb is not None:
        nxt = skb.next
        skb.next = None
        q.gso_skb.append(skb)
        q.requeues += 1
        q.backlog += qdisc_pkt_len(skb)
        q.net.count("qdisc_requeue", 1, skb.len)
        skb = nxt
    if q.flags & TCQ_F_NOLOCK:
        q.state |= _MISSED  # qdisc_run_end will __netif_schedule
    else:
        __netif_schedule(q)


# --- scheduling and NET_TX ---------------------------------------------------------------------
def __netif_reschedule(q: Qdisc) -> None:
    """Append ``q`` to this CPU's output queue and raise NET_TX here."""
    net = q.net
    index = net.ctx.cpu.index
    net.softnet_data[index].output_queue.append(q)
    q.schedules += 1
    net.softirq.raise_on(index, NET_TX_SOFTIRQ)


def __netif_schedule(q: Qdisc) -> None:
    """Schedule ``q`` for NET_TX on this CPU unless it is scheduled already (``__QDISC_STATE_SCHED``)."""
    if not q.state & _SCHED:
        q.state |= _SCHED
        __netif_reschedule(q)


# --- attaching, activating, deactivating ------------------------------------------------------------
def attach_default_qdiscs(dev) -> None:
    """mq + one pfifo_fast per TX queue on a multiqueue device, else a pfifo_fast per queue."""
    net = dev.net
    if dev.num_tx_queues > 1:  # netif_is_multiqueue
        root = mq(net, dev)
        root.attach()
        dev.qdisc = root
    else:
        for txq in dev._tx:
            txq.qdisc_sleeping = pfifo_fast(net, txq, TCQ_F_ONETXQUEUE | TCQ_F_NOPARENT)
        dev.qdisc = dev._tx[0].qdisc_sleeping


def dev_activate(dev) -> None:
    """Attach the default qdiscs if none; with carrier, make each TX queue's qdisc live."""
    if dev.qdisc is dev.net.noop_qdisc:
        attach_default_qdiscs(dev)
    if not netif_carrier_ok(dev):
        return  # activation waits for the carrier
    for txq in dev._tx:  # transition_one_qdisc
        q = txq.qdisc_sleeping
        if not q.flags & TCQ_F_BUILTIN:
            q.state &= ~_DEACTIVATED
        txq.qdisc = q


def qdisc_reset(q: Qdisc) -> None:
    """Free everything ``q`` holds (as drops), requeued skbs included; ``backlog`` 0."""
    q.reset()
    while q.gso_skb:
        kfree_skb(q.gso_skb.popleft())
    q.backlog = 0


def dev_deactivate(dev) -> None:
    """Every TX queue to the noop qdisc, the watchdog off, then reset the real qdiscs."""
    net = dev.net
    noop = net.noop_qdisc
    for txq in dev._tx:  # dev_deactivate_queue
        q = txq.qdisc
        if not q.flags & TCQ_F_BUILTIN:
            q.state |= _DEACTIVATED
        txq.qdisc = noop
    net.timers.del_timer(dev.watchdog_timer)  # dev_watchdog_down
    for txq in dev._tx:  # dev_reset_queue (Linux first waits out running qdiscs; none can run here)
        q = txq.qdisc_sleeping
        qdisc_reset(q)
        if q.flags & TCQ_F_NOLOCK:
            q.state &= ~QDISC_STATE_NON_EMPTY
