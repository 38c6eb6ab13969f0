"""Atomic read-modify-writes on a simulated CPU (Cpu.atomic_rmw, Cpu.cmpxchg).

Expected behaviour, from the facts (ordering_facts §2.1 x86-TSO, cpu_time_facts
§3): an atomic RMW reads the latest value in coherence order (including
this CPU's own earlier stores to it), its write is globally visible at once,
and it never lets an older store of this CPU to the same bytes land after
it. What else it orders is the profile's: x86's LOCK prefix drains the
store buffer (a full barrier); an arm64/POWER/RISC-V atomic orders nothing,
except through fence marks already in the buffer.
"""
import pytest

from sim.engine import Engine
from sim.host import Host
from sim.host.ordering import ALL, PROFILES

WEAK = ["arm64", "power", "riscv"]


def host_of(profile, ncpus=2):
    host = Host(Engine(), profile, ncpus=ncpus, drain_delay_ps=1_000)
    return host, host.dma.kzalloc(256)


def test_only_x86_atomics_order_anything():
    assert all(PROFILES["x86-tso"].atomic_rmw.after_of[c] == ALL for c in (1, 2, 4, 8))
    for name in ["sc"] + WEAK:
        assert PROFILES[name].atomic_rmw.is_empty, name


@pytest.mark.parametrize("profile", ["x86-tso"] + WEAK)
def test_rmw_returns_the_old_value_and_its_write_is_visible_at_once(profile):
    host, base = host_of(profile)
    cpu0, cpu1 = host.cpus
    host.mem.write64(base, 40)
    assert cpu0.atomic_rmw(base, 8, lambda v: v + 2) == 40
    assert host.mem.read64(base) == 42           # in memory, not in a store buffer
    assert cpu1.atomic_rmw(base, 8, lambda v: v + 1) == 42


@pytest.mark.parametrize("profile", ["x86-tso"] + WEAK)
def test_rmw_reads_and_stays_after_this_cpus_own_buffered_store(profile):
    host, base = host_of(profile)
    cpu = host.cpus[0]
    cpu.store(base, 8, 7)                        # buffered
    assert host.mem.read64(base) == 0
    assert cpu.atomic_rmw(base, 8, lambda v: v | 0x10) == 7
    host.drain_all()                              # the old store must not land on top of the RMW
    assert host.mem.read64(base) == 0x17


@pytest.mark.parametrize("profile", WEAK)
def test_a_weak_atomic_leaves_unrelated_stores_buffered(profile):
    host, base = host_of(profile)
    cpu = host.cpus[0]
    cpu.store(base + 64, 8, 1)
    cpu.atomic_rmw(base, 8, lambda v: v | 1)
    assert host.mem.read64(base) == 1 and host.mem.read64(base + 64) == 0


def test_an_x86_atomic_drains_the_store_buffer():
    host, base = host_of("x86-tso")
    cpu = host.cpus[0]
    cpu.store(base + 64, 8, 1)
    cpu.atomic_rmw(base, 8, lambda v: v | 1)
    assert host.mem.read64(base + 64) == 1


@pytest.mark.parametrize("profile", WEAK)
def test_a_weak_atomic_still_follows_stores_a_write_barrier_ordered_before_it(profile):
    host, base = host_of(profile)
    cpu = host.cpus[0]
    cpu.store(base + 64, 8, 1)
    cpu.barrier("smp_wmb")                        # orders the store before every later store
    cpu.atomic_rmw(base, 8, lambda v: v | 1)
    assert host.mem.read64(base + 64) == 1


@pytest.mark.parametrize("profile", ["x86-tso"] + WEAK)
def test_cmpxchg_writes_only_on_a_match(profile):
    host, base = host_of(profile)
    cpu = host.cpus[0]
    host.mem.write64(base, 5)
    assert cpu.cmpxchg(base, 8, 4, 9) == 5 and host.mem.read64(base) == 5
    assert cpu.cmpxchg(base, 8, 5, 9) == 5 and host.mem.read64(base) == 9


def test_an_ordered_cmpxchg_orders_only_when_it_succeeds():
    host, base = host_of("arm64")
    cpu = host.cpus[0]
    mb = cpu.profile.barrier("smp_mb")
    cpu.store(base + 64, 8, 1)
    cpu.cmpxchg(base, 8, 3, 4, mb)               # fails (value 0): no barrier
    assert host.mem.read64(base + 64) == 0
    cpu.cmpxchg(base, 8, 0, 4, mb)               # succeeds: smp_mb before it drains the store
    assert host.mem.read64(base + 64) == 1 and host.mem.read64(base) == 4
