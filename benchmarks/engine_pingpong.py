"""Engine throughput: two processes ping-pong through events, igbsim's engine against SimPy.

Each round, process A triggers ``ping`` and waits for ``pong``; process B
waits for ``ping``, sleeps 1 ps, then triggers ``pong``. That is three
events per round (ping, the timeout, pong) in both engines, written the same
way. Runs alternate between the engines and the best of several repetitions
is kept, so both see the same machine conditions; the figure of merit is the
ratio, not the absolute rate.
"""
from __future__ import annotations

import time

from sim.engine import Engine

EVENTS_PER_ROUND = 3


def igbsim_pingpong(rounds: int) -> float:
    """Seconds for ``rounds`` rounds on igbsim's engine."""
    env = Engine()
    ch = {"ping": env.event(), "pong": env.event()}

    def a():
        for i in range(rounds):
            ch["pong"] = env.event()
            ch["ping"].succeed(i)
            yield ch["pong"]

    def b():
        for _ in range(rounds):
            v = yield ch["ping"]
            ch["ping"] = env.event()
            yield env.timeout(1)
            ch["pong"].succeed(v)

    env.spawn(b())
    env.spawn(a())
    t0 = time.perf_counter()
    env.run()
    dt = time.perf_counter() - t0
    assert env.now == rounds
    return dt


def simpy_pingpong(rounds: int) -> float:
    """Seconds for ``rounds`` rounds on SimPy (the baseline)."""
    import simpy  # the baseline only: nothing else in igbsim may need SimPy installed

    env = simpy.Environment()
    ch = {"ping": env.event(), "pong": env.event()}

    def a():
        for i in range(rounds):
            ch["pong"] = env.event()
            ch["ping"].succeed(i)
            yield ch["pong"]

    def b():
        for _ in range(rounds):
            v = yield ch["ping"]
            ch["ping"] = env.event()
            yield env.timeout(1)
            ch["pong"].succeed(v)

    env.process(b())
    env.process(a())
    t0 = time.perf_counter()
    env.run()
    dt = time.perf_counter() - t0
    assert env.now == rounds
    return dt


def run(rounds: int = 200_000, repeats: int = 5) -> dict:
    """Best-of-``repeats`` events/s for both engines and their ratio."""
    best = {"igbsim": float("inf"), "simpy": float("inf")}
    for _ in range(repeats):
        best["igbsim"] = min(best["igbsim"], igbsim_pingpong(rounds))
        best["simpy"] = min(best["simpy"], simpy_pingpong(rounds))
    events = rounds * EVENTS_PER_ROUND
    rates = {k: events / v for k, v in best.items()}
    return {"rates": rates, "ratio": rates["igbsim"] / rates["simpy"], "events": events}


def report(result: dict) -> str:
    r = result["rates"]
    return (f"engine ping-pong ({result['events']} events, best of runs):\n"
            f"  igbsim engine {r['igbsim'] / 1e6:8.3f} M events/s\n"
            f"  SimPy         {r['simpy'] / 1e6:8.3f} M events/s\n"
            f"  ratio         {result['ratio']:8.2f} x SimPy")
