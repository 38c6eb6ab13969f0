"""The partner's IPv4: header checks, reassembly (30 s timeout, overlaps drop the datagram), output."""
from __future__ import annotations

import struct
from bisect import insort

from .checksum import checksum_ok, inet_checksum
from .proto import ETH_P_IP, IP_BROADCAST, IP_HDR, IPPROTO_TCP, IPPROTO_UDP, PS_PER_S

__all__ = ["Ipv4Layer", "FragQueue"]


class FragQueue:
    """The fragments of one datagram being reassembled, with its expiry timer."""

    __slots__ = ("parts", "have", "total", "header", "timer")

    def __init__(self):
        self.parts: list[tuple[int, int, bytes]] = []   # (offset, end, data), sorted
        self.have = 0
        self.total: int | None = None
        self.header: bytes | None = None
        self.timer = None



class Ipv4Layer:
    """The partner host's IPv4 input and output (a mixin of ``LinkPartner``)."""

    def _ip_input(self, eth_src: bytes, p: bytes) -> None:
        st = self.stats
        if len(p) < 20 or p[0] >> 4 != 4:
            st["bad_ip_header"] += 1
            return
        ihl = (p[0] & 15) * 4
        _vihl, _tos, tot, ident, frag, _ttl, proto, _csum, src, dst = IP_HDR.unpack_from(p)
        if ihl < 20 or tot < ihl or tot > len(p):
            st["bad_ip_header"] += 1
            return
        if not checksum_ok(p[:ihl]):
            st["bad_ip_csum"] += 1
            return
        if dst != self.ip and dst != IP_BROADCAST:
            st["ip_not_for_us"] += 1
            return
        st["ip_rx"] += 1
        p = p[:tot]
        if src != b"\0\0\0\0":
            self.neighbours[src] = eth_src
            if src in self._arp_pending:
                self._learn(src, eth_src)
        if frag & 0x3FFF:
            st["frags_rx"] += 1
            p = self._reassemble(p, ihl, src, dst, proto, ident, frag)
            if p is None:
                return
        payload = p[ihl:]
        if proto == IPPROTO_TCP:
            self._tcp_input(src, dst, payload)
        elif proto == IPPROTO_UDP:
            self._udp_input(src, dst, payload)
        else:
            st["ip_other_proto"] += 1

    def _reassemble(self, p: bytes, ihl: int, src: bytes, dst: bytes, proto: int, ident: int, frag: int):
        """Add a fragment; the whole datagram (header + payload) when it is complete, else None."""
        st = self.stats
        key = (src, dst, proto, ident)
        off = (frag & 0x1FFF) * 8
        more = bool(frag & 0x2000)
        data = p[ihl:]
        end = off + len(data)
        q = self._frags.get(key)
        if q is None:
            q = self._frags[key] = FragQueue()
            q.timer = self.engine.call_later(30 * PS_PER_S, self._frag_expire, key)
        bad = (more and len(data) % 8) or (q.total is not None and (end > q.total or (not more and end != q.total))) \
            or (not more and any(e > end for _, e, _ in q.parts)) or end > 0xFFFF
        if bad:
            self._frag_drop(key, "frag_bad")
            return None
        for o, e, _ in q.parts:
            if off < e and o < end:
                if o <= off and end <= e:
                    st["frag_dups"] += 1
                    return None
                self._frag_drop(key, "frag_overlaps")
                return None
        if not more:
            q.total = end
        if off == 0:
            q.header = p[:ihl]
        insort(q.parts, (off, end, data))
        q.have += len(data)
        if q.total is None or q.header is None or q.have != q.total:
            return None
        q.timer.cancel()
        del self._frags[key]
        st["frags_reassembled"] += 1
        hdr = bytearray(q.header)
        struct.pack_into("!HH", hdr, 2, len(hdr) + q.total, 0)
        struct.pack_into("!H", hdr, 10, 0)
        struct.pack_into("!H", hdr, 10, inet_checksum(bytes(hdr)))
        return bytes(hdr) + b"".join(d for _, _, d in q.parts)

    def _frag_drop(self, key, why: str) -> None:
        q = self._frags.pop(key)
        q.timer.cancel()
        self.stats[why] += 1

    def _frag_expire(self, key) -> None:
        if key in self._frags:
            del self._frags[key]
            self.stats["frag_timeouts"] += 1

    def _ip_output(self, dst: bytes, proto: int, payload: bytes, df: bool = False, ttl: int = 64) -> None:
        hdr = bytearray(IP_HDR.pack(0x45, 0, 20 + len(payload), self._ip_id, 0x4000 if df else 0, ttl, proto, 0,
                                 self.ip, dst))
        struct.pack_into("!H", hdr, 10, inet_checksum(bytes(hdr)))
        self._ip_id = (self._ip_id + 1) & 0xFFFF
        self.stats["ip_tx"] += 1
        self._neigh_output(dst, ETH_P_IP, bytes(hdr) + payload)
