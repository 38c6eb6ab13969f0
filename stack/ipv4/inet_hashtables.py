"""TCP's socket tables (``net/ipv4/inet_hashtables.c``): the established hash, the listeners, bound ports.

``net.tcp.ehash`` maps the 4-tuple ``(saddr, sport, daddr, dport)`` (ints)
to a connected socket, ``net.tcp.lhash`` ``(saddr, sport)`` to a listener
(saddr 0: any address), ``net.tcp.bound_ports`` a port to its users.
"""
from __future__ import annotations

__all__ = ["inet_ehash_key", "inet_hash", "inet_unhash", "inet_put_port"]



def inet_put_port(sk) -> None:
    tcp = sk.net.tcp
    if sk.bound and sk.parent is None:
        port = sk.inet_sport
        left = tcp.bound_ports.get(port, 0) - 1
        if left > 0:
            tcp.bound_ports[port] = left
        else:
            tcp.bound_ports.pop(port, None)
    sk.bound = False



def inet_ehash_key(sk) -> tuple:
    return (sk.inet_saddr, sk.inet_sport, sk.inet_daddr, sk.inet_dport)



def inet_hash(sk) -> None:
    sk.net.tcp.ehash[inet_ehash_key(sk)] = sk



def inet_unhash(sk) -> None:
    tcp = sk.net.tcp
    key = inet_ehash_key(sk)
    if tcp.ehash.get(key) is sk:
        del tcp.ehash[key]
    lkey = (sk.inet_saddr, sk.inet_sport)
    if tcp.lhash.get(lkey) is sk:
        del tcp.lhash[lkey]
