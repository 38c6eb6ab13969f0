"""Test frames built with scapy, as the Linux stack hands them to a driver.

:func:`build_frame` makes one Ethernet frame (no FCS, no hardware VLAN tag) of
an exact size: Ethernet [+ an in-band 802.1Q tag] + IPv4/IPv6/none + TCP/UDP/
none + random payload. What the header fields hold, and why:

* Unicast, locally administered MAC addresses (I/G bit 0): the NIC treats
  multicast/broadcast differently only in statistics (MPTC/BPTC).
* IPv4: DF, TTL 64, a random ID; the header checksum is the correct one for the
  bytes (``ip_send_check`` runs before the driver sees the skb) — except under
  TSO, where it is 0: IXSM is mandatory for IPv4 TSE (facts §2.2), so the NIC
  must compute it per segment, and a field the NIC does not fill stays visibly
  wrong even for a single-segment send.
* TCP: a 20-byte header (no options), ``first_seq``, random ack/window, ACK
  plus a random subset of PSH/FIN/CWR/ECE (so TSO's per-segment flag rules are
  exercised). UDP: an 8-byte header.
* For TSO the IPv4 total length / IPv6 payload length / UDP length cover the
  whole super-packet, as the stack writes them (TxPacket's convention).
* L4 checksum field (facts §3.5, sim/assembly/skbs.py docstring): with no
  offload the correct checksum; with checksum offload (``csum``) the folded,
  *not* complemented pseudo-header sum P with the L4 length, what
  ``__tcp_v4_send_check`` & co. leave for CHECKSUM_PARTIAL; with TSO the same
  sum *without* the length, what ``igb_tso`` leaves after removing paylen
  (the NIC adds each segment's own length).
* ``l3="raw"``: EtherType 0x88B5 or 0x88B6 (IEEE 802 local experimental) and
  payload; ``l4="none"`` behind IP: protocol 253 (RFC 3692 experimental) for
  IPv4, next header 59 (No Next Header) for IPv6.

Sizes: from :func:`min_size` (17 for raw frames, the minimum with TCTL.PSP,
facts §1.4) up to what the 16-bit IP/UDP length fields allow (65549 bytes for
IPv4, 65589 for IPv6: a 64 KiB TSO super-packet fits).
"""
from __future__ import annotations

import random
import struct
from socket import AF_INET6, inet_aton, inet_pton

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1Q, Ether
from scapy.packet import Raw, raw
from scapy.utils import checksum

__all__ = ["build_frame", "min_size", "header_lens", "pseudo_header_sum",
           "ETH_HLEN", "VLAN_HLEN", "MIN_PSP_FRAME", "ETH_P_TEST"]

ETH_HLEN = 14
VLAN_HLEN = 4
MIN_PSP_FRAME = 17            # shortest packet the NIC takes with TCTL.PSP (facts §1.4, §2.2)
ETH_P_TEST = (0x88B5, 0x88B6)  # IEEE 802 local experimental EtherTypes
IPPROTO_EXPERIMENT = 253       # RFC 3692
IPV6_NO_NEXT_HEADER = 59
_IPLEN = {"ipv4": 20, "ipv6": 40, "raw": 0}
_L4LEN = {"tcp": 20, "udp": 8, "none": 0}
_IP_PROTO = {"tcp": 6, "udp": 17}
_MAX_IP_LEN = 0xFFFF           # IPv4 total length, IPv6 payload length, UDP length: 16 bits


def _check_kinds(l3: str, l4: str) -> None:
    if l3 not in _IPLEN:
        raise ValueError(f"l3={l3!r}: one of {sorted(_IPLEN)}")
    if l4 not in _L4LEN:
        raise ValueError(f"l4={l4!r}: one of {sorted(_L4LEN)}")
    if l3 == "raw" and l4 != "none":
        raise ValueError("a raw (non-IP) frame carries no TCP/UDP header: use l4='none'")


def header_lens(l3: str, l4: str, *, vlan_inline: bool = False) -> tuple[int, int, int]:
    """(MACLEN, IPLEN, L4LEN) of the frames :func:`build_frame` makes: the context descriptor's view."""
    _check_kinds(l3, l4)
    return ETH_HLEN + (VLAN_HLEN if vlan_inline else 0), _IPLEN[l3], _L4LEN[l4]


def min_size(l3: str, l4: str, *, vlan_inline: bool = False) -> int:
    """Smallest ``size`` :func:`build_frame` accepts: the headers, and never under 17 bytes."""
    return max(MIN_PSP_FRAME, sum(header_lens(l3, l4, vlan_inline=vlan_inline)))


def _unicast_mac(rng: random.Random) -> str:
    """A random unicast (I/G = 0), locally administered (U/L = 1) address."""
    octets = [rng.randrange(256) for _ in range(6)]
    octets[0] = (octets[0] & 0xFC) | 0x02
    return ":".join(f"{b:02x}" for b in octets)


def _l2(rng: random.Random, ethertype: int, vlan_inline: bool):
    """Ethernet header, with an in-band 802.1Q tag (software-tagged frame) when asked."""
    eth = Ether(dst=_unicast_mac(rng), src=_unicast_mac(rng))
    if not vlan_inline:
        eth.type = ethertype
        return eth
    tci = rng.randrange(1 << 16)
    return eth / Dot1Q(prio=tci >> 13, dei=(tci >> 12) & 1, vlan=tci & 0xFFF, type=ethertype)


def _l3(rng: random.Random, l3: str, proto: int, *, l3_payload: int, tso: bool):
    """The IP header, lengths set for ``l3_payload`` bytes behind it (the whole super-packet)."""
    if l3 == "ipv4":
        ip = IP(id=rng.randrange(1 << 16), flags="DF", ttl=64, proto=proto,
                src=f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                dst=f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                len=_IPLEN["ipv4"] + l3_payload)
        if tso:
            ip.chksum = 0  # offloaded: IXSM is mandatory for IPv4 TSE (module docstring)
        return ip
    return IPv6(fl=rng.randrange(1 << 20), hlim=64, nh=proto, plen=l3_payload,
                src=f"fd00::{rng.randrange(1, 1 << 16):x}:{rng.randrange(1 << 16):x}",
                dst=f"fd00:1::{rng.randrange(1, 1 << 16):x}:{rng.randrange(1 << 16):x}")


def _tcp_flags(rng: random.Random) -> str:
    """ACK plus a random subset of PSH, FIN, CWR, ECE."""
    return "A" + "".join(f for f in "PFCE" if rng.random() < 0.4)


def _l4(rng: random.Random, l4: str, *, l4_bytes: int, first_seq: int):
    """The TCP or UDP header; its checksum is filled in later (see :func:`_l4_checksum_field`)."""
    if l4 == "tcp":
        return TCP(sport=rng.randrange(1024, 65536), dport=rng.randrange(1, 65536),
                   seq=first_seq & 0xFFFFFFFF, ack=rng.randrange(1 << 32), flags=_tcp_flags(rng),
                   window=rng.randrange(1, 65536))
    return UDP(sport=rng.randrange(1024, 65536), dport=rng.randrange(1, 65536), len=l4_bytes)


def pseudo_header_sum(ip, proto: int, l4_len: int) -> int:
    """P: the folded, uncomplemented one's-complement sum of the TCP/UDP pseudo-header.

    ``ip`` is the scapy IP or IPv6 layer (its addresses), ``l4_len`` the length
    the pseudo-header carries (0 for the TSO seed). The pseudo-header is packed
    here: scapy's ``in4_pseudoheader`` takes the length from the IP total
    length whenever that field is set, so it cannot leave the length out.
    """
    if isinstance(ip, IP):
        pseudo = inet_aton(ip.src) + inet_aton(ip.dst) + struct.pack("!BBH", 0, proto, l4_len)
    else:
        pseudo = (inet_pton(AF_INET6, ip.src) + inet_pton(AF_INET6, ip.dst)
                  + struct.pack("!I3xB", l4_len, proto))
    return ~checksum(pseudo) & 0xFFFF


def _l4_checksum_field(pkt, l3: str, l4: str, *, csum: bool, tso: bool) -> None:
    """Fill the L4 checksum field: correct, or the Linux offload seed (module docstring)."""
    if l4 == "none" or not (csum or tso):
        return  # scapy computes the correct checksum when it builds the bytes
    ip = pkt[IP] if l3 == "ipv4" else pkt[IPv6]
    layer = pkt[TCP] if l4 == "tcp" else pkt[UDP]
    l4_len = 0 if tso else len(raw(layer))
    layer.chksum = pseudo_header_sum(ip, _IP_PROTO[l4], l4_len)


def build_frame(rng: random.Random, *, size: int, l3: str, l4: str, tso_mss: int = 0,
                csum: bool = False, vlan_inline: bool = False, first_seq: int = 0) -> bytes:
    """A ``size``-byte Ethernet frame (no FCS) with random addresses, ports and payload from ``rng``.

    ``tso_mss`` > 0 prepares a TSO super-packet (seeds and lengths as the
    module docstring says; the MSS itself goes in the context descriptor, not
    the frame), ``csum`` a checksum-offload packet. Raises ValueError for a size
    too small for the headers (or, under TSO, leaving no payload), too large for
    the IP/UDP length fields, and for an offload without a TCP/UDP header.
    """
    maclen, iplen, l4len = header_lens(l3, l4, vlan_inline=vlan_inline)
    if (tso_mss or csum) and l4 == "none":
        raise ValueError("checksum offload and TSO need a TCP or UDP header")
    if tso_mss < 0:
        raise ValueError(f"tso_mss={tso_mss} is negative")
    payload = size - maclen - iplen - l4len
    if size < min_size(l3, l4, vlan_inline=vlan_inline) or (tso_mss and payload < 1):
        raise ValueError(f"size {size} too small for {l3}/{l4}"
                         f"{' with an in-band tag' if vlan_inline else ''}"
                         f" (minimum {min_size(l3, l4, vlan_inline=vlan_inline) + (1 if tso_mss else 0)})")
    if l3 != "raw" and size - maclen - (iplen if l3 == "ipv6" else 0) > _MAX_IP_LEN:
        raise ValueError(f"size {size}: the {l3} length field cannot describe {size - maclen} bytes")
    if l3 == "raw":
        pkt = _l2(rng, rng.choice(ETH_P_TEST), vlan_inline)
    else:
        ethertype = 0x0800 if l3 == "ipv4" else 0x86DD
        proto = _IP_PROTO.get(l4, IPPROTO_EXPERIMENT if l3 == "ipv4" else IPV6_NO_NEXT_HEADER)
        pkt = _l2(rng, ethertype, vlan_inline) / _l3(rng, l3, proto, l3_payload=size - maclen - iplen,
                                                    tso=bool(tso_mss))
        if l4 != "none":
            pkt = pkt / _l4(rng, l4, l4_bytes=l4len + payload, first_seq=first_seq)
    pkt = pkt / Raw(rng.randbytes(payload))
    _l4_checksum_field(pkt, l3, l4, csum=csum, tso=bool(tso_mss))
    frame = raw(pkt)
    assert len(frame) == size, (len(frame), size)
    return frame
