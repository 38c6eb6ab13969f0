"""Same seed, same run; a recorded choice list replays the run exactly.

The scenario exercises every kind of choice the foundation makes: tie order
(shuffle_ties), store-buffer drain order and stale loads (arm64), on a host
where one CPU produces descriptors and rings a relaxed doorbell, a device
reads them back by DMA, and a second CPU polls a completion flag.
"""
from sim.engine import ChoiceTrace, Engine, ReplayPolicy, SeededPolicy
from sim.host import Host

BAR = 0xF000_0000
N = 12


class Device:
    """On each doorbell, reads the descriptor slot it names and logs it, then writes a flag."""

    def __init__(self, engine, host, ring_dma, flag_dma):
        self.engine, self.host = engine, host
        self.ring_dma, self.flag_dma = ring_dma, flag_dma

    def mmio_write(self, offset, size, value):
        self.engine.spawn(self._fetch(value))

    def mmio_read(self, offset, size):
        return 0

    def _fetch(self, index):
        yield self.engine.timeout(self.engine.choose([100, 250, 400], "dma jitter"))
        data = self.host.iommu.dma_read(self.ring_dma + 8 * index, 8, "dev")
        self.engine.log("dev", "fetch", index, data.hex())
        self.host.iommu.dma_write(self.flag_dma, index.to_bytes(4, "little"), "dev")


def run(policy):
    engine = Engine(policy)
    trace = engine.start_trace()
    host = Host(engine, "arm64", ncpus=2, drain_delay_ps=50)
    ring = host.dma.dma_alloc_coherent(8 * N)
    flag = host.dma.dma_alloc_coherent(64)
    host.map_device("dev", BAR, 0x1000, Device(engine, host, ring.dma_addr, flag.dma_addr))
    producer, poller = host.cpus

    def produce():
        for i in range(N):
            producer.store(ring.cpu_addr + 8 * i, 8, 0x1000 + i)
            producer.writel_relaxed(i, BAR)
            yield engine.timeout(30)

    def poll():
        for _ in range(3 * N):
            engine.log("cpu1", "flag", poller.load(flag.cpu_addr, 4))
            yield engine.timeout(40)

    engine.spawn(produce())
    engine.spawn(poll())
    engine.run()
    return trace, policy.trace()


def test_same_seed_same_trace_and_choices():
    a_records, a_choices = run(SeededPolicy(7, shuffle_ties=True))
    b_records, b_choices = run(SeededPolicy(7, shuffle_ties=True))
    assert len(a_records) == N + 3 * N
    assert a_records == b_records
    assert a_choices == b_choices and len(a_choices) > N


def test_another_seed_gives_another_run():
    a_records, _ = run(SeededPolicy(7, shuffle_ties=True))
    c_records, _ = run(SeededPolicy(8, shuffle_ties=True))
    assert a_records != c_records


def test_recorded_choices_replay_the_run():
    records, choices = run(SeededPolicy(3, shuffle_ties=True))
    text = choices.to_string()
    policy = ReplayPolicy(ChoiceTrace.from_string(text))
    replayed, _ = run(policy)
    assert replayed == records
    assert policy.complete
