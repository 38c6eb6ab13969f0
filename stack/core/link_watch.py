"""Link state changes reaching the qdiscs (``net/core/link_watch.c``).

``netif_carrier_on``/``netif_carrier_off`` call :func:`linkwatch_fire_event`;
Linux queues the device to linkwatch's work, which runs
:func:`linkwatch_do_dev` from a workqueue (carrier-off possibly up to a
second later). Here the event is handled synchronously, inside the carrier
change: a running device's qdiscs follow its carrier at once.
"""
from __future__ import annotations

from .netdevice import netif_carrier_ok, netif_running
from .qdisc import dev_activate, dev_deactivate

__all__ = ["linkwatch_fire_event", "linkwatch_do_dev"]


def linkwatch_do_dev(dev) -> None:
    """A running device's qdiscs follow its carrier: ``dev_activate`` or ``dev_deactivate``."""
    if not netif_running(dev):
        return
    if netif_carrier_ok(dev):
        dev_activate(dev)
    else:
        dev_deactivate(dev)


def linkwatch_fire_event(dev) -> None:
    """The carrier of ``dev`` changed: run :func:`linkwatch_do_dev` now (no workqueue)."""
    linkwatch_do_dev(dev)
