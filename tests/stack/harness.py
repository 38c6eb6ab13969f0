"""Helpers for the stack tests: a fake driver and the TCP harness (the fixtures are in ``conftest.py``).

:class:`FakeDriver` is a net device whose driver is fake: its
``ndo_start_xmit`` records every skb the device layer hands it
(:data:`Xmit`) — the seam below which the device and IPv4 tests fake the
hardware.

The TCP harness: a fake IP layer that captures skbs, and a scripted peer.

* :class:`FakeIp` stands at ``icsk_af_ops->queue_xmit`` (where TCP reaches
  IP in Linux: every TCP socket of the net is created with the fake's
  af_ops, a passive open's child inherits them): it records each skb TCP
  hands down (parsed TCP header, GSO and checksum fields, the CPU context it
  was sent from) and either holds it (a packet sitting in qdisc/NIC) until
  :meth:`FakeIp.complete` frees it in a chosen softirq context — which runs
  ``tcp_wfree`` as the driver's TX clean would — or frees it at once.
* :class:`Peer` builds segments with scapy (IP + TCP with options and a
  correct checksum) into skbs (``skb_from_bytes``; IP header at the network
  header, ``data`` at the TCP header, as ``ip_local_deliver`` hands them on)
  and delivers them to ``tcp_v4_rcv`` in ``softirq:NET_RX`` context.
* :func:`establish` runs socket/bind/listen/accept as a task and the peer's
  SYN / ACK, returning the accepted socket.

Test files import what they use from here (``from tests.stack.harness import ...``).
"""
from __future__ import annotations

import struct
from collections import namedtuple
from dataclasses import dataclass, field

from scapy.layers.inet import IP, TCP
from scapy.packet import Raw

from sim.engine import US, Engine
from sim.host import Host
from stack import socket as so
from stack.core.bql import netdev_tx_sent_queue
from stack.core.netcore import NetCore
from stack.core.dev import dev_open, skb_checksum_help
from stack.core.netdevice import NETDEV_TX_BUSY, NETDEV_TX_OK, NetDevice, netif_stop_subqueue
from stack.core.skbuff import (CHECKSUM_PARTIAL, ETH_P_IP, consume_skb, skb_from_bytes, skb_pull,
                               skb_reset_network_header, skb_to_bytes)
from stack.initcalls import net_init
from stack.ipv4.inet import inet_create
from stack.ipv4.tcp_ipv4 import tcp_v4_rcv
from stack.ipv4.tcp_sock import inet_connection_sock_af_ops

HOST = "10.0.0.1"
PEER = "10.0.0.2"
PORT = 5001
PEER_PORT = 40000


@dataclass
class Sent:
    """One skb TCP handed to IP."""
    skb: object
    context: str
    time: int
    seq: int
    ack: int
    flags: int
    window: int
    hdr_len: int
    payload: bytes
    options: bytes
    gso_size: int
    gso_segs: int
    gso_type: int
    ip_summed: int
    csum_start_rel: int   # csum_start - transport header
    csum_offset: int
    check: int
    truesize: int
    freed: bool = False

    @property
    def len(self) -> int:
        return len(self.payload)

    @property
    def segs(self) -> int:
        return self.gso_segs if self.gso_size else 1

    @property
    def tsval(self):
        i = self.options.find(b"\x08\x0a")
        return struct.unpack_from("!II", self.options, i + 2) if i >= 0 else None


class FakeIp:
    """``queue_xmit`` of the TCP sockets' af_ops, for tests (see the module docstring)."""

    def __init__(self, net, hold: bool = True):
        self.net = net
        self.hold = hold
        self.sent: list[Sent] = []
        self.held: list[Sent] = []
        self.rc = 0

    def __call__(self, sk, skb) -> int:
        raw = skb_to_bytes(skb)
        sport, dport, seq, ack, off, flags, window, check, _urg = struct.unpack_from("!HHIIBBHHH", raw)
        hdr_len = (off >> 4) * 4
        sh = skb.shinfo
        rec = Sent(skb=skb, context=self.net.ctx.cpu.context, time=self.net.engine.now, seq=seq, ack=ack,
                   flags=flags, window=window, hdr_len=hdr_len, payload=raw[hdr_len:], options=raw[20:hdr_len],
                   gso_size=sh.gso_size, gso_segs=sh.gso_segs, gso_type=sh.gso_type, ip_summed=skb.ip_summed,
                   csum_start_rel=skb.csum_start - skb.transport_header, csum_offset=skb.csum_offset,
                   check=check, truesize=skb.truesize)
        self.sent.append(rec)
        if self.rc:
            consume_skb(skb)
            rec.freed = True
            return self.rc
        if self.hold:
            self.held.append(rec)
        else:
            consume_skb(skb)
            rec.freed = True
        return 0

    def data(self) -> list[Sent]:
        """The skbs that carried payload."""
        return [s for s in self.sent if s.payload]

    def complete(self, n: int | None = None, cpu: int = 1, context: str = "softirq:NET_RX") -> int:
        """Free the first ``n`` held skbs (all when None) now, as a TX clean in ``context``."""
        engine = self.net.engine
        batch = self.held if n is None else self.held[:n]
        self.held = self.held[len(batch):]

        def proc():
            with self.net.ctx.on_cpu(cpu, context) as c:
                for rec in batch:
                    consume_skb(rec.skb)
                    rec.freed = True
                owed = c.settle()
            if owed:
                yield owed
        engine.spawn(proc())
        engine.run(engine.now + 1)
        return len(batch)


@dataclass
class Peer:
    """The far end, scripted: builds segments with scapy and delivers them to tcp_v4_rcv."""
    net: object
    addr: str = PEER
    port: int = PEER_PORT
    host: str = HOST
    host_port: int = PORT
    seq: int = 1000
    wscale: int = 7
    timestamps: bool = True
    mss: int = 1460
    tsval: int = 5000
    rx_cpu: int = 1
    delivered: list = field(default_factory=list)

    def skb(self, flags: str, seq=None, ack=0, window=65535, options=None, payload=b""):
        seq = self.seq if seq is None else seq
        opts = [] if options is None else list(options)
        if options is None and self.timestamps:
            opts = [("NOP", None), ("NOP", None), ("Timestamp", (self.tsval, self.ts_echo))]
        pkt = IP(src=self.addr, dst=self.host) / TCP(sport=self.port, dport=self.host_port, flags=flags, seq=seq,
                                                     ack=ack, window=window, options=opts)
        if payload:
            pkt = pkt / Raw(payload)
        frame = bytes(pkt)
        with self.net.ctx.on_cpu(self.rx_cpu, "softirq:NET_RX"):   # written by the CPU that receives
            skb = skb_from_bytes(self.net.skb, frame)
        skb.protocol = ETH_P_IP
        skb_reset_network_header(skb)
        skb_pull(skb, 20)
        skb.transport_header = skb.data - skb.head
        return skb

    ts_echo: int = 0

    def deliver(self, skb, cpu: int | None = None) -> None:
        """Hand ``skb`` to tcp_v4_rcv in NET_RX softirq context on ``cpu`` now; run to completion."""
        net = self.net
        cpu = self.rx_cpu if cpu is None else cpu

        def proc():
            with net.ctx.on_cpu(cpu, "softirq:NET_RX") as c:
                tcp_v4_rcv(net, skb)
                owed = c.settle()
            if owed:
                yield owed
        net.engine.spawn(proc())
        net.engine.run(net.engine.now + 1)

    def syn(self, window: int = 64240):
        opts = [("MSS", self.mss)]
        if self.timestamps:
            opts += [("NOP", None), ("NOP", None), ("Timestamp", (self.tsval, 0))]
        if self.wscale is not None:
            opts += [("NOP", None), ("WScale", self.wscale)]
        skb = self.skb("S", seq=self.seq, window=window, options=opts)
        self.seq = (self.seq + 1) & 0xFFFFFFFF
        return skb

    def ack(self, ack: int, window: int = 65535, payload: bytes = b"", fin: bool = False, echo=None):
        """An ACK (window already scaled down by the peer's wscale) echoing ``echo`` as TSecr."""
        if echo is not None:
            self.ts_echo = echo
        skb = self.skb("FA" if fin else "A", ack=ack, window=window, payload=payload)
        self.seq = (self.seq + len(payload) + (1 if fin else 0)) & 0xFFFFFFFF
        return skb


def make_net(kernel_version: str = "recent", ncpus: int = 2, hold: bool = True):
    """A host with every layer initialised whose TCP sockets hand their skbs to a :class:`FakeIp`."""
    engine = Engine()
    host = Host(engine, "x86-tso", ncpus=ncpus)
    net = NetCore(host)
    net_init(net, kernel_version)
    fake = FakeIp(net, hold=hold)
    af_ops = inet_connection_sock_af_ops(fake)

    def create(net, protocol):
        made = inet_create(net, protocol, so.SOCK_STREAM)
        if not isinstance(made, int):
            made[0].icsk_af_ops = af_ops
        return made
    so.register_socket_type(net, so.AF_INET, so.SOCK_STREAM, create)
    return net, fake


def task(net, gen, cpu: int = 0, comm: str = "app"):
    """Start ``gen`` as a task on ``cpu``; the Event of its end (``.triggered``, ``.value``)."""
    return net.ctx.spawn_task(gen, cpu, comm)


def run_for(net, ps: int) -> None:
    net.engine.run(net.engine.now + ps)


def establish(net, fake, peer: Peer | None = None, *, window: int = 65535, syn_window: int = 64240,
              setup=None, cpu: int = 0):
    """Server side: listen + accept, the peer's SYN and ACK. Returns ``(sk, fd, synack, peer)``.

    ``window`` is the (scaled) window of the handshake's final ACK; ``setup(fd)`` is a
    generator run on the listening fd before listen (setsockopt...).
    """
    peer = peer or Peer(net)
    out = {}

    def server():
        fd = yield from so.socket(net, so.AF_INET, so.SOCK_STREAM)
        assert (yield from so.bind(net, fd, (HOST, PORT))) == 0
        if setup is not None:
            yield from setup(fd)
        assert (yield from so.listen(net, fd, 8)) == 0
        out["lfd"] = fd
        cfd = yield from so.accept(net, fd)
        out["fd"] = cfd
        return cfd

    proc = task(net, server(), cpu=cpu, comm="server")
    run_for(net, 10 * US)
    n0 = len(fake.sent)
    peer.deliver(peer.syn(window=syn_window))
    run_for(net, 10 * US)
    synack = fake.sent[n0]
    assert synack.flags == 0x12, synack
    fake.complete()
    run_for(net, 50 * US)
    peer.ts_echo = synack.tsval[0] if synack.tsval else 0
    peer.deliver(peer.ack((synack.seq + 1) & 0xFFFFFFFF, window=window))
    run_for(net, 10 * US)
    assert proc.triggered, "accept did not return"
    fd = out["fd"]
    sk = so.sock_of(net, fd).sk
    return sk, fd, synack, peer


def sender(net, fd, data, flags: int = 0, cpu: int = 0, comm: str = "sender"):
    """A task that sends ``data`` on ``fd``; its Process (value = send()'s result)."""
    def prog():
        return (yield from so.send(net, fd, data, flags))
    return task(net, prog(), cpu=cpu, comm=comm)


def ack_all(net, fake, peer, sk, window: int = 65535, upto=None):
    """The peer ACKs everything sent so far (one cumulative ACK)."""
    ack = sk.snd_nxt if upto is None else upto
    peer.deliver(peer.ack(ack, window=window))


def run_gen(gen):
    """Run a generator that never sleeps (``dev_open``/``dev_close`` of a device without ndo_open/ndo_stop)."""
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        return stop.value


# --- a fake driver ----------------------------------------------------------------------------------
#: One skb the fake driver was handed: the frame's bytes, its TX queue, the ``xmit_more`` hint, the CPU
#: index and context it was sent from, the time, and ``ip_summed`` as handed over.
Xmit = namedtuple("Xmit", "data queue xmit_more cpu context time ip_summed")


class FakeDriver:
    """A net device (``ntx`` TX queues) whose ``ndo_start_xmit`` records each skb in ``sent`` and frees it.

    ``busy_at``: call numbers answered NETDEV_TX_BUSY (after stopping the
    queue if ``stop_on_busy``); ``bql``: report sent bytes to BQL as a
    driver does; ``nic_csum``: insert the checksum of a CHECKSUM_PARTIAL skb
    as the NIC would; ``hold``: keep the skbs (``held``) instead of freeing them.
    """

    def __init__(self, net, name: str = "fake0", ntx: int = 1, *, bql: bool = False, nic_csum: bool = False):
        self.net = net
        self.dev = NetDevice(net, name, num_tx_queues=ntx)
        self.dev.ndo_start_xmit = self.ndo_start_xmit
        self.sent: list[Xmit] = []
        self.calls = 0
        self.busy_at: set[int] = set()
        self.stop_on_busy = True
        self.bql = bql
        self.nic_csum = nic_csum
        self.hold = False
        self.held: list = []

    def open(self) -> None:
        """``ip link set up`` (nothing in it sleeps)."""
        assert run_gen(dev_open(self.dev)) == 0

    def ndo_start_xmit(self, skb, dev) -> int:
        self.calls += 1
        if self.calls in self.busy_at:
            if self.stop_on_busy:
                netif_stop_subqueue(dev, skb.queue_mapping)
            return NETDEV_TX_BUSY
        summed = skb.ip_summed
        if self.nic_csum and summed == CHECKSUM_PARTIAL:
            skb_checksum_help(skb)
        cpu = self.net.ctx.cpu
        self.sent.append(Xmit(skb_to_bytes(skb), skb.queue_mapping, skb.xmit_more, cpu.index, cpu.context,
                              self.net.engine.now, summed))
        if self.bql:
            netdev_tx_sent_queue(dev._tx[skb.queue_mapping], skb.len)
        if self.hold:
            self.held.append(skb)
        else:
            consume_skb(skb)
        return NETDEV_TX_OK
