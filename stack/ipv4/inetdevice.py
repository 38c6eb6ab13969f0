"""The IPv4 side of a device: ``struct in_device`` and its addresses (``include/linux/inetdevice.h``)."""
from __future__ import annotations

from .utils import in_ntoa, inet_make_mask

__all__ = ["in_ifaddr", "in_device", "in_dev_get", "__in_dev_get"]


class in_ifaddr:
    """One IPv4 address on a device (``struct in_ifaddr``)."""

    __slots__ = ("ifa_local", "ifa_prefixlen", "ifa_mask", "ifa_broadcast", "ifa_dev")

    def __init__(self, local: int, prefixlen: int, broadcast: int, in_dev: "in_device"):
        self.ifa_local = local
        self.ifa_prefixlen = prefixlen
        self.ifa_mask = inet_make_mask(prefixlen)
        self.ifa_broadcast = broadcast
        self.ifa_dev = in_dev

    def __repr__(self) -> str:
        return f"<in_ifaddr {in_ntoa(self.ifa_local)}/{self.ifa_prefixlen} dev {self.ifa_dev.dev.name}>"


class in_device:
    """The IPv4 side of a device (``dev->ip_ptr``): its addresses, its ARP parameters, its config."""

    def __init__(self, dev, arp_parms):
        self.dev = dev
        self.ifa_list: list[in_ifaddr] = []
        #: ``neigh_parms`` of this device for ARP (a copy of the table's defaults).
        self.arp_parms = arp_parms
        #: ``/proc/sys/net/ipv4/conf/<dev>/``: the knobs ARP reads.
        self.cnf = {"arp_announce": 0, "arp_ignore": 0, "arp_accept": 0, "forwarding": 0}


def __in_dev_get(dev) -> in_device | None:
    return dev.ip_ptr
in_dev_get = __in_dev_get

