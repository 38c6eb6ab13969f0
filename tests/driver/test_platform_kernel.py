"""MMIO through ioremap handles, interrupts, the current CPU and CPU-time costs.

Expected values: Linux semantics (writel(value, addr) order, request_irq
handlers called as handler(irq, dev_id) in hardirq context on the CPU the
MSI address targets, MSI-X table entries of address lo/hi, data, vector
control), x86 MSI addresses in 0xFEEx_xxxx with the destination in bits
19:12, and the cost table's own rules (compiler-only barriers are free, the
MMIO read round trip is charged once, by the CPU model).
"""
import pytest

from driver.platform import (DEFAULT_COSTS_PS, IRQ_HANDLED, BarrierSite, Device, IoMemError, Kernel,
                             PciDev, pci_resource_len, pci_resource_start)
from sim.engine import NS

DEV = Device("0000:01:00.0")
BAR0, BAR3 = 0xF000_0000, 0xF010_0000
STATUS, TDT = 0x0008, 0x3818


class Regs:
    """A device with a plain register file that logs every write."""

    def __init__(self):
        self.regs = {}
        self.writes = []

    def mmio_write(self, offset, size, value):
        self.regs[offset] = value
        self.writes.append((offset, value))

    def mmio_read(self, offset, size):
        return self.regs.get(offset, 0)


def setup(kernel, profile="x86-tso", *, host: dict | None = None, **costs):
    """The kernel API on a 2-CPU host (``host``: Host options, ``costs``: its CPU cost table) and a register file at BAR0."""
    k = kernel(profile, costs=costs or None, **(host or {}))
    dev = Regs()
    k.host.map_device("bar0", BAR0, 0x2_0000, dev)
    return k, dev


# --- MMIO ------------------------------------------------------------------------
def test_writel_and_readl_reach_the_device_at_base_plus_offset(kernel):
    k, dev = setup(kernel)
    io = k.ioremap(BAR0, 0x2_0000, "bar0")
    k.writel(0x1234, io, TDT)
    k.writel_relaxed(5, io + STATUS)
    k.host.engine.run()
    assert dev.writes == [(TDT, 0x1234), (STATUS, 5)]
    assert k.readl(io, TDT) == 0x1234
    assert k.readl_relaxed(io + 0x3800, 0x18) == 0x1234


@pytest.mark.parametrize("offset,match", [
    (0x2_0000, "outside"), (0x1_FFFE, "outside"), (-4, "outside"), (0x3, "misaligned"),
])
def test_an_access_outside_or_misaligned_in_an_iomem_is_a_clear_error(offset, match, kernel):
    k, dev = setup(kernel)
    io = k.ioremap(BAR0, 0x2_0000, "bar0")
    with pytest.raises(IoMemError, match=match):
        k.writel(1, io, offset)
    with pytest.raises(IoMemError, match=match):
        k.readl(io + offset)
    assert dev.writes == [] and k.host.mmio.faults == []


def test_an_access_after_iounmap_is_an_error_and_an_unmapped_ioremap_leaks(kernel):
    k, _ = setup(kernel)
    io = k.ioremap(BAR0, 0x2_0000, "bar0")
    assert [i.kind for i in k.leaks().items] == ["ioremap"]
    k.iounmap(io)
    assert not k.leaks()
    with pytest.raises(IoMemError, match="after iounmap"):
        k.readl(io, STATUS)
    with pytest.raises(IoMemError, match="not an ioremap"):
        k.readl(BAR0 + STATUS)


def test_mmio_values_must_fit_in_32_bits(kernel):
    k, _ = setup(kernel)
    io = k.ioremap(BAR0, 0x2_0000)
    with pytest.raises(ValueError, match="32 bits"):
        k.writel(1 << 32, io, TDT)


def test_an_accessor_site_must_be_declared_with_that_accessor(kernel):
    k, _ = setup(kernel)
    io = k.ioremap(BAR0, 0x2_0000)
    tail = k.sites.declare(BarrierSite("t.tail", "writel", "doorbell after descriptors"))
    k.writel(1, io, TDT, site=tail)
    with pytest.raises(ValueError, match="declared as writel"):
        k.writel_relaxed(1, io, TDT, site=tail)
    assert k.host.site_counts["t.tail"] == 1


def test_pci_resources_feed_ioremap():
    pdev = PciDev("0000:01:00.0", 0x8086, 0x10C9, {0: (BAR0, 0x2_0000), 3: (BAR3, 0x4000)})
    assert pdev.dev == DEV
    assert (pci_resource_start(pdev, 3), pci_resource_len(pdev, 3)) == (BAR3, 0x4000)
    with pytest.raises(ValueError, match="BAR2"):
        pci_resource_start(pdev, 2)


# --- interrupts --------------------------------------------------------------------
#: A fixed MSI delivery latency (message landed -> handler starts) for these tests.
IRQ_LATENCY_PS = 2_000_000


def test_request_irq_handler_runs_on_the_target_cpu_in_hardirq_context(kernel):
    k, _ = setup(kernel, host={"msi_latency_ps": IRQ_LATENCY_PS})
    seen = []

    def igb_msix_ring(irq, data):
        seen.append((irq, data, k.cpu.index, k.cpu.context, k.host.engine.now))
        return IRQ_HANDLED

    address, data = k.request_irq("eth0-TxRx-0", igb_msix_ring, "q_vector0", cpu=1)
    assert address == 0xFEE0_0000 | 1 << 12
    k.host.msi.deliver(address, data)
    assert seen == []   # the handler starts one delivery latency after the message lands
    k.host.engine.run(until=IRQ_LATENCY_PS + 1)
    assert seen == [(data, "q_vector0", 1, "hardirq:eth0-TxRx-0", IRQ_LATENCY_PS)]
    assert k.host.cpus[1].context == "hardirq:eth0-TxRx-0"   # busy for the entry cost
    k.host.engine.run()
    assert k.cpu.index == 0 and k.host.cpus[1].context == "idle"
    assert k.host.cpus[1].account["hardirq:eth0-TxRx-0"] == DEFAULT_COSTS_PS["hardirq"]
    assert k.irq.fired((address, data)) == 1


def test_after_free_irq_a_message_is_spurious_not_an_error(kernel):
    k, _ = setup(kernel, host={"msi_latency_ps": IRQ_LATENCY_PS})
    calls = []
    msg = k.request_irq("eth0", lambda irq, dev_id: calls.append(irq), "adapter")
    assert [i.kind for i in k.leaks().items] == ["irq"]
    assert k.free_irq(msg, "adapter") == "eth0"
    assert not k.leaks()
    k.host.msi.deliver(*msg)
    k.host.engine.run()
    assert calls == [] and [s[1] for s in k.irq.spurious] == [msg.data]
    with pytest.raises(ValueError, match="no handler"):
        k.free_irq(msg, "adapter")


def test_pci_alloc_irq_vectors_gives_messages_to_program_into_the_msix_table(kernel):
    k, _ = setup(kernel, host={"msi_latency_ps": IRQ_LATENCY_PS})
    table = Regs()
    k.host.map_device("bar3", BAR3, 0x4000, table)
    msix = k.ioremap(BAR3, 0x4000, "msix")
    msgs = k.pci_alloc_irq_vectors(DEV, 2, 3, spread=True)
    assert len(msgs) == 3 and len({m.data for m in msgs}) == 3
    assert [m.address >> 12 & 0xFF for m in msgs] == [0, 1, 0]  # destination CPU
    for i, m in enumerate(msgs):
        k.pci_write_msi_msg(msix, i, m)
    k.host.engine.run()
    assert table.writes[4:8] == [(16, msgs[1].address), (20, 0), (24, msgs[1].data), (28, 0)]

    fired = []
    for i, m in enumerate(msgs):
        k.request_irq(f"eth0-{i}", lambda irq, dev_id: fired.append(dev_id), i, vector=m)
    with pytest.raises(ValueError, match="busy"):
        k.request_irq("again", lambda irq, dev_id: None, vector=msgs[0])
    k.host.msi.deliver(*msgs[2])
    k.host.msi.deliver(*msgs[0])
    k.host.engine.run()
    assert fired == [2, 0]   # equal latencies: handlers start in arrival order
    with pytest.raises(ValueError, match="free_irq them first"):
        k.pci_free_irq_vectors(DEV)
    for i, m in enumerate(msgs):
        k.free_irq(m, i)
    assert [i.kind for i in k.leaks().items] == ["irq_vectors", "ioremap"]
    k.pci_free_irq_vectors(DEV)
    k.iounmap(msix)
    k.assert_no_leaks()


def test_too_few_vectors_returns_none_so_the_driver_can_fall_back(kernel):
    k, _ = setup(kernel)
    k.irq.max_vectors = 2
    assert k.pci_alloc_irq_vectors(DEV, 3, 5) == []
    assert len(k.pci_alloc_irq_vectors(DEV, 1, 5)) == 2
    k.pci_free_irq_vectors(DEV)
    k.inject_failure("pci_alloc_irq_vectors", after=1)
    assert k.pci_alloc_irq_vectors(DEV, 1, 1) == []
    assert not k.leaks()


# --- the current CPU and CPU time ----------------------------------------------------
def test_on_cpu_switches_cpu_and_context_and_restores_both(kernel):
    k, _ = setup(kernel)
    site = k.sites.declare(BarrierSite("t.wake", "smp_mb", "queue state vs next_to_clean"))
    cpu0, cpu1 = k.host.cpus
    with k.on_cpu(1, "softirq:NET_RX") as cpu:
        assert cpu is cpu1 and k.cpu is cpu1 and cpu1.context == "softirq:NET_RX"
        k.smp_mb(site)
        with k.on_cpu(1, "hardirq:eth0") as inner:
            k.smp_mb(site)
            assert inner.context == "hardirq:eth0"
        assert cpu1.context == "softirq:NET_RX"
    assert k.cpu is cpu0 and cpu1.context == "idle"
    assert not any(cpu1.account.values()) and not any(cpu0.account.values())   # no time passed
    assert k.settle() == 0
    with k.on_cpu(1, "task:iperf"):
        k.smp_mb(site)
        # what this block charged: time the earlier blocks did not take stayed with them
        assert k.settle() == 10 * NS


def test_on_cpu_blocks_interleaved_by_two_processes_are_detected(kernel):
    k, _ = setup(kernel)
    a = k.on_cpu(1, "softirq:NET_RX")
    b = k.on_cpu(0, "task:xmit")
    a.__enter__()
    b.__enter__()
    with pytest.raises(RuntimeError, match="interleaved"):
        a.__exit__(None, None, None)


def test_on_cpu_refuses_a_cpu_the_host_does_not_have(kernel):
    k, _ = setup(kernel)
    with pytest.raises(ValueError, match="cpu2"):
        with k.on_cpu(2):
            pass


@pytest.mark.parametrize("profile,dma_wmb_ps", [("x86-tso", 0), ("arm64", 5 * NS), ("sc", 0)])
def test_a_barrier_that_is_only_a_compiler_barrier_costs_nothing(profile, dma_wmb_ps, kernel):
    k, _ = setup(kernel, profile)
    site = k.sites.declare(BarrierSite("t.publish", "dma_wmb", "descriptor before tail"))
    k.dma_wmb(site)
    assert k.settle() == dma_wmb_ps


def test_readl_charges_the_link_round_trip_once_and_writel_its_table_cost(kernel):
    k, _ = setup(kernel, "arm64")
    io = k.ioremap(BAR0, 0x2_0000)
    k.readl(io, STATUS)
    assert k.cpu.settle() == k.host.link.mmio_read_latency_ps
    k.writel(1, io, TDT)
    k.writel_relaxed(1, io, TDT)
    assert k.cpu.settle() == 10 * NS + 5 * NS


def test_costs_are_configurable_and_a_dropped_site_costs_nothing(kernel):
    k, _ = setup(kernel, "arm64", wmb=123, dma_wmb=7)
    wmb = k.sites.declare(BarrierSite("t.wmb", "wmb", "ring before tail"))
    pub = k.sites.declare(BarrierSite("t.pub", "dma_wmb", "descriptor before tail"))
    k.wmb(wmb)
    k.dma_wmb(pub)
    assert k.settle() == 130
    k.sites.weaken(wmb, "dma_wmb")
    k.sites.drop(pub)
    k.wmb(wmb)
    k.dma_wmb(pub)
    assert k.settle() == 7
    with pytest.raises(ValueError, match="unknown cost"):
        Kernel(k.host, costs={"lfence": 1})


def test_jiffies_and_sleeps(kernel):
    k, _ = setup(kernel)
    assert k.jiffies == 0
    k.host.engine.run(until=k.msleep(1000) + 1)
    assert k.jiffies == 250
    assert k.usleep_range(10, 20) == 10_000_000
    k.udelay(3)
    assert k.settle() == 3_000_000
