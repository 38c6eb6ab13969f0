"""The one function that initialises a host's network layers, in Linux's init order.

:func:`net_init` is what the kernel's initcalls do at boot for the network,
on one :class:`~stack.core.netcore.NetCore`:

1. ``sock_init`` (core_initcall, ``net/socket.c``): the fd table
   (``net.socket_table``), and ``netfilter_init`` (``net.nf``);
2. ``net_dev_init`` (subsys_initcall, ``net/core/dev.c``): the device
   layer — noop qdisc, ``dev_activate``/``dev_deactivate``, the per-CPU
   backlog NAPIs (the NET_TX/NET_RX softirqs are opened with the net core);
3. ``inet_init`` (fs_initcall, ``net/ipv4/af_inet.c``): ``net.ipv4`` and
   ``net.mib``, the protocol handlers and socket types, ``arp_init``,
   ``ip_init`` (the FIB), ``tcp_init``, and ``ip_rcv`` for ETH_P_IP.

Every slot these fill is declared, empty, in ``NetCore``; with
``protocols=False`` only the device layer's are filled.
"""
from __future__ import annotations

from .core.dev import net_dev_init
from .ipv4.inet import inet_init
from .ipv4.netns import KERNEL_VERSIONS
from .socket import sock_init

__all__ = ["net_init"]


def net_init(net, kernel_version: str | None = None, *, protocols: bool = True) -> None:
    """Initialise ``net``'s network layers (module docstring); ``kernel_version`` sets ``net.kernel_version``.

    ``protocols=False`` stops at the device layer: a host whose only traffic
    is skbs handed to ``dev_queue_xmit`` (a packet socket's path), as the
    driver tests use it.
    """
    if kernel_version is not None:
        if kernel_version not in KERNEL_VERSIONS:
            raise ValueError(f"kernel_version {kernel_version!r}: one of {KERNEL_VERSIONS}")
        net.kernel_version = kernel_version
    if protocols:
        sock_init(net)
    net_dev_init(net)
    if protocols:
        inet_init(net)
