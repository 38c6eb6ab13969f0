"""``igbsim run --plot FILE.png``: one page of time series of the run (matplotlib, headless: Agg).

A :mod:`sim.run.timeline` sink. Time is cut into buckets (:data:`BUCKET_PS`,
merged at the end so the page has at most :data:`MAX_POINTS` points per
series). Panels, top to bottom:

1. goodput — payload bytes the partner received in order, Mb/s, over a
   window of 1/100 of the run (at least one point) ending at each point;
2. cwnd and ssthresh of the host's TCP connection (segments; ssthresh only
   once it is finite);
3. TX ring occupancy — descriptors the driver has handed over and not yet
   cleaned, per ring (last value in each bucket);
4. BQL limit and in-flight bytes per TX queue;
5. interrupt rate — MSI-X messages the NIC sent, per second;
6. per-CPU busy time by context — the share of each bucket each CPU spent in
   ``us`` (user), ``sy`` (system calls, kernel threads), ``si`` (softirq) and
   ``hi`` (hardirq), stacked, one panel row per CPU.
"""
from __future__ import annotations

import os

from .staging import drop, publish, stage

__all__ = ["PlotSink", "BUCKET_PS", "MAX_POINTS"]

BUCKET_PS = 10_000_000      # 10 µs
MAX_POINTS = 500
_COLUMNS = (("user:", "us"), ("task:", "sy"), ("softirq:", "si"), ("hardirq:", "hi"))


class PlotSink:
    """Collects bucketed series; :meth:`close` draws them into ``path`` (module docstring)."""

    def __init__(self, path, *, title: str, ncpus: int):
        self.path = os.fspath(path)
        self.title = title
        self.ncpus = ncpus
        self.busy: dict[tuple[int, int, str], int] = {}   # (bucket, cpu, column) -> ps
        self.irqs: dict[int, int] = {}                     # bucket -> MSI-X messages
        self.last: dict[int, dict[str, float]] = {}        # bucket -> counter -> last value in it

    # --- sink methods -----------------------------------------------------------------------------
    def cpu_slice(self, cpu: int, name: str, start: int, end: int, children) -> None:
        col = next((c for p, c in _COLUMNS if name.startswith(p)), None)
        if col is None:
            return
        t = start
        while t < end:
            b = t // BUCKET_PS
            stop = min(end, (b + 1) * BUCKET_PS)
            key = (b, cpu, col)
            self.busy[key] = self.busy.get(key, 0) + stop - t
            t = stop

    def instant(self, track, name: str, t: int, args) -> None:
        b = t // BUCKET_PS
        self.irqs[b] = self.irqs.get(b, 0) + 1

    def counters(self, t: int, values: dict) -> None:
        self.last.setdefault(t // BUCKET_PS, {}).update(values)

    # --- drawing ---------------------------------------------------------------------------------
    def close(self, end_ps: int) -> None:
        import matplotlib   # only when a plot is asked for: it takes a while to load
        matplotlib.use("Agg")
        from matplotlib import pyplot as plt   # after choosing the headless backend

        nb = end_ps // BUCKET_PS + 1
        k = max(1, -(-nb // MAX_POINTS))            # buckets per point
        npts = -(-nb // k)
        width_s = k * BUCKET_PS / 1e12
        xs = [(i + 0.5) * k * BUCKET_PS / 1e9 for i in range(npts)]   # ms
        # counters: carry the last value forward, bucket by bucket
        names = sorted({n for v in self.last.values() for n in v})
        series = {n: [None] * npts for n in names}
        cur: dict[str, float] = {}
        for b in range(nb):
            cur.update(self.last.get(b, {}))
            for n, v in cur.items():
                series[n][b // k] = v
        delivered = series.get("delivered to partner (bytes)", [None] * npts)
        cum, prev = [], 0
        for v in delivered:
            prev = prev if v is None else v
            cum.append(prev)
        w = max(1, npts // 100)   # a window of points: a frame's arrival does not show as a spike
        goodput = [(cum[i] - (cum[i - w] if i >= w else 0)) * 8 / (w * width_s) / 1e6 for i in range(npts)]
        irq_rate = [0.0] * npts
        for b, n in self.irqs.items():
            if b < nb:
                irq_rate[b // k] += n / width_s
        rows = 5 + self.ncpus
        fig, axes = plt.subplots(rows, 1, figsize=(11, 2.1 * rows), sharex=True)
        fig.suptitle(self.title)
        ax = axes[0]
        ax.plot(xs, goodput, lw=1)
        ax.set_ylabel("goodput\nMb/s")
        ax = axes[1]
        for n in ("cwnd (segments)", "ssthresh (segments)"):
            if n in series:
                ax.plot(xs, series[n], lw=1, label=n.split()[0], drawstyle="steps-post")
        ax.set_ylabel("segments")
        ax.legend(loc="upper right", fontsize="small") if ax.lines else None
        ax = axes[2]
        for n in names:
            if n.startswith("ring occupancy") and any(series[n]):
                ax.plot(xs, series[n], lw=1, label=n.split()[2], drawstyle="steps-post")
        ax.set_ylabel("ring\ndescriptors")
        ax.legend(loc="upper right", fontsize="small") if ax.lines else None
        ax = axes[3]
        for n in names:
            if n.startswith("BQL") and any(series[n]):
                ax.plot(xs, series[n], lw=1, label=n.rsplit(" ", 1)[0], drawstyle="steps-post")
        ax.set_ylabel("BQL\nbytes")
        ax.legend(loc="upper right", fontsize="small") if ax.lines else None
        ax = axes[4]
        ax.plot(xs, irq_rate, lw=1)
        ax.set_ylabel("interrupts\nper s")
        for cpu in range(self.ncpus):
            ax = axes[5 + cpu]
            stacks = []
            for _, col in _COLUMNS:
                vals = [0.0] * npts
                for b in range(nb):
                    vals[b // k] += self.busy.get((b, cpu, col), 0)
                stacks.append([100.0 * v / (k * BUCKET_PS) for v in vals])
            ax.stackplot(xs, *stacks, labels=[c for _, c in _COLUMNS])
            ax.set_ylim(0, 100)
            ax.set_ylabel(f"cpu{cpu}\nbusy %")
            ax.legend(loc="upper right", fontsize="small", ncol=4)
        axes[-1].set_xlabel("simulated time (ms)")
        fig.tight_layout()
        fd, tmp = stage(self.path, ".png")
        os.close(fd)
        try:
            fig.savefig(tmp, format="png", dpi=80, metadata={"Software": None})
            publish(tmp, self.path)
        except BaseException:
            drop(tmp)
            raise
        finally:
            plt.close(fig)
