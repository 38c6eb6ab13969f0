"""A pcap writer with nanosecond timestamps, for frames seen on the simulated wire.

Format: the classic libpcap file, little-endian, with the nanosecond magic
``0xA1B23C4D`` (Wireshark, tcpdump and scapy read it), version 2.4,
``thiszone`` 0, ``sigfigs`` 0, snaplen 65535 and link type
``LINKTYPE_ETHERNET`` (1). Each record is ``ts_sec, ts_nsec, caplen,
origlen`` followed by the frame.

Frames are Ethernet frames *without* their FCS (what a capture on a host
shows). :meth:`PcapWriter.write` takes the simulated time in picoseconds; the
timestamp is that time rounded down to the nanosecond.

Records are buffered and written sorted by time (ties keep the order they
were written in), so two directions of a link, or any producers that report
out of order, give one time-ordered file. Nothing depends on the wall clock:
the same records give the same bytes.

``PcapWriter(path)`` streams the file: a producer calls
:meth:`PcapWriter.flush_before` with a time it will not write before again
(the wire does, after every frame), so memory holds only a short reorder
window; :meth:`close` writes the rest. ``PcapWriter()`` (no path) is the
in-memory mode: :meth:`getvalue` returns the file's bytes (at any time,
without closing).
"""
from __future__ import annotations

import heapq
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
_REC = struct.Struct("<IIII")


def _global_header(snaplen: int, linktype: int) -> bytes:
    """magic, version major/minor, thiszone, sigfigs, snaplen, network."""
    return struct.pack("<IHHiIII", PCAP_MAGIC_NS, _VERSION[0], _VERSION[1], 0, 0, snaplen, linktype)


class PcapWriter:
    """Collects ``(time_ps, frame)`` records into a time-sorted pcap file.

    ``path`` None is the in-memory mode (see :meth:`getvalue`): every record
    is kept. With a path the file is opened (and its header written) at
    once, and records are streamed to it: :meth:`flush_before` writes, in
    order, those stamped before a time the producer promises never to write
    before again, so only the frames of a short reorder window stay in
    memory; :meth:`close` writes the rest. Either way the file holds the
    records sorted by time, ties in write order, and the same records give
    the same bytes. ``strip_fcs`` removes the last 4 bytes of every frame
    written (for producers that hand over frames with their FCS, like the
    MAC's sinks). Also a context manager.
    """

    def __init__(self, path=None, *, snaplen: int = SNAPLEN, linktype: int = LINKTYPE_ETHERNET,
                 strip_fcs: bool = False):
        if not 0 < snaplen <= 0x7FFF_FFFF:
            raise ValueError(f"snaplen {snaplen}: must be positive")
        self.path = path
        self.snaplen = snaplen
        self.linktype = linktype
        self.strip_fcs = strip_fcs
        self._records: list[tuple[int, int, bytes]] = []   # (time_ps, seq, frame): a heap with a path
        self._seq = 0
        self._written_until = 0     # every record before this time is in the file
        self.written = 0            # records in the file
        self.max_pending = 0        # most records ever held in memory at once
        self.closed = False
        self._file = None
        if path is not None:
            self._file = open(path, "wb")  # noqa: SIM115  (open for the writer's life; close() closes it)
            self._file.write(_global_header(snaplen, linktype))

    def __len__(self) -> int:
        return self._seq

    def write(self, frame: bytes, time_ps: int) -> None:
        """Record ``frame`` (no FCS unless ``strip_fcs``) seen at simulated time ``time_ps``."""
        if self.closed:
            raise ValueError("write to a closed PcapWriter")
        if time_ps < 0:
            raise ValueError(f"negative timestamp {time_ps} ps")
        if time_ps < self._written_until:
            raise ValueError(f"record at {time_ps} ps: the file was already written up to {self._written_until} ps")
        frame = bytes(frame)
        if self.strip_fcs:
            if len(frame) < 4:
                raise ValueError(f"{len(frame)}-byte frame has no FCS to strip")
            frame = frame[:-4]
        rec = (int(time_ps), self._seq, frame)
        self._seq += 1
        if self._file is not None:
            heapq.heappush(self._records, rec)
        else:
            self._records.append(rec)
        self.max_pending = max(self.max_pending, len(self._records))

    def flush_before(self, time_ps: int) -> None:
        """With a path: write the records stamped before ``time_ps``; later writes must not be earlier."""
        if self._file is None or time_ps <= self._written_until:
            return
        self._written_until = time_ps
        heap, out = self._records, []
        while heap and heap[0][0] < time_ps:
            out.append(self._record(heapq.heappop(heap)))
        if out:
            self.written += len(out)
            self._file.write(b"".join(out))

    def _record(self, rec: tuple[int, int, bytes]) -> bytes:
        t, _, frame = rec
        t_ns = t // _PS_PER_NS
        cap = frame[:self.snaplen]
        return _REC.pack(t_ns // _NS_PER_S, t_ns % _NS_PER_S, len(cap), len(frame)) + cap

    def records(self) -> list[tuple[int, bytes]]:
        """``(time_ps, frame)`` in file order (by time, ties in write order); with a path, those not yet written."""
        return [(t, f) for t, _, f in sorted(self._records)]

    def getvalue(self) -> bytes:
        """The whole pcap file as bytes (global header + sorted records); in-memory mode only."""
        if self._file is not None:
            raise ValueError("getvalue: this PcapWriter streams to its file")
        return _global_header(self.snaplen, self.linktype) + b"".join(self._record(r) for r in sorted(self._records))

    def close(self) -> None:
        """Write what is left and close the file (if any); later writes raise. Closing twice is harmless."""
        if self.closed:
            return
        self.closed = True
        if self._file is not None:
            try:
                rest = [self._record(r) for r in sorted(self._records)]
                self._records = []
                self.written += len(rest)
                self._file.write(b"".join(rest))
            finally:
                self._file.close()

    def __enter__(self) -> "PcapWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
