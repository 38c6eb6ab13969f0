"""Interrupt entry on a weak profile: what a load issued after an MSI may and may not return.

The rule (research/cpu_time_facts.md §4; PCI msi-howto): device writes that
precede the MSI in PCIe order are visible to loads issued after the
interrupt is taken; nothing is implied about other CPUs' stores, which may
still be read stale (bounded by the read horizon and per-location
coherence). Each case enumerates every choice of the load (exhaustively,
with :func:`sim.engine.explore`) so an outcome set is exact, and shows the
stale value *is* possible before the interrupt, so the check can fail.
"""
from __future__ import annotations

import pytest

from sim.engine import Engine, explore
from sim.host import Host

X = 0x1000          # the qword under test (physical, the IOMMU is off)
OTHER = 0x2000      # a location only the device writes
WEAK = ["arm64", "power", "riscv"]


def _host(profile: str, policy) -> Host:
    return Host(Engine(policy), profile, ncpus=2, iommu=False, mmio_latency=False,
                drain_delay_ps=0, msi_latency_ps=0)


def _cpu_store(host: Host, cpu: int, addr: int, value: int) -> None:
    """A store by ``cpu`` that has left its store buffer (globally visible)."""
    host.cpus[cpu].store(addr, 8, value)
    host.cpus[cpu].drain_all()


def _load_in_handler(host: Host, cpu: int, addr: int) -> dict:
    """Bind an MSI vector whose handler, on ``cpu``, takes the interrupt and loads ``addr``."""
    seen = {}

    def handler(device_count: int) -> None:
        c = host.cpus[cpu]
        c.take_interrupt(device_count)
        seen["value"] = c.load(addr, 8)

    seen["msg"] = host.msi.allocate("test", handler, cpu)
    return seen


@pytest.mark.parametrize("profile", WEAK)
@pytest.mark.parametrize("dma_bytes", [8, 128])   # a short write keeps history; a long one drops it
def test_a_load_after_the_msi_never_returns_a_value_a_preceding_dma_write_replaced(profile, dma_bytes):
    """CPU0's value 1 is overwritten by the device's 2, then the MSI: CPU1's handler loads 2 only."""
    def run(policy, with_interrupt: bool):
        host = _host(profile, policy)
        _cpu_store(host, 0, X, 1)
        host.iommu.dma_write(X, (2).to_bytes(8, "little") * (dma_bytes // 8), "nic")
        if not with_interrupt:   # the same load without the interrupt: the stale 1 is allowed
            return host.cpus[1].load(X, 8)
        seen = _load_in_handler(host, 1, X)
        host.msi.deliver(*seen["msg"])   # the message lands behind the DMA write (posted order)
        return seen["value"]

    before = explore(lambda p: run(p, False)).outcome_set
    after = explore(lambda p: run(p, True)).outcome_set
    if dma_bytes == 8:
        assert before == {0, 1, 2}   # the initial 0, CPU0's 1 and the DMA'd 2 are all still readable
    else:
        assert 2 in before           # a long write records no history (coherence.py), so fewer stale values
    assert after == {2}


@pytest.mark.parametrize("profile", WEAK)
def test_a_load_after_the_msi_may_still_return_a_stale_value_of_another_cpus_store(profile):
    """CPU0 stores 1 (visible), the device writes elsewhere, the MSI: CPU1 may still read the old 0."""
    def run(policy):
        host = _host(profile, policy)
        _cpu_store(host, 0, X, 1)
        host.iommu.dma_write(OTHER, (7).to_bytes(8, "little"), "nic")
        seen = _load_in_handler(host, 1, X)
        host.msi.deliver(*seen["msg"])
        return seen["value"]

    assert explore(run).outcome_set == {0, 1}


@pytest.mark.parametrize("profile", WEAK)
def test_a_read_barrier_after_the_interrupt_makes_the_other_cpus_store_visible(profile):
    """What Linux relies on instead: a full barrier (e.g. the napi_schedule cmpxchg) moves the horizon."""
    def run(policy):
        host = _host(profile, policy)
        _cpu_store(host, 0, X, 1)
        seen = {}

        def handler(device_count: int) -> None:
            c = host.cpus[1]
            c.take_interrupt(device_count)
            c.barrier("smp_mb")
            seen["value"] = c.load(X, 8)

        host.msi.deliver(*host.msi.allocate("test", handler, 1))
        return seen["value"]

    assert explore(run).outcome_set == {1}


def test_device_writes_after_the_msi_are_not_covered():
    """A write-back that lands after the message (a later one) may still be missed by the handler."""
    def run(policy):
        host = _host("arm64", policy)
        host.iommu.dma_write(X, (1).to_bytes(8, "little"), "nic")
        seen = {}

        def handler(device_count: int) -> None:
            host.iommu.dma_write(X, (2).to_bytes(8, "little"), "nic")   # lands after the message
            c = host.cpus[1]
            c.take_interrupt(device_count)
            seen["value"] = c.load(X, 8)

        host.msi.deliver(*host.msi.allocate("test", handler, 1))
        return seen["value"]

    assert explore(run).outcome_set == {1, 2}


@pytest.mark.parametrize("profile", WEAK)
def test_another_cpus_atomic_is_not_a_device_write_and_may_still_be_read_stale(profile):
    """CPU0's set_bit (an atomic, written at once from an empty buffer), then a DMA write and the MSI:
    CPU1's handler may still read X's old 0 -- the interrupt orders only the device's writes."""
    def run(policy):
        host = _host(profile, policy)
        host.cpus[0].atomic_rmw(X, 8, lambda v: v | 1)
        host.iommu.dma_write(OTHER, (7).to_bytes(8, "little"), "nic")
        seen = _load_in_handler(host, 1, X)
        host.msi.deliver(*seen["msg"])
        return seen["value"]

    assert explore(run).outcome_set == {0, 1}
