"""The whole system on simulated CPUs: system calls take time, interrupts preempt them, CPUs account it all.

Independent expectations: the preempted ``sendto()`` takes exactly the
handler's time longer (the run is otherwise identical: same seed); every
CPU's accounting sums to the elapsed time; two senders on two CPUs pushing
into one locked qdisc (Linux 3.10: every qdisc takes its root lock) meet on
that lock and still deliver every frame exactly once.
"""
from __future__ import annotations

from sim.assembly.skbs import frame_seq, numbered_frame
from sim.assembly.system import PARTNER_IP
from sim.engine import MS, US
from stack import socket as sk
from stack.core.skbuff import skb_from_bytes

_HANDLER_PS = 7 * US


def _timed_sendto(s, interrupt_after_ps: int | None) -> int:
    """Duration of the second ``sendto()`` of a task on CPU 0 (the first one resolves ARP); with an
    interrupt on CPU 0 ``interrupt_after_ps`` into it, whose handler charges ``_HANDLER_PS``."""
    net = s.net
    times = {}

    def program():
        fd = yield from sk.socket(net, sk.AF_INET, sk.SOCK_DGRAM)
        yield from sk.sendto(net, fd, b"a" * 1000, 0, (PARTNER_IP, 9))
        yield 1 * MS                   # ARP resolved, the first datagram sent and completed
        times["start"] = net.engine.now
        if interrupt_after_ps is not None:
            net.engine.call_later(interrupt_after_ps, s.host.sched.cpus[0].interrupt, "test",
                                  s.host.cpus[0].charge, _HANDLER_PS)
        yield from sk.sendto(net, fd, b"b" * 1000, 0, (PARTNER_IP, 9))
        times["end"] = net.engine.now

    s.task(program(), cpu=0, comm="app")
    s.run_for(3 * MS)
    return times["end"] - times["start"]


def test_a_sendto_preempted_by_a_hardirq_on_its_cpu_lasts_longer_by_the_handler(net_system):
    plain = _timed_sendto(net_system(irq_cpu=1), None)
    assert plain > 1 * US                      # a system call takes CPU time
    preempted = _timed_sendto(net_system(irq_cpu=1), plain // 2)
    assert preempted == plain + _HANDLER_PS    # ... and the interrupt's on top of it


def test_every_cpu_accounts_the_whole_run(net_system):
    s = net_system(ncpus=2, irq_cpu=1)
    net = s.net

    def program():
        fd = yield from sk.socket(net, sk.AF_INET, sk.SOCK_DGRAM)
        for i in range(50):
            net.ctx.user_time("app", 200_000)
            yield from sk.sendto(net, fd, bytes([i]) * 3000, 0, (PARTNER_IP, 9))

    s.task(program(), cpu=0, comm="app")
    s.run_for(5 * MS)
    s.host.sched.flush_accounts()
    for cpu in s.host.cpus:
        assert sum(cpu.account.values()) == s.engine.now
    acct0, acct1 = (cpu.account for cpu in s.host.cpus)
    assert acct0["task:app"] > 0 and acct0["user:app"] == 50 * 200_000
    assert any(name.startswith("hardirq:") for name in acct1)     # completions were handled on CPU 1
    assert not any(name.startswith("hardirq:eth0-TxRx") for name in acct0)


def test_two_senders_on_two_cpus_contend_for_the_qdisc_root_lock(system):
    s = system("82576", ncpus=2, irq_cpu=0, kernel_version="3.10", up=False)
    s.bring_up()
    frames = {cpu: [numbered_frame(1000 * cpu + n, 200) for n in range(60)] for cpu in (0, 1)}
    for cpu in (0, 1):
        with s.kernel.on_cpu(cpu, f"task:writer{cpu}"):   # the payload copy happens on the writing CPU
            skbs = [skb_from_bytes(s.net.skb, f) for f in frames[cpu]]
        s.sender(cpu=cpu, queue=0, comm=f"writer{cpu}").send(skbs, burst=8)
    s.run_for(10 * MS)
    got = [frame_seq(f) for f in s.frames()]
    assert sorted(got) == sorted(frame_seq(f) for f in frames[0] + frames[1])   # each once
    for cpu in (0, 1):   # each writer's frames in its own order
        assert [n for n in got if n // 1000 == cpu] == [frame_seq(f) for f in frames[cpu]]
    root = s.netdev._tx[0].qdisc.q_lock
    assert root.contended > 0
    assert sum(run.spin_ps for run in s.host.sched.cpus) > 0
