"""Register behaviour in the table: every RegDef's handler names resolve, and the registers
that must have behaviour have it, on the block that owns that behaviour.

The expected map below is not read from the table. It was written from the handlers the
NIC bound in code before the table named them (``Nic._wire_handlers`` and the register
file's built-in 64-bit counter readers), each checked against research/igb_facts.md:

* CTRL: RST (b26) is a self-clearing device reset, FRCSPD forces the speed (§1.3);
* TCTL: EN (b1) starts and stops the transmitter (§1.4);
* TDT(n): the doorbell; TDH(n): software may set it only while the queue is disabled;
  TXDCTL(n): ENABLE (b25) (re)initialises the queue, SWFLSH flushes write-backs (§1.2, §1.5);
* ICR: R/clr with the GPIE.NSICR / IAM refinements (§1.1, §6.5); ICS sets, IMS sets and reads,
  IMC clears the legacy mask; IAM is the auto-mask the ICR read applies;
* EICR: W1C, and clear-on-read only outside MSI-X mode (§1.6, [I210 p418]); EICS sets, EIMS
  sets and reads, EIMC clears; EIAC/EIAM/GPIE/IVAR/IVAR_MISC/EITR hold the interrupt block's
  routing and moderation state (§1.6, §1.7);
* GOTCL/GOTCH, TOTL/TOTH: reading the high dword clears both halves, reading the low one
  clears nothing (§1.8: igb reads GOTCH "to clear GOTCL").
"""
import functools

import pytest

from rtl_model.profiles import get_nic_profile
from rtl_model.regs import Access, RegDef, RegisterFile, RegisterTable
from sim.assembly.nic_harness import NicTestHost


def expected_handlers(profile) -> tuple[dict, dict]:
    """(read, write) maps: register -> (owner, method, handler arguments)."""
    irq_rw = ("IMS", "IAM", "EIMS", "EIAC", "EIAM", "GPIE", "IVAR_MISC")
    read = {"ICR": ("irq", "read_icr", ()), "EICR": ("irq", "read_eicr", ())}
    read |= {name: ("irq", f"read_{name.lower()}", ()) for name in irq_rw}
    write = {"ICS": ("irq", "write_ics", ()), "IMC": ("irq", "write_imc", ()),
             "EICR": ("irq", "write_eicr", ()), "EICS": ("irq", "write_eics", ()),
             "EIMC": ("irq", "write_eimc", ()),
             "CTRL": ("nic", "on_ctrl_write", ()), "TCTL": ("nic", "on_tctl_write", ())}
    write |= {name: ("irq", f"write_{name.lower()}", ()) for name in irq_rw}
    for i in range(8):
        read[f"IVAR0_{i}"] = ("irq", "read_ivar", (i,))
        write[f"IVAR0_{i}"] = ("irq", "write_ivar", (i,))
    for v in range(profile.num_msix_vectors):
        read[f"EITR{v}"] = ("irq", "read_eitr", (v,))
        write[f"EITR{v}"] = ("irq", "write_eitr", (v,))
    for n in range(profile.num_tx_queues):
        for field, method in (("TDT", "on_tdt_write"), ("TDH", "on_tdh_write"),
                              ("TXDCTL", "on_txdctl_write")):
            write[f"{field}{n}"] = (f"txq{n}", method, ())
    for pair, (low, high) in enumerate((("GOTCL", "GOTCH"), ("TOTL", "TOTH"))):
        read[low] = ("regs", "read_counter64_low", (pair,))
        read[high] = ("regs", "read_counter64_high", (pair,))
    return read, write


def describe(fn) -> tuple[object, str, tuple]:
    """(bound object, method name, bound arguments) of a resolved handler."""
    if isinstance(fn, functools.partial):
        return fn.func.__self__, fn.func.__name__, fn.args
    return fn.__self__, fn.__name__, ()


@pytest.fixture(params=["82576", "i210"])
def nic(request):
    return NicTestHost(request.param).nic


def owners_of(nic) -> dict[str, object]:
    return {"nic": nic, "irq": nic.irq, "regs": nic.regs, **{f"txq{q.n}": q for q in nic.queues}}


def test_every_named_handler_resolves(nic):
    """Walk the table: each read/write name resolves to a callable; no name, no handler."""
    for d in nic.regs.table.defs():
        read_fn, write_fn = nic.regs.handlers(d.name)
        assert (read_fn is not None) == (d.read is not None), d.name
        assert (write_fn is not None) == (d.write is not None), d.name
        for fn in (read_fn, write_fn):
            assert fn is None or callable(fn), d.name


def test_registers_with_behaviour_have_their_owners_handlers(nic):
    """The doorbells, resets, enables, read-to-clear and W1C registers (module docstring) are
    handled by the block that owns the behaviour, and no other register has a handler."""
    owners = owners_of(nic)
    read, write = expected_handlers(nic.profile)
    for name in nic.regs.table.names():
        read_fn, write_fn = nic.regs.handlers(name)
        for fn, expected in ((read_fn, read.get(name)), (write_fn, write.get(name))):
            if expected is None:
                assert fn is None, f"{name} has a handler the facts do not call for"
            else:
                owner, method, args = expected
                assert fn is not None, f"{name}: no handler"
                assert describe(fn) == (owners[owner], method, args), name


def test_aliases_reach_the_same_handlers():
    """I210 queue registers at 0x3800 + 0x100n are aliases (§1.2): a TDT write through the alias
    rings the same doorbell as one through 0xE000 + 0x40n."""
    h = NicTestHost("i210")
    h.nic.regs.write(0x3808, 4, 16 * 8)   # TDLEN0 through its alias: 8 descriptors
    h.nic.regs.write(0x3818, 4, 3)        # TDT0 alias
    assert h.nic.queues[0].tail == 3
    h.nic.regs.write(0xE018, 4, 5)        # TDT0 canonical
    assert h.nic.queues[0].tail == 5


# --- the resolution mechanism, on a table of its own ------------------------------------
class Block:
    """A stand-in block owning handlers: records what reached it."""

    def __init__(self):
        self.seen = []

    def write_thing(self, value: int) -> None:
        self.seen.append(value)

    def read_thing(self) -> int:
        return 0x1_2345_6789

    def read_element(self, i: int) -> int:
        return 0x100 + i


def small_file(*defs: RegDef) -> RegisterFile:
    return RegisterFile(RegisterTable(get_nic_profile("82576"), defs))


def test_write_handler_gets_the_masked_value_instead_of_a_store():
    rf = small_file(RegDef("X", 0x10, Access.RW, 0, 0xFF, write="blk.write_thing"))
    blk = Block()
    rf.bind({"blk": blk})
    rf.write(0x10, 4, 0x1234)
    assert blk.seen == [0x34]
    assert rf.get("X") == 0


def test_read_handler_value_is_truncated_to_32_bits_and_owns_clearing():
    """A read handler on an RC register replaces the value and the clearing."""
    rf = small_file(RegDef("X", 0x10, Access.RC, 7, 0, read="blk.read_thing"))
    rf.bind({"blk": Block()})
    assert rf.read(0x10, 4) == 0x2345_6789
    assert rf.get("X") == 7


def test_an_array_register_passes_its_index():
    rf = small_file(RegDef("E2", 0x10, Access.RW, read="blk.read_element", index=2),
                    RegDef("E3", 0x14, Access.RW, read="blk.read_element", index=3))
    rf.bind({"blk": Block()})
    assert (rf.read(0x10, 4), rf.read(0x14, 4)) == (0x102, 0x103)


def test_a_register_without_handlers_is_plain_storage():
    rf = small_file(RegDef("X", 0x10, Access.RW, 0, 0xFF))
    rf.bind({})
    rf.write(0x10, 4, 0x1234)
    assert rf.read(0x10, 4) == 0x34
    assert rf.handlers("X") == (None, None)


@pytest.mark.parametrize("spec,owners", [
    ("blk.write_thing", {}),                 # no such owner
    ("blk.no_such_method", {"blk": Block()}),
    ("write_thing", {"blk": Block()}),       # not owner.method
])
def test_a_name_that_does_not_resolve_fails_when_bound(spec, owners):
    """A handler the table names but no block has is a model bug, reported at build time."""
    rf = small_file(RegDef("X", 0x10, Access.RW, write=spec))
    with pytest.raises(LookupError, match="X"):
        rf.bind(owners)
