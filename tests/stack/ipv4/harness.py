"""The IPv4 tests' host: a stack environment whose device is a fake driver (its ``ndo_start_xmit``).

The ``env`` fixture (``conftest.py``) is a fresh :class:`StackEnv`.

:class:`StackEnv` is one host with every network layer initialised
(``net_init``), ``eth0`` = 10.0.0.1/24 whose driver is a
:class:`~tests.stack.harness.FakeDriver` that records each frame the stack
hands it (``env.wire``: its ``Xmit`` records — the bytes, the CPU context,
the time, ``ip_summed`` as handed over), a default route via 10.0.0.254,
static neighbours, and a receive path: frames given to :meth:`StackEnv.rx`
are delivered by a NAPI poll in NET_RX softirq context, as the driver's RX
clean would deliver them. Tests import :class:`StackEnv`, the constants and
:func:`udp_checksum_ok` from here or take the ``env`` fixture.
"""
from collections import deque

from scapy.all import Ether
from scapy.layers.inet import IP, UDP

from sim.engine import US, Engine
from sim.host import Host
from stack.core.napi import napi_complete_done, napi_enable, napi_schedule, napi_struct, netif_napi_add
from stack.core.netcore import NetCore
from stack.core.netdevice import NETIF_F_IP_CSUM, NETIF_F_SG, NETIF_F_TSO
from stack.core.skbuff import skb_from_bytes, skb_pull, skb_reset_mac_header
from stack.initcalls import net_init
from stack.ipv4 import iproute2

from tests.stack.harness import FakeDriver

MAC_A = "02:00:00:00:00:01"
MAC_B = "02:00:00:00:00:02"
MAC_GW = "02:00:00:00:00:fe"


class StackEnv:
    """One host: eth0 = 10.0.0.1/24 with a fake driver, optional default route and static neighbours.

    ``neighbours``: ``(address, MAC)`` entries made permanent; ``default_route``:
    via 10.0.0.254; ``nic_csum``: the fake driver inserts the checksum of a
    CHECKSUM_PARTIAL skb as the NIC would. ``env.driver`` is the
    :class:`~tests.stack.harness.FakeDriver`, ``env.wire`` what it was handed.
    """

    def __init__(self, kernel_version="recent", features=NETIF_F_SG | NETIF_F_IP_CSUM | NETIF_F_TSO, *,
                 default_route=True, neighbours=(("10.0.0.2", MAC_B), ("10.0.0.254", MAC_GW)),
                 nic_csum=False):
        self.engine = Engine()
        self.host = Host(self.engine, "x86-tso", ncpus=2)
        self.net = NetCore(self.host)
        net_init(self.net, kernel_version)
        self.driver = FakeDriver(self.net, "eth0", nic_csum=nic_csum)
        self.dev = self.driver.dev
        self.dev.features = features
        self.wire = self.driver.sent
        self.driver.open()
        iproute2.ip_link_set_address(self.dev, MAC_A)
        iproute2.ip_addr_add(self.net, self.dev, "10.0.0.1/24")
        if default_route:
            iproute2.ip_route_add(self.net, "default", via="10.0.0.254")
        for addr, mac in neighbours:
            iproute2.ip_neigh_add(self.net, self.dev, addr, mac)
        self.rxq: deque = deque()
        #: What ``ptype`` returned for each received frame.
        self.rcs: list = []
        self.napi = napi_struct("eth0-rx")
        netif_napi_add(self.dev, self.napi, self._poll)
        napi_enable(self.napi)

    # --- the receive path ---------------------------------------------------------------------------
    def _poll(self, napi, budget):
        work = 0
        while self.rxq and work < budget:
            frame = self.rxq.popleft()
            skb = skb_from_bytes(self.net.skb, frame)
            skb_reset_mac_header(skb)
            skb_pull(skb, 14)
            skb.protocol = int.from_bytes(frame[12:14], "big")
            skb.dev = self.dev
            self.rcs.append(self.net.ptype[skb.protocol](skb, self.dev))
            work += 1
        if work < budget:
            napi_complete_done(napi, work)
        return work

    # --- driving it ---------------------------------------------------------------------------------
    def task(self, fn, *args, **kw):
        """``fn(*args)`` in process context on CPU 0 (``task:app``)."""
        with self.net.ctx.on_cpu(0, "task:app"):
            rc = fn(*args, **kw)
        self.host.cpus[0].settle()
        return rc

    def rx(self, *frames):
        """Frames from the wire: an interrupt schedules NAPI; NET_RX delivers them."""
        self.rxq.extend(bytes(f) for f in frames)
        with self.net.ctx.on_cpu(0, "hardirq:eth0-rx"):
            napi_schedule(self.napi)
        self.run_for(50 * US)

    def run_for(self, ps):
        self.engine.run(until=self.engine.now + ps)

    def run_until(self, t):
        self.engine.run(until=t)

    @property
    def tbl(self):
        return self.net.ipv4.arp_tbl

    def arps(self):
        return [f for f in self.wire if Ether(f.data).type == 0x0806]

    def ips(self):
        return [f for f in self.wire if Ether(f.data).type == 0x0800]


def udp_checksum_ok(ip) -> bool:
    """A scapy IP packet's UDP checksum was sent (non-zero) and equals the one scapy computes."""
    sent = ip[UDP].chksum
    p = IP(bytes(ip))
    del p[UDP].chksum
    return sent != 0 and IP(bytes(p))[UDP].chksum == sent
