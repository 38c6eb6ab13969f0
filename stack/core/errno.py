"""The stack's errno values: Linux's numbers (``include/uapi/asm-generic/errno-base.h``, ``errno.h``).

One definition for the whole kernel side (stack and driver), independent
of the host Python runs on. The values are positive, as the headers define
them; a function that fails returns the negated value (``return -EINVAL``),
as kernel functions do, and ``sk_err`` holds the positive one, as Linux's
``sk->sk_err`` does.
"""
from __future__ import annotations

__all__ = [
    "EPERM", "ENOENT", "EBADF", "EAGAIN", "ENOMEM", "EBUSY", "EINVAL", "EMFILE", "EPIPE", "ENONET",
    "EDESTADDRREQ", "EMSGSIZE", "ENOPROTOOPT", "EPROTONOSUPPORT", "EOPNOTSUPP", "EAFNOSUPPORT",
    "EADDRINUSE", "EADDRNOTAVAIL", "ENETDOWN", "ENETUNREACH", "ECONNRESET", "ENOBUFS", "EISCONN",
    "ENOTCONN", "ETIMEDOUT", "ECONNREFUSED", "EHOSTDOWN", "EHOSTUNREACH", "EALREADY",
]

# errno-base.h
EPERM = 1
ENOENT = 2
EBADF = 9
EAGAIN = 11
ENOMEM = 12
EBUSY = 16
EINVAL = 22
EMFILE = 24
EPIPE = 32
# errno.h
ENONET = 64
EDESTADDRREQ = 89
EMSGSIZE = 90
ENOPROTOOPT = 92
EPROTONOSUPPORT = 93
EOPNOTSUPP = 95
EAFNOSUPPORT = 97
EADDRINUSE = 98
EADDRNOTAVAIL = 99
ENETDOWN = 100
ENETUNREACH = 101
ECONNRESET = 104
ENOBUFS = 105
EISCONN = 106
ENOTCONN = 107
ETIMEDOUT = 110
ECONNREFUSED = 111
EHOSTDOWN = 112
EHOSTUNREACH = 113
EALREADY = 114
