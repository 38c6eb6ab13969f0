"""A program writing ready-made frames to a packet socket: each one goes down through ``dev_queue_xmit``.

What a ``sendto()`` loop on an ``AF_PACKET``/``SOCK_RAW`` socket does in
Linux (``packet_snd``): the frame becomes an skb charged to the socket's
send buffer (``skb_set_owner_w``: ``sk_wmem_alloc`` += ``truesize``, given
back by ``sock_wfree`` when the skb is freed — by the driver's TX
completion, or as a drop), and is handed to :func:`stack.core.dev.dev_queue_xmit`
in process context. Before each write the program sleeps while the socket
has ``sk_sndbuf`` bytes or more in flight (``sock_alloc_send_skb``), so it
never outruns the qdisc; on a device that is down the write fails
(``-ENETDOWN``) and the skb is freed.

The tests build the skbs themselves (exact frames, frags, offloads), so the
sender takes them ready-made; ``send(skbs, burst, gap_ps)`` queues writes,
``burst`` of them back to back (each takes the CPU time its path charges),
then ``gap_ps`` of sleep. ``queue`` pins the TX queue the way
an administrator would, with XPS (``queues/tx-N/xps_cpus`` = the sender's
CPU).
"""
from __future__ import annotations

from collections import deque

from stack.core.dev import dev_queue_xmit
from stack.core.netdevice import NET_XMIT_SUCCESS, netif_running
from stack.core.skbuff import kfree_skb
from stack.core.sock import skb_set_owner_w, sock

__all__ = ["PacketSender"]


class PacketSender:
    """A task on CPU ``cpu`` writing skbs to ``dev`` through ``dev_queue_xmit`` (see the module docstring)."""

    def __init__(self, system, cpu: int, queue: int | None, comm: str):
        self.system = system
        self.dev = system.netdev
        self.cpu = cpu
        self.comm = comm
        #: The packet socket (``sk_sndbuf``: net.core.wmem_default); a freed skb wakes the writer.
        self.sk = sock(system.net)
        self.sk.sk_write_space = self._sk_write_space
        if queue is not None and self.dev.real_num_tx_queues > 1:
            _pin_xps(self.dev, cpu, queue)
        self.backlog: deque = deque()       # writes the program has not made yet
        self.sent = 0                       # dev_queue_xmit returned NET_XMIT_SUCCESS
        self.xmit_errors = 0                # NET_XMIT_DROP / NET_XMIT_CN: the qdisc dropped it
        self.wmem_waits = 0                 # times the program slept on a full send buffer
        self.done = None                    # the task: triggered once the backlog is written
        self._burst = 1
        self._gap_ps = 0
        self._wake = None

    def send(self, skbs, burst: int = 1, gap_ps: int = 0) -> None:
        """Queue writes of ``skbs``, ``burst`` per stretch of CPU time, ``gap_ps`` idle after each stretch."""
        self.backlog.extend(skbs)
        self._burst = burst
        self._gap_ps = gap_ps
        if self.done is None or self.done.triggered:
            self.done = self.system.kernel.spawn_task(self._run(), self.cpu, self.comm)

    def drop_backlog(self) -> int:
        """The writes not made yet fail (the device went down): their skbs are freed as drops; how many."""
        n = len(self.backlog)
        with self.system.kernel.on_cpu(self.cpu, f"task:{self.comm}"):
            while self.backlog:
                kfree_skb(self.backlog.popleft())
        self._wakeup()
        return n

    def _run(self):
        """The program: write the backlog, ``burst`` at a time, sleeping while the send buffer is full."""
        engine = self.system.engine
        while self.backlog:
            if self.sk.sk_wmem_alloc >= self.sk.sk_sndbuf:  # sock_alloc_send_skb: sleep until sock_wfree
                self.wmem_waits += 1
                self._wake = engine.event(f"{self.comm} wmem")
                yield self._wake
                continue
            for _ in range(self._burst):
                if not self.backlog or self.sk.sk_wmem_alloc >= self.sk.sk_sndbuf:
                    break
                self._write(self.backlog.popleft())
            yield self._gap_ps
        return self.sent

    def _write(self, skb) -> None:
        """``packet_snd``: charge the skb to the send buffer, then ``dev_queue_xmit`` (or -ENETDOWN)."""
        if not netif_running(self.dev):
            kfree_skb(skb)
            return
        skb.dev = self.dev
        skb_set_owner_w(skb, self.sk)
        if dev_queue_xmit(skb) == NET_XMIT_SUCCESS:
            self.sent += 1
        else:
            self.xmit_errors += 1

    def _sk_write_space(self, sk) -> None:
        """``sk_write_space`` (after ``sock_wfree``): a sleeping writer wakes once the buffer has room."""
        if sk.sk_wmem_alloc < sk.sk_sndbuf:
            self._wakeup()

    def _wakeup(self) -> None:
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()


def _pin_xps(dev, cpu: int, queue: int) -> None:
    """``echo <cpu mask> > queues/tx-<queue>/xps_cpus``: ``cpu`` transmits on ``queue`` only."""
    for cpus in dev.xps_cpus.values():
        cpus.discard(cpu)
    dev.xps_cpus.setdefault(queue, set()).add(cpu)
