"""The link partner host: its addresses, counters and options, assembled from the protocol layers."""
from __future__ import annotations

from typing import Callable

from .ethernet import EthernetLayer
from .ip import FragQueue, Ipv4Layer
from .loss import RxLoss
from .proto import M32, PS_PER_MS, PS_PER_S, ip_bytes, mac_bytes
from .tcp import TCP_STATS, TcpConn, TcpLayer
from .udp import UdpDatagram, UdpLayer

__all__ = ["LinkPartner", "STAT_KEYS"]

#: Partner-wide counters (all start at 0).
STAT_KEYS = (
    "rx_frames", "rx_lost", "rx_not_for_us", "rx_other_type", "tx_frames",
    "arp_rx", "arp_bad", "arp_requests_rx", "arp_replies_rx", "arp_requests_tx", "arp_replies_tx",
    "arp_failed", "arp_queue_drops",
    "ip_rx", "ip_tx", "bad_ip_csum", "bad_ip_header", "ip_not_for_us", "ip_other_proto",
    "frags_rx", "frags_reassembled", "frag_timeouts", "frag_overlaps", "frag_dups", "frag_bad",
    "udp_rx", "udp_bytes", "bad_udp_csum", "bad_udp_header",
    "tcp_rx", "bad_tcp_csum", "bad_tcp_header", "tcp_no_conn", "tcp_rst_tx",
)


class LinkPartner(EthernetLayer, Ipv4Layer, UdpLayer, TcpLayer):
    """A host on the far side of the wire (see the package docstring, :mod:`sim.assembly.partner`).

    ``mac``/``ip``: its addresses (strings or bytes). ``wire``: a
    :class:`sim.assembly.wire.Wire` to attach to as side B; or ``transmit``: a
    callable taking each outgoing frame. ``proc_delay_ps``: delay before each
    received frame is processed. TCP: ``mss`` (advertised), ``rcvbuf``
    (receive buffer, bytes), ``wscale`` (our window scale), ``delack_ps``,
    ``quickacks`` (data segments ACKed at once at the start),
    ``app_rate_bps`` (None: the application reads at once) and
    ``app_read_bytes``, ``keep_data`` (keep the received bytes, not just
    count them; :attr:`TcpConn.on_deliver` sees them either way), ``iss``
    (initial sequence number of the first connection; each next one adds
    64000), ``ts_offset``, ``syn_retries``. ``loss``: an :class:`RxLoss`.
    UDP: ``keep_udp`` (keep every datagram in :attr:`udp`; :attr:`udp_bytes`
    counts them and :attr:`udp_sinks` port → ``fn(datagram)`` sees them
    either way). ARP: ``arp_retrans_ps`` (1 s), ``arp_probes`` (3).
    """

    def __init__(self, engine, mac="02:00:00:00:00:02", ip="10.0.0.2", *, wire=None,
                 transmit: Callable | None = None, proc_delay_ps: int = 0, mtu: int = 1500, mss: int = 1460,
                 rcvbuf: int = 6 << 20, wscale: int = 7, delack_ps: int = 40 * PS_PER_MS, quickacks: int = 0,
                 app_rate_bps: int | None = None, app_read_bytes: int = 65536, keep_data: bool = True,
                 keep_udp: bool = True, iss: int = 0x1000_0000, ts_offset: int = 1, syn_retries: int = 6,
                 loss: RxLoss | None = None, arp_retrans_ps: int = PS_PER_S, arp_probes: int = 3,
                 name: str = "partner"):
        if not 0 <= wscale <= 14:
            raise ValueError(f"window scale {wscale}: must be 0..14")
        if rcvbuf <= 0 or (app_rate_bps is not None and app_rate_bps <= 0) or app_read_bytes <= 0:
            raise ValueError("rcvbuf, app_rate_bps and app_read_bytes must be positive")
        self.engine = engine
        self.name = name
        self.mac = mac_bytes(mac)
        self.ip = ip_bytes(ip)
        self.transmit = transmit
        self.proc_delay_ps = proc_delay_ps
        self.mtu = mtu
        self.mss = mss
        self.rcvbuf = rcvbuf
        self.wscale = wscale
        self.delack_ps = delack_ps
        self.quickacks = quickacks
        self.app_rate_bps = app_rate_bps
        self.app_read_bytes = app_read_bytes
        self.keep_data = keep_data
        self.keep_udp = keep_udp
        self.ts_offset = ts_offset
        self.syn_retries = syn_retries
        self.loss = loss
        self.arp_retrans_ps = arp_retrans_ps
        self.arp_probes = arp_probes
        self.stats = dict.fromkeys(STAT_KEYS + TCP_STATS, 0)
        #: ARP table: IPv4 address (4 bytes) → MAC (6 bytes).
        self.neighbours: dict[bytes, bytes] = {}
        self._arp_pending: dict[bytes, list] = {}    # ip -> [queued (ethertype, packet)], probes, timer
        self._frags: dict[tuple, FragQueue] = {}
        self._ip_id = 1
        self._next_iss = iss & M32
        self._next_port = 40000
        #: TCP connections: (local port, remote IP bytes, remote port) → TcpConn.
        self.connections: dict[tuple[int, bytes, int], TcpConn] = {}
        #: UDP: local port → datagrams delivered.
        self.udp: dict[int, list[UdpDatagram]] = {}
        #: UDP: local port → payload bytes delivered; local port → ``fn(datagram)`` called on each.
        self.udp_bytes: dict[int, int] = {}
        self.udp_sinks: dict[int, Callable] = {}
        if wire is not None:
            wire.attach_partner(self)

    # --- public API --------------------------------------------------------------
    def add_neighbour(self, ip, mac) -> None:
        """A static ARP entry."""
        self._learn(ip_bytes(ip), mac_bytes(mac))

    def received_bytes(self, port: int) -> int:
        """Payload bytes delivered on local port ``port``: UDP datagrams plus in-order TCP bytes."""
        return self.udp_bytes.get(port, 0) + sum(c.bytes_received for c in self.connections.values() if c.lport == port)

    # --- input -------------------------------------------------------------------
    def receive(self, frame: bytes, time_ps: int | None = None) -> None:
        """A frame (without FCS) arriving from the wire."""
        if self.proc_delay_ps:
            self.engine.call_later(self.proc_delay_ps, self._input, bytes(frame))
        else:
            self._input(bytes(frame))
