"""The NIC's BAR0 register file, as a declarative table plus a small MMIO decoder.

The table (:func:`build_table`) lists every modelled register of one device
profile as a :class:`RegDef` — datasheet name, offset, access type, reset
value, write mask, and the names of its read and write handlers — with
offsets exactly as in ``research/igb_facts.md`` §1.1 (global), §1.2 (per TX
queue), §1.6/§1.7 (EITR, IVAR) and §1.8 (statistics). :class:`RegisterFile`
holds the values and is the device's MMIO entry point.

Behaviour lives in the table, as in QEMU's ``igb_macreg_readops/writeops``:
a register without handler names is plain storage, handled by its access
type (below); a register with behaviour names its handler as
``"owner.method"`` — ``"txq3.on_tdt_write"`` is TX queue 3's doorbell,
``"irq.read_icr"`` the interrupt block's ICR read, ``"nic.on_ctrl_write"``
the device's CTRL.RST. The owners are the NIC's blocks: ``nic``, ``irq``,
``txq0``, ``txq1``, … and ``regs``, the register file itself (the 64-bit
counter pairs). A register of an array (EITR(n), IVAR0[i], counter pair i)
hands its ``index`` to the handler as the first argument. The NIC resolves
every name to a bound method once, when it is built
(:meth:`RegisterFile.bind`); a name that does not resolve is an error then.

Access semantics of the default (handler-less) path:

* only 4-byte, 4-byte-aligned accesses are decoded. Any other size or
  alignment is counted in ``bad_accesses``, logged and ignored; such a read
  returns 0. (The igb driver only uses 32-bit ``rd32``/``wr32``; what the
  silicon does with narrower accesses is UNCONFIRMED and not modelled.)
* an offset not in the table reads 0 and ignores writes, counted in
  ``unknown_accesses`` and logged (WARNING the first time per offset, DEBUG
  after that, so a driver polling an unmodelled register does not flood the log).
* RW: a write stores ``(old & ~write_mask) | (value & write_mask)``.
* RO: writes are ignored and logged. RO registers have write mask 0.
* WO: reads return 0; writes store like RW.
* RC (read-to-clear): a read returns the value and clears it; a write stores
  like RW through the write mask (0 for the statistics, so writes do nothing).
* W1C: a write clears the 1 bits written (through the write mask).

The register file's own handlers: the 64-bit octet counters GOTCL/GOTCH and
TOTL/TOTH — reading the low dword does not clear; reading the high dword
returns it and clears both halves. Source: Intel's shared-code comment in
every e1000/igb stats routine, "For the 64-bit byte counters the low dword
must be read first. Both registers clear on the read of the high dword" —
which is also why igb reads GOTCH "to clear GOTCL" (facts §1.8). Their
access type still says RC (§1.8).

Reset-value choices are documented on each register's ``doc``; the ones
marked UNCONFIRMED are configurable per profile through
:attr:`rtl_model.profiles.NicProfile.reset_overrides`.
"""
from __future__ import annotations

import enum
import functools
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

from rtl_model.profiles import NicProfile

__all__ = [
    "Access", "RegDef", "RegisterTable", "RegisterFile", "build_table",
    "txq_offset", "txq_canonical_offset", "txq_name", "TXQ_FIELDS", "COUNTER_PAIRS_64",
    "MASK32", "STATUS_FD", "STATUS_LU", "STATUS_SPEED_100", "STATUS_SPEED_1000",
    "TCTL_EN", "TCTL_PSP", "TCTL_CT_SHIFT", "TCTL_COLD_SHIFT", "TCTL_RTLC",
    "TXDCTL_ENABLE", "TXDCTL_SWFLSH", "TXDCTL_PRIORITY", "TXDCTL_WRITE_MASK",
    "EITR_CNT_IGNR", "IVAR_VALID",
]

MASK32 = 0xFFFFFFFF

# --- bit names used by the table (facts §1.3–§1.7, [K-def]) ---------------------------
STATUS_FD = 0x00000001
STATUS_LU = 0x00000002
STATUS_SPEED_100 = 0x00000040
STATUS_SPEED_1000 = 0x00000080
TCTL_EN = 0x00000002
TCTL_PSP = 0x00000008
TCTL_CT_SHIFT = 4
TCTL_COLD_SHIFT = 12
TCTL_RTLC = 0x01000000
TXDCTL_ENABLE = 0x02000000
TXDCTL_SWFLSH = 0x04000000
TXDCTL_PRIORITY = 0x08000000
#: PTHRESH 4:0, HTHRESH 12:8, WTHRESH 20:16, ENABLE 25, SWFLSH 26, PRIORITY 27
#: (I210 widths, facts §1.5; the 82576 widths and its bit 27 are UNCONFIRMED).
TXDCTL_WRITE_MASK = 0x1F | 0x1F << 8 | 0x1F << 16 | TXDCTL_ENABLE | TXDCTL_SWFLSH | TXDCTL_PRIORITY
EITR_CNT_IGNR = 0x80000000
IVAR_VALID = 0x80
DCA_TXCTRL_DESC_RRO_EN = 1 << 9
DCA_TXCTRL_TX_WB_RO_EN = 1 << 11
DCA_TXCTRL_DATA_RRO_EN = 1 << 13

#: The 64-bit statistics counters as (low dword, high dword) register names.
COUNTER_PAIRS_64 = (("GOTCL", "GOTCH"), ("TOTL", "TOTH"))


class Access(enum.Enum):
    """How a register reacts to MMIO reads and writes (see the module docstring)."""

    RW = "RW"
    RO = "RO"
    RC = "RC"    # read-to-clear ("R/clr" in e1000_regs.h)
    WO = "WO"
    W1C = "W1C"  # write 1 to clear


@dataclass(frozen=True, slots=True)
class RegDef:
    """One register: datasheet name, canonical BAR0 offset, access, reset value, writable bits,
    and its behaviour: the ``"owner.method"`` names of its read and write handlers (None: the
    access type's default), with ``index`` handed to both for an element of an array."""

    name: str
    offset: int
    access: Access
    reset: int = 0
    write_mask: int = MASK32
    doc: str = ""
    read: str | None = None
    write: str | None = None
    index: int | None = None


# --- per-queue TX registers (facts §1.2) -------------------------------------------------
#: field -> offset inside a queue's register block.
TXQ_FIELDS: Mapping[str, int] = MappingProxyType({
    "TDBAL": 0x00, "TDBAH": 0x04, "TDLEN": 0x08, "TDH": 0x10, "TXCTL": 0x14,
    "TDT": 0x18, "TXDCTL": 0x28, "TDWBAL": 0x38, "TDWBAH": 0x3C,
})
_TXQ_LEGACY_QUEUES = 4  # queues 0..3 have the 0x3800 + 0x100*n block

# field -> (access, reset, write mask, write handler of queue n's block "txq<n>", doc)
_TXQ_SPEC = {
    "TDBAL": (Access.RW, 0, 0xFFFFFFF0, None,
              "ring base address 31:0; HW ignores the low 4 bits (16-byte aligned) [I210 p296]"),
    "TDBAH": (Access.RW, 0, MASK32, None, "ring base address 63:32"),
    "TDLEN": (Access.RW, 0, 0x000FFF80, None,
              "ring length in bytes, LEN in bits 19:7, bits 6:0 read 0 [I210 p457]"),
    "TDH": (Access.RW, 0, 0xFFFF, "on_tdh_write",
            "head, HW owned, bits 15:0; software may set it only while the queue is disabled"),
    "TXCTL": (Access.RW, DCA_TXCTRL_DESC_RRO_EN | DCA_TXCTRL_TX_WB_RO_EN | DCA_TXCTRL_DATA_RRO_EN,
              MASK32, None, "DCA_TXCTRL; reset 0x2A00 (relaxed-ordering bits 9, 11, 13) is "
                            "UNCONFIRMED: QEMU's 82576 reset value"),
    "TDT": (Access.RW, 0, 0xFFFF, "on_tdt_write", "tail, SW owned, bits 15:0; the doorbell"),
    "TXDCTL": (Access.RW, 0, TXDCTL_WRITE_MASK, "on_txdctl_write",
               "PTHRESH 4:0, HTHRESH 12:8, WTHRESH 20:16, ENABLE 25, SWFLSH 26, PRIORITY 27; "
               "reset 0 but ENABLE=1 on queue 0 (UNCONFIRMED: QEMU's 82576 reset value); "
               "setting ENABLE (re)initialises the queue, SWFLSH flushes write-backs"),
    "TDWBAL": (Access.RW, 0, MASK32, None, "head write-back address 31:2, Head_WB_En b0, bit 1"),
    "TDWBAH": (Access.RW, 0, MASK32, None, "head write-back address 63:32"),
}


def _check_txq(field: str, n: int) -> int:
    """The field's offset within a queue block; KeyError/ValueError for bad arguments."""
    if field not in TXQ_FIELDS:
        raise KeyError(f"unknown TX queue register {field!r}; known: {', '.join(TXQ_FIELDS)}")
    if n < 0:
        raise ValueError(f"TX queue index must be >= 0, not {n}")
    return TXQ_FIELDS[field]


def txq_offset(field: str, n: int) -> int:
    """The driver's (e1000_regs.h) offset of queue n's ``field``.

    n < 4: 0x3800 + 0x100*n; n >= 4: 0xE000 + 0x40*n; plus the field offset (facts §1.2).
    """
    off = _check_txq(field, n)
    base = 0x3800 + 0x100 * n if n < _TXQ_LEGACY_QUEUES else 0xE000 + 0x40 * n
    return base + off


def txq_canonical_offset(field: str, n: int) -> int:
    """The I210 datasheet's canonical offset 0xE000 + 0x40*n + field, for every n [I210 p457]."""
    return 0xE000 + 0x40 * n + _check_txq(field, n)


def txq_name(field: str, n: int) -> str:
    """The register name of queue n's ``field`` in the table, e.g. ``txq_name("TDT", 5) == "TDT5"``."""
    _check_txq(field, n)
    return f"{field}{n}"


def _txq_defs(profile: NicProfile, n: int) -> tuple[list[RegDef], list[tuple[int, str]]]:
    """Queue n's RegDefs and its alias (offset, name) pairs, by the profile's queue layout."""
    defs, aliases = [], []
    for field, (access, reset, mask, write, doc) in _TXQ_SPEC.items():
        if field == "TXDCTL" and n == 0:
            reset = TXDCTL_ENABLE
        name = txq_name(field, n)
        if profile.txq_e000_canonical:
            offset = txq_canonical_offset(field, n)
            if n < _TXQ_LEGACY_QUEUES:
                aliases.append((txq_offset(field, n), name))
        else:
            offset = txq_offset(field, n)
        defs.append(RegDef(name, offset, access, reset, mask, doc,
                           write=f"txq{n}.{write}" if write else None))
    return defs, aliases


# --- global registers (facts §1.1, §1.3, §1.4) -----------------------------------------
def _status_reset(profile: NicProfile) -> int:
    """STATUS at reset: link up, full duplex, at the profile's speed.

    The model starts with the link already up (no autonegotiation is
    modelled); GIO_MASTER_ENABLE is left 0 so the driver's master-disable poll
    finishes at once. A real device's STATUS after reset: UNCONFIRMED.
    """
    speed = {1000: STATUS_SPEED_1000, 100: STATUS_SPEED_100, 10: 0}[profile.link_speed_mbps]
    return STATUS_LU | STATUS_FD | speed


_TCTL_RESET = TCTL_PSP | 0xF << TCTL_CT_SHIFT  # 0xF8: PSP=1, CT=0xF [I210 p452]
_TIPG_RESET = 8 | 4 << 10 | 6 << 20            # 0x00601008: IPGT 8, IPGR1 4, IPGR 6 [I210 p454]


def _global_defs(profile: NicProfile) -> list[RegDef]:
    """Device, TX-control and packet-buffer registers of facts §1.1."""
    rw, ro = Access.RW, Access.RO
    return [
        RegDef("CTRL", 0x00000, rw, 0, MASK32,
               "device control; reset 0 UNCONFIRMED; RST and DEV_RST reset the device (and "
               "self-clear), FRCSPD forces the speed", write="nic.on_ctrl_write"),
        RegDef("STATUS", 0x00008, ro, _status_reset(profile), 0,
               "device status; reset LU|FD|speed from the profile (link up)"),
        RegDef("CTRL_EXT", 0x00018, rw, 0, MASK32, "extended control; reset 0 UNCONFIRMED"),
        RegDef("VET", 0x00038, rw, 0x8100, MASK32,
               "VLAN ethertype; reset 0x8100, the value igb_reset writes (QEMU: 0x81008100)"),
        RegDef("ITR", 0x000C4, rw, 0, MASK32, "legacy throttle (igb uses EITR)"),
        RegDef("RCTL", 0x00100, rw, 0, MASK32, "RX control (not modelled beyond storage)"),
        RegDef("TCTL", 0x00400, rw, _TCTL_RESET, MASK32,
               "TX control; reset 0xF8 = PSP | CT 0xF [I210 p452]; COLD and RTLC reset 0 "
               "UNCONFIRMED; EN starts and stops the transmitter", write="nic.on_tctl_write"),
        RegDef("TCTL_EXT", 0x00404, rw, 0x42 << 10, MASK32,
               "TX control ext.; COLD 19:10 reset 0x42 [I210 p453] (82576 UNCONFIRMED)"),
        RegDef("TIPG", 0x00410, rw, _TIPG_RESET, 0x3FFFFFFF,
               "inter-packet gap; IPGT 9:0 = 8, IPGR1 19:10 = 4, IPGR 29:20 = 6 [I210 p454]"),
        RegDef("PBA", 0x01000, rw, 0, MASK32, "packet buffer allocation (82575 use); reset 0"),
        RegDef("RXPBS", 0x02404, rw, 0, MASK32, "RX packet buffer size; reset per profile"),
        RegDef("TXPBS", 0x03404, rw, 0, MASK32,
               "TX packet buffer size, TXPB0SIZE bits 5:0 in KB; reset per profile"),
        RegDef("TDFH", 0x03410, rw, 0, MASK32, "TX data FIFO head (only dumped by igb)"),
        RegDef("TDFT", 0x03418, rw, 0, MASK32, "TX data FIFO tail (only dumped by igb)"),
        RegDef("TDFHS", 0x03420, rw, 0, MASK32, "TX data FIFO head saved (only dumped by igb)"),
        RegDef("TDFPC", 0x03430, rw, 0, MASK32, "TX data FIFO packet count (only dumped by igb)"),
        RegDef("DTXCTL", 0x03590, rw, 0, MASK32, "DMA TX control; reset 0 UNCONFIRMED"),
        RegDef("MRQC", 0x05818, rw, 0, MASK32, "multiple RX queues (RX only, storage)"),
        RegDef("DCA_CTRL", 0x05B74, rw, 0, MASK32, "DCA mode (storage)"),
    ]


#: Registers only some devices have: name -> (offset, access, reset, mask, doc).
_OPTIONAL = {
    "DTXMXPKTSZ": (0x0355C, Access.RW, 0x98, MASK32,
                   "I210 max TX packet size in 64-byte units; reset 0x98 = 9728 bytes "
                   "(I210_DTXMXPKTSZ_DEFAULT, facts §2.2, §5)"),
}


def _optional_defs(profile: NicProfile) -> list[RegDef]:
    """The profile's optional registers; an unknown name is a configuration error."""
    defs = []
    for name in profile.optional_registers:
        if name not in _OPTIONAL:
            raise ValueError(f"profile {profile.name}: unknown optional register {name!r}; "
                             f"known: {', '.join(_OPTIONAL)}")
        defs.append(RegDef(name, *_OPTIONAL[name]))
    return defs


# --- interrupt registers (facts §1.1, §1.6, §1.7, §6.5) -------------------------------
def _interrupt_defs(profile: NicProfile) -> list[RegDef]:
    """Legacy and extended cause/mask registers, GPIE, EITR(n), IVAR0[0..7], IVAR_MISC.

    The interrupt block keeps their state and owns their behaviour (set/clear
    without read-modify-write, read-to-clear refinements, routing, moderation:
    facts §6.4, §6.5); TSICR alone is plain storage.
    """
    rw, wo = Access.RW, Access.WO
    defs = [
        RegDef("ICR", 0x000C0, Access.RC, 0, 0,
               "interrupt cause, read-to-clear with the NSICR/IAM/MSI-X refinements of facts "
               "§6.5; writes have no effect (UNCONFIRMED)", read="irq.read_icr"),
        RegDef("ICS", 0x000C8, wo, 0, MASK32, "interrupt cause set: sets ICR bits",
               write="irq.write_ics"),
        RegDef("IMS", 0x000D0, rw, 0, MASK32,
               "interrupt mask; read returns the mask, write sets bits",
               read="irq.read_ims", write="irq.write_ims"),
        RegDef("IMC", 0x000D8, wo, 0, MASK32, "interrupt mask clear: clears IMS bits",
               write="irq.write_imc"),
        RegDef("IAM", 0x000E0, rw, 0, MASK32, "auto-mask on ICR read",
               read="irq.read_iam", write="irq.write_iam"),
        RegDef("GPIE", 0x01514, rw, 0, MASK32, "general purpose interrupt enable (§1.6)",
               read="irq.read_gpie", write="irq.write_gpie"),
        RegDef("EICS", 0x01520, wo, 0, MASK32, "extended cause set: sets EICR bits",
               write="irq.write_eics"),
        RegDef("EIMS", 0x01524, rw, 0, MASK32,
               "extended mask; read returns the mask, write sets bits",
               read="irq.read_eims", write="irq.write_eims"),
        RegDef("EIMC", 0x01528, wo, 0, MASK32, "extended mask clear: clears EIMS bits",
               write="irq.write_eimc"),
        RegDef("EIAC", 0x0152C, rw, 0, MASK32, "extended auto-clear",
               read="irq.read_eiac", write="irq.write_eiac"),
        RegDef("EIAM", 0x01530, rw, 0, MASK32, "extended auto-mask",
               read="irq.read_eiam", write="irq.write_eiam"),
        RegDef("EICR", 0x01580, Access.W1C, 0, MASK32,
               "extended cause; W1C, and read-to-clear only outside MSI-X mode [I210 p418, "
               "facts §1.6, §6.5]", read="irq.read_eicr", write="irq.write_eicr"),
        RegDef("IVAR_MISC", 0x01740, rw, 0, MASK32, "'other' cause -> vector, bits 15:8",
               read="irq.read_ivar_misc", write="irq.write_ivar_misc"),
        RegDef("TSICR", 0x0B66C, Access.RC, 0, 0,
               "time-sync interrupt cause, read-to-clear (igb reads it at open to clear it)"),
    ]
    eitr_mask = profile.eitr_interval_mask | EITR_CNT_IGNR
    defs += [RegDef(f"EITR{n}", 0x01680 + 4 * n, rw, 0, eitr_mask,
                    "throttle: Interval bits 14:2, CNT_IGNR b31; other fields UNCONFIRMED, "
                    "not writable here", read="irq.read_eitr", write="irq.write_eitr", index=n)
             for n in range(profile.num_msix_vectors)]
    defs += [RegDef(f"IVAR0_{i}", 0x01700 + 4 * i, rw, 0, MASK32,
                    f"IVAR0[{i}]: four 8-bit entries vector | IVAR_VALID ({profile.ivar_layout})",
                    read="irq.read_ivar", write="irq.write_ivar", index=i)
             for i in range(8)]
    return defs


# --- statistics (facts §1.8: all R/clr) ---------------------------------------------------
_STATS = (
    ("SCC", 0x4014, "single collision"), ("ECOL", 0x4018, "excessive collisions"),
    ("MCC", 0x401C, "multiple collision"), ("LATECOL", 0x4020, "late collisions"),
    ("COLC", 0x4028, "collisions"), ("DC", 0x4030, "defer count"),
    ("TNCRS", 0x4034, "TX with no CRS"), ("XONTXC", 0x404C, "XON transmitted"),
    ("XOFFTXC", 0x4054, "XOFF transmitted"), ("GPTC", 0x4080, "good packets transmitted"),
    ("GOTCL", 0x4090, "good octets transmitted, low dword"),
    ("GOTCH", 0x4094, "good octets transmitted, high dword"),
    ("TOTL", 0x40C8, "total octets transmitted, low dword"),
    ("TOTH", 0x40CC, "total octets transmitted, high dword"),
    ("TPT", 0x40D4, "total packets transmitted"),
    ("PTC64", 0x40D8, "packets transmitted, 64 bytes"),
    ("PTC127", 0x40DC, "packets transmitted, 65-127 bytes"),
    ("PTC255", 0x40E0, "packets transmitted, 128-255 bytes"),
    ("PTC511", 0x40E4, "packets transmitted, 256-511 bytes"),
    ("PTC1023", 0x40E8, "packets transmitted, 512-1023 bytes"),
    ("PTC1522", 0x40EC, "packets transmitted, 1024-1522 bytes"),
    ("MPTC", 0x40F0, "multicast packets transmitted"),
    ("BPTC", 0x40F4, "broadcast packets transmitted"),
    ("TSCTC", 0x40F8, "TSO contexts transmitted"), ("TSCTFC", 0x40FC, "TSO context failures"),
    ("IAC", 0x4100, "interrupt assertion count"),
    ("ICTXPTC", 0x410C, "interrupt cause TX packet timer expire"),
    ("ICTXATC", 0x4110, "interrupt cause TX absolute timer expire"),
    ("ICTXQEC", 0x4118, "interrupt cause TX queue empty"),
    ("ICTXQMTC", 0x411C, "interrupt cause TX queue minimum threshold"),
)


def _stat_defs() -> list[RegDef]:
    """The §1.8 counters: RC, reset 0, not writable; the 64-bit pairs clear on the high read."""
    pair_reader = {}
    for pair, (low, high) in enumerate(COUNTER_PAIRS_64):
        pair_reader[low] = ("regs.read_counter64_low", pair)
        pair_reader[high] = ("regs.read_counter64_high", pair)
    defs = []
    for name, off, doc in _STATS:
        read, index = pair_reader.get(name, (None, None))
        defs.append(RegDef(name, off, Access.RC, 0, 0, f"{doc} (R/clr)", read=read, index=index))
    return defs


# --- the table ------------------------------------------------------------------------
class RegisterTable(Mapping):
    """Immutable map offset -> RegDef for one profile, with lookup by name.

    Alias offsets (the I210's 0x3800 + 0x100*n queue blocks) map to the same
    RegDef object as the canonical offset, so both reach one register.
    """

    __slots__ = ("profile", "_by_offset", "_by_name")

    def __init__(self, profile: NicProfile, defs: Iterable[RegDef],
                 aliases: Iterable[tuple[int, str]] = ()):
        """Index ``defs`` and ``aliases``; a duplicate name or offset is a ValueError (table bug)."""
        self.profile = profile
        by_offset: dict[int, RegDef] = {}
        by_name: dict[str, RegDef] = {}
        for d in defs:
            self._claim(by_offset, d.offset, d)
            if d.name in by_name:
                raise ValueError(f"register name {d.name} defined twice")
            by_name[d.name] = d
        for offset, name in aliases:
            self._claim(by_offset, offset, by_name[name])
        self._by_offset = MappingProxyType(by_offset)
        self._by_name = MappingProxyType(by_name)

    @staticmethod
    def _claim(by_offset: dict[int, RegDef], offset: int, d: RegDef) -> None:
        """Put ``d`` at ``offset``; a second claim or a misaligned offset is a ValueError."""
        if offset & 3:
            raise ValueError(f"register {d.name} at misaligned offset {offset:#x}")
        if offset in by_offset:
            raise ValueError(f"offset {offset:#x} claimed by {by_offset[offset].name} and {d.name}")
        by_offset[offset] = d

    def __getitem__(self, offset: int) -> RegDef:
        return self._by_offset[offset]

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self._by_offset))

    def __len__(self) -> int:
        return len(self._by_offset)

    def by_name(self, name: str) -> RegDef:
        """The RegDef called ``name``; KeyError (naming the profile) if there is none."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no register {name!r} in the {self.profile.name} table") from None

    def names(self) -> tuple[str, ...]:
        """Every register name, in canonical-offset order."""
        return tuple(d.name for d in sorted(self._by_name.values(), key=lambda d: d.offset))

    def defs(self) -> tuple[RegDef, ...]:
        """Every RegDef once (aliases not repeated), in canonical-offset order."""
        return tuple(sorted(self._by_name.values(), key=lambda d: d.offset))

    def offsets_of(self, name: str) -> tuple[int, ...]:
        """The canonical offset of ``name`` first, then its aliases in ascending order."""
        d = self.by_name(name)
        aliases = sorted(off for off, other in self._by_offset.items()
                         if other is d and off != d.offset)
        return (d.offset, *aliases)

    def offset_map(self) -> Mapping[int, RegDef]:
        """The read-only offset -> RegDef mapping itself (for the decoder's hot path)."""
        return self._by_offset


def _apply_resets(defs: list[RegDef], overrides: Iterable[tuple[str, int]],
                  profile: NicProfile) -> list[RegDef]:
    """``defs`` with the profile's reset overrides applied; an unknown name is a ValueError."""
    wanted = dict(overrides)
    unknown = set(wanted) - {d.name for d in defs}
    if unknown:
        raise ValueError(f"profile {profile.name}: reset override for unknown register(s) "
                         f"{', '.join(sorted(unknown))}")
    return [replace(d, reset=wanted[d.name] & MASK32) if d.name in wanted else d for d in defs]


def build_table(profile: NicProfile) -> RegisterTable:
    """The complete register table of ``profile`` (offsets per facts §1.1, §1.2, §1.6–§1.8)."""
    defs = _global_defs(profile) + _interrupt_defs(profile) + _stat_defs()
    defs += _optional_defs(profile)
    aliases: list[tuple[int, str]] = []
    for n in range(profile.num_tx_queues):
        q_defs, q_aliases = _txq_defs(profile, n)
        defs += q_defs
        aliases += q_aliases
    defs = _apply_resets(defs, profile.reset_overrides, profile)
    return RegisterTable(profile, defs, aliases)


# --- the register file ----------------------------------------------------------------
ReadHandler = Callable[[], int]
WriteHandler = Callable[[int], None]

_RO, _WO, _RC, _W1C = Access.RO, Access.WO, Access.RC, Access.W1C


class RegisterFile:
    """Register storage for one NIC plus the MMIO decoder (``read``/``write``).

    Values start at the table's reset values. ``read``/``write`` are what the
    host's MMIO map calls (the driver's view: access types, masks, handlers,
    logging). ``get``/``set`` are the model's own side-effect-free access: no
    masks, no handlers, no logging, no read-to-clear.

    The table's handler names take effect when :meth:`bind` resolves them
    against the NIC's blocks; until then every register is plain storage by
    its access type (what the decoder's own tests check). A handler replaces
    the access type's default action for its register entirely, through every
    offset (alias) of it. A write handler receives the value already ANDed
    with the register's write mask and must ``set`` whatever it wants stored.
    """

    def __init__(self, table: RegisterTable,
                 log: logging.Logger = logging.getLogger("igbsim.nic.regs")):
        self.table = table
        self.log = log
        self._values: dict[str, int] = {d.name: d.reset for d in table.defs()}
        self._handlers: dict[str, tuple[ReadHandler | None, WriteHandler | None]] = {}
        # offset -> (register, its read or write handler or None): one lookup per access
        self._read_decode = {off: (d, None) for off, d in table.offset_map().items()}
        self._write_decode = dict(self._read_decode)
        self._reported: set[tuple] = set()
        self.unknown_accesses = 0
        self.bad_accesses = 0
        self.ignored_writes = 0

    def bind(self, owners: Mapping[str, object]) -> None:
        """Resolve every handler name of the table against ``owners`` (plus ``regs``: this file).

        ``"owner.method"`` becomes the bound method, or, for a register with an
        ``index``, the method with the index as its first argument. Done once,
        when the NIC is built, so an access costs no name lookup. A name that
        does not resolve is a LookupError naming the register.
        """
        owners = {**owners, "regs": self}
        handlers = {d.name: (self._resolve(d, d.read, owners), self._resolve(d, d.write, owners))
                    for d in self.table.defs()}
        self._handlers = handlers
        for off, d in self.table.offset_map().items():
            read_fn, write_fn = handlers[d.name]
            self._read_decode[off] = (d, read_fn)
            self._write_decode[off] = (d, write_fn)

    @staticmethod
    def _resolve(d: RegDef, spec: str | None, owners: Mapping[str, object]):
        """The callable ``spec`` names for register ``d``, or None for no handler."""
        if spec is None:
            return None
        owner, _, method = spec.partition(".")
        fn = getattr(owners.get(owner), method, None) if method else None
        if not callable(fn):
            raise LookupError(f"register {d.name}: handler {spec!r} does not resolve "
                              f"(owners: {', '.join(sorted(owners))})")
        return fn if d.index is None else functools.partial(fn, d.index)

    def handlers(self, name: str) -> tuple[ReadHandler | None, WriteHandler | None]:
        """The bound (read, write) handlers of register ``name``; None where it is plain storage."""
        self.table.by_name(name)
        return self._handlers.get(name, (None, None))

    # -- MMIO entry points (hot path) ------------------------------------------------
    def read(self, offset: int, size: int) -> int:
        """An MMIO read of ``size`` bytes at BAR0 ``offset``; never raises."""
        if size != 4 or offset & 3:
            return self._bad_access("read", offset, size)
        entry = self._read_decode.get(offset)
        if entry is None:
            return self._unknown("read", offset)
        reg, handler = entry
        if handler is not None:
            return handler() & MASK32
        access = reg.access
        name = reg.name
        if access is _WO:
            self.log.debug("read of write-only %s at %#x returns 0", name, offset)
            return 0
        value = self._values[name]
        if access is _RC:
            self._values[name] = 0
        return value

    def write(self, offset: int, size: int, value: int) -> None:
        """An MMIO write of ``size`` bytes at BAR0 ``offset``; never raises."""
        if size != 4 or offset & 3:
            self._bad_access("write", offset, size, value)
            return
        entry = self._write_decode.get(offset)
        if entry is None:
            self._unknown("write", offset, value)
            return
        reg, handler = entry
        if handler is not None:
            handler(value & reg.write_mask)
            return
        access = reg.access
        name = reg.name
        if access is _RO:
            self.ignored_writes += 1
            self.log.warning("write %#010x to read-only %s at %#x ignored",
                             value & MASK32, name, offset)
            return
        mask = reg.write_mask
        if access is _W1C:
            self._values[name] &= ~(value & mask)
        else:
            self._values[name] = (self._values[name] & ~mask) | (value & mask)

    # -- the model's own access ------------------------------------------------------
    def get(self, name: str) -> int:
        """The stored value of register ``name`` (no handler, no clearing); KeyError if unknown."""
        return self._values[name]

    @property
    def values(self) -> dict[str, int]:
        """The live name -> value store behind ``get``/``set``, for the model's per-frame counters
        (``rtl_model.stats``): a writer stores 32-bit values under existing names only."""
        return self._values

    def set(self, name: str, value: int) -> None:
        """Store ``value`` (truncated to 32 bits) in register ``name``; no mask, handler or log."""
        if name not in self._values:
            raise KeyError(f"no register {name!r} in the {self.table.profile.name} table")
        self._values[name] = value & MASK32

    def reset(self, keep: Iterable[str] = ()) -> None:
        """Return every register except those named in ``keep`` to its reset value; handlers stay."""
        kept = {name: self._values[name] for name in keep}
        for d in self.table.defs():
            self._values[d.name] = d.reset
        self._values.update(kept)

    # -- the register file's own handlers ----------------------------------------------
    def read_counter64_low(self, pair: int) -> int:
        """Read of 64-bit counter ``pair``'s low dword (COUNTER_PAIRS_64): returns it, clears nothing."""
        return self._values[COUNTER_PAIRS_64[pair][0]]

    def read_counter64_high(self, pair: int) -> int:
        """Read of 64-bit counter ``pair``'s high dword: returns it and clears both dwords."""
        low, high = COUNTER_PAIRS_64[pair]
        value = self._values[high]
        self._values[low] = 0
        self._values[high] = 0
        return value

    # -- bad input ---------------------------------------------------------------------
    def _report(self, key: tuple, msg: str, *args) -> None:
        """Log ``msg`` at WARNING the first time for ``key``, at DEBUG after that."""
        if key in self._reported:
            self.log.debug(msg, *args)
        else:
            self._reported.add(key)
            self.log.warning(msg, *args)

    def _bad_access(self, kind: str, offset: int, size: int, value: int = 0) -> int:
        """Count, log and ignore an access that is not 4 bytes at a 4-byte-aligned offset."""
        self.bad_accesses += 1
        self._report(("bad", kind, offset, size),
                     "%s of size %s at offset %#x (value %#x) ignored: only aligned 32-bit "
                     "accesses are decoded", kind, size, offset, value)
        return 0

    def _unknown(self, kind: str, offset: int, value: int = 0) -> int:
        """Count, log and ignore an access to an offset the table does not define."""
        self.unknown_accesses += 1
        self._report(("unknown", kind, offset),
                     "%s at unmodelled offset %#x (value %#x) ignored; reads return 0",
                     kind, offset, value)
        return 0
