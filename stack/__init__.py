"""Python models of the kernel's send path: socket, TCP, IPv4, neighbour, dev_queue_xmit, qdisc, NAPI."""
