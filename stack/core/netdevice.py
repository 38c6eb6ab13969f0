"""``struct net_device`` and ``struct netdev_queue``: TX queues, stop/wake, carrier, TX watchdog.

Each TX queue has a state word with Linux's bits:

* ``__QUEUE_STATE_DRV_XOFF`` — the driver stopped it (ring nearly full:
  ``netif_tx_stop_queue``/``netif_stop_subqueue``);
* ``__QUEUE_STATE_STACK_XOFF`` — BQL stopped it (too many bytes in flight,
  :mod:`stack.core.bql`);
* ``__QUEUE_STATE_FROZEN`` — frozen around a TX timeout or reconfiguration.

The state word lives in simulated memory (``txq.state_addr``, an
``unsigned long`` in the block the device kzallocs for its queues, with
each queue's BQL :mod:`~stack.core.dynamic_queue_limits` fields), read and
written through the executing CPU (``txq.ctx.cpu``) with the primitive
each Linux helper uses (:mod:`stack.core.bitops`; cpu_time_facts §3):
stop = ``set_bit``, start = ``clear_bit``, wake = ``test_and_clear_bit``
then ``__netif_schedule``, the stopped tests = ``test_bit`` or a plain load
of the word. (6.12+ also writes ``trans_start`` with ``WRITE_ONCE`` and an
``smp_mb__before_atomic`` in ``netif_tx_stop_queue``, pairing with an
``smp_mb`` in ``dev_watchdog``; ``trans_start`` is still a Python
attribute here, so that pair is not modelled.)

``netif_xmit_stopped`` is true for either XOFF; ``__netif_subqueue_stopped``
(what a driver asks) only for DRV_XOFF. Waking a queue the driver stopped,
or BQL clearing STACK_XOFF, *schedules* it: as Linux's inlines do, these
call ``__netif_schedule(txq->qdisc)`` (:mod:`stack.core.qdisc`) directly, so
NET_TX restarts the qdisc. A carrier change calls ``linkwatch_do_dev``
(:mod:`stack.core.link_watch`) directly: the qdiscs of a running device
follow the carrier at once (Linux runs linkwatch from a workqueue).

Every device starts on the noop qdisc (``dev_init_scheduler``: ``dev->qdisc``
and each queue's ``qdisc``/``qdisc_sleeping``); ``dev_activate`` attaches the
real ones.

A driver fills the ``ndo_*`` slots: ``ndo_start_xmit(skb, dev)`` returns
:data:`NETDEV_TX_OK` or :data:`NETDEV_TX_BUSY`; ``ndo_open``/``ndo_stop``
(may be generator functions: they may sleep); ``ndo_tx_timeout(dev,
txqueue)``, which the watchdog calls when a queue has been stopped for more
than ``watchdog_timeo`` jiffies (5 s by default) since its ``trans_start``.
"""
from __future__ import annotations

from typing import Callable

from .bitops import clear_bit, set_bit, test_and_clear_bit, test_bit
from .dynamic_queue_limits import dql, dql_init
from .jiffies import HZ, jiffies, time_after
from .spinlock import spinlock_t

__all__ = [
    "NETDEV_TX_OK", "NETDEV_TX_BUSY", "NET_RX_SUCCESS", "NET_RX_DROP", "NET_XMIT_SUCCESS", "NET_XMIT_DROP", "NET_XMIT_CN",
    "NET_XMIT_MASK", "__QUEUE_STATE_DRV_XOFF", "__QUEUE_STATE_STACK_XOFF", "__QUEUE_STATE_FROZEN",
    "QUEUE_STATE_DRV_XOFF", "QUEUE_STATE_STACK_XOFF", "QUEUE_STATE_FROZEN", "QUEUE_STATE_ANY_XOFF",
    "QUEUE_STATE_ANY_XOFF_OR_FROZEN", "NETDEV_QUEUE_DQL", "NETDEV_QUEUE_STATE", "NETDEV_QUEUE_SIZE",
    "__LINK_STATE_START", "__LINK_STATE_PRESENT",
    "__LINK_STATE_NOCARRIER", "NETIF_F_SG", "NETIF_F_IP_CSUM", "NETIF_F_HW_CSUM",
    "NETIF_F_IPV6_CSUM", "NETIF_F_HIGHDMA", "NETIF_F_HW_VLAN_CTAG_TX", "NETIF_F_HW_VLAN_CTAG_RX",
    "NETIF_F_TSO", "NETIF_F_TSO6", "NETIF_F_GSO_UDP_L4", "NETIF_F_RXCSUM", "NETIF_F_LLTX",
    "net_device_stats", "netdev_queue", "NetDevice",
    "netdev_get_tx_queue", "skb_get_tx_queue", "netif_tx_stop_queue", "netif_tx_start_queue",
    "netif_tx_wake_queue", "netif_tx_start_all_queues",
    "netif_tx_stop_all_queues", "netif_stop_subqueue",
    "netif_wake_subqueue", "__netif_subqueue_stopped", "netif_tx_queue_stopped", "netif_xmit_stopped",
    "netif_xmit_frozen_or_stopped",
    "netif_schedule_queue", "txq_trans_update", "netif_trans_update",
    "netif_running", "netif_device_present", "netif_carrier_on", "netif_carrier_off",
    "netif_carrier_ok", "netdev_start_xmit", "__netdev_watchdog_up", "dev_watchdog",
]

# --- return codes -------------------------------------------------------------------------
NETDEV_TX_OK = 0x00
NETDEV_TX_BUSY = 0x10
NET_RX_SUCCESS = 0
NET_RX_DROP = 1
NET_XMIT_SUCCESS = 0x00
NET_XMIT_DROP = 0x01
NET_XMIT_CN = 0x02
NET_XMIT_MASK = 0x0F

# --- netdev_queue state bits (bit numbers) and masks --------------------------------------
__QUEUE_STATE_DRV_XOFF = 0
__QUEUE_STATE_STACK_XOFF = 1
__QUEUE_STATE_FROZEN = 2
QUEUE_STATE_DRV_XOFF = 1 << __QUEUE_STATE_DRV_XOFF
QUEUE_STATE_STACK_XOFF = 1 << __QUEUE_STATE_STACK_XOFF
QUEUE_STATE_FROZEN = 1 << __QUEUE_STATE_FROZEN
QUEUE_STATE_ANY_XOFF = QUEUE_STATE_DRV_XOFF | QUEUE_STATE_STACK_XOFF
QUEUE_STATE_ANY_XOFF_OR_FROZEN = QUEUE_STATE_ANY_XOFF | QUEUE_STATE_FROZEN

# --- the shared part of struct netdev_queue in simulated memory (the model's layout) ----------
#: Offset of BQL's shared ``dql`` fields; the state word sits on its own cache line after them,
#: as Linux keeps ``state`` in the queue's cache-line-aligned write-mostly part.
NETDEV_QUEUE_DQL = 0
NETDEV_QUEUE_STATE = 64
NETDEV_QUEUE_SIZE = 128

# --- net_device state bits (enum netdev_state_t, as masks) ----------------------------------
__LINK_STATE_START = 1 << 0
__LINK_STATE_PRESENT = 1 << 1
__LINK_STATE_NOCARRIER = 1 << 2
_LINK_STATE_PRESENT = __LINK_STATE_PRESENT  # for class bodies (name mangling)

# --- features (distinct bits; the numbering is the model's, not a kernel ABI) ----------------
NETIF_F_SG = 1 << 0
NETIF_F_IP_CSUM = 1 << 1
NETIF_F_HW_CSUM = 1 << 3
NETIF_F_IPV6_CSUM = 1 << 4
NETIF_F_HIGHDMA = 1 << 5
NETIF_F_HW_VLAN_CTAG_TX = 1 << 7
NETIF_F_HW_VLAN_CTAG_RX = 1 << 8
NETIF_F_LLTX = 1 << 12
NETIF_F_TSO = 1 << 16
NETIF_F_TSO6 = 1 << 20
NETIF_F_GSO_UDP_L4 = 1 << 33
NETIF_F_RXCSUM = 1 << 40


class net_device_stats:
    """The device counters the core and drivers bump (``dev->stats``)."""

    __slots__ = ("tx_packets", "tx_bytes", "tx_dropped", "tx_errors",
                 "rx_packets", "rx_bytes", "rx_dropped", "rx_errors")

    def __init__(self):
        for name in self.__slots__:
            setattr(self, name, 0)


class netdev_queue:
    """One TX queue of a device: its state word's address, ``trans_start``, BQL's ``dql``, the qdisc slot.

    ``ctx`` is the net core's execution context: ``ctx.cpu`` executes the
    state-bit operations.
    """

    __slots__ = ("dev", "index", "ctx", "state_addr", "trans_start", "trans_timeout", "qdisc", "qdisc_sleeping",
                 "dql", "_xmit_lock")

    def __init__(self, dev: "NetDevice", index: int, state_addr: int, dql):
        self.dev = dev
        self.index = index
        self.ctx = dev.net.ctx
        #: ``&dev_queue->state``: the ``unsigned long`` of __QUEUE_STATE_* bits in simulated memory.
        self.state_addr = state_addr
        #: Jiffy of the last successful transmit (the watchdog's reference).
        self.trans_start = 0
        #: TX timeouts the watchdog declared on this queue.
        self.trans_timeout = 0
        noop = dev.net.noop_qdisc  # dev_init_scheduler_queue
        #: The qdisc packets are queued to now (the noop qdisc while the device is deactivated).
        self.qdisc = noop
        #: The qdisc this queue owns, active or not (``qdisc_sleeping``).
        self.qdisc_sleeping = noop
        self.dql = dql
        #: HARD_TX_LOCK's lock (``_xmit_lock``; ``xmit_lock_owner`` is its ``owner``).
        self._xmit_lock = spinlock_t(dev.net, f"{dev.name} txq{index} _xmit_lock")

    def __repr__(self) -> str:
        # memory as it is now, not through a CPU (a repr must not be a load of the model)
        state = self.ctx.host.mem.read64(self.state_addr)
        return f"<netdev_queue {self.dev.name}:{self.index} state={state:#x}>"


class NetDevice:
    """A network device with ``num_tx_queues`` TX queues, on NetCore ``net``.

    Starts registered (PRESENT), down (not running) and with carrier (Linux
    drivers call ``netif_carrier_off`` at probe). ``priv`` is the driver's
    private state (``netdev_priv``).
    """

    def __init__(self, net, name: str = "eth0", num_tx_queues: int = 1, num_rx_queues: int = 1):
        if num_tx_queues < 1:
            raise ValueError(f"{name}: needs at least one TX queue")
        self.net = net
        self.name = name
        self.num_tx_queues = num_tx_queues
        self.real_num_tx_queues = num_tx_queues
        self.num_rx_queues = num_rx_queues
        engine = net.engine
        clock = lambda: jiffies(engine.now)  # noqa: E731 - BQL's jiffies
        # netif_alloc_netdev_queues: one kzalloc'd array of queues (their shared part, see above)
        block = net.host.dma.kzalloc(NETDEV_QUEUE_SIZE * num_tx_queues, 64)
        self._tx: list[netdev_queue] = []
        for i in range(num_tx_queues):
            base = block + NETDEV_QUEUE_SIZE * i
            d = dql(net.ctx, base + NETDEV_QUEUE_DQL, clock)
            dql_init(d, HZ)
            self._tx.append(netdev_queue(self, i, base + NETDEV_QUEUE_STATE, d))
        self.state = _LINK_STATE_PRESENT
        self.features = 0
        self.hw_features = 0
        self.mtu = 1500
        self.tx_queue_len = 1000
        self.gso_max_size = 65536
        self.gso_max_segs = 65535
        self.hard_header_len = 14
        self.needed_headroom = 0
        self.dev_addr = bytes(6)
        #: The link-layer broadcast address (``dev->broadcast``: Ethernet's, as ``ether_setup`` sets it).
        self.broadcast = b"\xff" * 6
        #: IPv4's per-device state (``dev->ip_ptr``: an ``in_device``), made when the first
        #: address is added; None until then.
        self.ip_ptr = None
        self.stats = net_device_stats()
        #: Frames received for a protocol nobody handles (``dev->rx_nohandler``).
        self.rx_nohandler = 0
        #: The root qdisc (``dev->qdisc``: the noop qdisc until dev_activate attaches the
        #: default ones, mq on a multiqueue device).
        self.qdisc = net.noop_qdisc
        #: Packet taps (``ptype_all``: tcpdump, AF_PACKET): ``fn(frame: bytes, direction, dev)``
        #: with direction "tx" (a copy of each frame handed to the driver) or "rx".
        self.taps: list[Callable] = []
        #: XPS: TX queue index -> set of CPUs (``queues/tx-N/xps_cpus``); empty: XPS off.
        self.xps_cpus: dict[int, set[int]] = {}
        self.carrier_up_count = 0
        self.carrier_down_count = 0
        #: Jiffies a queue may stay stopped before ndo_tx_timeout (0: 5 s when the watchdog starts).
        self.watchdog_timeo = 0
        self.watchdog_timer = net.timers.timer_setup(lambda t: dev_watchdog(self))
        self.napi_list: list = []
        self.priv = None
        self.ndo_open: Callable | None = None
        self.ndo_stop: Callable | None = None
        self.ndo_start_xmit: Callable | None = None
        self.ndo_tx_timeout: Callable | None = None
        self.ndo_select_queue: Callable | None = None
        net.devices.append(self)

    def __repr__(self) -> str:
        return f"<NetDevice {self.name} txqs={self.num_tx_queues} state={self.state:#x}>"


# --- queues -----------------------------------------------------------------------------------
def netdev_get_tx_queue(dev: NetDevice, index: int) -> netdev_queue:
    return dev._tx[index]


def skb_get_tx_queue(dev: NetDevice, skb) -> netdev_queue:
    return dev._tx[skb.queue_mapping]


def netif_tx_stop_queue(txq: netdev_queue) -> None:
    """The driver stops the queue: ``set_bit(DRV_XOFF)`` (atomic, unordered)."""
    set_bit(txq.ctx.cpu, __QUEUE_STATE_DRV_XOFF, txq.state_addr)


def netif_tx_start_queue(txq: netdev_queue) -> None:
    """``clear_bit(DRV_XOFF)`` without scheduling (at open, before any traffic)."""
    clear_bit(txq.ctx.cpu, __QUEUE_STATE_DRV_XOFF, txq.state_addr)


def netif_tx_wake_queue(txq: netdev_queue) -> None:
    """``test_and_clear_bit(DRV_XOFF)`` (fully ordered if it was set); if it was, schedule the queue."""
    if test_and_clear_bit(txq.ctx.cpu, __QUEUE_STATE_DRV_XOFF, txq.state_addr):
        # mutual call: netdevice.h's inlines call __netif_schedule, and sch_generic.c uses netdevice.h
        from .qdisc import __netif_schedule
        __netif_schedule(txq.qdisc)


def netif_tx_start_all_queues(dev: NetDevice) -> None:
    for txq in dev._tx:
        netif_tx_start_queue(txq)


def netif_tx_stop_all_queues(dev: NetDevice) -> None:
    for txq in dev._tx:
        netif_tx_stop_queue(txq)


def netif_stop_subqueue(dev: NetDevice, queue_index: int) -> None:
    netif_tx_stop_queue(dev._tx[queue_index])


def netif_wake_subqueue(dev: NetDevice, queue_index: int) -> None:
    netif_tx_wake_queue(dev._tx[queue_index])


def __netif_subqueue_stopped(dev: NetDevice, queue_index: int) -> bool:
    """True if the driver stopped TX queue ``queue_index`` (DRV_XOFF; BQL's XOFF does not count)."""
    return netif_tx_queue_stopped(dev._tx[queue_index])


def netif_tx_queue_stopped(txq: netdev_queue) -> bool:
    """``test_bit(DRV_XOFF)``: a plain load."""
    return test_bit(txq.ctx.cpu, __QUEUE_STATE_DRV_XOFF, txq.state_addr)


def netif_xmit_stopped(txq: netdev_queue) -> bool:
    """True if the driver or BQL stopped the queue (a plain load): the qdisc must not hand it packets."""
    return bool(txq.ctx.cpu.load(txq.state_addr, 8) & QUEUE_STATE_ANY_XOFF)


def netif_xmit_frozen_or_stopped(txq: netdev_queue) -> bool:
    """Stopped, or frozen around a reconfiguration (a plain load)."""
    return bool(txq.ctx.cpu.load(txq.state_addr, 8) & QUEUE_STATE_ANY_XOFF_OR_FROZEN)


def netif_schedule_queue(txq: netdev_queue) -> None:
    """Schedule the queue unless it is (still) stopped — BQL's wake path."""
    if not netif_xmit_stopped(txq):
        # mutual call: netdevice.h's inlines call __netif_schedule, and sch_generic.c uses netdevice.h
        from .qdisc import __netif_schedule
        __netif_schedule(txq.qdisc)


def txq_trans_update(txq: netdev_queue) -> None:
    """Record a transmit on ``txq`` now (the watchdog measures stalls from here)."""
    txq.trans_start = jiffies(txq.dev.net.engine.now)


def netif_trans_update(dev: NetDevice) -> None:
    txq_trans_update(dev._tx[0])


def netdev_start_xmit(skb, dev: NetDevice, txq: netdev_queue, more: bool = False) -> int:
    """Hand ``skb`` to the driver with the "more packets follow" hint; the driver's return code."""
    skb.xmit_more = more
    rc = dev.ndo_start_xmit(skb, dev)
    if rc == NETDEV_TX_OK:
        txq_trans_update(txq)
    return rc


# --- device state -------------------------------------------------------------------------------
def netif_running(dev: NetDevice) -> bool:
    return bool(dev.state & __LINK_STATE_START)


def netif_device_present(dev: NetDevice) -> bool:
    return bool(dev.state & __LINK_STATE_PRESENT)


def netif_carrier_ok(dev: NetDevice) -> bool:
    return not dev.state & __LINK_STATE_NOCARRIER


def netif_carrier_on(dev: NetDevice) -> None:
    """Link up: counted, and the TX watchdog starts if the device is running."""
    if dev.state & __LINK_STATE_NOCARRIER:
        dev.state &= ~__LINK_STATE_NOCARRIER
        dev.carrier_up_count += 1
        dev.net.engine.log(dev.name, "carrier", 1)
        if netif_running(dev):
            __netdev_watchdog_up(dev)
        # mutual call: link_watch.c runs sch_generic.c's dev_activate, which uses netdevice.h
        from .link_watch import linkwatch_fire_event
        linkwatch_fire_event(dev)


def netif_carrier_off(dev: NetDevice) -> None:
    """Link down (the watchdog stops checking until the carrier returns)."""
    if not dev.state & __LINK_STATE_NOCARRIER:
        dev.state |= __LINK_STATE_NOCARRIER
        dev.carrier_down_count += 1
        dev.net.engine.log(dev.name, "carrier", 0)
        # mutual call: link_watch.c runs sch_generic.c's dev_deactivate, which uses netdevice.h
        from .link_watch import linkwatch_fire_event
        linkwatch_fire_event(dev)


# --- the TX watchdog ---------------------------------------------------------------------------
def __netdev_watchdog_up(dev: NetDevice) -> None:
    """Arm the watchdog ``watchdog_timeo`` jiffies from now (if the driver has ndo_tx_timeout)."""
    if dev.ndo_tx_timeout is None:
        return
    if dev.watchdog_timeo <= 0:
        dev.watchdog_timeo = 5 * HZ
    dev.net.timers.mod_timer(dev.watchdog_timer, jiffies(dev.net.engine.now) + dev.watchdog_timeo)


def dev_watchdog(dev: NetDevice) -> None:
    """The watchdog timer: the first queue stopped for over ``watchdog_timeo`` gets ndo_tx_timeout.

    Runs only while the device is present, running and has carrier; then it
    re-arms itself. (Linux also freezes the queues around the call and
    rounds the next expiry to a whole second; neither is modelled.)
    """
    if not (netif_device_present(dev) and netif_running(dev) and netif_carrier_ok(dev)):
        return
    now = jiffies(dev.net.engine.now)
    for txq in dev._tx:
        if not netif_xmit_stopped(txq):
            continue
        if time_after(now, txq.trans_start + dev.watchdog_timeo):
            txq.trans_timeout += 1
            dev.net.engine.log(dev.name, "tx_timeout", txq.index)
            dev.ndo_tx_timeout(dev, txq.index)
            break
    dev.net.timers.mod_timer(dev.watchdog_timer, now + dev.watchdog_timeo)
