"""Driver + NIC throughput: packets per wall-clock second through the whole igb TX path.

One :class:`sim.assembly.system.IgbSystem` (82576, x86-TSO host, 2 CPUs, 256-entry
ring, default ITR setting 3) per configuration. A
:class:`~sim.assembly.sender.PacketSender` on CPU 0 writes skbs through
``dev_queue_xmit`` (qdisc, BQL) to the real driver — ``igb_xmit_frame`` →
descriptors, ``dma_wmb``, doorbell → NIC model → wire → MSI-X → NAPI →
``igb_clean_tx_irq`` (unmap, free, wake) — for ``packets`` skbs of one size,
``burst`` writes per stretch of the sender's CPU time: 32 or 1 (the CPU time
of each write elapses before the next). ``xmit_more`` batches come from the
qdisc's bulk dequeue when skbs wait there. Sizes are ``skb->len``, FCS
excluded: 64 and 1514 bytes (68 and 1518 on the wire).

The skbs are built in chunks (``skb_from_bytes``: the stack's copy of the
payload) outside the timed region; only the simulation runs are timed, the
final drain of the ring included. Per configuration, side by side:

* wall: packets per wall-clock second — how fast the simulator runs the
  driver and NIC together;
* NIC-only: :mod:`benchmarks.nic_frames` measured in the same run for the
  same frame size on the wire (68 and 1518 bytes), ``model`` host (SC host,
  pre-mapped buffers: the NIC model alone) and ``nichost`` host (x86-TSO host,
  a kmalloc + map + copy per packet); the ratio ``wall / NIC-only`` is the
  share of the NIC-only rate left once the driver, the kernel API and the net
  core run too, and ``+us/pkt`` the wall time each packet costs on top of the
  NIC model;
* sim: frames per simulated second (first frame's first bit to last
  frame's end, inter-packet gaps included) as Mb/s of frame bits (FCS
  included) and as a fraction of 1 Gb/s line rate, over the whole run and
  after the first 10 % of the frames. The whole-run figure includes the
  warm-up: BQL starts with a limit of one packet and grows it at each
  completion, and the first interrupts come at the start ITR (648 = 162 us).

Every run checks that all frames reached the wire with the right length,
that every skb was consumed (none dropped, none live after the drain, no
driver resources held after remove) and that memory did not grow in the
second half of the run (live skbs, host kmalloc blocks, touched host pages,
streaming DMA mappings). Nothing is asserted on wall time.

``python benchmarks/driver_nic.py --profile`` runs one configuration under
cProfile and prints where the time goes by layer and the top functions.
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import nic_frames  # noqa: E402
from sim.engine import MS  # noqa: E402
from sim.assembly.system import IgbSystem  # noqa: E402
from stack.core.skbuff import skb_from_bytes  # noqa: E402

__all__ = ["run_once", "run", "report", "profile", "SIZES", "BURSTS"]

#: skb->len of the packets (FCS excluded).
SIZES = (64, 1514)
#: Writes per stretch of the sender's CPU time.
BURSTS = (32, 1)
FCS = 4
#: skbs built per chunk (bounds the backlog, so skb memory is reused across chunks).
CHUNK = 1024
#: Fraction of the frames left out of the "after warm-up" simulated rate.
WARMUP_FRACTION = 0.10


def _frame(size: int) -> bytes:
    payload = bytes(range(256)) * (size // 256 + 1)
    return b"\x02" + payload[1:size]     # locally administered unicast destination


def _memory_sample(s: IgbSystem, sent: int) -> dict:
    """What a leak or unbounded growth would show in (taken outside the timed region)."""
    gc.collect()
    return {"sent": sent,
            "live_skbs": len(s.net.skb.live),
            "kmalloc_blocks": s.net.skb.allocator.live,
            "host_pages": s.host.mem.pages_allocated,
            "dma_maps": len(s.host.dma.streaming_maps),
            "py_objects": len(gc.get_objects())}


def run_once(size: int, packets: int = 20_000, burst: int = 32, *, nic: str = "82576", ring_size: int = 256,
             ordering: str = "x86-tso", chunk: int = CHUNK, check_memory: bool = True) -> dict:
    """``packets`` skbs of ``size`` bytes, ``burst`` writes per CPU stretch; wall and simulated figures.

    ``ordering``: the host's memory-ordering profile (:mod:`sim.host.ordering`).
    ``check_memory``: sample memory after every chunk (a ``gc.collect``, outside
    the timed region) and fail on growth in the second half of the run.
    The timed region is measured in wall time (``wall_s``) and in this
    process's CPU time (``cpu_s``, steadier on a shared machine).
    """
    s = IgbSystem(nic=nic, ring_size=ring_size, ordering=ordering)
    err = s.open()
    if err:
        raise RuntimeError(f"open failed: {err}")
    snd = s.sender(cpu=0, queue=0)
    frame = _frame(size)
    skb_mem = s.net.skb
    wall = cpu = 0.0
    frames = 0
    first_start = warm_start = last_end = None
    warm_index = int(packets * WARMUP_FRACTION)
    bad_len = 0
    samples = []
    peak_live = 0

    def take_wire() -> None:
        nonlocal frames, first_start, warm_start, last_end, bad_len
        w = s.wire.a_to_b
        if not w:
            return
        if first_start is None:
            first_start = w[0].start_ps
        if warm_start is None and frames + len(w) > warm_index:
            warm_start = w[warm_index - frames].start_ps
        bad_len += sum(1 for rec in w if len(rec.frame) != size or not rec.fcs_ok)
        frames += len(w)
        last_end = w[-1].end_ps
        w.clear()    # keep only the counts: the frames themselves would grow with the run

    sent = 0
    while sent < packets:
        k = min(chunk, packets - sent)
        skbs = [skb_from_bytes(skb_mem, frame) for _ in range(k)]
        if any(skb is None for skb in skbs):
            raise RuntimeError("skb allocation failed")
        t0, c0 = time.perf_counter(), time.process_time()
        snd.send(skbs, burst=burst)
        s.run(until=snd.done)
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
        del skbs
        sent += k
        peak_live = max(peak_live, len(skb_mem.live))
        take_wire()
        if check_memory:
            samples.append(_memory_sample(s, sent))
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(1000):     # drain: the last frames leave (DD comes before that), completions are cleaned
        take_wire()
        if not skb_mem.live and frames >= packets:
            break
        s.run_for(1 * MS)
    wall += time.perf_counter() - t0
    cpu += time.process_time() - c0

    if frames != packets or bad_len:
        raise RuntimeError(f"{frames} frames on the wire ({bad_len} of a wrong length), "
                           f"expected {packets} of {size + FCS} bytes")
    if skb_mem.live:
        raise RuntimeError(f"{len(skb_mem.live)} skb(s) still live after the drain")
    if skb_mem.dropped or skb_mem.consumed != packets:
        raise RuntimeError(f"skbs: {skb_mem.consumed} consumed, {skb_mem.dropped} dropped, expected "
                           f"{packets} consumed")
    half = last = end = None
    if check_memory:
        end = _memory_sample(s, sent)
        half, last = samples[max(len(samples) // 2 - 1, 0)], samples[-1]
        # Packets in flight (at most a ring's worth) make the counts wobble; anything more is growth.
        slack = {"kmalloc_blocks": ring_size, "live_skbs": ring_size, "dma_maps": ring_size,
                 "host_pages": 16 + half["host_pages"] // 20}
        grew = {k: (half[k], last[k]) for k in slack if last[k] > half[k] + slack[k]}
        if grew:
            raise RuntimeError(f"memory grew in the second half of the run (mid, end): {grew}")
    s.close()
    s.remove()
    leaks = s.leaks()
    if leaks:
        raise RuntimeError(f"driver resources still held after remove: {leaks}")

    span = last_end - first_start
    warm_span = last_end - warm_start
    line = nic_frames.line_rate_fps(size + FCS)
    sim_fps = frames / (span / 1e12)
    warm_fps = (frames - warm_index) / (warm_span / 1e12)
    return {"size": size, "burst": burst, "ordering": ordering, "packets": packets, "wall_s": wall,
            "wall_pps": packets / wall, "cpu_s": cpu,
            "sim_span_ps": span, "sim_fps": sim_fps, "sim_mbps": sim_fps * (size + FCS) * 8 / 1e6,
            "line_fraction": sim_fps / line, "warm_line_fraction": warm_fps / line,
            "wmem_waits": snd.wmem_waits, "xmit_errors": snd.xmit_errors, "peak_live_skbs": peak_live,
            "mid": half, "last": last, "end": end}


def run(packets: int = 20_000, repeats: int = 1, sizes=SIZES, bursts=BURSTS, nic_frames_count: int = 5_000,
        nic_repeats: int = 3) -> dict:
    """Every size x burst through the driver, and the NIC-only benchmark for the same wire sizes."""
    nic = nic_frames.run(frames=nic_frames_count, repeats=nic_repeats, sizes=tuple(n + FCS for n in sizes))
    nic_by = {(r["frame_len"] - FCS, r["host"]): r for r in nic}
    out = []
    for size in sizes:
        for burst in bursts:
            runs = [run_once(size, packets, burst) for _ in range(repeats)]
            best = min(runs, key=lambda r: r["wall_s"])
            if len({r["sim_span_ps"] for r in runs}) != 1:
                raise RuntimeError(f"simulated span differs between identical runs: "
                                   f"{sorted(r['sim_span_ps'] for r in runs)}")
            for host in nic_frames.HOSTS:
                ref = nic_by[(size, host)]["wall_fps"]
                best[f"vs_{host}"] = best["wall_pps"] / ref
                best[f"extra_us_{host}"] = (1 / best["wall_pps"] - 1 / ref) * 1e6
            out.append(best)
    return {"driver": out, "nic": nic, "packets": packets, "nic_frames": nic_frames_count}


def report(result: dict) -> str:
    nic = {(r["frame_len"] - FCS, r["host"]): r["wall_fps"] for r in result["nic"]}
    lines = [f"Driver + NIC (IgbSystem 82576, x86-TSO host, ring 256, ITR 3), {result['packets']} packets per row, "
             f"dev_queue_xmit -> igb_xmit_frame -> NIC -> wire -> MSI-X -> NAPI -> igb_clean_tx_irq:",
             f"  {'skb':>6} {'burst':>5}  {'wall: pkts/s':>12}  {'NIC-only model':>14} {'ratio':>6} {'+us/pkt':>8}"
             f"  {'nichost':>9} {'ratio':>6} {'+us/pkt':>8}  {'sim: Mb/s':>9} {'of line':>7} {'after warm-up':>13}"]
    for r in result["driver"]:
        n = r["size"]
        lines.append(
            f"  {n:>4} B {r['burst']:>5}  {r['wall_pps'] / 1e3:>8.2f} k/s  {nic[(n, 'model')] / 1e3:>10.2f} k/s "
            f"{r['vs_model']:>6.3f} {r['extra_us_model']:>8.1f}  {nic[(n, 'nichost')] / 1e3:>5.2f} k/s "
            f"{r['vs_nichost']:>6.3f} {r['extra_us_nichost']:>8.1f}  {r['sim_mbps']:>9.1f} "
            f"{100 * r['line_fraction']:>6.2f}% {100 * r['warm_line_fraction']:>12.2f}%")
    lines.append(f"  (NIC-only: benchmarks/nic_frames.py, {result['nic_frames']} frames of {FCS} bytes more, best of "
                 f"runs; ratio = driver wall rate / NIC-only wall rate; Mb/s counts frame bits with FCS)")
    lines.append("  memory, sampled after each chunk of skbs is sent (mid-run -> last chunk -> after the drain):")
    for r in result["driver"]:
        m, la, e = r["mid"], r["last"], r["end"]
        lines.append(f"  {r['size']:>4} B burst {r['burst']:>2}: live skbs {m['live_skbs']} -> {la['live_skbs']} -> "
                     f"{e['live_skbs']} ({r['packets']} consumed, 0 dropped), kmalloc blocks {m['kmalloc_blocks']} -> "
                     f"{la['kmalloc_blocks']} -> {e['kmalloc_blocks']}, DMA maps {m['dma_maps']} -> {la['dma_maps']} "
                     f"-> {e['dma_maps']}, host pages {m['host_pages']} -> {la['host_pages']} -> {e['host_pages']}, "
                     f"Python objects {m['py_objects']} -> {la['py_objects']} -> {e['py_objects']}")
    return "\n".join(lines)


_LAYERS = (("driver/igb/", "driver/igb"), ("driver/platform/", "driver/platform (kernel API)"),
           ("rtl_model/", "rtl_model (NIC)"), ("stack/", "stack (net core)"), ("sim/host/", "sim/host"),
           ("sim/engine/", "sim/engine"), ("sim/assembly/", "sim/assembly (sender, wire)"))


def profile(size: int = 1514, burst: int = 32, packets: int = 5_000, top: int = 25) -> str:
    """cProfile one configuration: own time by layer, then the ``top`` functions by own time."""
    prof = cProfile.Profile()
    prof.enable()
    run_once(size, packets, burst, check_memory=False)
    prof.disable()
    st = pstats.Stats(prof)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    by_layer: dict[str, float] = {}
    total = 0.0
    for (path, _line, _fn), (_cc, _nc, tt, _ct, _callers) in st.stats.items():
        total += tt
        rel = path[len(root):] if path.startswith(root) else path
        layer = next((name for prefix, name in _LAYERS if rel.startswith(prefix)), "other (stdlib, builtins)")
        by_layer[layer] = by_layer.get(layer, 0.0) + tt
    lines = [f"cProfile, {packets} packets of {size} B, burst {burst}: own time by layer ({total:.2f} s total)"]
    for name, tt in sorted(by_layer.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {name:<32} {tt:7.3f} s  {100 * tt / total:5.1f}%")
    out = [(tt, ct, nc, f"{os.path.relpath(path, root) if path.startswith(root) else path}:{line}({fn})")
           for (path, line, fn), (_cc, nc, tt, ct, _callers) in st.stats.items()]
    lines.append(f"  top {top} by own time:   own s   cum s    calls")
    for tt, ct, nc, name in sorted(out, reverse=True)[:top]:
        lines.append(f"  {tt:8.3f} {ct:7.3f} {nc:8d}  {name}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--packets", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--profile", action="store_true", help="cProfile one configuration instead")
    ap.add_argument("--size", type=int, default=1514, help="with --profile")
    ap.add_argument("--burst", type=int, default=32, help="with --profile")
    args = ap.parse_args(argv)
    if args.profile:
        print(profile(args.size, args.burst, args.packets))
    else:
        print(report(run(args.packets, args.repeats)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
