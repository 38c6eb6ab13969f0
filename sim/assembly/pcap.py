"""A pcap writer with nanosecond timestamps, for frames seen on the simulated wire.

Format: the classic libpcap file, little-endian, with the nanosecond magic
``0xA1B23C4D`` (Wireshark, tcpdump and scapy read it), version 2.4,
``thiszone`` 0, ``sigfigs`` 0, snaplen 65535 and link type
``LINKTYPE_ETHERNET`` (1). Each record is ``ts_sec, ts_nsec, caplen,
origlen`` followed by the frame.

Frames are Ethernet frames *without* their FCS (what a capture on a host
shows). :meth:`PcapWriter.write` takes the simulated time in picoseconds; the
timestamp is that time rounded down to the nanosecond.

Records are buffered and written sorted by time when the writer is closed
(ties keep the order they were written in), so two directions of a link, or
any producers that report out of order, give one time-ordered file. Nothing
depends on the wall clock: the same records give the same bytes.

``PcapWriter(path)`` writes the file on :meth:`close`; ``PcapWriter()``
(no path) is the in-memory mode: :meth:`getvalue` returns the file's bytes
(at any time, without closing).
"""
from __future__ import annotations

import struct

__all__ = ["PcapWriter", "PCAP_MAGIC_NS", "LINKTYPE_ETHERNET", "SNAPLEN"]

#: Magic number of a pcap file with nanosecond timestamps.
PCAP_MAGIC_NS = 0xA1B23C4D
#: Link type of Ethernet (DLT_EN10MB).
LINKTYPE_ETHERNET = 1
#: Largest number of bytes of one frame stored.
SNAPLEN = 65535

_VERSION = (2, 4)
_PS_PER_NS = 1_000
_NS_PER_S = 1_000_000_000


def _global_header(snaplen: int, linktype: int) -> bytes:
    """magic, version major/minor, thiszone, sigfigs, snaplen, network."""
    return struct.pack("<IHHiIII", PCAP_MAGIC_NS, _VERSION[0], _VERSION[1], 0, 0, snaplen, linktype)


class PcapWriter:
    """Collects ``(time_ps, frame)`` records; writes a time-sorted pcap file on :meth:`close`.

    ``path`` None is the in-memory mode (see :meth:`getvalue`). ``strip_fcs``
    removes the last 4 bytes of every frame written (for producers that hand
    over frames with their FCS, like the MAC's sinks). Also a context manager.
    """

    def __init__(self, path=None, *, snaplen: int = SNAPLEN, linktype: int = LINKTYPE_ETHERNET,
                 strip_fcs: bool = False):
        if not 0 < snaplen <= 0x7FFF_FFFF:
            raise ValueError(f"snaplen {snaplen}: must be positive")
        self.path = path
        self.snaplen = snaplen
        self.linktype = linktype
        self.strip_fcs = strip_fcs
        self._records: list[tuple[int, int, bytes]] = []   # (time_ps, seq, frame)
        self.closed = False

    def __len__(self) -> int:
        return len(self._records)

    def write(self, frame: bytes, time_ps: int) -> None:
        """Record ``frame`` (no FCS unless ``strip_fcs``) seen at simulated time ``time_ps``."""
        if self.closed:
            raise ValueError("write to a closed PcapWriter")
        if time_ps < 0:
            raise ValueError(f"negative timestamp {time_ps} ps")
        frame = bytes(frame)
        if self.strip_fcs:
            if len(frame) < 4:
                raise ValueError(f"{len(frame)}-byte frame has no FCS to strip")
            frame = frame[:-4]
        self._records.append((int(time_ps), len(self._records), frame))

    def records(self) -> list[tuple[int, bytes]]:
        """``(time_ps, frame)`` in file order (by time, ties in write order)."""
        return [(t, f) for t, _, f in sorted(self._records)]

    def getvalue(self) -> bytes:
        """The whole pcap file as bytes (global header + sorted records)."""
        out = [_global_header(self.snaplen, self.linktype)]
        pack = struct.Struct("<IIII").pack
        for t, _, frame in sorted(self._records):
            t_ns = t // _PS_PER_NS
            cap = frame[:self.snaplen]
            out.append(pack(t_ns // _NS_PER_S, t_ns % _NS_PER_S, len(cap), len(frame)))
            out.append(cap)
        return b"".join(out)

    def close(self) -> None:
        """Write the file (when there is a path); later writes raise. Closing twice is harmless."""
        if self.closed:
            return
        if self.path is not None:
            with open(self.path, "wb") as f:
                f.write(self.getvalue())
        self.closed = True

    def __enter__(self) -> "PcapWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
