"""The driver's barrier sites: listed with reasons, each droppable by configuration, with effect.

A configuration (``IgbSystem(barriers={site: None})``) drops a site; the
host records which primitive actually ran at each execution, so the tests
can see that every execution of a dropped site ran without its barrier
(an accessor keeps its access as ``__raw_*``). A lifecycle that exercises
every site — open, a flood that fills the ring, an "other" interrupt, a
stall with its hang report, timeout and reset, close and remove — is run
once with the Linux barriers and once with every site dropped.

That a dropped site matters is shown where the ordering model can show it:
on arm64 with the descriptor barrier dropped and the doorbell relaxed, the
NIC can fetch a descriptor before the CPU's stores reach memory; with the
Linux barriers it never does.
"""
import pytest

from driver.igb import IGB_SITES
from driver.platform.sites import ACCESSOR_PRIMITIVES
from sim.engine import MS, S, SeededPolicy
from sim.assembly.skbs import numbered_frame
from stack.core.skbuff import skb_from_bytes

TCTL, TCTL_EN, ICS, ICR_LSC = 0x400, 0x2, 0xC8, 0x4
DROPPED = {"writel": "__raw_writel", "writel_relaxed": "__raw_writel", "readl": "__raw_readl"}


def lifecycle(system, no_bql_limit, barriers=None):
    """Every code path with a site: open, flood, other IRQ, stall → hang → timeout → reset, close, remove."""
    s = system("82576", ring_size=80, barriers=barriers)
    no_bql_limit(s)
    sender = s.sender()
    sender.send([skb_from_bytes(s.net.skb, numbered_frame(n, 1000), n % 2) for n in range(300)], burst=8)
    s.run_for(10 * MS)
    s.nic.mmio_write(ICS, 4, ICR_LSC)                      # a link-change cause on the other vector
    s.run_for(1 * MS)
    s.nic.mmio_write(TCTL, 4, s.nic.regs.get("TCTL") & ~TCTL_EN)
    sender.send([skb_from_bytes(s.net.skb, numbered_frame(n, 1000)) for n in range(300, 400)], burst=8)
    s.run_for(12 * S)
    assert s.adapter.hang_reports and s.adapter.resets == 1
    s.close()
    s.remove()
    return s


@pytest.fixture(scope="module")
def linux_run(system, no_bql_limit):
    return lifecycle(system, no_bql_limit)


@pytest.fixture(scope="module")
def dropped_run(system, no_bql_limit):
    return lifecycle(system, no_bql_limit, {site.name: None for site in IGB_SITES})


def test_sites_are_listed_with_a_primitive_and_a_one_line_reason(system):
    s = system("82576", up=False)
    declared = s.kernel.sites.sites()
    assert declared == IGB_SITES
    names = [site.name for site in declared]
    assert len(names) == len(set(names))
    assert {"igb_tx_map.publish", "igb_tx_map.doorbell", "igb_maybe_stop_tx.recheck",
            "igb_clean_tx_irq.eop", "igb_clean_tx_irq.wake"} <= set(names)
    site = s.kernel.sites.get("igb_tx_map.publish")
    assert site.primitive == "dma_wmb" and "next_to_watch" in site.reason
    assert all(site.reason and "\n" not in site.reason for site in declared)


def test_the_lifecycle_runs_every_site_with_its_linux_primitive(linux_run):
    ran = linux_run.host.site_primitives
    for site in IGB_SITES:
        assert ran[site.name, site.primitive] > 0, f"{site.name} never ran"
        assert linux_run.host.site_counts[site.name] == ran[site.name, site.primitive]


def test_every_site_can_be_dropped_and_every_execution_ran_dropped(dropped_run):
    ran = dropped_run.host.site_primitives
    for site in IGB_SITES:
        replacement = DROPPED.get(site.primitive) if site.primitive in ACCESSOR_PRIMITIVES else None
        assert ran[site.name, replacement] > 0, f"{site.name} never ran"
        assert ran[site.name, site.primitive] == 0, f"{site.name} still ran {site.primitive}"
        assert dropped_run.kernel.sites.effective(site.name) == replacement


def test_a_bad_configuration_is_refused_with_a_clear_message(system):
    with pytest.raises(ValueError, match="cannot weaken barrier dma_wmb to 'mb'"):
        system("82576", barriers={"igb_tx_map.publish": "mb"}, up=False)
    with pytest.raises(ValueError, match="never declared"):
        system("82576", barriers={"igb_tx_map.no_such_site": None}, up=False)


def _stale_descriptor_seen(system, barriers, seed: int) -> bool:
    """arm64, slow store drains: did the NIC ever read a descriptor the CPU had not finished writing?"""
    # Linux 3.10: a locked qdisc. A recent kernel's NOLOCK qdisc ends each run with qdisc_run_end's smp_mb,
    # which drains the store buffer right after the doorbell, before the NIC's fetch can come back; the
    # ordering explorer (tests/explore) covers that case with a stalled CPU.
    s = system("82576", ordering="arm64", ncpus=1, policy=SeededPolicy(seed, shuffle_ties=True),
               drain_delay_ps=2_000_000, barriers=barriers, kernel_version="3.10")
    frames = [numbered_frame(n, 200) for n in range(12)]
    s.sender().send([skb_from_bytes(s.net.skb, f, 1) for f in frames], burst=1)
    s.run_for(5 * MS)
    nic = s.nic
    return s.frames() != frames or nic.counters["malformed_drops"] > 0 or bool(s.host.iommu.faults)


@pytest.mark.parametrize("seed", range(6))
def test_with_linux_barriers_the_nic_never_sees_a_stale_descriptor_on_arm64(seed, system):
    assert not _stale_descriptor_seen(system, None, seed)


def test_dropping_the_publish_barrier_and_relaxing_the_doorbell_exposes_stale_descriptors_on_arm64(system):
    weak = {"igb_tx_map.publish": None, "igb_tx_map.doorbell": "writel_relaxed"}
    assert any(_stale_descriptor_seen(system, weak, seed) for seed in range(6))


@pytest.mark.parametrize("ordering", ["arm64", "power", "riscv"])
@pytest.mark.parametrize("seed", range(3))
def test_cross_cpu_xmit_and_clean_with_linux_barriers_lose_nothing(ordering, seed, system, no_bql_limit):
    """Sender on CPU 1, interrupts and NAPI on CPU 0, a weak profile: every packet once, in order."""
    s = system("82576", ordering=ordering, ncpus=2, irq_cpu=0, ring_size=80,
               policy=SeededPolicy(seed, shuffle_ties=True), drain_delay_ps=500_000, up=False)
    s.bring_up()   # with no carrier yet, the noop qdisc would drop what the sender writes
    no_bql_limit(s)
    frames = [numbered_frame(n, 60 + 7 * n) for n in range(150)]
    with s.kernel.on_cpu(1, "task:sender"):   # the payload copy happens on the sending CPU
        skbs = [skb_from_bytes(s.net.skb, f, n % 3) for n, f in enumerate(frames)]
    s.sender(cpu=1).send(skbs, burst=4)
    s.run_for(20 * MS)
    assert s.frames() == frames
    assert s.host.site_counts["igb_maybe_stop_tx.recheck"] > 0     # the ring really filled
    s.close()
    s.net.skb.assert_no_leaks()
