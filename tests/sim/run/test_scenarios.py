"""The whole send path, measured: goodput, softirqs, CPU split, copies, ARP order, delivery, pcap, CLI.

Expected values come from first principles:

* goodput at 1 Gb/s, MTU 1500, timestamps on: each 1538-byte slot on the
  wire (preamble 8 + frame 1514 + FCS 4 + IPG 12) carries 1448 payload bytes
  (1500 − 20 IP − 20 TCP − 12 options), so 1448/1538 × 10⁹ = 941.48 Mb/s;
* a 4000-byte UDP datagram is 4008 bytes of IP payload; with MTU 1500 each
  fragment carries at most 1480 (a multiple of 8): 1480 + 1480 + 1048, at
  offsets 0, 185 and 370 (× 8 bytes), MF on the first two;
* one payload copy per TCP byte: ``copy_from_user`` only.
"""
from __future__ import annotations

import random
import struct
import subprocess
import sys

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.utils import rdpcap

from sim.run.cli import parse_args
from sim.engine import MS, S
from sim.assembly.system import HOST_IP, IgbSystem
from sim.run.report import tx_path_contexts
from sim.run.scenarios import Transfer, _udp_client, run_scenario
from stack import socket as sk
from stack.core.cputime import cpu_split
from stack.core.softirq import NET_RX_SOFTIRQ, NET_TX_SOFTIRQ

LINE_RATE_GOODPUT = 1448 / 1538 * 1e9


def run(*argv):
    return run_scenario(parse_args(["run", *argv]))


def test_bulk_tcp_goodput_is_within_1_percent_of_the_line_rate_share():
    result, text = run("bulk", "--bytes", "50M")
    assert "exactly the bytes sent" in text
    assert abs(result.goodput_bps - LINE_RATE_GOODPUT) / LINE_RATE_GOODPUT < 0.01, result.goodput_bps


def test_the_articles_answers_are_measured():
    result, _ = run("article")
    net, host = result.net, result.host
    rx, tx = net.softirq.count(NET_RX_SOFTIRQ), net.softirq.count(NET_TX_SOFTIRQ)
    assert rx > 5 * tx and tx > 0                        # NET_RX greatly outnumbers NET_TX
    assert net.copy_bytes == {"copy_from_user": result.app_bytes}   # exactly one copy per byte
    # softirq time appears only in the softirqs the quota, completions and ACKs raise
    allowed = ("softirq:NET_RX", "softirq:NET_TX", "softirq:TASKLET", "softirq:TIMER")
    for cpu in host.cpus:
        for context, ps in cpu.account.items():
            if context.startswith("softirq:") and ps:
                assert context in allowed
    # the send path (socket call to the driver's doorbell) runs mostly in the sender's process
    # context (sy); what runs in softirq was put there by completions (NET_RX, TASKLET) or the quota
    ctx = tx_path_contexts(net)
    total = sum(ctx.values())
    assert ctx["process"] > 0.5 * total
    assert set(ctx) - {"process"} <= set(allowed)
    # the send path itself runs in the sender's process context: with small writes it is most of the time
    small, _ = run("small-writes")
    split = cpu_split(small.host)[0]
    assert split["sy"] > 4 * split["si"]


def test_a_4000_byte_udp_datagram_leaves_as_three_fragments_with_the_extra_copy_counted(tmp_path):
    pcap = tmp_path / "udp.pcap"
    result, text = run("udp", "--bytes", "4000", "--pcap", str(pcap))
    assert "exactly the bytes sent" in text
    frags = [p for p in rdpcap(str(pcap)) if IP in p and p[IP].src == HOST_IP]
    assert [(p[IP].len - 20, p[IP].frag, bool(p[IP].flags.MF)) for p in frags] == \
        [(1480, 0, True), (1480, 185, True), (1048, 370, False)]
    assert len({p[IP].id for p in frags}) == 1
    assert result.net.copy_bytes == {"copy_from_user": 4000, "ip_fragment": 4008}


def test_the_first_packet_to_an_unresolved_neighbour_waits_for_arp_in_pcap_order(tmp_path):
    pcap = tmp_path / "arp.pcap"
    run("udp", "--bytes", "8000", "--pcap", str(pcap))
    pkts = list(rdpcap(str(pcap)))
    kinds = []
    for p in pkts:
        if ARP in p:
            kinds.append("who-has" if p[ARP].op == 1 else "is-at")
        elif IP in p:
            kinds.append("ip")
    assert kinds[:3] == ["who-has", "is-at", "ip"]
    request = pkts[0]
    assert request[Ether].dst == "ff:ff:ff:ff:ff:ff" and request[ARP].pdst == "10.0.0.2"
    assert request[ARP].psrc == HOST_IP
    assert float(pkts[1].time) > float(pkts[0].time) and float(pkts[2].time) > float(pkts[1].time)


def _random_transfer(net_system, seed: int):
    """A server sending a random number of bytes in random-sized writes; what the partner got."""
    rng = random.Random(seed)
    total = rng.randrange(1, 300_000)
    data = rng.randbytes(total)
    sizes = []
    left = total
    while left:
        n = min(left, rng.choice([1, 7, 100, 1448, 3000, 65536, rng.randrange(1, 20000)]))
        sizes.append(n)
        left -= n
    ns = net_system(seed=seed)
    net = ns.net
    nodelay = rng.random() < 0.5
    done = []

    def server():
        fd = yield from sk.socket(net, sk.AF_INET, sk.SOCK_STREAM)
        yield from sk.bind(net, fd, (HOST_IP, 5001))
        yield from sk.listen(net, fd, 4)
        cfd = yield from sk.accept(net, fd)
        if nodelay:
            yield from sk.setsockopt(net, cfd, sk.SOL_TCP, sk.TCP_NODELAY, 1)
        pos = 0
        for n in sizes:
            while n:
                k = yield from sk.send(net, cfd, data[pos:pos + n])
                assert k > 0
                pos += k
                n -= k
        yield from sk.close(net, cfd)
        yield from sk.close(net, fd)
        done.append(pos)

    ns.task(server(), comm="server")
    ns.partner.connect(HOST_IP, 5001, at_ps=ns.engine.now + 1 * MS)
    conn = lambda: ns.partner.connection(5001)  # noqa: E731
    ns.run_until(lambda: done and conn() is not None and conn().bytes_received >= total, ns.engine.now + 60 * S)
    return data, bytes(conn().data), ns


@pytest.mark.parametrize("seed", range(10))
def test_random_transfers_arrive_exactly_once_in_order(seed, net_system):
    sent, got, ns = _random_transfer(net_system, seed)
    assert got == sent
    assert ns.partner.stats["bad_tcp_csum"] == 0 and ns.partner.stats["bad_ip_csum"] == 0


def _checksums_ok(p) -> bool:
    """Recompute the IP and L4 checksums with scapy and compare (fragments: only the IP header)."""
    ip = p[IP]
    fresh = IP(bytes(ip))
    del fresh.chksum
    if IP(bytes(fresh)).chksum != ip.chksum:
        return False
    if ip.frag or ip.flags.MF:
        return True
    for layer in (TCP, UDP, ICMP):
        if layer in ip:
            again = IP(bytes(ip))
            del again[layer].chksum
            return IP(bytes(again))[layer].chksum == ip[layer].chksum
    return True


@pytest.mark.parametrize("scenario", ["article", "udp"])
def test_the_pcap_opens_with_no_malformed_frame_and_valid_checksums(tmp_path, scenario):
    pcap = tmp_path / "run.pcap"
    run(scenario, "--bytes", "200K", "--pcap", str(pcap))
    raw = pcap.read_bytes()
    assert struct.unpack("<I", raw[:4])[0] == 0xA1B23C4D        # nanosecond pcap
    pkts = rdpcap(str(pcap))
    assert len(pkts) > 100
    times = [p.time for p in pkts]
    assert times == sorted(times)
    for p in pkts:
        assert Ether in p and (IP in p or ARP in p), p.summary()
        if IP in p:
            assert _checksums_ok(p), p.summary()


def test_same_seed_same_pcap_and_report(tmp_path):
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    _, text_a = run("article", "--bytes", "300K", "--seed", "3", "--pcap", str(a))
    _, text_b = run("article", "--bytes", "300K", "--seed", "3", "--pcap", str(b))
    assert a.read_bytes() == b.read_bytes()
    strip = lambda t: t.split("\n", 1)[1]  # noqa: E731  (the first line has the wall time)
    assert strip(text_a) == strip(text_b)


@pytest.mark.parametrize("ordering", ["x86-tso", "arm64"])
def test_same_seed_same_bytes_and_another_seed_other_times(tmp_path, ordering):
    """A seed draws the timing (store drains, MSI delivery, NIC DMA reads: sim.host.timing) as well
    as the payload: rerunning a seed reproduces pcap and report byte for byte, another seed moves
    the frames in time."""
    pcaps = {name: tmp_path / f"{name}.pcap" for name in ("a", "b", "c")}
    texts = {}
    for name, seed in (("a", "5"), ("b", "5"), ("c", "6")):
        _, texts[name] = run("article", "--bytes", "100K", "--ordering", ordering, "--seed", seed,
                             "--pcap", str(pcaps[name]))
    assert pcaps["a"].read_bytes() == pcaps["b"].read_bytes()
    strip = lambda t: t.split("\n", 1)[1]  # noqa: E731  (the first line has the wall time)
    assert strip(texts["a"]) == strip(texts["b"])
    times = {name: [p.time for p in rdpcap(str(pcaps[name]))] for name in ("a", "c")}
    assert times["a"] != times["c"]


@pytest.mark.parametrize("argv, message", [
    (["run", "--mtu", "5"], "--mtu 5: must be 576..9000"),
    (["run", "--speed", "42"], "--speed 42"),
    (["run", "--ring-size", "10"], "--ring-size 10"),
    (["run", "--itr", "2"], "--itr 2"),
    (["run", "nosuch"], "invalid choice"),
    (["run", "--bytes", "1x"], "is not a size"),
    (["frobnicate"], "invalid choice"),
    (["run", "--pcap", "/no/such/dir/x.pcap"], "does not exist"),
    (["run", "udp", "--write-size", "70000"], "at most 65507"),
])
def test_bad_options_give_one_clear_line_and_exit_2(argv, message):
    p = subprocess.run([sys.executable, "-m", "sim.run.cli", *argv], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("igbsim: error:") and message in lines[0], p.stderr
    assert p.stdout == ""


def test_the_cli_runs_a_scenario_and_prints_the_report():
    p = subprocess.run([sys.executable, "-m", "sim.run.cli", "run", "article", "--bytes", "100K", "--quiet"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    for needle in ("layer", "softirqs", "CPU time", "payload copies: 1.000 per byte", "goodput",
                   "exactly the bytes sent", "interrupts"):
        assert needle in p.stdout


@pytest.mark.parametrize("nic,cpus", [("82576", 8), ("i210", 3)])
def test_an_itr_with_tx_and_rx_sharing_vectors_is_set_through_rx_usecs(nic, cpus):
    """82576 with 8 queues and I210 with 3 pair TX with RX on one vector (IGB_FLAG_QUEUE_PAIRS): igb then
    refuses tx-usecs and takes rx-usecs for both, so ``--itr 50`` is ``ethtool -C rx-usecs 50``: both
    settings 50 << 2 (igb keeps µs × 4), and the run completes."""
    p = subprocess.run([sys.executable, "-m", "sim.run.cli", "run", "udp", "--bytes", "10K", "--nic", nic,
                        "--cpus", str(cpus), "--itr", "50", "--quiet"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    s = IgbSystem(nic, ncpus=cpus, itr=50)
    assert s.adapter.rx_itr_setting == s.adapter.tx_itr_setting == 200


def test_udp_1M_delivers_every_datagram_with_no_arp_queue_drop(tmp_path):
    """250 sendto()s that take CPU time reach the neighbour layer one by one: ARP's queue never overflows."""
    pcap = tmp_path / "udp.pcap"
    result, text = run("udp", "--bytes", "1M", "--pcap", str(pcap))
    assert "250 of 250 delivered" in text and "ARP queue drops 0" in text
    assert "exactly the bytes sent" in text
    firsts = [float(p.time) for p in rdpcap(str(pcap)) if IP in p and p[IP].src == HOST_IP and p[IP].frag == 0]
    assert len(firsts) == 250
    # one after another: a datagram's three fragments take (1538 + 1538 + 1106) bytes x 8 ns on the wire
    assert min(b - a for a, b in zip(firsts, firsts[1:])) >= 4182 * 8e-9 - 1e-12


def test_datagrams_leave_spaced_by_the_senders_cpu_time_when_the_cpu_is_the_bottleneck(tmp_path):
    """With udp_sendmsg made to cost 50 µs (more than the 33.5 µs a 4000-byte datagram's three fragments
    take on the wire: (1538 + 1538 + 1106) × 8 ns), the datagrams leave one sendto() apart."""
    pcap = tmp_path / "slow.pcap"
    s = IgbSystem(stack=True, partner=True, pcap=str(pcap))
    s.bring_up()
    s.net.costs["udp_sendmsg"] = 50_000_000
    data = bytes(range(256)) * 125 * 5           # 40 datagrams of 4000 bytes
    xfer = Transfer(len(data))
    s.task(_udp_client(s.net, data, 4000, xfer), cpu=0, comm="udp-client")
    s.run_until(lambda: xfer.program_done, s.engine.now + 1 * S)
    s.run_for(1 * MS)
    s.close_capture()
    firsts = [float(p.time) for p in rdpcap(str(pcap)) if IP in p and p[IP].src == HOST_IP and p[IP].frag == 0]
    assert len(firsts) == 40
    # The datagrams written while ARP resolved leave back to back (wire-paced); the last 15, long after
    # that backlog has drained, leave one sendto() apart: 50 µs plus the rest of the call's few µs.
    gaps = [b - a for a, b in zip(firsts[-16:], firsts[-15:])]
    assert all(50e-6 <= g < 60e-6 for g in gaps), gaps


def test_64_byte_nodelay_writes_make_the_sending_cpu_the_bottleneck():
    result, text = run("small-writes", "--bytes", "256K")
    assert "exactly the bytes sent" in text
    busy = float(result.extra["CPU busy in the steady state"].split("cpu0 ")[1].split("%")[0])
    assert busy > 95.0                                       # the sending CPU never rests
    assert result.goodput_bps < 0.99 * LINE_RATE_GOODPUT     # and the wire waits for it
