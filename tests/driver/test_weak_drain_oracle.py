"""Driver + NIC on weak profiles: the incremental store buffer drains exactly as the rescanning oracle.

The realistic load for the store buffer: the igb transmit path with the
sender on CPU 1 and interrupts and NAPI on CPU 0 — descriptor qwords, ring
fields and doorbells between ``dma_wmb``/``writel`` fences, payload copies
of up to 1514 bytes, tens to hundreds of buffered stores. Run once with
:func:`sim.host.store_buffer.new_store_buffer`'s buffers and once with the oracle of
``tests/sim/host/store_buffer_oracle.py`` (which rescans the buffer by the
rule as stated, and updates ``seen`` per qword for every write) under the
same seeded policy, with slow and instant drains: every drain step must
offer the same stores in the same order, and the choices, the frames on the
wire, the final simulated time and the final memory must be the same.
"""
import hashlib

import pytest

from sim.assembly.skbs import numbered_frame
from sim.engine import MS, SeededPolicy
from sim.host import cpu as cpu_module
from sim.host.cpu import Cpu
from sim.host.store_buffer import new_store_buffer
from stack.core.skbuff import skb_from_bytes
from tests.sim.host.store_buffer_oracle import ReferenceStoreBuffer, recording, saw_every_qword


def transmit(system, no_bql_limit, monkeypatch, ordering, seed, drain_delay_ps, reference):
    eligible_log = []
    with monkeypatch.context() as m:
        m.setattr(cpu_module, "new_store_buffer", recording(ReferenceStoreBuffer if reference else new_store_buffer,
                                                       eligible_log))
        if reference:
            m.setattr(Cpu, "_saw_own_write", saw_every_qword)
        policy = SeededPolicy(seed, shuffle_ties=True)
        s = system("82576", ordering=ordering, ncpus=2, irq_cpu=0, ring_size=64, policy=policy,
                   drain_delay_ps=drain_delay_ps, up=False)
        s.bring_up()   # with no carrier yet, the noop qdisc would drop what the sender writes
        no_bql_limit(s)
        frames = [numbered_frame(n, (60, 1514, 300, 1000)[n % 4]) for n in range(48)]
        with s.kernel.on_cpu(1, "task:sender"):   # the payload copies are stores of the sending CPU
            skbs = [skb_from_bytes(s.net.skb, f) for f in frames]
        s.sender(cpu=1).send(skbs, burst=8)
        s.run_for(10 * MS)
        assert s.frames() == frames
        s.host.drain_all()
        mem = hashlib.sha256()
        for pfn, page in sorted(s.host.mem._pages.items()):
            mem.update(pfn.to_bytes(8, "little") + bytes(page))
        return {"eligible": eligible_log, "choices": policy.trace(), "whys": list(policy.whys),
                "now": s.engine.now, "memory": mem.hexdigest()}


@pytest.mark.parametrize("ordering", ["arm64", "power", "riscv"])
@pytest.mark.parametrize("seed,drain_delay_ps", [(0, 0), (1, 500_000)])
def test_weak_profile_driver_run_drains_as_the_oracle(ordering, seed, drain_delay_ps, system, no_bql_limit,
                                                      monkeypatch):
    new = transmit(system, no_bql_limit, monkeypatch, ordering, seed, drain_delay_ps, False)
    ref = transmit(system, no_bql_limit, monkeypatch, ordering, seed, drain_delay_ps, True)
    assert len(new["eligible"]) == len(ref["eligible"])
    for k, (a, b) in enumerate(zip(new["eligible"], ref["eligible"])):
        assert a == b, f"drain step {k}: {len(a)} options vs the oracle's {len(b)}"
    assert new == ref
    # the run did put the store buffer to work: long buffers, real choices among many stores
    assert new["eligible"]
    if ordering != "power":   # POWER's writel is sync; st: the buffer empties at every doorbell
        # the run put the store buffer to work: tens of stores buffered, real choices among them
        assert max(len(e) for e in new["eligible"]) >= 40
        assert sum(1 for e in new["eligible"] if len(e) > 1) >= 50
