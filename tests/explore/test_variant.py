"""``sim/explore/variant.py``: replacement igb functions from a file, run in place of the driver's own.

A variant is applied to a system already built and open (as the explorer
does in its forked child), so each test checks that the replacement is what
runs afterwards: through the driver modules' own calls (``igb_tx_map``) and
through the callbacks the driver stored in kernel structures at probe and
open (``ndo_start_xmit``, the MSI-X handlers, the NAPI poll function, the
watchdog timer and work). Expected counts are the frames each test sends.
"""
from __future__ import annotations

import hashlib
import pathlib
import sys
import types

import pytest

from driver.igb import clean as clean_module
from driver.igb import interrupts as irq_module
from driver.igb import main as main_module
from driver.igb import xmit as xmit_module
from driver.igb.e1000_regs import E1000_ICR_LSC, E1000_ICS
from sim.assembly import system as system_module
from sim.assembly.skbs import numbered_frame
from sim.assembly.system import IgbSystem
from sim.engine import MS
from sim.explore.variant import Variant, VariantError, load_variant, replaceable_functions
from stack.core.skbuff import skb_from_bytes

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "variant_late_publish.py"


@pytest.fixture
def s() -> IgbSystem:
    s = IgbSystem("82576", ordering="x86-tso", ncpus=2, ring_size=64)
    s.bring_up()
    return s


def _send(s: IgbSystem, first: int, n: int) -> list[bytes]:
    """``n`` 60-byte numbered frames from a sender on CPU 0, then 2 ms for the NIC; the frames sent."""
    frames = [numbered_frame(first + k, 60) for k in range(n)]
    with s.kernel.on_cpu(0, "task:sender"):
        skbs = [skb_from_bytes(s.net.skb, f) for f in frames]
    s.sender(cpu=0).send(skbs)
    s.run_for(2 * MS)
    return frames


def _write(tmp_path: pathlib.Path, source: str, name: str = "variant.py") -> pathlib.Path:
    path = tmp_path / name
    path.write_text(source)
    return path


def _wrapping(tmp_path: pathlib.Path, *names: str) -> Variant:
    """A variant whose ``names`` record each call in ``CALLS``, then run the driver's own function."""
    own = replaceable_functions()
    lines = ["CALLS = []"]
    for name in names:
        lines += [f"from {own[name].__module__} import {name} as _own_{name}",
                  f"def {name}(*args):",
                  f"    CALLS.append({name!r})",
                  f"    return _own_{name}(*args)"]
    return load_variant(_write(tmp_path, "\n".join(lines) + "\n", "wrapping.py"))


def _calls(v: Variant, name: str) -> int:
    return v.module.CALLS.count(name)


def _tx_ring(s: IgbSystem):
    return s.adapter.tx_ring[0]


# --- the replaceable functions ---------------------------------------------------------------------------
def test_replaceable_functions_are_the_drivers_own():
    funcs = replaceable_functions()
    for name in ("igb_tx_map", "igb_clean_tx_irq", "__igb_maybe_stop_tx", "igb_xmit_frame", "igb_poll",
                 "igb_msix_ring"):
        assert name in funcs
    assert funcs["igb_tx_map"] is xmit_module.igb_tx_map
    for name, fn in funcs.items():
        assert type(fn) is types.FunctionType and fn.__name__ == name
        assert fn.__module__ == "driver.igb" or fn.__module__.startswith("driver.igb."), (name, fn.__module__)
    assert len({id(fn) for fn in funcs.values()}) == len(funcs)
    # functions the driver imports from the net core and the platform are not the driver's
    for name in ("napi_schedule", "netdev_tx_sent_queue", "dev_kfree_skb_any", "netif_napi_add"):
        assert name not in funcs


# --- a replacement takes effect on a system already open --------------------------------------------------
def test_a_replaced_igb_tx_map_runs_once_per_frame_and_the_frames_reach_the_wire(s, tmp_path):
    v = _wrapping(tmp_path, "igb_tx_map")
    with v:
        sent = _send(s, 0, 5)
    assert _calls(v, "igb_tx_map") == 5
    assert s.frames() == sent
    assert _tx_ring(s).next_to_clean == 5   # one descriptor per frame, every one completed and cleaned


@pytest.mark.parametrize("name", ["igb_xmit_frame", "igb_msix_ring", "igb_poll"])
def test_a_callback_stored_at_probe_or_open_calls_a_replacement_applied_after(s, tmp_path, name):
    """ndo_start_xmit (stored at probe), the queue vector's handler and NAPI's poll (stored at open)."""
    v = _wrapping(tmp_path, name)
    with v:
        before = _calls(v, name)
        sent = _send(s, 0, 3)
        after = _calls(v, name)
    assert s.frames() == sent
    assert _tx_ring(s).next_to_clean == 3   # the completion was cleaned: interrupt, then poll
    if name == "igb_xmit_frame":
        assert after == 3
    else:
        assert after > before


def test_the_other_vector_the_watchdog_timer_and_its_work_call_their_replacements(s, tmp_path):
    """A link-change cause (ICS.LSC): igb_msix_other arms the watchdog timer, which queues the watchdog task."""
    v = _wrapping(tmp_path, "igb_msix_other", "igb_watchdog", "igb_watchdog_task")
    s.run_for(50 * MS)   # the watchdog task bring_up queued finishes first (it re-arms the timer for 2 s)
    with v:
        with s.kernel.on_cpu(0, "task:test"):
            s.kernel.writel(E1000_ICR_LSC, s.adapter.io_addr, E1000_ICS)
        s.run_for(20 * MS)   # the timer is armed for the next jiffy (4 ms at HZ=250)
    assert v.module.CALLS[:3] == ["igb_msix_other", "igb_watchdog", "igb_watchdog_task"]


def test_open_close_and_remove_call_their_replacements(s, tmp_path):
    """ndo_stop and ndo_open (stored at probe), and igb_remove as the assembly calls it (rmmod)."""
    v = _wrapping(tmp_path, "igb_open", "igb_close", "igb_remove")
    with v:
        s.close()
        s.open()
        s.close()
        s.remove()
    assert v.module.CALLS == ["igb_close", "igb_open", "igb_close", "igb_remove"]


def test_the_timeout_op_and_the_reset_work_call_their_replacements(s, tmp_path):
    """Called through the stored references themselves (a real timeout takes seconds of a hung queue)."""
    v = load_variant(_write(tmp_path, "CALLS = []\n"
                            "def igb_tx_timeout(netdev, txqueue):\n    CALLS.append(('timeout', txqueue))\n"
                            "def igb_reset_task(adapter):\n    CALLS.append(('reset', adapter))\n"))
    with v:
        s.netdev.ndo_tx_timeout(s.netdev, 0)
        s.adapter.reset_task.func(s.adapter.reset_task)
    assert v.module.CALLS == [("timeout", 0), ("reset", s.adapter)]


# --- installing and undoing ------------------------------------------------------------------------------
def test_undo_puts_the_drivers_own_functions_back(s, tmp_path):
    v = _wrapping(tmp_path, "igb_tx_map", "igb_poll")
    undo = v.apply()
    try:
        first = _send(s, 0, 2)
        assert xmit_module.igb_tx_map is v.replacements["igb_tx_map"]
    finally:
        undo()
    calls = list(v.module.CALLS)
    assert calls.count("igb_tx_map") == 2 and "igb_poll" in calls
    more = _send(s, 2, 3)
    assert v.module.CALLS == calls   # neither runs any more
    assert s.frames() == first + more
    assert _tx_ring(s).next_to_clean == 5
    own = replaceable_functions()
    for module in [m for n, m in sys.modules.items() if n.startswith(("driver.igb", "sim.assembly"))]:
        for key, value in vars(module).items():
            assert value not in v.replacements.values(), f"{module.__name__}.{key}"
    assert own["igb_tx_map"] is xmit_module.igb_tx_map and own["igb_poll"] is irq_module.igb_poll
    undo()   # a second undo does nothing


def test_every_binding_is_replaced_and_the_context_manager_undoes(tmp_path):
    own = replaceable_functions()
    v = _wrapping(tmp_path, "igb_clean_tx_irq", "igb_xmit_frame", "igb_set_coalesce")
    with v as applied:
        assert applied is v
        new = v.replacements
        assert clean_module.igb_clean_tx_irq is new["igb_clean_tx_irq"]
        assert irq_module.igb_clean_tx_irq is new["igb_clean_tx_irq"]   # imported with from .clean import
        assert xmit_module.igb_xmit_frame is new["igb_xmit_frame"]
        assert main_module.igb_xmit_frame is new["igb_xmit_frame"]
        assert system_module.igb_set_coalesce is new["igb_set_coalesce"]   # the assembly's ethtool call
    assert clean_module.igb_clean_tx_irq is own["igb_clean_tx_irq"]
    assert irq_module.igb_clean_tx_irq is own["igb_clean_tx_irq"]
    assert main_module.igb_xmit_frame is own["igb_xmit_frame"]
    assert system_module.igb_set_coalesce is own["igb_set_coalesce"]


def test_a_second_variant_is_refused_while_one_is_applied(tmp_path):
    a = _wrapping(tmp_path, "igb_tx_map")
    b = load_variant(_write(tmp_path, "def igb_poll(napi, budget):\n    return 0\n", "b.py"))
    with a:
        with pytest.raises(RuntimeError, match="undo it"):
            b.apply()
        with pytest.raises(RuntimeError, match="undo it"):
            a.apply()
    with b:
        assert irq_module.igb_poll is b.replacements["igb_poll"]


# --- loading ---------------------------------------------------------------------------------------------
def test_the_example_variant(s):
    v = load_variant(EXAMPLE)
    assert v.names == ("igb_tx_map",)
    assert v.path == EXAMPLE
    assert v.digest == hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()
    assert v.replacements["igb_tx_map"] is not xmit_module.igb_tx_map
    with v:   # x86-TSO keeps stores in order: the late barrier is harmless here
        assert xmit_module.igb_tx_map is v.replacements["igb_tx_map"]
        sent = _send(s, 0, 5)
    assert s.frames() == sent
    assert _tx_ring(s).next_to_clean == 5


def test_helpers_imports_and_private_names_are_not_replacements(tmp_path):
    v = load_variant(_write(tmp_path, (
        "from driver.igb.xmit import *\n"
        "from driver.igb.xmit import _dma_error, igb_tx_map as _own_tx_map\n"
        "from driver.igb.interrupts import igb_poll\n"
        "LIMIT = 3\n"
        "def _helper():\n    return LIMIT\n"
        "def helper():\n    return _helper()\n"
        "def __igb_maybe_stop_tx(tx_ring, size):\n    return 0\n"
        "def igb_tx_map(tx_ring, first, hdr_len):\n    return _own_tx_map(tx_ring, first, hdr_len)\n")))
    assert v.names == ("__igb_maybe_stop_tx", "igb_tx_map")
    assert set(v.replacements) == set(v.names)
    assert len(v.digest) == 64


@pytest.mark.parametrize("source,expect", [
    pytest.param(None, ["cannot read", "No such file"], id="missing"),
    pytest.param("def igb_tx_map(tx_ring:\n", [":1: syntax error"], id="syntax"),
    pytest.param("import driver.igb.xmit\nraise RuntimeError('boom\\nsecond line')\n",
                 [":2:", "RuntimeError", "boom second line"], id="raises"),
    pytest.param("from driver.igb.xmit import igb_tx_mapp\n", [":1:", "ImportError", "igb_tx_mapp"],
                 id="bad-import"),
    pytest.param("def helper():\n    pass\n", ["defines no replaceable igb driver function", "igb_tx_map",
                                                "igb_clean_tx_irq"], id="none"),
    pytest.param("def igb_tx_mapp(tx_ring, first, hdr_len):\n    pass\n",
                 ["defines no replaceable", "did you mean igb_tx_map for igb_tx_mapp"], id="typo"),
    pytest.param("igb_tx_map = 42\n", ["igb_tx_map is not a function", "int"], id="not-a-function"),
    pytest.param("class igb_poll:\n    pass\n", ["igb_poll is not a function", "type"], id="a-class"),
])
def test_bad_variant_files_give_one_line(tmp_path, source, expect):
    path = tmp_path / "bad.py"
    if source is not None:
        path.write_text(source)
    with pytest.raises(VariantError) as info:
        load_variant(path)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "\n" not in message
    assert message.startswith(str(path))
    for part in expect:
        assert part in message, message


def test_a_directory_is_not_a_variant_file(tmp_path):
    with pytest.raises(VariantError, match="cannot read") as info:
        load_variant(tmp_path)
    assert "\n" not in str(info.value)
