"""The qdisc layer: pfifo_fast, bypass, the TX quota, requeue, BQL, bulk dequeue, NET_TX, deactivation.

Expected values come from stack_facts §8 and the kernel code it summarises
(net/sched/sch_generic.c, net/core/dev.c), not from running the model:

* pfifo_fast: band = prio2band[priority & 15] = {1,2,2,2,1,2,0,0,1,1,1,1,1,1,1,1};
  band 0 before 1 before 2; limit dev->tx_queue_len (1000) per band
  (recent, lockless rings) or in total, the requeued skb included (3.10);
  a full queue drops (drops + 1, skb freed, NET_XMIT_DROP).
* __dev_xmit_skb bypasses an empty pfifo_fast (bstats count, nothing is
  enqueued); __qdisc_run sends at most dev_tx_weight (recent) / weight_p
  (3.10) = 64 packets, and the check ``quota <= 0`` after the 64th packet
  reschedules the qdisc: NET_TX.
* NETDEV_TX_BUSY, or a stopped txq at transmit time: dev_requeue_skb puts
  the skb at the head (requeues + 1) and NET_TX is raised; the requeued
  skb goes first once its txq runs.
* BQL's STACK_XOFF stops dequeueing; the completion that clears it
  schedules the qdisc (NET_TX on the completing CPU). Recent kernels
  bulk-dequeue while dql_avail lasts and pass xmit_more within the chain.
* net_tx_action frees the completion queue before running qdiscs;
  dev_deactivate points the txqs at noop (NET_XMIT_CN) and frees what the
  qdiscs held as drops.
* HARD_TX_LOCK: the next holder of a txq's ``_xmit_lock`` on another CPU
  sees every store the last holder made before unlocking (spin_unlock's
  release, spin_lock's acquire), even on arm64 with stores still buffered.
"""
import struct

import pytest

from sim.assembly.skbs import frame_seq, numbered_frame
from sim.engine import Engine, explore
from sim.host import Host
from stack.core import bitops
from stack.core.bql import netdev_tx_completed_queue
from stack.core.dynamic_queue_limits import DQL_ADJ_LIMIT
from stack.core.netcore import NetCore
from stack.core.dev import dev_close, dev_open, dev_queue_xmit
from stack.core.netdevice import (NET_XMIT_CN, NET_XMIT_DROP, NET_XMIT_SUCCESS, NETDEV_TX_OK,
                                  __QUEUE_STATE_STACK_XOFF, netif_carrier_off, netif_carrier_on,
                                  netif_stop_subqueue, netif_wake_subqueue)
from stack.core.qdisc import (TCQ_F_CAN_BYPASS, TCQ_F_NOLOCK, TCQ_F_ONETXQUEUE, __QDISC_STATE_DEACTIVATED,
                              dev_activate, dev_deactivate, dev_requeue_skb, mq, pfifo_fast, prio2band,
                              qdisc_run, tc_qdisc_show)
from stack.core.skbuff import consume_skb, dev_kfree_skb_irq, skb_from_bytes, skb_to_bytes
from stack.core.softirq import NET_TX_SOFTIRQ
from stack.core.spinlock import spin_lock, spin_unlock

from tests.stack.harness import FakeDriver, run_gen
from sim.assembly.skbs import make_skb


def stack_xoff(txq) -> bool:
    """BQL's STACK_XOFF bit of ``txq``, tested by the current CPU."""
    return bitops.test_bit(txq.ctx.cpu, __QUEUE_STATE_STACK_XOFF, txq.state_addr)


VERSIONS = ["recent", "3.10"]
L = 100  # frame size used throughout


class FakeDev(FakeDriver):
    """The fake driver with the qdisc tests' helpers: numbered frames, a log of transmits."""

    def __init__(self, net, ntx: int = 1, bql: bool = False):
        super().__init__(net, "fake0", ntx, bql=bql)
        self.log = []

    def ndo_start_xmit(self, skb, dev):
        rc = super().ndo_start_xmit(skb, dev)
        if rc == NETDEV_TX_OK:
            self.log.append(("xmit", frame_seq(self.sent[-1].data)))
        return rc

    def seqs(self):
        return [frame_seq(s.data) for s in self.sent]

    def skb(self, n: int, priority: int = 0, size: int = L):
        skb = skb_from_bytes(self.net.skb, numbered_frame(n, size))
        skb.dev = self.dev
        skb.priority = priority
        return skb

    def send(self, seqs, priorities=None, cpu: int = 0, comm: str = "app"):
        """dev_queue_xmit each skb in one task stretch on ``cpu``; the return codes."""
        rcs = []
        with self.net.ctx.on_cpu(cpu, f"task:{comm}"):
            for i, n in enumerate(seqs):
                rcs.append(dev_queue_xmit(self.skb(n, priorities[i] if priorities else 0)))
        return rcs


def make(net, version="recent", ntx=1, bql=False):
    net.kernel_version = version
    fake = FakeDev(net, ntx, bql)
    fake.open()
    return fake


def qdisc0(fake):
    return fake.dev._tx[0].qdisc


def net_tx(net, cpu=None):
    return net.softirq.count(NET_TX_SOFTIRQ, cpu)


# --- attaching --------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
def test_open_attaches_pfifo_fast_per_queue_and_mq_on_a_multiqueue_device(net, version):
    one = make(net, version)
    q = qdisc0(one)
    assert isinstance(q, pfifo_fast) and one.dev.qdisc is q
    assert q.flags & TCQ_F_CAN_BYPASS and q.flags & TCQ_F_ONETXQUEUE
    assert bool(q.flags & TCQ_F_NOLOCK) == (version == "recent")
    four = FakeDev(net, ntx=4)
    run_gen(dev_open(four.dev))
    assert isinstance(four.dev.qdisc, mq)
    children = [t.qdisc for t in four.dev._tx]
    assert children == four.dev.qdisc.children and len(set(map(id, children))) == 4
    assert [name for name, _ in tc_qdisc_show(four.dev)] == ["mq"] + [f"pfifo_fast parent :{i}" for i in range(1, 5)]


# --- pfifo_fast --------------------------------------------------------------------------------------
def test_prio2band_is_the_linux_table(net):
    fake = make(net)
    q = qdisc0(fake)
    expected = [1, 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]
    assert list(prio2band) == expected
    with net.ctx.on_cpu(0, "task:app"):
        for prio in range(16):
            before = q.band_lengths()
            assert q.enqueue(fake.skb(prio, priority=prio)) == NET_XMIT_SUCCESS
            grown = [a - b for a, b in zip(q.band_lengths(), before)]
            assert grown.index(1) == expected[prio], prio
        before = q.band_lengths()
        q.enqueue(fake.skb(99, priority=16 + 6))  # priority & 15 = 6 -> band 0
        assert q.band_lengths()[0] == before[0] + 1


@pytest.mark.parametrize("version", VERSIONS)
def test_strict_priority_between_the_bands(net, version):
    fake = make(net, version)
    q = qdisc0(fake)
    prios = [0, 1, 6, 0, 2, 7]  # bands 1, 2, 0, 1, 2, 0
    with net.ctx.on_cpu(0, "task:app"):
        for n, p in enumerate(prios):
            q.enqueue(fake.skb(n, priority=p))
        order = []
        while (skb := q.dequeue()) is not None:
            order.append(frame_seq(skb_to_bytes(skb)))
            consume_skb(skb)
    assert order == [2, 5, 0, 3, 1, 4]


@pytest.mark.parametrize("version", VERSIONS)
def test_through_the_device_the_requeued_skb_goes_first_then_the_bands_in_order(net, version):
    fake = make(net, version)
    netif_stop_subqueue(fake.dev, 0)
    # The first skb finds the qdisc empty: bypass -> sch_direct_xmit -> txq stopped -> requeued.
    rcs = fake.send(range(6), priorities=[1, 0, 6, 2, 7, 0])  # bands 2, 1, 0, 2, 0, 1
    assert rcs == [NET_XMIT_SUCCESS] * 6
    q = qdisc0(fake)
    assert q.requeues == 1 and q.qlen == 6 and fake.sent == []
    with net.ctx.on_cpu(0, "softirq:NET_RX"):
        netif_wake_subqueue(fake.dev, 0)
    net.engine.run()
    assert fake.seqs() == [0, 2, 4, 1, 5, 3]
    assert q.qlen == 0 and q.backlog == 0


def test_recent_limit_is_per_band_and_a_drop_is_counted_and_freed(net):
    fake = make(net, "recent")
    q = qdisc0(fake)
    assert q.limit == fake.dev.tx_queue_len == 1000
    with net.ctx.on_cpu(0, "task:app"):
        assert all(q.enqueue(fake.skb(n)) == NET_XMIT_SUCCESS for n in range(1000))  # band 1 full
        dropped = net.skb.dropped
        assert q.enqueue(fake.skb(1000)) == NET_XMIT_DROP
        assert q.drops == 1 and net.skb.dropped == dropped + 1
        assert all(q.enqueue(fake.skb(2000 + n, priority=6)) == NET_XMIT_SUCCESS for n in range(1000))
        assert q.enqueue(fake.skb(3000, priority=6)) == NET_XMIT_DROP
    assert q.band_lengths() == (1000, 1000, 0) and q.qlen == 2000 and q.drops == 2
    assert q.backlog == 2000 * L and q.enqueues == 2000


def test_3_10_limit_is_1000_in_total_counting_the_requeued_skb(net):
    fake = make(net, "3.10")
    q = qdisc0(fake)
    with net.ctx.on_cpu(0, "task:app"):
        dev_requeue_skb(fake.skb(0), q)  # q->gso_skb: still part of the queue
        assert all(q.enqueue(fake.skb(n, priority=6 * (n % 2))) == NET_XMIT_SUCCESS for n in range(1, 1000))
        assert q.qlen == 1000
        assert q.enqueue(fake.skb(1000, priority=6)) == NET_XMIT_DROP
        assert q.enqueue(fake.skb(1001, priority=2)) == NET_XMIT_DROP
    assert q.drops == 2 and q.qlen == 1000 and q.requeues == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_dev_queue_xmit_returns_drop_when_the_qdisc_is_full(net, version):
    fake = make(net, version)
    fake.dev.tx_queue_len = 3
    dev_deactivate(fake.dev)
    fake.dev.qdisc = net.noop_qdisc  # re-create the qdiscs with the new tx_queue_len
    dev_activate(fake.dev)
    netif_stop_subqueue(fake.dev, 0)
    rcs = fake.send(range(6))
    # recent: 1 requeued + 3 in band 1, then drops; 3.10: 1 requeued + 2 queued = 3 in total
    queued = 4 if version == "recent" else 3
    assert rcs == [NET_XMIT_SUCCESS] * queued + [NET_XMIT_DROP] * (6 - queued)
    assert qdisc0(fake).drops == 6 - queued


# --- bypass -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
def test_an_empty_qdisc_is_bypassed_nothing_enqueued_and_no_net_tx(net, version):
    fake = make(net, version)
    rcs = fake.send(range(3))
    net.engine.run()
    q = qdisc0(fake)
    assert rcs == [NET_XMIT_SUCCESS] * 3
    assert fake.seqs() == [0, 1, 2]
    assert {s.context for s in fake.sent} == {"task:app"}
    assert q.enqueues == 0 and q.bypasses == 3
    assert q.packets == 3 and q.bytes == 3 * L and q.qlen == 0 and q.backlog == 0
    assert net_tx(net) == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_bstats_count_gso_segments_and_pkt_len_adds_the_repeated_headers(net, version):
    fake = make(net, version)
    fake.dev.features = ~0  # every offload
    eth = bytes.fromhex("020000000002020000000001") + b"\x08\x00"
    payload = bytes(3000)
    tcp = struct.pack("!HHIIBBHHH", 1, 2, 0, 0, 0x50, 0x10, 65535, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 20 + len(payload), 1, 0x4000, 64, 6, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    with net.ctx.on_cpu(0, "task:app"):
        skb = make_skb(net, eth + ip + tcp + payload, gso_size=1000)
        skb.dev = fake.dev
        assert skb.shinfo.gso_segs == 3
        dev_queue_xmit(skb)
    q = qdisc0(fake)
    # pkt_len = len + (gso_segs - 1) * (14 + 20 + 20)
    assert q.packets == 3 and q.bytes == len(eth + ip + tcp + payload) + 2 * 54


# --- the quota ----------------------------------------------------------------------------------------
def _qdisc_run_locked(q) -> None:
    """``qdisc_run`` as its callers run it: under the root lock unless the qdisc is NOLOCK."""
    lock = None if q.flags & TCQ_F_NOLOCK else q.q_lock
    if lock is not None:
        spin_lock(lock)
    qdisc_run(q)
    if lock is not None:
        spin_unlock(lock)


@pytest.mark.parametrize("version, waiting, net_tx_runs", [
    # recent: sch_direct_xmit returns true after a send, so the quota check follows the 64th packet
    # even when it emptied the queue (one NET_TX run then finds nothing); each run of 64 reschedules.
    ("recent", 63, 0), ("recent", 64, 1), ("recent", 65, 1), ("recent", 128, 2), ("recent", 200, 3),
    # 3.10: sch_direct_xmit returns qdisc_qlen(q): the packet that empties the queue ends the loop
    # before the quota is counted, so NET_TX is raised only when more than 64 are waiting.
    ("3.10", 63, 0), ("3.10", 64, 0), ("3.10", 65, 1), ("3.10", 128, 1), ("3.10", 200, 3),
])
def test_one_run_sends_64_then_net_tx_takes_over(net, version, waiting, net_tx_runs):
    fake = make(net, version)
    q = qdisc0(fake)
    with net.ctx.on_cpu(0, "task:app"):
        for n in range(waiting):
            q.enqueue(fake.skb(n))
        _qdisc_run_locked(q)
    in_task = min(waiting, 64)
    assert fake.seqs() == list(range(in_task))
    net.engine.run()
    assert fake.seqs() == list(range(waiting))
    assert [s.context for s in fake.sent] == ["task:app"] * in_task + ["softirq:NET_TX"] * (waiting - in_task)
    assert net_tx(net) == net_tx_runs
    assert q.quota_exhausted == net_tx_runs


@pytest.mark.parametrize("version, first_run", [("recent", 10), ("3.10", 64)])
def test_quota_source_is_dev_tx_weight_recent_and_weight_p_in_3_10(net, version, first_run):
    net.dev_tx_weight = 10
    fake = make(net, version)
    q = qdisc0(fake)
    with net.ctx.on_cpu(0, "task:app"):
        for n in range(100):
            q.enqueue(fake.skb(n))
        _qdisc_run_locked(q)
    assert len(fake.sent) == first_run


# --- requeue ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
def test_busy_with_the_queue_stopped_requeues_and_the_wake_sends_in_order(net, version):
    fake = make(net, version)
    fake.busy_at = {3}  # the driver stops the queue and answers BUSY for the third skb
    assert fake.send(range(5)) == [NET_XMIT_SUCCESS] * 5
    q = qdisc0(fake)
    assert fake.seqs() == [0, 1]
    assert q.requeues == 1 and q.qlen == 3
    net.engine.run()
    assert net_tx(net, 0) == 1  # raised by the requeue; the queue is still stopped, nothing sent
    assert fake.seqs() == [0, 1]
    with net.ctx.on_cpu(1, "softirq:NET_RX"):  # the driver's TX clean wakes the queue on CPU 1
        netif_wake_subqueue(fake.dev, 0)
    net.engine.run()
    assert fake.seqs() == [0, 1, 2, 3, 4]
    assert [(s.cpu, s.context) for s in fake.sent[2:]] == [(1, "softirq:NET_TX")] * 3
    assert net_tx(net, 1) == 1 and q.requeues == 1 and q.qlen == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_busy_without_stopping_is_retried_by_the_next_run(net, version):
    fake = make(net, version)
    fake.busy_at = {3}
    fake.stop_on_busy = False
    fake.send(range(5))
    net.engine.run()
    q = qdisc0(fake)
    assert fake.seqs() == [0, 1, 2, 3, 4]
    assert q.requeues == 1 and q.qlen == 0
    assert net_tx(net) == 1  # the requeue raised it once


# --- BQL and bulk dequeue ----------------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
def test_bql_stack_xoff_stops_dequeue_and_the_completion_schedules_the_qdisc(net, version):
    fake = make(net, version, bql=True)
    txq = fake.dev._tx[0]
    fake.send(range(4))
    q = qdisc0(fake)
    # BQL starts with limit 0: the first packet stops the queue (STACK_XOFF); the second finds it
    # stopped in sch_direct_xmit and is requeued; the rest wait in the qdisc.
    assert fake.seqs() == [0]
    assert stack_xoff(txq)
    assert q.requeues == 1 and q.qlen == 3
    net.engine.run()
    assert net_tx(net, 0) == 1 and fake.seqs() == [0]
    with net.ctx.on_cpu(1, "softirq:NET_RX"):  # TX completion of packet 0 on CPU 1
        netdev_tx_completed_queue(txq, 1, L)
    assert not stack_xoff(txq)
    net.engine.run()
    # limit becomes L (starved: completed − prev_num_queued), adj_limit 2L: room for 1 more in flight,
    # and the packet that goes over the limit is still sent: 1 and 2 go, 2 stops the queue again.
    assert fake.seqs() == [0, 1, 2]
    assert stack_xoff(txq)
    assert net_tx(net, 1) == 1
    with net.ctx.on_cpu(1, "softirq:NET_RX"):
        netdev_tx_completed_queue(txq, 2, 2 * L)
    net.engine.run()
    assert fake.seqs() == [0, 1, 2, 3] and net_tx(net, 1) == 2
    assert [s.context for s in fake.sent] == ["task:app"] + ["softirq:NET_TX"] * 3


@pytest.mark.parametrize("version", VERSIONS)
def test_bulk_dequeue_within_bql_budget_with_xmit_more(net, version):
    fake = make(net, version, bql=True)
    txq = fake.dev._tx[0]
    netif_stop_subqueue(fake.dev, 0)
    fake.send(range(5))  # 0 requeued, 1-4 queued
    net.ctx.cpu.store(txq.dql.addr + DQL_ADJ_LIMIT, 4, 3 * L + L // 2)  # dql_avail: 3.5 packets' worth allowed
    with net.ctx.on_cpu(0, "softirq:NET_RX"):
        netif_wake_subqueue(fake.dev, 0)
    net.engine.run()
    # 0 comes from the requeue slot alone; then recent kernels chain 1, 2, 3 while
    # bytelimit = avail(2.5L) − len stays positive (2.5L−L, −L, −L); 3 takes BQL over its limit.
    assert fake.seqs() == [0, 1, 2, 3]
    mores = [s.xmit_more for s in fake.sent]
    assert mores == ([False, True, True, False] if version == "recent" else [False] * 4)
    assert stack_xoff(txq) and qdisc0(fake).qlen == 1


# --- NET_TX ---------------------------------------------------------------------------------------
def test_net_tx_action_frees_the_completion_queue_before_running_qdiscs(net):
    fake = make(net)
    netif_stop_subqueue(fake.dev, 0)
    fake.send([7])  # requeued: waits for the wake
    net.engine.run()
    with net.ctx.on_cpu(0, "task:app"):
        victim = fake.skb(1)
    victim.destructor = lambda skb: fake.log.append(("freed", 1))
    with net.ctx.on_cpu(0, "hardirq:eth0"):
        dev_kfree_skb_irq(victim)
        netif_wake_subqueue(fake.dev, 0)
    before = net_tx(net, 0)
    net.engine.run()
    assert fake.log == [("freed", 1), ("xmit", 7)]
    assert net_tx(net, 0) == before + 1  # one NET_TX run did both


def test_a_scheduled_qdisc_is_queued_once(net):
    fake = make(net)
    q = qdisc0(fake)
    with net.ctx.on_cpu(0, "hardirq:eth0"):
        netif_stop_subqueue(fake.dev, 0)
        netif_wake_subqueue(fake.dev, 0)
        netif_stop_subqueue(fake.dev, 0)
        netif_wake_subqueue(fake.dev, 0)
    assert net.softnet_data[0].output_queue == [q] and q.schedules == 1
    net.engine.run()
    assert net_tx(net, 0) == 1 and net.softnet_data[0].output_queue == []


# --- deactivation ----------------------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
def test_dev_deactivate_frees_queued_skbs_as_drops_and_noop_refuses(net, version):
    fake = make(net, version)
    netif_stop_subqueue(fake.dev, 0)
    fake.send(range(5))
    q = qdisc0(fake)
    assert q.qlen == 5
    dropped = net.skb.dropped
    with net.ctx.on_cpu(0, "task:ip"):
        dev_deactivate(fake.dev)
    assert net.skb.dropped == dropped + 5 and q.qlen == 0 and q.backlog == 0
    assert fake.dev._tx[0].qdisc is net.noop_qdisc and q.state & __QDISC_STATE_DEACTIVATED
    assert fake.send([9]) == [NET_XMIT_CN]
    assert net.skb.dropped == dropped + 6 and not net.skb.live
    with net.ctx.on_cpu(0, "task:ip"):
        dev_activate(fake.dev)
        netif_wake_subqueue(fake.dev, 0)
    assert qdisc0(fake) is q and not q.state & __QDISC_STATE_DEACTIVATED
    net.engine.run()
    assert fake.send([10]) == [NET_XMIT_SUCCESS] and fake.seqs() == [10]


def test_close_and_carrier_loss_deactivate_carrier_return_activates(net):
    fake = make(net)
    netif_stop_subqueue(fake.dev, 0)
    fake.send(range(3))
    q = qdisc0(fake)
    with net.ctx.on_cpu(0, "task:linkwatch"):
        netif_carrier_off(fake.dev)
    assert fake.dev._tx[0].qdisc is net.noop_qdisc and q.qlen == 0
    with net.ctx.on_cpu(0, "task:linkwatch"):
        netif_carrier_on(fake.dev)
    assert qdisc0(fake) is q
    fake.send(range(3, 5))
    assert q.qlen == 2
    dropped = net.skb.dropped
    with net.ctx.on_cpu(0, "task:ip"):
        run_gen(dev_close(fake.dev))
    assert net.skb.dropped == dropped + 2 and fake.dev._tx[0].qdisc is net.noop_qdisc
    assert not net.skb.live


def test_an_open_without_carrier_waits_for_it(net):
    fake = FakeDev(net)
    netif_carrier_off(fake.dev)
    run_gen(dev_open(fake.dev))
    assert fake.dev._tx[0].qdisc is net.noop_qdisc and fake.dev.qdisc is not net.noop_qdisc
    assert fake.send([1]) == [NET_XMIT_CN]  # nothing live yet: noop
    with net.ctx.on_cpu(0, "task:linkwatch"):
        netif_carrier_on(fake.dev)
    assert fake.send([2]) == [NET_XMIT_SUCCESS] and fake.seqs() == [2]


# --- HARD_TX_LOCK and memory ordering -------------------------------------------------------------
class IndexDev(FakeDev):
    """A driver with one index in memory that every transmit reads and advances (igb's next_to_use)."""

    def __init__(self, net):
        super().__init__(net)
        self.index = net.host.dma.kzalloc(8)
        self.seen = []

    def ndo_start_xmit(self, skb, dev):
        cpu = self.net.ctx.cpu
        i = cpu.load(self.index, 2)
        self.seen.append(i)
        cpu.store(self.index, 2, i + 1)
        return super().ndo_start_xmit(skb, dev)


def _handoff_run(policy):
    """Transmit on CPU 0, then on CPU 1 while CPU 0's store may still sit in its buffer (arm64)."""
    host = Host(Engine(policy), "arm64", ncpus=2, drain_delay_ps=1_000_000_000)
    net = NetCore(host)
    fake = IndexDev(net)
    fake.open()
    fake.send([1], cpu=0)
    fake.send([2], cpu=1)
    return tuple(fake.seen)


def test_the_next_holder_of_the_tx_lock_sees_what_the_last_one_wrote():
    # spin_lock reads the unlock store, which is ordered after the critical section's stores
    # (release), and orders its later loads after that read (acquire): CPU 1 reads 1, never 0,
    # whether CPU 0's store is still buffered or CPU 1 could otherwise load an older value.
    assert explore(_handoff_run).outcome_set == {(0, 1)}
