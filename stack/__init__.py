"""Python models of the kernel's send path: socket, TCP, IPv4, neighbour, dev_queue_xmit, qdisc, NAPI.

Two layers, one package each side (``docs/stack.md`` lists the modules by Linux source file):

* the net core, :mod:`stack.core` — what the igb driver and the protocols share, one
  :class:`~stack.core.netcore.NetCore` per host: skbs (``skbuff``, ``skb_memory``), checksums
  (``checksum``), net devices and BQL (``netdevice``, ``dynamic_queue_limits``, ``bql``), the
  device layer and qdiscs (``dev``, ``qdisc``), softirqs/tasklets, NAPI, timers, jiffies, CPU time;
* the protocol side — :mod:`stack.socket` (the system calls), :mod:`stack.netfilter`,
  :mod:`stack.neighbour` and :mod:`stack.ipv4` (IPv4, ARP, ICMP, UDP, TCP).

The net core never imports the protocol side; the driver imports only the net core.
:func:`stack.initcalls.net_init` initialises a host's layers in Linux's init order.
"""
