"""The partner's UDP: every port a sink (datagrams kept per port), and datagrams sent to our host."""
from __future__ import annotations

from typing import NamedTuple

from .checksum import checksum_ok, inet_checksum, pseudo_header
from .proto import IPPROTO_UDP, UDP_HDR, ip_bytes, ip_str

__all__ = ["UdpDatagram", "UdpLayer"]


class UdpDatagram(NamedTuple):
    """One UDP datagram delivered: arrival time, source address and port, payload."""

    time_ps: int
    src_ip: str
    src_port: int
    payload: bytes



class UdpLayer:
    """The partner host's UDP (a mixin of ``LinkPartner``)."""

    def udp_datagrams(self, port: int) -> list[UdpDatagram]:
        """UDP datagrams delivered to local port ``port`` (in arrival order; none kept without ``keep_udp``)."""
        return self.udp.get(port, [])

    def send_udp(self, dst_ip, dst_port: int, payload: bytes, src_port: int = 40000) -> None:
        """Send one UDP datagram (with checksum; must fit the MTU: no fragmentation)."""
        rip = ip_bytes(dst_ip)
        ln = 8 + len(payload)
        if ln + 20 > self.mtu:
            raise ValueError(f"{ln}-byte UDP datagram exceeds the MTU {self.mtu}")
        hdr = UDP_HDR.pack(src_port, dst_port, ln, 0)
        csum = inet_checksum(pseudo_header(self.ip, rip, IPPROTO_UDP, ln) + hdr + payload) or 0xFFFF
        self._ip_output(rip, IPPROTO_UDP, UDP_HDR.pack(src_port, dst_port, ln, csum) + bytes(payload))

    def _udp_input(self, src: bytes, dst: bytes, p: bytes) -> None:
        st = self.stats
        if len(p) < 8:
            st["bad_udp_header"] += 1
            return
        sport, dport, ln, csum = UDP_HDR.unpack_from(p)
        if ln < 8 or ln > len(p):
            st["bad_udp_header"] += 1
            return
        p = p[:ln]
        if csum and not checksum_ok(pseudo_header(src, dst, IPPROTO_UDP, ln) + p):
            st["bad_udp_csum"] += 1
            return
        st["udp_rx"] += 1
        st["udp_bytes"] += ln - 8
        self.udp_bytes[dport] = self.udp_bytes.get(dport, 0) + ln - 8
        d = UdpDatagram(self.engine.now, ip_str(src), sport, p[8:])
        if self.keep_udp:
            self.udp.setdefault(dport, []).append(d)
        sink = self.udp_sinks.get(dport)
        if sink is not None:
            sink(d)
