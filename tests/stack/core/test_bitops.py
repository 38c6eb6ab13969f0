"""Linux bitops on simulated memory: their values, and their ordering as litmus tests.

Expected outcome sets come from the ordering facts (cpu_time_facts §3,
Documentation/atomic_bitops.txt), not from running the model:

* SB with a bitop: CPU 0 ``set_bit(x)`` then loads ``y``; CPU 1 stores
  ``y = 1``, ``smp_mb()``, then ``test_bit(x)``. "Both miss" (r0 = 0, r1 = 0)
  needs CPU 0's load to pass its ``set_bit``. ``set_bit`` is unordered, so on
  arm64/POWER/RISC-V that is allowed unless ``smp_mb__after_atomic()``
  follows the ``set_bit``; on x86 it is forbidden even without it, because a
  LOCK'd RMW is a full barrier.
* A ``test_and_clear_bit`` that clears the bit is fully ordered: the same
  shape with it in place of ``set_bit`` forbids "both miss" everywhere. One
  that finds the bit already clear is only a load, and orders nothing.
"""
import pytest

from sim.engine import Engine
from sim.host import Host
from sim.host.litmus import Barrier, Ld, Litmus, St, enumerate_litmus
from stack.core import bitops

WEAK = ["arm64", "power", "riscv"]


# --- values on one CPU ------------------------------------------------------------------------------
@pytest.fixture
def cpu():
    host = Host(Engine(), "arm64", ncpus=1)
    c = host.cpus[0]
    c.word = host.dma.kzalloc(16)
    return c


def test_bits_live_in_64_bit_words(cpu):
    bitops.set_bit(cpu, 3, cpu.word)
    bitops.set_bit(cpu, 64 + 5, cpu.word)        # bit 5 of the second unsigned long
    assert cpu.load(cpu.word, 8) == 1 << 3 and cpu.load(cpu.word + 8, 8) == 1 << 5
    assert bitops.test_bit(cpu, 69, cpu.word) and not bitops.test_bit(cpu, 68, cpu.word)
    bitops.clear_bit(cpu, 3, cpu.word)
    assert cpu.load(cpu.word, 8) == 0


def test_test_and_ops_return_the_old_bit(cpu):
    assert bitops.test_and_set_bit(cpu, 7, cpu.word) is False
    assert bitops.test_and_set_bit(cpu, 7, cpu.word) is True
    assert bitops.test_and_clear_bit(cpu, 7, cpu.word) is True
    assert bitops.test_and_clear_bit(cpu, 7, cpu.word) is False
    assert bitops.__test_and_set_bit(cpu, 1, cpu.word) is False
    assert bitops.__test_and_set_bit(cpu, 1, cpu.word) is True
    assert cpu.load(cpu.word, 8) == 2


def test_atomic_bitops_are_visible_at_once_and_plain_ones_are_buffered(cpu):
    mem = cpu.host.mem
    bitops.set_bit(cpu, 0, cpu.word)
    assert mem.read64(cpu.word) == 1              # the RMW wrote memory, no store buffer
    bitops.__test_and_set_bit(cpu, 1, cpu.word)
    assert mem.read64(cpu.word) == 1              # a plain store: still in the buffer
    assert cpu.load(cpu.word, 8) == 3             # …which this CPU forwards


# --- ordering as litmus tests ---------------------------------------------------------------------------
class BitOp:
    """``fn(cpu, 0, &var)`` on bit 0 of a litmus variable (its result is not observed)."""

    def __init__(self, fn, var):
        self.fn, self.var = fn, var

    def run(self, cpu, ctx):
        self.fn(cpu, 0, ctx.cpu_addr[self.var])


class BitTest:
    def __init__(self, var, reg):
        self.var, self.reg = var, reg

    def run(self, cpu, ctx):
        ctx.regs[self.reg] = int(bitops.test_bit(cpu, 0, ctx.cpu_addr[self.var]))


class MbAfterAtomic:
    def run(self, cpu, ctx):
        bitops.smp_mb__after_atomic(cpu)


def sb(fn, x_init: int, after_atomic: bool = False) -> Litmus:
    """SB: CPU 0 changes bit 0 of x with ``fn``, then loads y; CPU 1 stores y, smp_mb, test_bit(x).

    "Both miss" is (r0, r1) = (0, x_init): CPU 0 did not see y, CPU 1 did not see the change.
    """
    t0 = [BitOp(fn, "x")] + ([MbAfterAtomic()] if after_atomic else []) + [Ld("y", "r0")]
    t1 = [St("y", 1), Barrier("smp_mb"), BitTest("x", "r1")]
    return Litmus(f"SB+{fn.__name__}", {"x": x_init, "y": 0}, (tuple(t0), tuple(t1)), ("r0", "r1"))


def outcomes(litmus, profile) -> set:
    return enumerate_litmus(litmus, profile).outcome_set


@pytest.mark.parametrize("profile", WEAK)
def test_set_bit_is_unordered_on_weak_profiles_until_smp_mb__after_atomic(profile):
    assert (0, 0) in outcomes(sb(bitops.set_bit, 0), profile)
    assert outcomes(sb(bitops.set_bit, 0, after_atomic=True), profile) == {(0, 1), (1, 0), (1, 1)}


def test_set_bit_is_a_full_barrier_on_x86():
    assert outcomes(sb(bitops.set_bit, 0), "x86-tso") == {(0, 1), (1, 0), (1, 1)}


@pytest.mark.parametrize("profile", WEAK)
def test_clear_bit_is_unordered_but_a_clearing_test_and_clear_bit_is_fully_ordered(profile):
    # x starts with the bit set; "both miss" is r0 = 0 (y not seen) with r1 = 1 (clear not seen)
    assert (0, 1) in outcomes(sb(bitops.clear_bit, 1), profile)
    assert outcomes(sb(bitops.test_and_clear_bit, 1), profile) == {(0, 0), (1, 0), (1, 1)}


def sb_around(fn, x_init: int) -> Litmus:
    """SB with ``fn`` on x between CPU 0's store of y and its load of z; CPU 1: z = 1, smp_mb, load y."""
    t0 = [St("y", 1), BitOp(fn, "x"), Ld("z", "r0")]
    t1 = [St("z", 1), Barrier("smp_mb"), Ld("y", "r1")]
    return Litmus(f"SB+{fn.__name__}", {"x": x_init, "y": 0, "z": 0}, (tuple(t0), tuple(t1)), ("r0", "r1"))


@pytest.mark.parametrize("profile", ["x86-tso", "arm64"])
def test_a_test_and_set_bit_that_finds_the_bit_set_is_only_a_load(profile):
    # it sets the bit: fully ordered, so "both zero" (CPU 0's load of z passing its store of y) is forbidden
    assert (0, 0) not in outcomes(sb_around(bitops.test_and_set_bit, 0), profile)
    # the bit is already set: a plain load (asm-generic's READ_ONCE shortcut), no barrier at all
    assert (0, 0) in outcomes(sb_around(bitops.test_and_set_bit, 1), profile)
