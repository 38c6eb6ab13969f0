"""The partner's Ethernet and ARP: frames in and out, the ARP table, requests, replies and retries."""
from __future__ import annotations

import struct

from .proto import ARP_PKT, BROADCAST, ETH_HDR, ETH_P_8021Q, ETH_P_ARP, ETH_P_IP, IP_BROADCAST

__all__ = ["EthernetLayer"]


class EthernetLayer:
    """The partner host's Ethernet input/output and ARP (a mixin of ``LinkPartner``)."""

    def _input(self, frame: bytes) -> None:
        st = self.stats
        st["rx_frames"] += 1
        if self.loss is not None and self.loss.drop_frame(self.engine):
            st["rx_lost"] += 1
            return
        if len(frame) < 14:
            st["rx_other_type"] += 1
            return
        dst, src, etype = ETH_HDR.unpack_from(frame)
        off = 14
        if etype == ETH_P_8021Q and len(frame) >= 18:
            etype = struct.unpack_from("!H", frame, 16)[0]
            off = 18
        if dst != self.mac and dst != BROADCAST:
            st["rx_not_for_us"] += 1
            return
        if etype == ETH_P_ARP:
            self._arp_input(frame[off:])
        elif etype == ETH_P_IP:
            self._ip_input(src, frame[off:])
        else:
            st["rx_other_type"] += 1

    # --- ARP ---------------------------------------------------------------------
    def _arp_input(self, p: bytes) -> None:
        st = self.stats
        if len(p) < 28:
            st["arp_bad"] += 1
            return
        htype, ptype, hlen, plen, op, sha, spa, tha, tpa = ARP_PKT.unpack_from(p)
        if htype != 1 or ptype != ETH_P_IP or hlen != 6 or plen != 4 or op not in (1, 2):
            st["arp_bad"] += 1
            return
        st["arp_rx"] += 1
        if op == 1:
            st["arp_requests_rx"] += 1
        else:
            st["arp_replies_rx"] += 1
        if tpa == self.ip:
            if spa != b"\0\0\0\0":
                self._learn(spa, sha)
            if op == 1:
                st["arp_replies_tx"] += 1
                self._eth_send(sha, ETH_P_ARP, ARP_PKT.pack(1, ETH_P_IP, 6, 4, 2, self.mac, self.ip, sha, spa))
        elif spa in self.neighbours:
            self._learn(spa, sha)

    def _learn(self, ip: bytes, mac: bytes) -> None:
        self.neighbours[ip] = mac
        pending = self._arp_pending.pop(ip, None)
        if pending is not None:
            queue, _probes, timer = pending
            timer.cancel()
            for etype, packet in queue:
                self._eth_send(mac, etype, packet)

    def _arp_solicit(self, ip: bytes) -> None:
        self.stats["arp_requests_tx"] += 1
        self._eth_send(BROADCAST, ETH_P_ARP, ARP_PKT.pack(1, ETH_P_IP, 6, 4, 1, self.mac, self.ip, bytes(6), ip))

    def _arp_timer(self, ip: bytes) -> None:
        pending = self._arp_pending.get(ip)
        if pending is None:
            return
        queue, probes, _ = pending
        if probes >= self.arp_probes:
            del self._arp_pending[ip]
            self.stats["arp_failed"] += 1
            self.stats["arp_queue_drops"] += len(queue)
            return
        self._arp_solicit(ip)
        pending[1] = probes + 1
        pending[2] = self.engine.call_later(self.arp_retrans_ps, self._arp_timer, ip)

    def _neigh_output(self, ip: bytes, etype: int, packet: bytes) -> None:
        mac = BROADCAST if ip == IP_BROADCAST else self.neighbours.get(ip)
        if mac is not None:
            self._eth_send(mac, etype, packet)
            return
        pending = self._arp_pending.get(ip)
        if pending is not None:
            pending[0].append((etype, packet))
            return
        self._arp_solicit(ip)
        timer = self.engine.call_later(self.arp_retrans_ps, self._arp_timer, ip)
        self._arp_pending[ip] = [[(etype, packet)], 1, timer]

    def _eth_send(self, dst_mac: bytes, etype: int, payload: bytes) -> None:
        if self.transmit is None:
            raise RuntimeError(f"{self.name}: not attached to a wire (no transmit)")
        frame = ETH_HDR.pack(dst_mac, self.mac, etype) + payload
        if len(frame) < 60:
            frame += bytes(60 - len(frame))
        self.stats["tx_frames"] += 1
        self.transmit(frame)
