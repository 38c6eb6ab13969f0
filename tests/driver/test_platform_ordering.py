"""Barrier sites change what a device or another CPU can observe, exactly as the ordering facts say.

Programs are written against the kernel API (write_le32, dma_wmb at a site,
writel/writel_relaxed at a site, READ_ONCE/WRITE_ONCE, smp_rmb) and every
execution is enumerated with ``sim.engine.explore``. Expected sets come from
research/ordering_facts.md §2.2–§2.4 and igb_facts.md §3.6/§3.8/§3.12:

* Doorbell (igb_tx_map): store the descriptor, ``dma_wmb``, ring the tail
  with ``writel_relaxed``; a device that DMA-reads the descriptor when the
  tail write lands must see it: {1}. Without the ``dma_wmb`` the doorbell can
  overtake the descriptor on arm64 and RISC-V ({0, 1}); never on x86-TSO
  (FIFO store buffer), SC, or POWER (``writel_relaxed`` is ``writel`` there).
* ``writel`` alone orders prior memory writes on every architecture: {1};
  weakened to ``writel_relaxed`` it behaves like the case above; dropped to
  ``__raw_writel`` the store can overtake on POWER too.
* next_to_watch publish (igb_tx_map → igb_clean_tx_irq): the writer clears
  the previous lap's DD, ``dma_wmb``, publishes next_to_watch; the cleaner
  reads next_to_watch, ``smp_rmb``, reads DD. "Published but stale DD" is
  forbidden with both barriers, allowed on weak profiles without either —
  message passing.
"""
import pytest

from driver.platform import BarrierSite, Device
from sim.engine import FirstPolicy, ReplayPolicy, explore

DEV = Device("0000:01:00.0")
BAR0 = 0xF000_0000
TDT = 0x3818  # E1000_TDT(0)

PUBLISH = BarrierSite("test_tx_map.publish", "dma_wmb", "descriptor visible before the doorbell")
TAIL_RELAXED = BarrierSite("test_tx_map.tail_relaxed", "writel_relaxed",
                           "doorbell; the dma_wmb before it orders the descriptor")
TAIL = BarrierSite("test_tx_map.tail", "writel", "doorbell; writel orders the descriptor before it")
START = BarrierSite("test.start", "rmb", "initial values happen-before every thread")
CLEAN = BarrierSite("test_clean.eop", "smp_rmb", "no DD read before the next_to_watch read")
SITES = (PUBLISH, TAIL_RELAXED, TAIL, START, CLEAN)

WEAK_DOORBELL = {"arm64", "riscv"}        # writel_relaxed without a barrier can overtake
RAW_DOORBELL = {"arm64", "riscv", "power"}  # __raw_writel can overtake
ALL_PROFILES = ["sc", "x86-tso", "arm64", "power", "riscv"]


class FetchOnDoorbell:
    """A device that DMA-reads one descriptor word each time its tail register is written."""

    def __init__(self, host, desc_dma):
        self.host = host
        self.desc_dma = desc_dma
        self.fetched = []

    def mmio_write(self, offset, size, value):
        if offset == TDT:
            data = self.host.iommu.dma_read(self.desc_dma, 4, "test-nic")
            self.fetched.append(int.from_bytes(data, "little"))

    def mmio_read(self, offset, size):
        return 0


def boot(kernel, profile, policy, overrides=None):
    # Drain latency fixed at 0: every drain order is already a choice, so drawn latencies
    # would multiply the executions without adding an outcome (as in sim.host.litmus).
    k = kernel(profile, policy=policy, mmio_latency=False, drain_delay_ps=0)
    k.sites.declare_all(SITES)
    k.sites.apply(overrides or {})
    return k


def doorbell_run(kernel, profile, tail, overrides, policy, packets=1):
    """One execution: post ``packets`` descriptors, each rung with ``tail``; the device's fetches."""
    k = boot(kernel, profile, policy, overrides)
    cpu_addr, dma = k.dma_alloc_coherent(DEV, 4096)
    dev = FetchOnDoorbell(k.host, dma)
    k.host.map_device("bar0", BAR0, 0x2_0000, dev)
    io = k.ioremap(BAR0, 0x2_0000, "bar0")
    ring_tail = io + TDT
    for i in range(1, packets + 1):
        k.write_le32(cpu_addr, i)
        if tail is TAIL_RELAXED:
            k.dma_wmb(PUBLISH)
            k.writel_relaxed(i, ring_tail, site=TAIL_RELAXED)
        else:
            k.writel(i, ring_tail, site=TAIL)
    k.host.engine.run()
    return tuple(dev.fetched), k


def doorbell_outcomes(kernel, profile, tail, overrides=None):
    return explore(lambda policy: doorbell_run(kernel, profile, tail, overrides, policy)[0])


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_dma_wmb_then_writel_relaxed_never_exposes_a_stale_descriptor(profile, kernel):
    assert doorbell_outcomes(kernel, profile, TAIL_RELAXED).outcome_set == {(1,)}


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_dropping_dma_wmb_lets_the_doorbell_overtake_on_weak_profiles(profile, kernel):
    result = doorbell_outcomes(kernel, profile, TAIL_RELAXED, {PUBLISH.name: None})
    expected = {(0,), (1,)} if profile in WEAK_DOORBELL else {(1,)}
    assert result.outcome_set == expected


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_writel_orders_the_descriptor_on_every_profile(profile, kernel):
    assert doorbell_outcomes(kernel, profile, TAIL).outcome_set == {(1,)}


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_weakening_writel_to_writel_relaxed_has_the_same_effect(profile, kernel):
    result = doorbell_outcomes(kernel, profile, TAIL, {TAIL.name: "writel_relaxed"})
    expected = {(0,), (1,)} if profile in WEAK_DOORBELL else {(1,)}
    assert result.outcome_set == expected


@pytest.mark.parametrize("profile", ALL_PROFILES)
def test_dropping_a_writel_site_keeps_the_write_but_not_its_barrier(profile, kernel):
    result = doorbell_outcomes(kernel, profile, TAIL, {TAIL.name: None})
    expected = {(0,), (1,)} if profile in RAW_DOORBELL else {(1,)}
    assert result.outcome_set == expected


def test_the_stale_descriptor_witness_replays(kernel):
    result = doorbell_outcomes(kernel, "arm64", TAIL_RELAXED, {PUBLISH.name: None})
    trace = result.witnesses[(0,)]
    fetched, _ = doorbell_run(kernel, "arm64", TAIL_RELAXED, {PUBLISH.name: None}, ReplayPolicy(trace))
    assert fetched == (0,)


def test_site_counts_count_every_execution_even_when_dropped(kernel):
    _, k = doorbell_run(kernel, "arm64", TAIL_RELAXED, {PUBLISH.name: None}, FirstPolicy(), packets=3)
    assert k.host.site_counts[PUBLISH.name] == 3
    assert k.host.site_counts[TAIL_RELAXED.name] == 3
    assert k.sites.counts()[TAIL.name] == 0


# --- next_to_watch publish: CPU to CPU ------------------------------------------
def thread(k, cpu, ops):
    """Run each op in its own on_cpu block, with a scheduling point between ops."""
    for n, op in enumerate(ops):
        if n:
            yield 0
        with k.on_cpu(cpu, "softirq:NET_RX"):
            op()


def publish_run(kernel, profile, overrides, policy):
    """Writer clears DD then publishes next_to_watch; cleaner reads next_to_watch then DD."""
    k = boot(kernel, profile, policy, overrides)
    status, _ = k.dma_alloc_coherent(DEV, 4096)
    ntw = k.kzalloc(8)
    k.host.mem.write32(status, 1)  # DD left set by the previous lap
    regs = {}

    def xmit():  # one step: its stores still leave the store buffer one drain choice at a time
        k.write_le32(status, 0)
        k.dma_wmb(PUBLISH)
        k.WRITE_ONCE(ntw, 1)

    def read_ntw():
        regs["ntw"] = k.READ_ONCE(ntw)

    def read_dd():
        k.smp_rmb(CLEAN)
        regs["dd"] = k.read_le32(status)

    writer, cleaner = [xmit], [lambda: k.rmb(START), read_ntw, read_dd]
    k.host.engine.spawn(thread(k, 0, writer), "xmit")
    k.host.engine.spawn(thread(k, 1, cleaner), "clean")
    k.host.engine.run()
    return regs["ntw"], regs["dd"]


ALL4 = {(0, 0), (0, 1), (1, 0), (1, 1)}


@pytest.mark.parametrize("profile", ALL_PROFILES)
@pytest.mark.parametrize("drop", [None, PUBLISH.name, CLEAN.name])
def test_next_to_watch_publish_is_message_passing(profile, drop, record_property, kernel):
    overrides = {drop: None} if drop else {}
    result = explore(lambda policy: publish_run(kernel, profile, overrides, policy))
    record_property("executions", result.executions)
    stale_allowed = drop is not None and profile in {"arm64", "power", "riscv"}
    assert result.outcome_set == (ALL4 if stale_allowed else ALL4 - {(1, 1)})
