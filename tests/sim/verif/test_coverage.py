"""Functional coverage: declared bins, what one sample hits, save/merge, the report CLI."""
import json
import pathlib
import struct
import subprocess
import sys

import pytest

from sim.verif import coverage as cov
from sim.verif.items import SkbSpec, TxPacket

ROOT = pathlib.Path(__file__).resolve().parents[3]

CROSS = [f"l3={l3},l4={l4},vlan={v},tso={t}"
         for l3 in ("ipv4", "ipv6") for l4 in ("tcp", "udp") for v in (0, 1) for t in (0, 1)]
EXPECTED = {
    "igb.desc.type_cmd": ["legacy:EOP", "legacy:RS", "legacy:IFCS", "legacy:VLE", "legacy:IC",
                          "adv:EOP", "adv:RS", "adv:IFCS", "adv:VLE", "adv:TSE", "adv:TXSM", "adv:IXSM",
                          "context:present"],
    "igb.desc.buffers": ["1", "2", "3", "4+"],
    "igb.len": ["17-59", "60", "61-1514", "1515-9728 jumbo", "9729-65535 TSO"],
    "igb.l3_l4_vlan_tso": CROSS,
    "igb.l3": ["ipv4", "ipv6", "raw"],
    "igb.ring.wrap": ["inside-packet", "at-packet-boundary"],
    "igb.tail.batch": ["1", "2-4", "5-16", "17+"],
    "igb.thresh.pthresh": ["0", "1-8", "9-31"],
    "igb.thresh.hthresh": ["0", "1", "2-31"],
    "igb.thresh.wthresh": ["0", "1", "2-31"],
    "igb.wb.mode": ["descriptor", "head"],
    "igb.irq.mode_eitr": ["irq=msix,eitr=off", "irq=msix,eitr=on", "irq=intx,eitr=off", "irq=intx,eitr=on"],
    "igb.error": ["overlong", "zero_len_mid", "bad_paylen", "tso_mss0", "no_ifcs", "dma_fault"],
    "igb.skb.frags": ["0", "1", "2-5", "6+"],
    "igb.skb.xmit_more": ["1", "2-4", "5+"],
}


@pytest.fixture(autouse=True)
def fresh():
    cov.reset()
    yield
    cov.reset()


def ipv4_tcp(payload: int, tag: bool = False) -> bytes:
    eth = b"\x02" * 12 + (struct.pack("!HH", 0x8100, 7) if tag else b"") + struct.pack("!H", 0x0800)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + payload, 0, 0, 64, 6, 0, b"\x0a" * 4, b"\x0b" * 4)
    return eth + ip + b"\x00" * (20 + payload)


def ipv6_udp_with_hbh(payload: int) -> bytes:
    eth = b"\x02" * 12 + struct.pack("!H", 0x86DD)
    ip6 = struct.pack("!IHBB16s16s", 6 << 28, 16 + payload, 0, 64, b"\x00" * 16, b"\x01" * 16)
    hbh = bytes([17, 0]) + b"\x00" * 6                 # hop-by-hop, next header UDP
    return eth + ip6 + hbh + b"\x00" * (8 + payload)


def nonzero(h):
    return {g: {b: n for b, n in bins.items() if n} for g, bins in h.items() if any(bins.values())}


def test_declared_bins_are_complete_without_samples():
    code = ("import json; from sim.verif import coverage as c; "
            "print(json.dumps([c.declared(), c.hits()]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    decl, hits = json.loads(out.stdout)
    assert decl == EXPECTED
    assert list(decl) == list(cov.GROUPS)
    assert all(n == 0 for bins in hits.values() for n in bins.values())
    assert {g: list(b) for g, b in hits.items()} == EXPECTED


def test_one_packet_hits_exactly_its_bins():
    pkt = TxPacket(frame=ipv4_tcp(26), buffers=[30, 50], context=True, txsm=True, vlan=5)   # 80 bytes
    cov.sample_packet(pkt)
    assert nonzero(cov.hits()) == {
        "igb.desc.type_cmd": {"adv:EOP": 1, "adv:RS": 1, "adv:IFCS": 1, "adv:VLE": 1, "adv:TXSM": 1,
                              "context:present": 1},
        "igb.desc.buffers": {"2": 1},
        "igb.len": {"61-1514": 1},
        "igb.l3_l4_vlan_tso": {"l3=ipv4,l4=tcp,vlan=1,tso=0": 1},
        "igb.l3": {"ipv4": 1},
    }


def test_legacy_ipv6_tso_error_and_raw_packets():
    cov.sample_packet(TxPacket(frame=ipv6_udp_with_hbh(4000), buffers=[1000] * 4 + [len(ipv6_udp_with_hbh(4000)) - 4000],
                               fmt="legacy", ic=True, rs=False, error="no_ifcs", ifcs=False))
    big = ipv4_tcp(20000, tag=True)
    cov.sample_packet(TxPacket(frame=big, buffers=[len(big)], context=True, tse=True, mss=1448,
                               txsm=True, ixsm=True))
    cov.sample_packet(TxPacket(frame=b"\x02" * 12 + b"\x08\x06" + b"\x00" * 46, buffers=[60]))  # ARP
    h = nonzero(cov.hits())
    # the packet with an error is dropped by the NIC: it counts for its error bin only
    assert h["igb.desc.type_cmd"] == {"adv:EOP": 2, "adv:RS": 2, "adv:IFCS": 2, "adv:TSE": 1, "adv:TXSM": 1,
                                      "adv:IXSM": 1, "context:present": 1}
    assert h["igb.desc.buffers"] == {"1": 2}
    assert h["igb.len"] == {"9729-65535 TSO": 1, "60": 1}
    assert h["igb.l3"] == {"ipv4": 1, "raw": 1}
    assert h["igb.l3_l4_vlan_tso"] == {"l3=ipv4,l4=tcp,vlan=1,tso=1": 1}
    assert h["igb.error"] == {"no_ifcs": 1}
    cov.sample_packet(TxPacket(frame=ipv6_udp_with_hbh(4000), buffers=[1000] * 4 + [len(ipv6_udp_with_hbh(4000)) - 4000],
                               fmt="legacy", ic=True, rs=False))
    h = nonzero(cov.hits())
    assert h["igb.desc.type_cmd"]["legacy:IC"] == 1 and h["igb.desc.buffers"]["4+"] == 1
    assert h["igb.l3_l4_vlan_tso"]["l3=ipv6,l4=udp,vlan=0,tso=0"] == 1


def test_overlong_non_tso_packet_has_no_length_bin():
    frame = ipv4_tcp(10000)
    cov.sample_packet(TxPacket(frame=frame, buffers=[len(frame)], error="overlong"))
    h = nonzero(cov.hits())
    assert "igb.len" not in h and h["igb.error"] == {"overlong": 1}


def test_config_skb_doorbell_wrap():
    cov.sample_config(8, 1, 16, False, "msix", 49)
    cov.sample_config(0, 0, 0, True, "intx", 0)
    cov.sample_skb(SkbSpec(frame=b"", nr_frags=3), 4)
    cov.sample_skb(SkbSpec(frame=b"", nr_frags=17), 1)
    for batch in (1, 2, 4, 5, 16, 17):
        cov.sample_doorbell(batch)
    cov.sample_wrap(cov.wrap_kind(254, 4, 256, after_wrap=False))
    cov.sample_wrap(cov.wrap_kind(0, 2, 256, after_wrap=True))
    assert cov.wrap_kind(0, 2, 256, after_wrap=False) is None
    with pytest.raises(ValueError):
        cov.sample_config(0, 0, 0, False, "msi", 0)
    assert nonzero(cov.hits()) == {
        "igb.ring.wrap": {"inside-packet": 1, "at-packet-boundary": 1},
        "igb.tail.batch": {"1": 1, "2-4": 2, "5-16": 2, "17+": 1},
        "igb.thresh.pthresh": {"0": 1, "1-8": 1},
        "igb.thresh.hthresh": {"0": 1, "1": 1},
        "igb.thresh.wthresh": {"0": 1, "2-31": 1},
        "igb.wb.mode": {"descriptor": 1, "head": 1},
        "igb.irq.mode_eitr": {"irq=msix,eitr=on": 1, "irq=intx,eitr=off": 1},
        "igb.skb.frags": {"2-5": 1, "6+": 1},
        "igb.skb.xmit_more": {"2-4": 1, "1": 1},
        # an skb also counts its buffers (linear part + frags) and, from its bytes, its L3 (empty: raw)
        "igb.desc.buffers": {"4+": 2},
        "igb.l3": {"raw": 2},
    }


def test_merge_adds_counts(tmp_path):
    cov.sample_doorbell(1)
    cov.sample_doorbell(1)
    cov.save(tmp_path / "a.json")
    cov.reset()
    cov.sample_doorbell(1)
    cov.sample_doorbell(3)
    cov.save(tmp_path / "b.json")
    merged = cov.merge([tmp_path / "a.json", tmp_path / "b.json"])
    assert merged["groups"]["igb.tail.batch"] == {"1": 3, "2-4": 1, "5-16": 0, "17+": 0}
    assert {g: list(b) for g, b in merged["groups"].items()} == EXPECTED
    assert "2-4" not in cov.unhit(merged).get("igb.tail.batch", [])


def _all_hit(path, except_bin=None):
    groups = {g: {b: 1 for b in bins} for g, bins in EXPECTED.items()}
    if except_bin:
        groups[except_bin[0]][except_bin[1]] = 0
    path.write_text(json.dumps({"format": cov.FORMAT, "groups": groups}))


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "sim.verif.coverage", "report", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True)


def test_cli_exit_status_and_unhit_names(tmp_path):
    _all_hit(tmp_path / "part.json", except_bin=("igb.len", "9729-65535 TSO"))
    _all_hit(tmp_path / "part2.json", except_bin=("igb.len", "9729-65535 TSO"))
    r = _cli(tmp_path / "part.json", tmp_path / "part2.json", "--out", tmp_path / "m.json")
    assert r.returncode == 1, r.stderr
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("igb.len "))
    assert "4/5" in line and "9729-65535 TSO" in line
    merged = json.loads((tmp_path / "m.json").read_text())
    assert merged["groups"]["igb.len"]["60"] == 2
    _all_hit(tmp_path / "full.json")
    r = _cli(tmp_path / "part.json", tmp_path / "full.json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "75/75" in r.stdout
