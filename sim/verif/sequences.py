"""Sequences: constrained-random and directed streams of register accesses, packets and skbs.

Randomness: every sequence draws from its own ``random.Random`` seeded with
the test's seed and the sequence's name, so ``make sim SEED=n`` replays a run
exactly. The constraints are plain Python (weighted bins, then values inside
the bin): cocotb-coverage's constraint solver manages ~17 draws/s, far too
slow for packet streams (verification_ecosystem.md §7).

* :class:`NicSetupSeq` — programs a TX ring and the interrupt block as igb's
  ``igb_configure_tx_ring``/``igb_setup_tctl``/``igb_configure_msix`` do, with
  the test's thresholds, write-back mode, interrupt mode and EITR.
* :class:`RandomTxSeq` — configuration (a): packets over the descriptor space
  (legacy and advanced, context descriptors, 1–5 buffers including empty
  ones, 17 bytes to jumbo and 64 KiB TSO, checksum and VLAN offloads, RS on or
  off), posted in doorbell batches of 1 to 20+ packets.
* :class:`ErrorTxSeq` — the same stream with every error kind of
  :data:`~sim.verif.items.ERROR_KINDS` mixed in (a factory override of
  RandomTxSeq).
* :class:`RandomSkbSeq` — configuration (b): skbs with 0–8 page frags, TSO,
  checksum offload, VLAN, in ``xmit_more`` bursts.
"""
from __future__ import annotations

import random

from pyuvm import ConfigDB, uvm_sequence

from sim.verif import frames
from sim.verif.agents import RegItem, SkbItem, TxPacketItem
from sim.verif.items import SkbSpec, TxPacket

__all__ = ["NicSetupSeq", "RandomTxSeq", "ErrorTxSeq", "RandomSkbSeq", "random_packet", "random_skb",
           "split_buffers"]

MAX_DTALEN = 0xFFFF          # DTALEN/length fields are 16 bits (facts §2.1, §2.2)
MAX_NON_TSO = 9728           # the largest non-TSO packet (facts §2.2, DTXMXPKTSZ default)
TSO_MSS = (536, 1200, 1448, 1460, 8960)
ETH_P_8021Q = 0x8100         # 802.1Q TPID (include/uapi/linux/if_ether.h)
ADV_ONLY_ERRORS = ("bad_paylen", "tso_mss0", "no_ifcs")   # they concern advanced-descriptor fields


def _bin(rng: random.Random, bins):
    """Pick one of ``bins`` [(weight, value), ...]."""
    total = sum(w for w, _ in bins)
    x = rng.uniform(0, total)
    for w, v in bins:
        x -= w
        if x <= 0:
            return v
    return bins[-1][1]


def _headers(rng: random.Random, size: int, ip_ok: bool = True) -> tuple[str, str]:
    """(l3, l4) for a frame of ``size`` bytes: IP when the headers fit, else raw."""
    if ip_ok:
        l3 = _bin(rng, [(50, "ipv4"), (35, "ipv6"), (15, "raw")])
        l4 = "none" if l3 == "raw" else _bin(rng, [(60, "tcp"), (40, "udp")])
        if l3 == "raw" or size >= frames.min_size(l3, l4):
            return l3, l4
    return "raw", "none"


def split_buffers(rng: random.Random, n: int, pieces: int) -> list[int]:
    """``n`` bytes cut into ``pieces`` buffers of at most 64 KiB - 1, none empty (unless n < pieces)."""
    pieces = max(pieces, -(-n // MAX_DTALEN), 1)
    pieces = min(pieces, max(n, 1))
    cuts = sorted(rng.sample(range(1, n), pieces - 1)) if pieces > 1 else []
    sizes = [b - a for a, b in zip([0] + cuts, cuts + [n])]
    while any(s > MAX_DTALEN for s in sizes):   # rebalance: no piece over the field's limit
        i = max(range(len(sizes)), key=sizes.__getitem__)
        sizes[i:i + 1] = [sizes[i] // 2, sizes[i] - sizes[i] // 2]
    return sizes


def random_packet(rng: random.Random, seq: int, *, error: str | None = None) -> TxPacket:
    """One configuration-(a) packet drawn from the bins the coverage model declares."""
    fmt = "adv" if error in ADV_ONLY_ERRORS or rng.random() >= 0.18 else "legacy"
    tso = fmt == "adv" and error in (None, "tso_mss0") and (error == "tso_mss0" or rng.random() < 0.12)
    if error in ("no_ifcs", "bad_paylen"):
        size, l3, l4 = rng.randint(100, 1514), "ipv4", _bin(rng, [(50, "tcp"), (50, "udp")])
    elif error == "overlong":
        size = rng.randint(MAX_NON_TSO + 1, MAX_NON_TSO + 3000)
        l3, l4 = "raw", "none"
    elif tso:
        size = _bin(rng, [(70, (1600, 12000)), (20, (12001, 30000)), (10, (60000, 65535))])
        size = rng.randint(*size)
        l3 = _bin(rng, [(60, "ipv4"), (40, "ipv6")])
        l4 = _bin(rng, [(70, "tcp"), (30, "udp")])
    else:
        size = rng.randint(*_bin(rng, [(12, (17, 59)), (6, (60, 60)), (72, (61, 1514)), (10, (1515, MAX_NON_TSO))]))
        l3, l4 = _headers(rng, size)
    ip = l3 != "raw"
    txsm = ip and fmt == "adv" and (tso or rng.random() < 0.5 or error == "no_ifcs")
    ixsm = l3 == "ipv4" and fmt == "adv" and (tso or (txsm and rng.random() < 0.5))
    vlan = rng.randint(1, 0xFFFF) if rng.random() < 0.2 else None
    ic = fmt == "legacy" and ip and rng.random() < 0.4
    mss = rng.choice(TSO_MSS) if tso else 0
    frame = frames.build_frame(rng, size=size, l3=l3, l4=l4, tso_mss=mss, csum=txsm or ic, first_seq=seq * 100_000)
    maclen, iplen, l4len = frames.header_lens(l3, l4)
    pieces = _bin(rng, [(45, 1), (25, 2), (15, 3), (15, rng.randint(4, 6))])
    buffers = split_buffers(rng, size, pieces)
    if error == "zero_len_mid":
        buffers = buffers[:1] + [0] + buffers[1:] if len(buffers) > 1 else [0] + buffers
    elif error is None and rng.random() < 0.05:
        buffers.append(0)                  # an empty last descriptor carrying EOP: legal
    context = fmt == "adv" and (tso or txsm or ixsm or vlan is not None or rng.random() < 0.1)
    return TxPacket(
        frame=frame, buffers=buffers, fmt=fmt, rs=rng.random() < 0.85 or error == "dma_fault",
        ifcs=not (fmt == "adv" and not context and size >= 60 and rng.random() < 0.03),
        context=context, tse=tso, mss=mss, txsm=txsm, ixsm=ixsm, l4t=l4 if l4 != "none" else "udp",
        ipv4=l3 != "ipv6", maclen=maclen, iplen=iplen, l4len=l4len, vlan=vlan,
        ic=ic, css=maclen + iplen if ic else 0, cso=maclen + iplen + (16 if l4 == "tcp" else 6) if ic else 0,
        error=error, seq=seq)


def random_skb(rng: random.Random, seq: int) -> SkbSpec:
    """One configuration-(b) skb: size, frags, TSO, checksum offload, VLAN."""
    tso = rng.random() < 0.15
    if tso:
        size = rng.randint(*_bin(rng, [(80, (3000, 20000)), (20, (40000, 65000))]))
        l3, l4 = _bin(rng, [(60, "ipv4"), (40, "ipv6")]), "tcp"
    else:
        size = rng.randint(*_bin(rng, [(10, (17, 59)), (5, (60, 60)), (85, (61, 1514))]))
        l3, l4 = _headers(rng, size)
    csum = l3 != "raw" and (tso or rng.random() < 0.6)
    mss = rng.choice((536, 1448)) if tso else 0
    frame = frames.build_frame(rng, size=size, l3=l3, l4=l4, tso_mss=mss, csum=csum, first_seq=seq * 100_000)
    room = max(0, size - 128) // 64
    nr_frags = min(room, _bin(rng, [(40, 0), (20, 1), (30, rng.randint(2, 5)), (10, rng.randint(6, 8))]))
    vlan = rng.randint(1, 0xFFF) if rng.random() < 0.2 else None
    return SkbSpec(frame=frame, nr_frags=nr_frags, gso_size=mss, csum=csum, vlan=vlan,
                   l4t=l4, ipv4=l3 != "ipv6", seq=seq)


class _SeededSeq(uvm_sequence):
    """A sequence with the test's configuration and its own seeded generator."""

    async def pre_body(self):
        self.cfg = ConfigDB().get(None, "", "CFG")
        self.rng = random.Random(f"{type(self).__name__}-{self.cfg.corner}-{self.cfg.seed}-{self.cfg.profile}")

    async def send(self, item) -> None:
        await self.start_item(item)
        await self.finish_item(item)


class NicSetupSeq(_SeededSeq):
    """Rings, transmitter and interrupts programmed as igb does it (configuration a).

    Queue q's ring (``igb_configure_tx_ring``), then TCTL (``igb_setup_tctl``);
    MSI-X: vector 0 for "other" causes (IVAR_MISC, DOUTSYNC in IMS), vector
    1+q for queue q (IVAR), EITR per vector, auto-clear/auto-mask and EIMS
    (``igb_configure_msix``); INTx: EITR0 and IMS = TXDW | DOUTSYNC. Every
    register that can be read back is, for the register model's mirror.
    """

    async def body(self):
        await self.pre_body()
        cfg = self.cfg
        regs = ConfigDB().get(None, "", "REGMODEL")
        rings = ConfigDB().get(None, "", "RING_BASES")
        hwb = ConfigDB().get(None, "", "HEAD_WB_ADDR")
        w = []
        for q, ring in sorted(rings.items()):
            w += self._ring(regs, q, ring, hwb + 16 * q)
        w += [("VET", ETH_P_8021Q), ("TCTL", regs.tctl())]   # igb_reset: VET = 0x8100, the TPID the predictor uses
        if cfg.irq_mode == "msix":
            vectors = (1 << (cfg.n_queues + 1)) - 1          # 0 (other) and 1..n
            w += [("GPIE", regs.gpie(msix_mode=True, eiame=True, pba=True, nsicr=True)),
                  ("IVAR_MISC", regs.ivar_misc(0)), ("EITR0", regs.eitr(0))]
            for q in sorted(rings):
                w += [self._ivar(regs, q, w), (f"EITR{1 + q}", regs.eitr(cfg.eitr_us))]
            w += [("EIAC", vectors), ("EIAM", vectors), ("EIMS", vectors), ("IMS", regs.ICR_DOUTSYNC)]
            for vector, name in [(0, "other")] + [(1 + q, f"tx{q}") for q in sorted(rings)]:
                await self.send(RegItem("msix", "msix", name, vector))
        else:
            w += [("EITR0", regs.eitr(cfg.eitr_us)), ("IMS", regs.ICR_TXDW | regs.ICR_DOUTSYNC)]
        for name, value in w:
            await self.send(RegItem("setup", "wr", name, value))
        for name, _ in w:
            if regs.reg(name).access != "WO":
                await self.send(RegItem("readback", "rd", name))

    def _ring(self, regs, q: int, ring: int, hwb: int) -> list:
        cfg = self.cfg
        w = [(f"TXDCTL{q}", 0), (f"TDLEN{q}", 16 * cfg.ring_size), (f"TDBAL{q}", ring & 0xFFFF_FFFF),
             (f"TDBAH{q}", ring >> 32), (f"TDH{q}", 0), (f"TDT{q}", 0)]
        if cfg.head_wb:
            w += [(f"TDWBAL{q}", regs.tdwbal(hwb, enable=True)), (f"TDWBAH{q}", hwb >> 32)]
        return w + [(f"TXDCTL{q}", regs.txdctl(cfg.pthresh, cfg.hthresh, cfg.wthresh, enable=True))]

    @staticmethod
    def _ivar(regs, q: int, so_far: list) -> tuple[str, int]:
        """IVAR entry of queue q -> vector 1+q, merged with what earlier queues put in the same register."""
        reg, shift = regs.ivar_tx(q, 1 + q)
        value = next((v for n, v in reversed(so_far) if n == reg), 0)
        return reg, (value & ~(0xFF << shift)) | ((1 + q) | 0x80) << shift


class RandomTxSeq(_SeededSeq):
    """``cfg.n_items`` random packets in doorbell batches on queue ``self.queue`` (configuration a)."""

    queue = 0   # set by the test before it starts the sequence on that queue's sequencer

    def error_for(self, k: int) -> str | None:
        return None

    async def pre_body(self):
        await super().pre_body()
        self.rng = random.Random(f"{type(self).__name__}-{self.cfg.corner}-{self.cfg.seed}-{self.cfg.profile}"
                                 f"-q{self.queue}")

    async def body(self):
        await self.pre_body()
        rng, n = self.rng, self.cfg.n_items
        k = 0
        while k < n:
            alone = rng.random() < 0.08        # a latency probe: one packet, on an idle NIC
            batch = 1 if alone else min(n - k, rng.randint(*_bin(rng, [(35, (1, 1)), (35, (2, 4)), (24, (5, 16)),
                                                                        (6, (17, 24))])))
            for j in range(batch):
                pkt = random_packet(rng, k, error=self.error_for(k))
                pkt.queue = self.queue
                pkt.idle_before = alone
                pkt.doorbell = j == batch - 1
                await self.send(TxPacketItem("pkt", pkt))
                k += 1


class ErrorTxSeq(RandomTxSeq):
    """RandomTxSeq with every error kind mixed in: each at least once, then about one packet in eight."""

    KINDS = ("overlong", "zero_len_mid", "bad_paylen", "tso_mss0", "no_ifcs", "dma_fault")

    def error_for(self, k: int) -> str | None:
        if k < len(self.KINDS) * 3 and k % 3 == 1:
            return self.KINDS[k // 3]
        if self.rng.random() < 0.12:
            return self.rng.choice(self.KINDS[:-1])
        return None


class RandomSkbSeq(_SeededSeq):
    """``cfg.n_items`` random skbs in xmit_more bursts (configuration b)."""

    async def body(self):
        await self.pre_body()
        rng, n = self.rng, self.cfg.n_items
        k = 0
        while k < n:
            burst = min(n - k, rng.randint(*_bin(rng, [(40, (1, 1)), (40, (2, 4)), (20, (5, 8))])))
            for j in range(burst):
                spec = random_skb(rng, k)
                spec.xmit_more = j < burst - 1
                await self.send(SkbItem("skb", spec))
                k += 1
