"""ICMP errors about packets this host sent (``net/ipv4/icmp.c``): ``icmp_send``, ``icmp_err_convert``.

Shortcut: an ICMP error about a locally sent packet goes straight to the
sending socket (what the ICMP message looped back through ``lo`` would do);
ICMP messages to remote hosts are counted, not sent.
"""
from __future__ import annotations


from stack.core import errno
from stack.core.skbuff import SkBuff
from .ip import ip_hdr_read

__all__ = ["ICMP_ECHOREPLY", "ICMP_DEST_UNREACH", "ICMP_ECHO", "ICMP_TIME_EXCEEDED", "ICMP_NET_UNREACH",
           "ICMP_HOST_UNREACH", "ICMP_PROT_UNREACH", "ICMP_PORT_UNREACH", "ICMP_FRAG_NEEDED", "icmp_err_convert",
           "icmp_send", "sk_icmp_error"]

ICMP_ECHOREPLY = 0
ICMP_DEST_UNREACH = 3
ICMP_ECHO = 8
ICMP_TIME_EXCEEDED = 11
ICMP_NET_UNREACH = 0
ICMP_HOST_UNREACH = 1
ICMP_PROT_UNREACH = 2
ICMP_PORT_UNREACH = 3
ICMP_FRAG_NEEDED = 4
#: ``icmp_err_convert``: DEST_UNREACH code -> (errno, fatal).
icmp_err_convert = {
    0: (errno.ENETUNREACH, True), 1: (errno.EHOSTUNREACH, True), 2: (errno.ENOPROTOOPT, True),
    3: (errno.ECONNREFUSED, True), 4: (errno.EMSGSIZE, False), 5: (errno.EOPNOTSUPP, False),
    6: (errno.ENETUNREACH, True), 7: (errno.EHOSTDOWN, True), 8: (errno.ENONET, True),
    9: (errno.ENETUNREACH, True), 10: (errno.EHOSTUNREACH, True), 11: (errno.ENETUNREACH, True),
    12: (errno.EHOSTUNREACH, True), 13: (errno.EHOSTUNREACH, True), 14: (errno.EHOSTUNREACH, True),
    15: (errno.EHOSTUNREACH, True),
}


def icmp_send(skb: SkBuff, type_: int, code: int, info: int = 0) -> None:
    """``icmp_send``: an ICMP error about ``skb`` (its network header must be set).

    An error about a packet this host sent (its source is local) is
    delivered to the sending socket, ``skb.sk``, as the ICMP message looped
    back through ``lo`` would be (``icmp_rcv`` -> the protocol's
    ``err_handler``): counted as sent and received. An error for a remote
    host would be transmitted; the model only counts it.
    """
    net = skb.mem.net
    mib = net.mib
    mib["IcmpOutMsgs"] += 1
    if type_ == ICMP_DEST_UNREACH:
        mib["IcmpOutDestUnreachs"] += 1
    elif type_ == ICMP_TIME_EXCEEDED:
        mib["IcmpOutTimeExcds"] += 1
    iph = ip_hdr_read(skb)
    if iph.saddr not in net.ipv4.local_addrs:
        return  # to a remote host: not transmitted in the model
    mib["IcmpInMsgs"] += 1
    if type_ == ICMP_DEST_UNREACH:
        mib["IcmpInDestUnreachs"] += 1
    elif type_ == ICMP_TIME_EXCEEDED:
        mib["IcmpInTimeExcds"] += 1
    sk = skb.sk
    if sk is not None:
        sk_icmp_error(sk, type_, code, info, skb)


def sk_icmp_error(sk, type_: int, code: int, info: int, skb: SkBuff | None = None) -> None:
    """Hand an ICMP error to a socket: its ``err_handler`` if it has one, else ``sk_err`` + ``sk_err_report``."""
    handler = sk.err_handler
    if handler is not None:
        handler(type_, code, info, skb)
        return
    if type_ == ICMP_DEST_UNREACH:
        err = icmp_err_convert.get(code, (errno.EHOSTUNREACH, True))[0]
    elif type_ == ICMP_TIME_EXCEEDED:
        err = errno.EHOSTUNREACH
    else:
        return
    sk.sk_err = err
    report = sk.sk_err_report
    if report is not None:
        report(sk)
