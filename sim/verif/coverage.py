"""Functional coverage of the igb TX verification environment (cocotb-coverage), with save/merge/report.

Covergroups (all under ``igb.``; :data:`GROUPS` in report order):

==========================  =============================================================
``igb.desc.type_cmd``       (format, command bit) pairs a packet used: legacy EOP/RS/IFCS/
                            VLE/IC, adv EOP/RS/IFCS/VLE/TSE/TXSM/IXSM, context present.
                            One sample hits *every* bin whose bit the packet uses (a
                            CoverPoint with ``inj=False`` and a membership relation).
``igb.desc.buffers``        data descriptors per packet: 1, 2, 3, 4+
``igb.len``                 frame bytes without FCS (TSO: the super-packet): 17-59, 60,
                            61-1514, 1515-9728 jumbo, 9729-65535 TSO (only TSO packets:
                            a longer non-TSO packet is the ``overlong`` error, not a length)
``igb.l3_l4_vlan_tso``      cross l3 {ipv4, ipv6} x l4 {tcp, udp} x vlan {0, 1} x tso {0, 1}
``igb.l3``                  ipv4, ipv6, raw (anything else, or too short to tell)
``igb.ring.wrap``           inside-packet, at-packet-boundary
``igb.tail.batch``          packets per doorbell: 1, 2-4, 5-16, 17+
``igb.thresh.pthresh``      0, 1-8, 9-31
``igb.thresh.hthresh``      0, 1, 2-31
``igb.thresh.wthresh``      0, 1, 2-31
``igb.wb.mode``             descriptor, head
``igb.irq.mode_eitr``       cross irq {msix, intx} x eitr {off, on}
``igb.error``               every non-None kind of :data:`sim.verif.items.ERROR_KINDS`
``igb.skb.frags``           0, 1, 2-5, 6+
``igb.skb.xmit_more``       skbs in the xmit_more burst an skb belongs to: 1, 2-4, 5+
==========================  =============================================================

The crosses' other axes are CoverPoints under ``igb_axes.`` (not reported;
the cross's l3 axis is ``igb.l3`` itself, its ``raw`` row removed with
``ign_bins``). Every bin exists in ``coverage_db`` from import on, so
:func:`declared` lists bins nobody sampled.

Bin names (labels): a scalar bin is ``str(bin)`` ("4+", "60", "dma_fault"); a
tuple bin of ``type_cmd`` is ``"legacy:EOP"``; a cross bin names its axes,
``"l3=ipv4,l4=tcp,vlan=0,tso=1"``, ``"irq=msix,eitr=off"``.

Sampling API (plain functions, cheap — the bucket arithmetic is done once per
call, then cocotb-coverage matches a handful of bins): :func:`sample_packet`,
:func:`sample_skb`, :func:`sample_doorbell`, :func:`sample_wrap`,
:func:`sample_config`; :func:`wrap_kind` and :func:`classify_frame` help callers.
cocotb-coverage's constraint solver is not used (facts: verification_ecosystem §7).

Persistence. :func:`save` writes this process's hits as JSON::

    {"format": "igbsim-coverage/1",
     "groups": {"igb.desc.buffers": {"1": 5, "2": 0, "3": 1, "4+": 0}, ...}}

every declared group with every declared bin (0 when unhit), in declaration
order. :func:`merge` sums the hits of several such files bin by bin, starting
from the declared bins with 0 (so a bin no file hit is still there); it returns
the same format, so a merged file can be merged again; bins a file has that
this module no longer declares are kept and reported as undeclared.
:func:`report` renders a table. CLI::

    python -m sim.verif.coverage report FILE... [--out merged.json]

prints the table of the merged files and exits 1 if any declared bin is unhit, 0 otherwise
(2 if a file cannot be read or is not a coverage file).
"""
from __future__ import annotations

import argparse
import json
import struct
import sys

from cocotb_coverage.coverage import CoverCross, CoverItem, CoverPoint, coverage_db, coverage_section

from sim.verif.items import ERROR_KINDS, SkbSpec, TxPacket

__all__ = [
    "GROUPS", "FORMAT", "sample_packet", "sample_skb", "sample_doorbell", "sample_wrap", "sample_config",
    "classify_frame", "wrap_kind", "declared", "hits", "reset", "save", "load", "merge", "unhit",
    "report", "main",
]

FORMAT = "igbsim-coverage/1"
_AXES = "igb_axes"

TYPE_CMD_BINS = [("legacy", b) for b in ("EOP", "RS", "IFCS", "VLE", "IC")] + \
                [("adv", b) for b in ("EOP", "RS", "IFCS", "VLE", "TSE", "TXSM", "IXSM")] + \
                [("context", "present")]
ERROR_BINS = [k for k in ERROR_KINDS if k is not None]
WRAP_KINDS = ("inside-packet", "at-packet-boundary")
IRQ_MODES = ("msix", "intx")

GROUPS = (
    "igb.desc.type_cmd", "igb.desc.buffers", "igb.len", "igb.l3_l4_vlan_tso", "igb.l3",
    "igb.ring.wrap", "igb.tail.batch", "igb.thresh.pthresh", "igb.thresh.hthresh",
    "igb.thresh.wthresh", "igb.wb.mode", "igb.irq.mode_eitr", "igb.error", "igb.skb.frags",
    "igb.skb.xmit_more",
)


def _has(used: frozenset, b) -> bool:
    return b in used


# --- buckets ------------------------------------------------------------------------------
def _buffers_bucket(n: int):
    return n if 1 <= n <= 3 else ("4+" if n >= 4 else None)


def _len_bucket(n: int, tso: bool):
    if n < 17:
        return None
    if n <= 59:
        return "17-59"
    if n == 60:
        return "60"
    if n <= 1514:
        return "61-1514"
    if n <= 9728:
        return "1515-9728 jumbo"
    return "9729-65535 TSO" if tso and n <= 65535 else None


def _batch_bucket(n: int):
    if n < 1:
        return None
    return 1 if n == 1 else "2-4" if n <= 4 else "5-16" if n <= 16 else "17+"


def _pthresh_bucket(v: int):
    return 0 if v == 0 else "1-8" if 1 <= v <= 8 else "9-31" if 9 <= v <= 31 else None


def _hw_thresh_bucket(v: int):
    return v if v in (0, 1) else "2-31" if 2 <= v <= 31 else None


def _frags_bucket(n: int):
    return n if n in (0, 1) else "2-5" if 2 <= n <= 5 else "6+" if n >= 6 else None


def _burst_bucket(n: int):
    return 1 if n == 1 else "2-4" if 2 <= n <= 4 else "5+" if n >= 5 else None


# --- frame parsing --------------------------------------------------------------------------
_VLAN_TPIDS = (0x8100, 0x88A8)
_IPV6_EXT = {0: "hbh", 43: "routing", 60: "dstopts"}   # length in 8-byte units after the first 8
_L4 = {6: "tcp", 17: "udp", 132: "sctp"}


def classify_frame(frame: bytes) -> tuple[str, str | None, bool]:
    """(l3, l4, tagged) of an Ethernet frame without FCS.

    l3 is "ipv4", "ipv6" or "raw"; l4 is "tcp", "udp", "sctp", "other" or None
    (raw); tagged is True when the frame carries an 802.1Q/802.1ad tag. IPv6
    hop-by-hop, routing, destination-options and fragment headers are skipped.
    """
    n = len(frame)
    if n < 14:
        return "raw", None, False
    (etype,) = struct.unpack_from("!H", frame, 12)
    off, tagged = 14, False
    while etype in _VLAN_TPIDS and n >= off + 4:
        tagged = True
        (etype,) = struct.unpack_from("!H", frame, off + 2)
        off += 4
    if etype == 0x0800 and n >= off + 20 and frame[off] >> 4 == 4:
        return "ipv4", _L4.get(frame[off + 9], "other"), tagged
    if etype == 0x86DD and n >= off + 40 and frame[off] >> 4 == 6:
        nh, p = frame[off + 6], off + 40
        while n >= p + 8:
            if nh in _IPV6_EXT:
                nh, p = frame[p], p + 8 * (frame[p + 1] + 1)
            elif nh == 44:   # fragment header: 8 bytes
                nh, p = frame[p], p + 8
            else:
                break
        return "ipv6", _L4.get(nh, "other"), tagged
    return "raw", None, tagged


def _type_cmd_bits(pkt: TxPacket) -> frozenset:
    fmt = pkt.fmt
    if fmt not in ("adv", "legacy"):
        raise ValueError(f"TxPacket.fmt must be 'adv' or 'legacy', not {fmt!r}")
    used = [(fmt, "EOP")]
    if pkt.rs:
        used.append((fmt, "RS"))
    if pkt.ifcs:
        used.append((fmt, "IFCS"))
    if pkt.vlan is not None:
        used.append((fmt, "VLE"))
    if fmt == "legacy":
        if pkt.ic:
            used.append(("legacy", "IC"))
    else:
        if pkt.tse:
            used.append(("adv", "TSE"))
        if pkt.txsm:
            used.append(("adv", "TXSM"))
        if pkt.ixsm:
            used.append(("adv", "IXSM"))
        if pkt.context:
            used.append(("context", "present"))
    return frozenset(used)


# --- cover definitions (registered in coverage_db at import) ---------------------------------
@coverage_section(
    CoverPoint("igb.desc.type_cmd", vname="bits", bins=TYPE_CMD_BINS, rel=_has, inj=False),
    CoverPoint("igb.desc.buffers", vname="nbuf", bins=[1, 2, 3, "4+"]),
    CoverPoint("igb.len", vname="length",
               bins=["17-59", "60", "61-1514", "1515-9728 jumbo", "9729-65535 TSO"]),
    CoverPoint("igb.l3", vname="l3", bins=["ipv4", "ipv6", "raw"]),
    CoverPoint(f"{_AXES}.l4", vname="l4", bins=["tcp", "udp"]),
    CoverPoint(f"{_AXES}.vlan", vname="vlan", bins=[0, 1]),
    CoverPoint(f"{_AXES}.tso", vname="tso", bins=[0, 1]),
    CoverCross("igb.l3_l4_vlan_tso", items=["igb.l3", f"{_AXES}.l4", f"{_AXES}.vlan", f"{_AXES}.tso"],
               ign_bins=[("raw", None, None, None)]),
)
def _sample_pkt(bits, nbuf, length, l3, l4, vlan, tso):
    """The packet covergroups' sampling point (arguments already bucketed)."""


@CoverPoint("igb.error", vname="error", bins=ERROR_BINS)
def _sample_error(error):
    """The error covergroup's sampling point (called only for a packet with an error)."""


@coverage_section(
    CoverPoint("igb.skb.frags", vname="frags", bins=[0, 1, "2-5", "6+"]),
    CoverPoint("igb.skb.xmit_more", vname="burst", bins=[1, "2-4", "5+"]),
)
def _sample_skb(frags, burst):
    """The skb covergroups' sampling point."""


@CoverPoint("igb.tail.batch", vname="batch", bins=[1, "2-4", "5-16", "17+"])
def _sample_doorbell(batch):
    """The doorbell covergroup's sampling point."""


@CoverPoint("igb.ring.wrap", vname="kind", bins=list(WRAP_KINDS))
def _sample_wrap(kind):
    """The ring-wrap covergroup's sampling point."""


@coverage_section(
    CoverPoint("igb.thresh.pthresh", vname="pthresh", bins=[0, "1-8", "9-31"]),
    CoverPoint("igb.thresh.hthresh", vname="hthresh", bins=[0, 1, "2-31"]),
    CoverPoint("igb.thresh.wthresh", vname="wthresh", bins=[0, 1, "2-31"]),
    CoverPoint("igb.wb.mode", vname="wb", bins=["descriptor", "head"]),
    CoverPoint(f"{_AXES}.irq", vname="irq", bins=list(IRQ_MODES)),
    CoverPoint(f"{_AXES}.eitr", vname="eitr", bins=["off", "on"]),
    CoverCross("igb.irq.mode_eitr", items=[f"{_AXES}.irq", f"{_AXES}.eitr"]),
)
def _sample_config(pthresh, hthresh, wthresh, wb, irq, eitr):
    """The configuration covergroups' sampling point (arguments already bucketed)."""


# --- sampling API ------------------------------------------------------------------------------
def sample_packet(pkt: TxPacket) -> None:
    """Sample one configuration-(a) packet.

    A well-formed packet covers type_cmd, buffers, len, l3 and the
    l3/l4/vlan/tso cross (vlan: hardware insertion asked for, or a tag already
    in the frame). A packet with an error covers only its error bin: the NIC
    drops it, so it exercised none of the features it asked for.
    """
    if pkt.error is not None:
        _sample_error(pkt.error)
        return
    l3, l4, tagged = classify_frame(pkt.frame)
    _sample_pkt(_type_cmd_bits(pkt), _buffers_bucket(len(pkt.buffers)),
                _len_bucket(len(pkt.frame), pkt.tse), l3, l4,
                1 if pkt.vlan is not None or tagged else 0, 1 if pkt.tse else 0)


def sample_skb(skb: SkbSpec, burst: int) -> None:
    """Sample one configuration-(b) skb: frags, xmit_more burst, buffers, length and the l3/l4/vlan/tso cross.

    Descriptor types and command bits are igb's choice, not the skb's: they
    are left to configuration (a), where the testbench sets them.
    """
    _sample_skb(_frags_bucket(skb.nr_frags), _burst_bucket(burst))
    l3, l4, tagged = classify_frame(skb.frame)
    _sample_pkt(frozenset(), _buffers_bucket(1 + skb.nr_frags), _len_bucket(len(skb.frame), skb.gso_size > 0),
                l3, l4, 1 if skb.vlan is not None or tagged else 0, 1 if skb.gso_size else 0)


def sample_doorbell(batch: int) -> None:
    """Sample one TDT write that handed ``batch`` new packets to the NIC."""
    _sample_doorbell(_batch_bucket(batch))


def sample_wrap(kind: str) -> None:
    """Sample a ring wrap: ``"inside-packet"`` or ``"at-packet-boundary"`` (see :func:`wrap_kind`)."""
    if kind not in WRAP_KINDS:
        raise ValueError(f"wrap kind must be one of {WRAP_KINDS}, not {kind!r}")
    _sample_wrap(kind)


def sample_config(pthresh: int, hthresh: int, wthresh: int, head_wb: bool, irq_mode: str,
                  eitr_us: int) -> None:
    """Sample one queue/interrupt configuration: TXDCTL thresholds, write-back mode, irq mode × EITR.

    ``irq_mode`` is "msix" or "intx"; ``eitr_us`` the EITR interval (0 = off).
    """
    if irq_mode not in IRQ_MODES:
        raise ValueError(f"irq_mode must be one of {IRQ_MODES}, not {irq_mode!r}")
    _sample_config(_pthresh_bucket(pthresh), _hw_thresh_bucket(hthresh), _hw_thresh_bucket(wthresh),
                   "head" if head_wb else "descriptor", irq_mode, "on" if eitr_us > 0 else "off")


def wrap_kind(first: int, n_descriptors: int, ring_size: int, after_wrap: bool) -> str | None:
    """The wrap kind of a packet whose descriptors start at index ``first``, or None.

    "inside-packet" when its descriptors straddle the ring end; "at-packet-boundary"
    when it starts exactly at index 0 and the ring has wrapped before (``after_wrap``).
    """
    if first + n_descriptors > ring_size:
        return "inside-packet"
    if first == 0 and after_wrap:
        return "at-packet-boundary"
    return None


# --- the database ------------------------------------------------------------------------------
def _label(b) -> str:
    return ":".join(map(str, b)) if isinstance(b, tuple) else str(b)


def _group_bins(name: str) -> dict[str, int]:
    item = coverage_db[name]
    if isinstance(item, CoverCross):
        axes = [i.rpartition(".")[2] for i in item._items]
        return {",".join(f"{a}={v}" for a, v in zip(axes, b)): n for b, n in item.detailed_coverage.items()}
    return {_label(b): n for b, n in item.detailed_coverage.items()}


def declared() -> dict[str, list[str]]:
    """Every declared group and its bin labels, in declaration order (no sample needed)."""
    return {g: list(_group_bins(g)) for g in GROUPS}


def hits() -> dict[str, dict[str, int]]:
    """This process's hits: group -> {bin label: hits}, every declared bin included."""
    return {g: _group_bins(g) for g in GROUPS}


def reset() -> None:
    """Zero every hit of this module's cover items (for several runs in one process).

    Reaches into cocotb-coverage 2.0's item state (``_hits``, ``_coverage``):
    zeroes the bins, then recomputes the group totals bottom-up.
    """
    mine = [n for n in coverage_db if n.split(".")[0] in ("igb", _AXES)]
    for n in mine:
        item = coverage_db[n]
        if hasattr(item, "_hits"):
            for b in item._hits:
                item._hits[b] = 0
            item._new_hits = []
    for n in sorted(mine, key=lambda n: -n.count(".")):
        item = coverage_db[n]
        if type(item) is CoverItem:
            item._coverage = sum(c.coverage for c in item._children)


def _dump(data: dict, path) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(data, f, indent=1)
        f.write("\n")


def save(path) -> None:
    """Write this process's hits to ``path`` as JSON (format in the module docstring)."""
    _dump({"format": FORMAT, "groups": hits()}, path)


def load(path) -> dict:
    """Read one coverage file; ValueError if it is not this module's format."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("groups"), dict):
        raise ValueError(f"{path}: not an {FORMAT} coverage file")
    return data


def merge(paths) -> dict:
    """Sum the hits of the coverage files ``paths`` over the declared bins; same format as :func:`save`."""
    groups = {g: dict.fromkeys(bins, 0) for g, bins in declared().items()}
    for path in paths:
        for g, bins in load(path)["groups"].items():
            acc = groups.setdefault(g, {})
            for b, n in bins.items():
                acc[b] = acc.get(b, 0) + int(n)
    return {"format": FORMAT, "groups": groups}


def unhit(merged: dict) -> dict[str, list[str]]:
    """Declared groups -> their declared bins with 0 hits in ``merged`` (groups with none omitted)."""
    out = {}
    for g, bins in declared().items():
        have = merged["groups"].get(g, {})
        missing = [b for b in bins if not have.get(b)]
        if missing:
            out[g] = missing
    return out


def report(merged: dict) -> str:
    """A table: covergroup, bins hit / declared, %, and the names of the unhit bins."""
    decl, missing = declared(), unhit(merged)
    width = max(map(len, GROUPS))
    lines = [f"{'covergroup':<{width}}  {'hit/bins':>9}  {'%':>6}  unhit bins", "-" * (width + 40)]
    tot_hit = tot = 0
    for g, bins in decl.items():
        n_hit = len(bins) - len(missing.get(g, ()))
        tot_hit, tot = tot_hit + n_hit, tot + len(bins)
        lines.append(f"{g:<{width}}  {f'{n_hit}/{len(bins)}':>9}  {100 * n_hit / len(bins):6.1f}  "
                     + "; ".join(missing.get(g, ())))
    lines.append("-" * (width + 40))
    lines.append(f"{'total':<{width}}  {f'{tot_hit}/{tot}':>9}  {100 * tot_hit / tot:6.1f}")
    extra = {g: sorted(set(bins) - set(decl.get(g, ()))) for g, bins in merged["groups"].items()}
    for g, bins in extra.items():
        if bins:
            lines.append(f"note: {g} has undeclared bins (ignored): {'; '.join(bins)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``report FILE... [--out merged.json]``: print the merged table; 1 if a declared bin is unhit."""
    parser = argparse.ArgumentParser(prog="python -m sim.verif.coverage",
                                     description="Merge and report igbsim functional coverage files.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    rep = sub.add_parser("report", help="merge coverage files and print the table")
    rep.add_argument("files", nargs="+", help="coverage JSON files written by save()")
    rep.add_argument("--out", help="also write the merged coverage to this file")
    args = parser.parse_args(argv)
    try:
        merged = merge(args.files)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.out:
        _dump(merged, args.out)
    print(report(merged))
    return 1 if unhit(merged) else 0


if __name__ == "__main__":
    sys.exit(main())
