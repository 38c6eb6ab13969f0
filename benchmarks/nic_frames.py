"""NIC model throughput: simulated frames per wall-clock second, back to back, 64 and 1518 bytes.

One TX ring on the native engine, set up by :class:`sim.assembly.nic_harness.NicTestHost`
(so the NIC is reached only through its ports: CPU stores, posted MMIO,
IOMMU, PCIe DMA timing). A producer process keeps the ring supplied as a
driver would: every poll it reclaims the packets whose EOP descriptor has DD
set in host memory, posts the next batch (one data descriptor per packet) and
rings the doorbell once per batch. Frames are counted as they leave the MAC.

Two host set-ups, because the host side costs wall time too:

* ``model``: the figure for the NIC model. The host is sequentially
  consistent (no store-buffer model) and the packets sit in a pool of DMA
  buffers mapped once (one per ring slot, like a page pool); the producer
  only writes descriptors and the doorbell.
* ``nichost``: the same traffic through ``NicTestHost.post`` on the default
  x86-TSO host: a kmalloc + dma_map_single and a buffer copy per packet, all
  stores through the CPU's store buffer model.

Per frame size and set-up, side by side:

* wall: simulated frames per wall-clock second (best of several runs) — how
  fast the simulator is;
* sim: frames per simulated second over the run (first frame's start to
  last frame's end), against 1 Gb/s line rate: one frame per 672 ns (64 bytes)
  or per 12.304 us (1518 bytes), i.e. (frame + 8 preamble/SFD + 12 IPG) bytes
  at 8 ns a byte — how close the modelled NIC gets to the wire.

Nothing here is asserted on wall time; a run only checks that every frame
went out.
"""
from __future__ import annotations

import time

from rtl_model import descriptors as d
from sim.host.iommu import DmaDirection
from sim.assembly.nic_harness import NicTestHost

__all__ = ["line_rate_fps", "run_once", "run", "report", "HOSTS"]

#: Frame sizes on the wire, FCS included; the packets posted are 4 bytes shorter.
FRAME_SIZES = (64, 1518)
BYTE_PS_1G = 8_000                 # one byte at 1 Gb/s
PREAMBLE_IPG_BYTES = 8 + 12        # preamble/SFD + inter-packet gap
#: Host set-ups (see the module docstring).
HOSTS = ("model", "nichost")


def line_rate_fps(frame_len: int) -> float:
    """Frames per second at 1 Gb/s, back to back: 1 / ((len + 20) bytes x 8 ns)."""
    return 1e12 / ((frame_len + PREAMBLE_IPG_BYTES) * BYTE_PS_1G)


class _PooledPoster:
    """Posts ``packet`` from a pool of DMA buffers mapped once, one per ring slot (``model`` host)."""

    def __init__(self, h: NicTestHost, ring, packet: bytes):
        self.h, self.ring = h, ring
        self.raw = []
        for _ in range(ring.size):
            cpu_addr = h.host.dma.kmalloc(len(packet))
            h.cpu.store_bytes(cpu_addr, packet)
            iova = h.host.dma.dma_map_single(cpu_addr, len(packet), DmaDirection.TO_DEVICE)
            self.raw.append(d.encode_adv_data(iova, len(packet), eop=True, rs=True, ifcs=True,
                                              paylen=len(packet)))

    def post(self) -> int:
        ring = self.ring
        i = ring.next_to_use
        self.h.cpu.store_bytes(ring.desc_cpu_addr(i), self.raw[i])
        ring.next_to_use = (i + 1) % ring.size
        return i


def _producer(h: NicTestHost, ring, post, total: int, batch: int, poll_ps: int):
    """Keep ``ring`` supplied with ``total`` packets, ``batch`` per doorbell; ``post()`` -> EOP index."""
    eops: list[int] = []     # EOP index of every posted packet, in order
    done = 0
    while done < total:
        while done < len(eops) and h.dd(ring, eops[done]):
            done += 1
        # One descriptor per packet; keep one slot free (TDT == TDH means empty).
        space = ring.size - 1 - (len(eops) - done)
        k = min(batch, space, total - len(eops))
        if k == batch or (k and len(eops) + k == total):
            for _ in range(k):
                eops.append(post())
            h.ring_doorbell(ring)
        yield poll_ps


def run_once(frame_len: int, frames: int = 2000, *, host: str = "model", ring_size: int = 256,
             batch: int = 32, poll_ps: int = 2_000_000) -> dict:
    """One run: ``frames`` back-to-back frames of ``frame_len`` bytes (FCS included).

    Returns wall seconds of the simulation run, frames on the wire, and the
    simulated span (first frame's first bit to last frame's end, IPG included).
    """
    if host not in HOSTS:
        raise ValueError(f"host must be one of {HOSTS}, not {host!r}")
    h = NicTestHost(ordering="sc" if host == "model" else "x86-tso")
    ring = h.setup_tx_ring(0, ring_size)
    h.enable_tx()
    packet = bytes(range(256)) * (frame_len // 256 + 1)
    packet = b"\x02" + packet[1:frame_len - 4]        # locally administered unicast
    if host == "model":
        post = _PooledPoster(h, ring, packet).post
    else:
        def post() -> int:
            return h.post(ring, packet)[1]
    h.engine.spawn(_producer(h, ring, post, frames, batch, poll_ps), "producer")
    t0 = time.perf_counter()
    h.run()
    wall = time.perf_counter() - t0
    wire = h.wire
    if len(wire) != frames or any(len(f) != frame_len for f, _, _ in wire):
        raise RuntimeError(f"{len(wire)} frames on the wire, expected {frames} of {frame_len} bytes")
    span_ps = wire[-1][2] - wire[0][1]
    return {"frame_len": frame_len, "host": host, "frames": len(wire), "wall_s": wall, "sim_span_ps": span_ps}


def run(frames: int = 2000, repeats: int = 3, sizes=FRAME_SIZES, hosts=HOSTS) -> list[dict]:
    """Best-of-``repeats`` wall time per frame size and host; the simulated figures are the same every run."""
    out = []
    for n, host in [(n, host) for n in sizes for host in hosts]:
        runs = [run_once(n, frames, host=host) for _ in range(repeats)]
        best = min(runs, key=lambda r: r["wall_s"])
        spans = {r["sim_span_ps"] for r in runs}
        if len(spans) != 1:
            raise RuntimeError(f"simulated span differs between identical runs: {sorted(spans)}")
        sim_fps = best["frames"] / (best["sim_span_ps"] / 1e12)
        out.append(dict(best, wall_fps=best["frames"] / best["wall_s"], sim_fps=sim_fps,
                        line_fps=line_rate_fps(n), line_fraction=sim_fps / line_rate_fps(n)))
    return out


def report(results: list[dict]) -> str:
    lines = [f"NIC model, back-to-back frames on one TX ring ({results[0]['frames']} frames, best of runs):",
             f"  {'frame':>6}  {'host':<8} {'wall: frames/s':>14}  {'sim: frames/s':>13}  {'ns/frame':>9}  "
             f"{'1 Gb/s line rate':>16}  {'ns/frame':>8}  {'of line':>7}"]
    for r in results:
        line_ns = (r["frame_len"] + PREAMBLE_IPG_BYTES) * BYTE_PS_1G / 1000
        sim_ns = r["sim_span_ps"] / r["frames"] / 1000
        lines.append(f"  {r['frame_len']:>4} B  {r['host']:<8} {r['wall_fps'] / 1e3:>10.1f} k/s  "
                     f"{r['sim_fps'] / 1e6:>9.4f} M/s  {sim_ns:>9.1f}  {r['line_fps'] / 1e6:>12.4f} M/s  "
                     f"{line_ns:>8g}  {100 * r['line_fraction']:>6.2f}%")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(run()))
