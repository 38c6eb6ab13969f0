"""skb handles: the address a ``struct sk_buff *`` in simulated memory holds, and what using a dead one does.

Expected values are the documented arithmetic (the x86-64 direct map base
0xffff888000000000 plus 256 bytes per skb id) and KASAN's behaviour: a
freed object's pointer stays loadable; any access through it stops the
path with a use-after-free report naming the access, the CPU and context.
"""
import pytest

from stack.core.bug import KernelBug, UseAfterFree
from stack.core.skb_handle import FreedSkb, skb_from_handle, skb_handle
from stack.core.skbuff import consume_skb, kfree_skb, napi_consume_skb, skb_from_bytes

BASE = 0xFFFF_8880_0000_0000


def test_a_live_skb_resolves_to_itself_and_null_to_none(net):
    skb = skb_from_bytes(net.skb, bytes(100))
    assert skb_handle(skb) == BASE + 256 * skb.id
    assert skb_handle(None) == 0
    assert skb_from_handle(net.skb, BASE + 256 * skb.id) is skb
    assert skb_from_handle(net.skb, 0) is None
    consume_skb(skb)


def loader(net, handle):
    """A function that loads an skb pointer: the site a report names."""
    return skb_from_handle(net.skb, handle)


def test_freeing_through_a_dead_handle_is_reported_as_use_after_free(net):
    skb = skb_from_bytes(net.skb, bytes(100))
    handle = BASE + 256 * skb.id
    kfree_skb(skb)                           # the stack's own free kills the handle
    stale = loader(net, handle)
    assert isinstance(stale, FreedSkb)       # loading the stale pointer is no bug yet
    assert not net.ctx.bugs
    with net.ctx.on_cpu(1, "softirq:NET_RX"):
        with pytest.raises(UseAfterFree) as caught:
            napi_consume_skb(stale, 64)
    (report,) = net.ctx.bugs
    assert caught.value.report is report
    assert (report.kind, report.site, report.address) == ("use-after-free", "loader", handle)
    assert (report.cpu, report.context, report.time_ps) == (1, "softirq:NET_RX", net.engine.now)
    assert "skb->users" in report.detail
    assert (net.skb.consumed, net.skb.dropped) == (0, 1)   # nothing freed twice


def test_reading_a_field_through_a_dead_handle_is_reported(net):
    skb = skb_from_bytes(net.skb, bytes(64))
    handle = skb_handle(skb)
    consume_skb(skb)
    with pytest.raises(UseAfterFree, match=r"skb->len"):
        _ = loader(net, handle).len
    assert net.ctx.bugs[-1].address == handle


@pytest.mark.parametrize("wild", [BASE + 8, BASE + 256 * 1000, 0x6B6B_6B6B_6B6B_6B6B])
def test_a_value_that_was_never_a_handle_is_a_wild_pointer(net, wild):
    skb_from_bytes(net.skb, bytes(64))           # id 1 issued: 1000 never was
    with pytest.raises(KernelBug, match="wild pointer") as caught:
        loader(net, wild)
    assert not isinstance(caught.value, UseAfterFree)
    assert net.ctx.bugs[-1].site == "loader" and net.ctx.bugs[-1].address == wild
