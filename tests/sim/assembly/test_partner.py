"""sim.assembly.partner: the link partner driven with frames built by scapy, its frames checked with scapy.

Expected values come from the rules (ARP, RFC 793/7323, Linux's ACK policy
as described in research/stack_facts.md §11 and in sim/assembly/partner/), not
from the model's output.
"""
import zlib

import pytest
from scapy.all import ARP, Ether, ICMP, IP, TCP, UDP, fragment

from rtl_model.mac import MacPort
from sim.engine import Engine, SeededPolicy
from sim.assembly.partner import LinkPartner, RxLoss, checksum_ok, inet_checksum
from sim.assembly.wire import Wire

HOST, PEER = "02:00:00:00:00:01", "02:00:00:00:00:02"
HOST_IP, PEER_IP = "10.0.0.1", "10.0.0.2"
SPORT = 5001            # the server's port (the reference program listens, the partner connects)
SISN = 0x7000_0000      # the server's initial sequence number
MSS_TS = 1448           # full-sized segment payload: MSS 1460 minus 12 bytes of timestamp option
US, MS, S = 1_000_000, 1_000_000_000, 1_000_000_000_000


class Rig:
    """A partner whose frames are captured as (time, scapy Ether); frames sent to it at given times."""

    def __init__(self, learn_host=True, **kw):
        self.eng = Engine()
        self.out = []
        self.p = LinkPartner(self.eng, PEER, PEER_IP, transmit=lambda f: self.out.append((self.eng.now, Ether(f))),
                             **kw)
        if learn_host:
            self.p.add_neighbour(HOST_IP, HOST)
        self.ts = 1000   # the server's TSval

    def at(self, t_ps, pkt):
        self.eng.call_later(t_ps - self.eng.now, self.p.receive, bytes(pkt))

    def run(self, until=None):
        self.eng.run(until)

    def take(self):
        out, self.out = self.out, []
        return out

    # --- TCP from the server's side -----------------------------------------------------
    def tcp(self, flags="A", off=0, payload=b"", ts=None, seq=None, window=502, chksum=None):
        c = self.conn
        opts = [("NOP", None), ("NOP", None), ("Timestamp", (self.ts if ts is None else ts, c.partner.tsval()))]
        t = TCP(sport=SPORT, dport=c.lport, seq=(SISN + 1 + off) if seq is None else seq,
                ack=(c.iss + 1) & 0xFFFF_FFFF, flags=flags, window=window, options=opts)
        if chksum is not None:
            t.chksum = chksum
        return Ether(src=HOST, dst=PEER) / IP(src=HOST_IP, dst=PEER_IP, flags="DF") / t / payload

    def establish(self, server_opts=None):
        """connect() at t=0, answer the SYN with a SYN-ACK at 10 us; the handshake ACK is taken."""
        self.conn = c = self.p.connect(HOST_IP, SPORT, at_ps=0)
        self.run(1 * US)
        (t, syn), = self.take()
        opts = server_opts if server_opts is not None else \
            [("MSS", 1460), ("NOP", None), ("NOP", None), ("Timestamp", (self.ts, syn[TCP].options[3][1][0])),
             ("NOP", None), ("WScale", 7)]
        synack = Ether(src=HOST, dst=PEER) / IP(src=HOST_IP, dst=PEER_IP, flags="DF") / TCP(
            sport=SPORT, dport=c.lport, seq=SISN, ack=c.iss + 1, flags="SA", window=65160, options=opts)
        self.at(10 * US, synack)
        self.run(11 * US)
        (t, ack), = self.take()
        assert ack[TCP].flags == "A" and c.state == "ESTABLISHED"
        return syn, ack

    def data_at(self, t_ps, k, n=MSS_TS, **kw):
        """The k-th full-sized segment (0-based) at t_ps; returns its payload."""
        payload = bytes((k * 7 + i) & 0xFF for i in range(n))
        self.at(t_ps, self.tcp(off=k * MSS_TS, payload=payload, **kw))
        return payload


def _valid(pkt):
    """IP and TCP/UDP checksums of a captured frame are right: scapy recomputes them and agrees."""
    raw = bytes(pkt[IP])[:pkt[IP].len]   # without Ethernet padding
    again = IP(raw)
    del again.chksum
    del again.payload.chksum
    again = IP(bytes(again))
    assert (again.chksum, again.payload.chksum) == (pkt[IP].chksum, pkt[IP].payload.chksum)


# --- ARP -----------------------------------------------------------------------------------
def test_arp_reply_fields_and_learning():
    r = Rig(learn_host=False)
    req = Ether(src=HOST, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=HOST, psrc=HOST_IP, pdst=PEER_IP)
    other = Ether(src=HOST, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=HOST, psrc=HOST_IP, pdst="10.0.0.9")
    r.at(5 * US, req)
    r.at(6 * US, other)
    r.run()
    (t, rep), = r.take()   # nothing for 10.0.0.9
    assert t == 5 * US
    assert len(rep) == 60   # 42 bytes padded to the minimum frame
    assert (rep.dst, rep.src, rep.type) == (HOST, PEER, 0x0806)
    a = rep[ARP]
    assert (a.hwtype, a.ptype, a.hwlen, a.plen, a.op) == (1, 0x0800, 6, 4, 2)
    assert (a.hwsrc, a.psrc, a.hwdst, a.pdst) == (PEER, PEER_IP, HOST, HOST_IP)
    assert r.p.neighbours[bytes([10, 0, 0, 1])] == bytes.fromhex("020000000001")
    assert r.p.stats["arp_replies_tx"] == 1 and r.p.stats["arp_requests_rx"] == 2


def test_partner_arps_for_the_host_before_its_syn_and_gives_up_after_3_probes():
    r = Rig(learn_host=False)
    c = r.p.connect(HOST_IP, SPORT, at_ps=2 * US)
    r.run(3 * US)
    (t, req), = r.take()
    assert t == 2 * US and req.dst == "ff:ff:ff:ff:ff:ff"
    a = req[ARP]
    assert (a.op, a.hwsrc, a.psrc, a.hwdst, a.pdst) == (1, PEER, PEER_IP, "00:00:00:00:00:00", HOST_IP)
    assert c.state == "SYN_SENT"   # the SYN waits for the address
    r.at(100 * US, Ether(src=HOST, dst=PEER) / ARP(op=2, hwsrc=HOST, psrc=HOST_IP, hwdst=PEER, pdst=PEER_IP))
    r.run(200 * US)
    (t, syn), = r.take()
    assert t == 100 * US and syn.dst == HOST and syn[TCP].flags == "S"
    # an address nobody answers for: 3 broadcast requests 1 s apart, then the queued packet is dropped
    r.p.send_udp("10.0.0.7", 9, b"x")
    r.run(5 * S)
    reqs = [(t, f) for t, f in r.take() if ARP in f]
    assert [t for t, _ in reqs] == [200 * US, 200 * US + S, 200 * US + 2 * S]
    assert r.p.stats["arp_failed"] == 1 and r.p.stats["arp_queue_drops"] == 1


# --- TCP handshake --------------------------------------------------------------------------
def test_syn_options_and_handshake():
    r = Rig()
    syn, ack = r.establish()
    c = r.conn
    assert (syn.src, syn.dst) == (PEER, HOST)
    ip = syn[IP]
    assert (ip.src, ip.dst, ip.ttl, ip.flags, ip.proto) == (PEER_IP, HOST_IP, 64, "DF", 6)
    t = syn[TCP]
    assert t.flags == "S" and t.dport == SPORT and t.seq == c.iss and t.ack == 0
    assert t.window == 65535   # min(rcvbuf, 65535), never scaled in a SYN
    opts = dict(t.options[i] for i in range(len(t.options)) if t.options[i][0] != "NOP")
    assert opts["MSS"] == 1460 and opts["WScale"] == 7
    assert opts["Timestamp"][1] == 0 and "SAckOK" not in opts
    assert [o[0] for o in t.options] == ["MSS", "NOP", "NOP", "Timestamp", "NOP", "WScale"]
    assert t.dataofs == 10   # 20 + 20 bytes of options
    _valid(syn)
    a = ack[TCP]
    assert (a.seq, a.ack) == (c.iss + 1, SISN + 1)
    assert a.window == (6 << 20) >> 7 == 49152
    assert dict(a.options)["Timestamp"][1] == r.ts   # echoes the SYN-ACK's TSval
    assert ack[IP].id == syn[IP].id + 1
    _valid(ack)
    assert (c.peer_mss, c.snd_wscale, c.rcv_wscale, c.ts_ok) == (1460, 7, 7, True)


def test_without_window_scaling_from_the_server_the_window_is_unscaled():
    r = Rig(rcvbuf=1 << 20)
    _, ack = r.establish(server_opts=[("MSS", 1460)])
    assert ack[TCP].window == 65535   # no scaling: at most 65535
    assert "Timestamp" not in dict(ack[TCP].options) and r.conn.rcv_wscale == 0


def test_syn_retransmitted_after_1s_doubling():
    r = Rig(syn_retries=2)
    c = r.p.connect(HOST_IP, SPORT)
    r.run(10 * S)
    assert [t for t, f in r.take()] == [0, 1 * S, 3 * S]
    assert c.state == "CLOSED" and c.failed


# --- ACK policy --------------------------------------------------------------------------------
def test_ack_every_second_full_segment_with_full_window():
    r = Rig()
    r.establish()
    c = r.conn
    gap = 12_304_000   # back-to-back 1518-byte frames at 1 Gb/s
    t0 = 100 * US
    sent = b"".join(r.data_at(t0 + k * gap, k) for k in range(6))
    r.run(t0 + 6 * gap)
    acks = r.take()
    base = SISN + 1
    assert [(t, f[TCP].ack) for t, f in acks] == [(t0 + 1 * gap, base + 2 * MSS_TS),
                                                  (t0 + 3 * gap, base + 4 * MSS_TS),
                                                  (t0 + 5 * gap, base + 6 * MSS_TS)]
    for _, f in acks:
        assert f[TCP].flags == "A" and f[TCP].window == (6 << 20) >> 7 and f[TCP].seq == c.iss + 1
        _valid(f)
    assert bytes(c.data) == sent and r.p.received_bytes(c.lport) == 6 * MSS_TS
    assert c.stats["acks_sent"] == 4 and c.stats["dup_acks_sent"] == 0   # handshake ACK + 3
    r.run(t0 + 6 * gap + 200 * MS)
    assert r.take() == []   # nothing left unacknowledged: no delayed ACK


def test_delayed_ack_40ms_after_a_lone_segment():
    r = Rig()
    r.establish()
    t0 = 1 * MS
    r.data_at(t0, 0)
    r.run(t0 + 40 * MS)
    assert r.take() == []
    r.run(t0 + 41 * MS)
    (t, a), = r.take()
    assert t == t0 + 40 * MS and a[TCP].ack == SISN + 1 + MSS_TS
    assert r.conn.stats["delayed_acks"] == 1
    # a short segment then a full one: 1448 + 100 > rcv_mss (1448) -> ACK at once on the second
    t1 = 100 * MS
    r.at(t1, r.tcp(off=MSS_TS, payload=b"y" * 100))
    r.data_at(t1 + 10 * US, 0, seq=SISN + 1 + MSS_TS + 100)
    r.run(t1 + 1 * MS)
    (t, a), = r.take()
    assert t == t1 + 10 * US and a[TCP].ack == SISN + 1 + 2 * MSS_TS + 100


def test_quickack_mode_acks_the_first_segments_at_once():
    r = Rig(quickacks=2)
    r.establish()
    for k in range(4):
        r.data_at(100 * US + k * 20 * US, k)
    r.run(1 * MS)
    assert [(t, f[TCP].ack - SISN - 1) for t, f in r.take()] == \
        [(100 * US, MSS_TS), (120 * US, 2 * MSS_TS), (160 * US, 4 * MSS_TS)]


def test_dup_ack_on_a_gap_and_cumulative_ack_when_filled():
    r = Rig()
    r.establish()
    c = r.conn
    t0 = 100 * US
    gap = 12_304_000
    payloads = {}
    for k in (0, 1, 3, 4):   # segment 2 is missing
        payloads[k] = r.data_at(t0 + k * gap, k)
    r.run(t0 + 5 * gap)
    acks = r.take()
    base = SISN + 1
    assert [(t, f[TCP].ack) for t, f in acks] == [(t0 + 1 * gap, base + 2 * MSS_TS),
                                                  (t0 + 3 * gap, base + 2 * MSS_TS),
                                                  (t0 + 4 * gap, base + 2 * MSS_TS)]
    assert len({(f[TCP].ack, f[TCP].window, f[TCP].seq) for _, f in acks}) == 1   # true duplicates
    assert c.stats["ooo_segments"] == 2 and c.stats["dup_acks_sent"] == 2
    assert r.p.received_bytes(c.lport) == 2 * MSS_TS   # nothing beyond the gap delivered yet
    t1 = t0 + 10 * gap
    payloads[2] = r.data_at(t1, 2)   # the retransmission fills the gap
    r.run(t1 + 1 * US)
    (t, a), = r.take()
    assert t == t1 and a[TCP].ack == base + 5 * MSS_TS   # cumulative, at once
    assert bytes(c.data) == b"".join(payloads[k] for k in range(5))
    assert a[TCP].window == 49152


def test_timestamp_echo_follows_rfc7323():
    r = Rig()
    r.establish()
    t0 = 100 * US
    r.data_at(t0, 0, ts=5000)
    r.data_at(t0 + 13 * US, 1, ts=5001)   # ACKed at once: echoes the earliest unacknowledged TSval
    r.data_at(t0 + 30 * US, 3, ts=5003)   # beyond a gap: not taken, dup ACK echoes 5000
    r.run(t0 + 40 * US)
    echoes = [dict(f[TCP].options)["Timestamp"] for _, f in r.take()]
    assert [e[1] for e in echoes] == [5000, 5000]
    assert echoes[0][0] == r.p.tsval()   # our clock: 1 + ms of simulated time
    r.data_at(t0 + 50 * US, 2, ts=5004)   # fills the gap, starts at the last ACK: taken
    r.run(t0 + 60 * US)
    (_, a), = r.take()
    assert dict(a[TCP].options)["Timestamp"][1] == 5004


def test_old_segment_gets_an_immediate_ack_and_is_not_delivered_twice():
    r = Rig()
    r.establish()
    c = r.conn
    p0 = r.data_at(100 * US, 0)
    p1 = r.data_at(113 * US, 1)
    r.data_at(200 * US, 1)   # a spurious retransmission
    r.run(300 * US)
    acks = r.take()
    assert [(t, f[TCP].ack) for t, f in acks] == [(113 * US, SISN + 1 + 2 * MSS_TS), (200 * US, SISN + 1 + 2 * MSS_TS)]
    assert bytes(c.data) == p0 + p1 and c.stats["dup_segments"] == 1


# --- checksums ---------------------------------------------------------------------------------
def test_bad_checksums_are_counted_and_not_delivered():
    r = Rig()
    r.establish()
    c = r.conn
    good = r.tcp(off=0, payload=b"a" * 100)
    bad_tcp = r.tcp(off=0, payload=b"a" * 100, chksum=(Ether(bytes(good))[TCP].chksum ^ 0x0101))
    r.at(100 * US, bad_tcp)
    bad_ip = Ether(bytes(good))
    bad_ip[IP].chksum ^= 0xFFFF
    r.at(110 * US, bad_ip)
    udp = Ether(src=HOST, dst=PEER) / IP(src=HOST_IP, dst=PEER_IP) / UDP(sport=7, dport=9) / b"hello"
    bad_udp = Ether(bytes(udp))
    bad_udp[UDP].chksum ^= 0x00FF
    r.at(120 * US, bad_udp)
    r.run(200 * MS)
    assert r.take() == [] and bytes(c.data) == b""
    st = r.p.stats
    assert (st["bad_tcp_csum"], st["bad_ip_csum"], st["bad_udp_csum"]) == (1, 1, 1)
    assert r.p.udp_datagrams(9) == [] and r.p.received_bytes(9) == 0
    r.at(300 * MS, udp)
    r.at(301 * MS, good)
    r.run(400 * MS)
    assert r.p.udp_datagrams(9)[0].payload == b"hello" and bytes(c.data) == b"a" * 100


def test_checksum_helpers_against_scapy():
    pkt = IP(bytes(IP(src=HOST_IP, dst=PEER_IP, id=1234) / ICMP()))
    hdr = bytes(pkt)[:20]
    assert checksum_ok(hdr)
    zeroed = hdr[:10] + b"\0\0" + hdr[12:]
    assert inet_checksum(zeroed) == pkt.chksum
    assert inet_checksum(b"\x00\x01\xf2") == 0x0DFE   # odd length: padded with a zero byte


# --- UDP and fragments ------------------------------------------------------------------------
def test_udp_datagram_reassembled_from_3_fragments_delivered_once():
    r = Rig()
    payload = bytes((i * 31) & 0xFF for i in range(2700))
    dgram = IP(src=HOST_IP, dst=PEER_IP, id=4242) / UDP(sport=1234, dport=9000) / payload
    frags = fragment(dgram, fragsize=1000)
    assert len(frags) == 3
    order = [frags[2], frags[0], frags[0], frags[1]]   # out of order, one duplicate
    for k, f in enumerate(order):
        r.at((k + 1) * US, Ether(src=HOST, dst=PEER) / f)
    r.run(1 * MS)
    (d,) = r.p.udp_datagrams(9000)
    assert d.payload == payload and (d.src_ip, d.src_port, d.time_ps) == (HOST_IP, 1234, 4 * US)
    st = r.p.stats
    assert (st["frags_rx"], st["frags_reassembled"], st["frag_dups"], st["udp_rx"]) == (4, 1, 1, 1)
    assert r.p.received_bytes(9000) == 2700


def test_incomplete_fragments_time_out_after_30s():
    r = Rig()
    frags = fragment(IP(src=HOST_IP, dst=PEER_IP, id=9) / UDP(sport=1, dport=9000) / bytes(2700), fragsize=1000)
    r.at(1 * US, Ether(src=HOST, dst=PEER) / frags[0])
    r.at(2 * US, Ether(src=HOST, dst=PEER) / frags[2])
    r.run(1 * US + 30 * S - 1)
    assert r.p.stats["frag_timeouts"] == 0
    r.run(1 * US + 30 * S + 1)
    assert r.p.stats["frag_timeouts"] == 1
    r.at(31 * S, Ether(src=HOST, dst=PEER) / frags[1])   # too late: starts a new queue, incomplete
    r.run(32 * S)
    assert r.p.udp_datagrams(9000) == []


def test_overlapping_fragments_drop_the_datagram():
    r = Rig()
    dgram = IP(src=HOST_IP, dst=PEER_IP, id=10) / UDP(sport=1, dport=9000) / bytes(2000)
    a = fragment(dgram, fragsize=1000)
    b = fragment(dgram, fragsize=504)   # offsets 0, 504, 1008, ...: partly overlap a's
    r.at(1 * US, Ether(src=HOST, dst=PEER) / a[0])
    r.at(2 * US, Ether(src=HOST, dst=PEER) / b[1])
    r.run(1 * MS)
    assert r.p.stats["frag_overlaps"] == 1 and r.p.udp_datagrams(9000) == []


# --- FIN, RST ------------------------------------------------------------------------------------
def test_fin_answered_with_fin_ack_then_closed():
    r = Rig()
    r.establish()
    c = r.conn
    p0 = r.data_at(100 * US, 0)
    r.at(113 * US, r.tcp(off=MSS_TS, flags="FA"))
    r.run(200 * US)
    (t, fa), = r.take()
    assert t == 113 * US and fa[TCP].flags == "FA"
    assert (fa[TCP].seq, fa[TCP].ack) == (c.iss + 1, SISN + 1 + MSS_TS + 1)
    assert c.state == "LAST_ACK" and bytes(c.data) == p0
    last = r.tcp(off=MSS_TS + 1)
    last[TCP].ack = c.iss + 2
    r.at(300 * US, last)
    r.run(5 * S)
    assert r.take() == [] and c.state == "CLOSED" and c.closed_ps == 300 * US


def test_fin_ack_retransmitted_when_not_acked():
    r = Rig()
    r.establish()
    r.at(100 * US, r.tcp(flags="FA"))
    r.run(100 * US + 3.5 * S)
    fins = r.take()
    assert [t for t, _ in fins] == [100 * US, 100 * US + S, 100 * US + 3 * S]
    assert len({f[TCP].seq for _, f in fins}) == 1


def test_reset_for_a_segment_of_no_connection():
    r = Rig()
    seg = Ether(src=HOST, dst=PEER) / IP(src=HOST_IP, dst=PEER_IP) / TCP(sport=80, dport=33333, seq=100,
                                                                         ack=555, flags="PA") / b"zz"
    r.at(1 * US, seg)
    r.run(1 * MS)
    (_, rst), = r.take()
    assert rst[TCP].flags == "R" and rst[TCP].seq == 555 and (rst[TCP].sport, rst[TCP].dport) == (33333, 80)
    _valid(rst)
    syn = Ether(src=HOST, dst=PEER) / IP(src=HOST_IP, dst=PEER_IP) / TCP(sport=80, dport=33334, seq=100, flags="S")
    r.at(2 * MS, syn)
    r.run(3 * MS)
    (_, rst), = r.take()
    assert rst[TCP].flags == "RA" and (rst[TCP].seq, rst[TCP].ack) == (0, 101)


def test_rst_from_the_server_closes():
    r = Rig()
    r.establish()
    r.at(100 * US, r.tcp(flags="R"))
    r.run(1 * MS)
    assert r.conn.state == "CLOSED" and r.conn.reset and r.take() == []


# --- receive buffer and application rate --------------------------------------------------------
def test_window_follows_a_slow_reader_and_reopens_with_a_window_update():
    # 16 KiB buffer, no scaling; the application reads 1 Mb/s in reads of up to 64 KiB
    r = Rig(rcvbuf=16384, wscale=0, app_rate_bps=1_000_000)
    _, ack = r.establish()
    assert ack[TCP].window == 16384
    c = r.conn
    t0 = 100 * US
    for k in range(8):
        r.data_at(t0 + k * 13 * US, k)
    r.run(t0 + 8 * 13 * US)
    acks = r.take()
    # unread data shrinks the free space: no ACK every 2nd segment (the window would shrink, Linux's
    # __tcp_ack_snd_check), only the delayed ACK; the first read (1448 bytes) ends 11.584 ms after
    # the first segment and reopens too little for a window update (6248 < 2 * 4800)
    assert acks == []
    r.run(t0 + 40 * MS + 1)
    (t, a), = r.take()
    read1 = 1448 * 8 * S // 1_000_000
    assert read1 == 11_584 * US
    assert t == t0 + 40 * MS and a[TCP].ack == SISN + 1 + 8 * MSS_TS
    # at 40 ms: 8 segments in, one read done: unread 7 * 1448; the old right edge is kept
    old_edge_window = 16384 - 8 * MSS_TS
    assert a[TCP].window == max(16384 - 7 * MSS_TS, old_edge_window) == 16384 - 7 * MSS_TS
    # the second read takes the other 7 segments at once: 10136 bytes, 81.088 ms after the first
    read2 = 7 * 1448 * 8 * S // 1_000_000
    r.run(t0 + read1 + read2 + 1)
    (t, u), = r.take()
    assert t == t0 + read1 + read2 and u[TCP].window == 16384 and u[TCP].ack == a[TCP].ack
    assert c.stats["window_updates"] == 1 and c.unread == 0


# --- loss -----------------------------------------------------------------------------------------
def test_loss_of_the_nth_data_segment_gives_dup_acks():
    r = Rig(loss=RxLoss(data_segments={3}))
    r.establish()
    for k in range(5):
        r.data_at(100 * US + k * 13 * US, k)
    r.run(1 * MS)
    acks = [f[TCP].ack - SISN - 1 for _, f in r.take()]
    assert acks == [2 * MSS_TS, 2 * MSS_TS, 2 * MSS_TS]
    assert r.conn.stats["data_lost"] == 1 and r.conn.stats["dup_acks_sent"] == 2


def _lossy_run(policy_seed, loss_seed=None):
    eng = Engine(SeededPolicy(policy_seed))
    got = []
    p = LinkPartner(eng, PEER, PEER_IP, transmit=got.append, loss=RxLoss(prob=0.3, seed=loss_seed))
    req = bytes(Ether(src=HOST, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=HOST, psrc=HOST_IP, pdst=PEER_IP))
    for k in range(200):
        eng.call_later(k * US, p.receive, req)
    eng.run()
    return p.stats["rx_lost"], eng.policy


def test_random_loss_is_reproducible_and_drawn_from_the_engine():
    lost_a, pol_a = _lossy_run(1)
    lost_b, pol_b = _lossy_run(1)
    assert lost_a == lost_b and 30 < lost_a < 90
    assert pol_a.picks == pol_b.picks and pol_a.whys[0] == "partner rx loss" and len(pol_a.picks) == 200
    assert _lossy_run(2)[0] != lost_a or _lossy_run(3)[0] != lost_a
    lost_s, pol_s = _lossy_run(1, loss_seed=7)
    assert pol_s.picks == [] and lost_s == _lossy_run(5, loss_seed=7)[0]


# --- through the wire, with our MAC on the other side ------------------------------------------
def test_arp_exchange_through_the_wire_with_mac_timing():
    eng = Engine()
    mac = MacPort(eng)
    got = []
    wire = Wire(eng, to_host=lambda f, t: got.append((t, Ether(f))))
    wire.attach_mac(mac)
    p = LinkPartner(eng, PEER, PEER_IP, wire=wire)
    req = bytes(Ether(src=HOST, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=HOST, psrc=HOST_IP, pdst=PEER_IP))
    req += bytes(60 - len(req))
    mac.send(req + (zlib.crc32(req) & 0xFFFF_FFFF).to_bytes(4, "little"))
    eng.run()
    slot, prop = 672_000, 10_000   # a minimum frame at 1 Gb/s; 2 m of cable
    (t, rep), = got
    assert t == slot + prop + slot + prop   # request slot, propagation, the reply's slot, propagation
    assert rep[ARP].op == 2 and rep[ARP].hwsrc == PEER and len(bytes(rep)) == 60
    assert p.stats["arp_replies_tx"] == 1


def test_processing_delay_delays_every_frame():
    r = Rig(proc_delay_ps=3 * US, learn_host=False)
    r.at(1 * US, Ether(src=HOST, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=HOST, psrc=HOST_IP, pdst=PEER_IP))
    r.run()
    assert [t for t, _ in r.take()] == [4 * US]


def test_bad_arguments():
    eng = Engine()
    with pytest.raises(ValueError):
        LinkPartner(eng, wscale=15)
    with pytest.raises(ValueError):
        LinkPartner(eng, mac="02:00:00")
    with pytest.raises(RuntimeError):
        LinkPartner(eng).send_udp("10.0.0.1", 9, b"x") or eng.run()


def test_in_order_deliveries_are_reported_at_their_exact_time_without_keeping_the_data():
    """keep_data=False: the bytes are counted and handed to on_deliver at the simulated time the segment
    is taken, nothing is kept. Segment 1 arrives before 0: it waits (no delivery), then 0 and 1 are
    delivered at 0's arrival, in stream order."""
    r = Rig(keep_data=False)
    r.establish()
    got = []
    r.conn.on_deliver = lambda data, t: got.append((t, data))
    t0 = 100 * US
    p1 = r.data_at(t0, 1)
    p0 = r.data_at(t0 + 7 * US, 0)
    p2 = r.data_at(t0 + 20 * US, 2)
    r.run(t0 + 30 * US)
    assert got == [(t0 + 7 * US, p0), (t0 + 7 * US, p1), (t0 + 20 * US, p2)]
    assert r.conn.bytes_received == 3 * MSS_TS and len(r.conn.data) == 0


def test_udp_without_keeping_datagrams_counts_them_and_hands_them_to_the_port_sink():
    r = Rig(keep_udp=False)
    seen = []
    r.p.udp_sinks[9000] = seen.append
    for k, n in enumerate((100, 250)):
        r.at((k + 1) * US, Ether(src=HOST, dst=PEER) / IP(src=HOST_IP, dst=PEER_IP) / UDP(sport=7, dport=9000)
             / (bytes([k]) * n))
    r.run(1 * MS)
    assert r.p.udp_datagrams(9000) == [] and r.p.received_bytes(9000) == 350
    assert [(d.time_ps, d.payload) for d in seen] == [(1 * US, bytes(100)), (2 * US, b"\x01" * 250)]
