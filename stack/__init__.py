"""Python models of the kernel's send path: socket, TCP, IPv4, neighbour, dev_queue_xmit, qdisc, NAPI.

The net core the igb driver and the upper layers share (one ``NetCore`` per host):

* :mod:`stack.core.netcore` — ``NetCore``: execution context, softirqs, timers, softnet_data, skb memory, sysctls;
* :mod:`stack.core.skbuff` — ``SkBuff`` with its bytes in simulated host memory, alloc/clone/free;
* :mod:`stack.core.netdevice` — ``NetDevice``/``netdev_queue``: stop/wake, carrier, ndo_*, TX watchdog;
* :mod:`stack.core.bql` — ``dql`` (lib/dynamic_queue_limits.c) and ``netdev_tx_*_queue``;
* :mod:`stack.core.softirq` — per-CPU pending bits and the daemon that runs handlers in Linux order;
* :mod:`stack.core.napi` — ``napi_struct``, ``napi_schedule``/``napi_complete_done``, ``net_rx_action``;
* :mod:`stack.core.timer` — ``timer_list`` run from the TIMER softirq;
* :mod:`stack.core.context`, :mod:`stack.core.jiffies` — the current CPU, and time in jiffies (HZ=250).
"""
