"""The one function that initialises a host's protocol layers, in Linux's init order.

:func:`net_init` is what the kernel's initcalls do at boot for the network
protocols, on one :class:`~stack.core.netcore.NetCore` (whose own
construction already ran the net core's part, ``net_dev_init``: the device
layer, the softirqs):

1. ``sock_init`` (core_initcall, ``net/socket.c``): the fd table
   (``net.socket_table``), and ``netfilter_init`` (``net.nf``);
2. ``inet_init`` (fs_initcall, ``net/ipv4/af_inet.c``): ``net.ipv4`` and
   ``net.mib``, the protocol handlers and socket types, ``arp_init``,
   ``ip_init`` (the FIB), ``tcp_init``, and ``ip_rcv`` for ETH_P_IP.

Every slot these fill is declared, empty, in ``NetCore``. In Linux
``sock_init`` runs before ``net_dev_init`` (subsys_initcall); the two
share no state, so the net core initialising its device layer first
changes nothing.
"""
from __future__ import annotations

from .core.netcore import check_kernel_version
from .ipv4.inet import inet_init
from .socket import sock_init

__all__ = ["net_init"]


def net_init(net, kernel_version: str | None = None) -> None:
    """Initialise ``net``'s protocol layers (module docstring); ``kernel_version`` sets ``net.kernel_version``."""
    if kernel_version is not None:
        check_kernel_version(kernel_version)
        net.kernel_version = kernel_version
    sock_init(net)
    inet_init(net)
