"""Netfilter hook lists for IPv4 (``net/netfilter/core.c``, ``include/linux/netfilter.h``).

A hook is a Python callable ``fn(skb) -> verdict`` registered on one of
the five IPv4 hook points with a priority (lower runs first, as Linux's
``nf_hook_ops.priority``)::

    ops = nf_register_hook(net, NF_INET_LOCAL_OUT, fn, priority=0)
    nf_unregister_hook(net, ops)

Verdicts (Linux values): :data:`NF_ACCEPT` — go on to the next hook, and
after the last one the packet continues (``okfn``); :data:`NF_DROP` — the
core frees the skb (``kfree_skb``) and the caller gets ``-EPERM``
(``NF_DROP_GETERR`` of a plain NF_DROP); :data:`NF_STOLEN` — the hook took
the skb (it must free or re-inject it itself) and the caller gets 0, as if
sent. Any other return value is a bug in the hook and raises ValueError
(NF_QUEUE and NF_REPEAT are not modelled).

Where the IPv4 code runs the lists (``skb.data`` at the IP header at all of
them): LOCAL_OUT in ``__ip_local_out``, POST_ROUTING in ``ip_output`` (one
datagram, before fragmentation), PRE_ROUTING in ``ip_rcv``, LOCAL_IN in
``ip_local_deliver`` (after reassembly). With no hook registered the
lists cost one dict lookup.

The lists live in ``net.nf`` (:class:`netns_nf`, Linux's ``struct
netns_nf``), made by :func:`netfilter_init` when the stack is initialised
(:func:`stack.initcalls.net_init`). Per-hook counters (``net.nf.stats[hooknum]``:
accept / drop / stolen) say what the hooks did.
"""
from __future__ import annotations

from typing import Callable

from .core import errno
from .core.cputime import charge
from .core.skbuff import kfree_skb

__all__ = [
    "NF_DROP", "NF_ACCEPT", "NF_STOLEN", "NF_INET_PRE_ROUTING", "NF_INET_LOCAL_IN",
    "NF_INET_FORWARD", "NF_INET_LOCAL_OUT", "NF_INET_POST_ROUTING", "NF_INET_NUMHOOKS",
    "NF_HOOK_NAMES", "NF_IP_PRI_FIRST", "NF_IP_PRI_CONNTRACK", "NF_IP_PRI_MANGLE", "NF_IP_PRI_NAT_DST",
    "NF_IP_PRI_FILTER", "NF_IP_PRI_NAT_SRC", "NF_IP_PRI_LAST",
    "netns_nf", "netfilter_init", "nf_hook_ops", "nf_register_hook", "nf_unregister_hook", "nf_hook", "NF_HOOK",
    "NF_HOOK_COND",
]

# verdicts
NF_DROP = 0
NF_ACCEPT = 1
NF_STOLEN = 2

# enum nf_inet_hooks
NF_INET_PRE_ROUTING = 0
NF_INET_LOCAL_IN = 1
NF_INET_FORWARD = 2
NF_INET_LOCAL_OUT = 3
NF_INET_POST_ROUTING = 4
NF_INET_NUMHOOKS = 5
NF_HOOK_NAMES = ("PRE_ROUTING", "LOCAL_IN", "FORWARD", "LOCAL_OUT", "POST_ROUTING")

# enum nf_ip_hook_priorities (the usual ones)
NF_IP_PRI_FIRST = -(2 ** 31)
NF_IP_PRI_CONNTRACK = -200
NF_IP_PRI_MANGLE = -150
NF_IP_PRI_NAT_DST = -100
NF_IP_PRI_FILTER = 0
NF_IP_PRI_NAT_SRC = 100
NF_IP_PRI_LAST = 2 ** 31 - 1


class nf_hook_ops:
    """One registered hook: ``hook(skb) -> verdict`` at ``hooknum`` with ``priority``."""

    __slots__ = ("hook", "hooknum", "priority", "seq")

    def __init__(self, hook: Callable, hooknum: int, priority: int, seq: int):
        self.hook = hook
        self.hooknum = hooknum
        self.priority = priority
        self.seq = seq

    def __repr__(self) -> str:
        return f"<nf_hook_ops {NF_HOOK_NAMES[self.hooknum]} prio={self.priority} {self.hook!r}>"


class netns_nf:
    """``struct netns_nf``: the IPv4 hook lists of one host and what the hooks did to packets."""

    __slots__ = ("hooks_ipv4", "stats", "seq")

    def __init__(self):
        #: Per hook point, the registered hooks in the order they run.
        self.hooks_ipv4: list[list[nf_hook_ops]] = [[] for _ in range(NF_INET_NUMHOOKS)]
        #: Per hook point, verdicts counted: accept / drop / stolen.
        self.stats: list[dict[str, int]] = [{"accept": 0, "drop": 0, "stolen": 0} for _ in range(NF_INET_NUMHOOKS)]
        #: Registrations so far (orders hooks of equal priority).
        self.seq = 0


def netfilter_init(net) -> None:
    """``netfilter_init``: empty hook lists on ``net``."""
    net.nf = netns_nf()


def nf_register_hook(net, hooknum: int, fn: Callable, priority: int = NF_IP_PRI_FILTER) -> nf_hook_ops:
    """Register ``fn(skb) -> NF_ACCEPT/NF_DROP/NF_STOLEN`` at ``hooknum``; the handle to unregister.

    Hooks of equal priority run in registration order.
    """
    if not 0 <= hooknum < NF_INET_NUMHOOKS:
        raise ValueError(f"no IPv4 netfilter hook {hooknum}")
    nf = net.nf
    nf.seq += 1
    ops = nf_hook_ops(fn, hooknum, priority, nf.seq)
    lst = nf.hooks_ipv4[hooknum]
    lst.append(ops)
    lst.sort(key=lambda o: (o.priority, o.seq))
    return ops


def nf_unregister_hook(net, ops: nf_hook_ops) -> None:
    """Remove a hook registered with :func:`nf_register_hook`."""
    net.nf.hooks_ipv4[ops.hooknum].remove(ops)


def nf_hook(net, hooknum: int, skb) -> int:
    """Run the hooks of ``hooknum`` on ``skb``: 1 = continue (call okfn), 0 = stolen, < 0 = dropped.

    A dropped skb has been freed here (``kfree_skb``); a stolen one belongs to the hook.
    """
    hooks = net.nf.hooks_ipv4[hooknum]
    if not hooks:
        return 1
    charge(net, "nf_hook_slow")
    stats = net.nf.stats[hooknum]
    for ops in hooks:
        verdict = ops.hook(skb)
        if verdict == NF_ACCEPT:
            continue
        if verdict == NF_DROP:
            stats["drop"] += 1
            kfree_skb(skb)
            return -errno.EPERM
        if verdict == NF_STOLEN:
            stats["stolen"] += 1
            return 0
        raise ValueError(f"netfilter hook {ops!r} returned {verdict!r} (NF_ACCEPT/NF_DROP/NF_STOLEN only)")
    stats["accept"] += 1
    return 1


def NF_HOOK(net, hooknum: int, sk, skb, okfn: Callable) -> int:
    """``NF_HOOK``: run the hooks, then ``okfn(net, sk, skb)`` if they let the packet through."""
    ret = nf_hook(net, hooknum, skb)
    if ret == 1:
        ret = okfn(net, sk, skb)
    return ret


def NF_HOOK_COND(net, hooknum: int, sk, skb, okfn: Callable, cond: bool) -> int:
    """``NF_HOOK_COND``: as NF_HOOK when ``cond``, else straight to ``okfn``."""
    if cond:
        return NF_HOOK(net, hooknum, sk, skb, okfn)
    return okfn(net, sk, skb)
