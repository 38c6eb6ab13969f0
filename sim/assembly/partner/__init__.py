"""The link partner: a host at the far end of the wire, working on raw Ethernet frames.

It has its own MAC and IPv4 address and implements just enough of a Linux
host to be the peer of our TX path (``research/stack_facts.md`` §6, §11):

* **ARP**: replies to requests for its IP (learning the requester); ARPs
  for an address it must send to and does not know (broadcast request,
  1 s retransmit, 3 probes, then the queued packets are dropped). It learns
  from every ARP aimed at it and from the source of every IPv4 frame it
  accepts; a static entry can be added with :meth:`LinkPartner.add_neighbour`.
* **IPv4 input**: header checksum (bad → counted, dropped), length checks
  (Ethernet padding stripped), reassembly of fragments keyed by (src, dst,
  protocol, id) with a 30 s timeout; a fragment that partly overlaps
  another drops the whole datagram (Linux since 4.19), an exact or covered
  duplicate is ignored. **Output**: TTL 64, DF for TCP, one ID counter.
* **UDP**: every port is a sink: per-port datagram list and byte counter;
  checksum validated (0 = none, as IPv4 allows).
* **TCP**, the client of the reference program: :meth:`LinkPartner.connect`
  sends a SYN (MSS, timestamps, window scale; no SACK), completes the
  handshake and receives (see :class:`TcpConn` for the ACK policy, window,
  timestamps and FIN). It sends no data.
* A segment for no connection gets a RST (RFC 793).

Frames in: :meth:`LinkPartner.receive` ``(frame_without_fcs, time_ps)``,
the wire's A→B delivery; ``proc_delay_ps`` delays processing of each frame.
Frames out: ``transmit(frame)`` — the wire's :meth:`sim.assembly.wire.Wire.send_to_host`
after ``wire.attach_partner(partner)`` (or the ``wire=`` argument), or any
callable given as ``transmit=``. Frames are padded to 60 bytes, no FCS.

Loss (:class:`RxLoss`): drops received frames by index, TCP data segments
by index, or at random with a probability drawn from the engine's choice
source (``engine.choose_index``), so a run is reproducible and replayable.

Counters: :attr:`LinkPartner.stats` (keys in :data:`STAT_KEYS`) and per
connection :attr:`TcpConn.stats`.
"""
from .checksum import checksum_ok, inet_checksum
from .host import STAT_KEYS, LinkPartner
from .loss import RxLoss
from .proto import ip_bytes, mac_bytes
from .tcp import TCP_STATS, TcpConn
from .udp import UdpDatagram

__all__ = ["LinkPartner", "TcpConn", "RxLoss", "UdpDatagram", "inet_checksum", "checksum_ok",
           "mac_bytes", "ip_bytes", "STAT_KEYS", "TCP_STATS"]
