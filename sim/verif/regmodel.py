"""The testbench's own register model of the igb TX and interrupt registers, per device profile.

The scoreboard side of the environment must not trust the NIC model for what
it checks, so this module is written from ``research/igb_facts.md`` (cited as
"facts §n") and imports nothing from ``rtl_model``; only the register *names*
follow the model's spelling (``TDT0``, ``TXDCTL3``, ``EITR4``, ``IVAR0_1``) so
the two can be compared by name.

Contents:

* :class:`RegDef` — one register: name, BAR0 offset, access type, reset value,
  writable mask, and what a read-back check may rely on (``volatile``,
  ``ignore``, ``lag_clear``).
* :class:`RegisterModel` — the table of one profile ("82576" or "i210") with
  name/offset look-up, plus the profile-dependent field builders (EITR, IVAR)
  and decoders (TXDCTL fields, EITR interval, the TX queues' IVAR vectors).
* field builders (:func:`txdctl`, :func:`tdwbal`, :func:`tctl`, :func:`gpie`,
  :func:`eitr`, :func:`ivar_tx`, :func:`ivar_misc`) and cause-bit constants.
* :class:`RegMirror` — the values the testbench expects to read back.

Access types (facts §1.1, the ``e1000_regs.h`` comment column): ``RW``,
``RO``, ``WO``, ``RC`` ("R/clr": a read returns the value and clears it) and
``W1C`` (writing 1 clears the bit). EICR is ``W1C``: in MSI-X mode (GPIE.
Multiple_MSIX = 1) reading it does not clear and software clears bits by
writing 1 [I210 p418, p324; facts §1.6, §6.5]; outside MSI-X mode it is
read-to-clear (the header's "R/clr"). Either way it is ``volatile``.

Offsets. :meth:`RegisterModel.offset` gives the driver's address, the
``e1000_regs.h`` formula of facts §1.2: queue n < 4 at 0x3800 + 0x100*n,
n >= 4 at 0xE000 + 0x40*n. On the I210 the datasheet's canonical block of
*every* queue is 0xE000 + 0x40*n and the 0x3800 addresses of queues 0-3 are
aliases [I210 p457-p459, facts §1.2]; :meth:`RegisterModel.name_at` decodes
both and :meth:`RegisterModel.offsets` lists both. Whether the 82576 also
decodes 0xE000 + 0x40*n for n < 4 is not in the facts: not decoded here.

Profiles (facts §4, §5, §8): 82576 — 16 TX queues and 25 MSI-X vectors, both
UNCONFIRMED (no 82576 datasheet), IVAR column-major; I210 — 4 TX queues
[I210 p457-p459], 5 MSI-X vectors (EICR bits 4:0, facts §1.6), IVAR row-major.

Reset values: the facts sheet gives almost none for these registers (§4 lists
driver constants, not register resets; TCTL's PSP=1/CT=0xF [I210 p452] and
queue 0 enabled at reset on the 82576 (driver comment, facts §3.3) cover only
some fields), so every ``reset`` is ``None`` = UNCONFIRMED, and
:class:`RegMirror` predicts a register only after a write (or a first read).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


__all__ = [
    "ACCESS_TYPES", "RegDef", "RegisterModel", "RegMirror", "PROFILE_SHAPES",
    "txq_offset", "txq_name", "TXQ_FIELDS",
    "txdctl", "tdwbal", "tdwbah", "tctl", "gpie", "eitr", "eitr_interval_us",
    "ivar_tx_position", "ivar_tx", "ivar_entry", "ivar_misc", "eicr_vector_bit",
    "ICR_TXDW", "ICR_LSC", "ICR_DOUTSYNC", "ICR_INT_ASSERTED", "EICR_OTHER", "EICR_TX_QUEUE0",
    "TXDCTL_ENABLE", "TXDCTL_SWFLSH", "TXDCTL_PRIORITY", "TDWBAL_HEAD_WB_EN", "TDWBAL_WB_ON_EITR",
    "TCTL_EN", "TCTL_PSP", "TCTL_RTLC", "GPIE_NSICR", "GPIE_MSIX_MODE", "GPIE_EIAME", "GPIE_PBA",
    "EITR_CNT_IGNR", "EITR_INTERVAL_MASK", "IVAR_VALID", "CTRL_RST", "CTRL_DEV_RST",
]

MASK32 = 0xFFFFFFFF
ACCESS_TYPES = ("RW", "RO", "RC", "WO", "W1C")

# --- cause bits (facts §1.6, [K-def]) -------------------------------------------------
ICR_TXDW = 0x00000001          # TX descriptor written back
ICR_LSC = 0x00000004           # link status change
ICR_DOUTSYNC = 0x10000000      # DMA out of sync
ICR_INT_ASSERTED = 0x80000000  # an interrupt is asserted
EICR_OTHER = 0x80000000        # non-MSI-X EICR "Other" (bit 31)
EICR_TX_QUEUE0 = 0x00000100    # non-MSI-X 82575 layout: TX queue q = 0x100 << q (q < 4)

# --- field bits (facts §1.3-§1.7) -----------------------------------------------------
CTRL_RST = 0x04000000          # b26, device reset (§1.3)
CTRL_DEV_RST = 0x20000000      # b29 (§1.3, e1000_82575.h)
TCTL_EN = 0x00000002           # b1 (§1.4)
TCTL_PSP = 0x00000008          # b3, pad short packets
TCTL_CT_SHIFT, TCTL_CT_BITS = 4, 8        # CT 11:4
TCTL_COLD_SHIFT, TCTL_COLD_BITS = 12, 10  # COLD 21:12
TCTL_RTLC = 0x01000000         # b24
TXDCTL_ENABLE = 0x02000000     # b25 (§1.5)
TXDCTL_SWFLSH = 0x04000000     # b26 (FreeBSD header)
TXDCTL_PRIORITY = 0x08000000   # b27 (I210 only)
_TXDCTL_FIELD_BITS = 5         # PTHRESH 4:0, HTHRESH 12:8 (width UNCONFIRMED), WTHRESH 20:16
TXDCTL_FIELDS_MASK = 0x1F | 0x1F << 8 | 0x1F << 16 | TXDCTL_ENABLE | TXDCTL_SWFLSH | TXDCTL_PRIORITY
TDWBAL_HEAD_WB_EN = 0x1        # b0 Head_WB_En (§1.5)
TDWBAL_WB_ON_EITR = 0x2        # b1 on the I210 (SN_WB_en on the 82575)
GPIE_NSICR = 0x00000001        # b0 (§1.6)
GPIE_MSIX_MODE = 0x00000010    # b4 Multiple_MSIX
GPIE_EIAME = 0x40000000        # b30
GPIE_PBA = 0x80000000          # b31
EITR_INTERVAL_MASK = 0x7FFC    # Interval bits 14:2 (§1.7)
EITR_CNT_IGNR = 0x80000000     # b31, 82576 and newer
IVAR_VALID = 0x80              # each 8-bit IVAR entry = vector | valid (§1.6)

#: field -> offset inside a TX queue's register block (facts §1.2).
TXQ_FIELDS = MappingProxyType({
    "TDBAL": 0x00, "TDBAH": 0x04, "TDLEN": 0x08, "TDH": 0x10, "TXCTL": 0x14,
    "TDT": 0x18, "TXDCTL": 0x28, "TDWBAL": 0x38, "TDWBAH": 0x3C,
})
#: fields that may be programmed only while TXDCTL.ENABLE = 0 [I210 p457, p300; facts §1.2]
_PROGRAM_WHILE_DISABLED = ("TDBAH", "TDLEN", "TDWBAL", "TDWBAH")

#: profile -> (TX queues, MSI-X vectors, IVAR layout, EITR unit ns); facts §1.6, §4, §5, §6.4.
#: 82576 queue and vector counts and its EITR unit are UNCONFIRMED (facts §8).
PROFILE_SHAPES = MappingProxyType({
    "82576": (16, 25, "column", 1000),
    "i210": (4, 5, "row", 1000),
})


@dataclass(frozen=True, slots=True)
class RegDef:
    """One register as the testbench sees it.

    ``access`` is one of :data:`ACCESS_TYPES`; ``reset`` the value after reset
    or ``None`` when the facts do not give it (UNCONFIRMED); ``mask`` the bits a
    write stores (the others read 0). For the read-back check: a ``volatile``
    register is changed by hardware and never checked by value; ``ignore``
    bits are never compared (their read-back is not documented);
    ``lag_clear`` bits may still read 1 for a while after software wrote 0.
    """

    name: str
    offset: int
    access: str
    reset: int | None = None
    mask: int = MASK32
    volatile: bool = False
    ignore: int = 0
    lag_clear: int = 0
    doc: str = ""

    def __post_init__(self):
        if self.access not in ACCESS_TYPES:
            raise ValueError(f"{self.name}: access {self.access!r} not one of {ACCESS_TYPES}")


# --- per-queue helpers (facts §1.2) ---------------------------------------------------
def txq_offset(field: str, n: int) -> int:
    """The driver's offset of queue n's ``field``: n < 4 → 0x3800 + 0x100*n, else 0xE000 + 0x40*n."""
    if field not in TXQ_FIELDS:
        raise KeyError(f"unknown TX queue register {field!r}; known: {', '.join(TXQ_FIELDS)}")
    if n < 0:
        raise ValueError(f"queue index must be >= 0, not {n}")
    return (0x3800 + 0x100 * n if n < 4 else 0xE000 + 0x40 * n) + TXQ_FIELDS[field]


def txq_name(field: str, n: int) -> str:
    """Queue n's register name, spelled as the NIC model spells it: ``txq_name("TDT", 3) == "TDT3"``."""
    txq_offset(field, n)
    return f"{field}{n}"


# --- field builders ---------------------------------------------------------------------
def _field(name: str, value: int, bits: int) -> int:
    if not 0 <= value < 1 << bits:
        raise ValueError(f"{name} {value} does not fit in {bits} bits")
    return value


def txdctl(pthresh: int, hthresh: int, wthresh: int, enable: bool = True) -> int:
    """TXDCTL: PTHRESH 4:0, HTHRESH 12:8, WTHRESH 20:16, ENABLE b25 (facts §1.5).

    Field widths are the I210's (HTHRESH's width UNCONFIRMED there; all three
    UNCONFIRMED on the 82576, facts §8). The I210 allows WTHRESH 0..23 [I210 p459];
    this builder only checks the 5-bit field. Driver default: txdctl(8, 1, 16) =
    0x02100108; 82576 with MSI-X: txdctl(8, 1, 1) = 0x02010108 (facts §1.5).
    """
    return (_field("PTHRESH", pthresh, _TXDCTL_FIELD_BITS)
            | _field("HTHRESH", hthresh, _TXDCTL_FIELD_BITS) << 8
            | _field("WTHRESH", wthresh, _TXDCTL_FIELD_BITS) << 16
            | (TXDCTL_ENABLE if enable else 0))


def tdwbal(addr: int, enable: bool = True, wb_on_eitr: bool = False) -> int:
    """TDWBAL: head write-back address bits 31:2, Head_WB_En b0, WB_on_EITR b1 (I210) (facts §1.5, §6.3).

    ``addr`` is the full 64-bit write-back address; it must be dword aligned.
    The high half goes to TDWBAH (:func:`tdwbah`).
    """
    if addr & 3 or not 0 <= addr < 1 << 64:
        raise ValueError(f"head write-back address {addr:#x} must be a dword-aligned 64-bit address")
    return (addr & 0xFFFFFFFC) | (TDWBAL_HEAD_WB_EN if enable else 0) | (TDWBAL_WB_ON_EITR if wb_on_eitr else 0)


def tdwbah(addr: int) -> int:
    """TDWBAH: head write-back address bits 63:32 (facts §1.5)."""
    return (addr >> 32) & MASK32


def tctl(en: bool = True, psp: bool = True, ct: int = 15, cold: int = 63, rtlc: bool = True) -> int:
    """TCTL: EN b1, PSP b3, CT 11:4, COLD 21:12, RTLC b24 (facts §1.4, [K-def]).

    Defaults are what ``igb_setup_tctl`` means to write: CT = E1000_COLLISION_THRESHOLD
    15, COLD = E1000_COLLISION_DISTANCE 63, PSP, RTLC, EN. (The driver's final write
    actually carries the COLD it read before ``igb_config_collision_dist`` — facts
    §1.4 — so the driver's real value depends on the reset COLD, UNCONFIRMED.)
    """
    return ((TCTL_EN if en else 0) | (TCTL_PSP if psp else 0)
            | _field("CT", ct, TCTL_CT_BITS) << TCTL_CT_SHIFT
            | _field("COLD", cold, TCTL_COLD_BITS) << TCTL_COLD_SHIFT
            | (TCTL_RTLC if rtlc else 0))


def gpie(msix_mode: bool = True, eiame: bool = True, pba: bool = True, nsicr: bool = True) -> int:
    """GPIE: NSICR b0, Multiple_MSIX b4, EIAME b30, PBA b31 (facts §1.6).

    The defaults are the driver's MSI-X value MSIX_MODE | PBA | EIAME | NSICR = 0xC0000011.
    """
    return ((GPIE_MSIX_MODE if msix_mode else 0) | (GPIE_EIAME if eiame else 0)
            | (GPIE_PBA if pba else 0) | (GPIE_NSICR if nsicr else 0))


def _shape(profile: str) -> tuple[int, int, str, int]:
    try:
        return PROFILE_SHAPES[str(profile).lower()]
    except KeyError:
        raise KeyError(f"unknown profile {profile!r}; known: {', '.join(PROFILE_SHAPES)}") from None


def eitr(interval_us: int, profile: str = "82576", cnt_ignr: bool = True) -> int:
    """EITR(n) for an interval in µs: Interval in bits 14:2 in 1 µs units, CNT_IGNR b31 (facts §1.7).

    I210: 1 µs granularity [I210 p427]. 82576: the same encoding and unit as the
    driver uses (``itr_val & 0x7FFC``, itr_val = µs × 4); the 82576 unit itself is
    UNCONFIRMED (facts §6.4). 0 = no moderation (the driver would write 0x4
    instead; the builder encodes what it is asked). E.g. eitr(49) = 0x800000C4.
    """
    unit_ns = _shape(profile)[3]
    ticks, rest = divmod(interval_us * 1000, unit_ns)
    if rest or not 0 <= ticks <= EITR_INTERVAL_MASK >> 2:
        raise ValueError(f"EITR interval {interval_us} us is not 0..{EITR_INTERVAL_MASK >> 2} units "
                         f"of {unit_ns} ns")
    return ticks << 2 | (EITR_CNT_IGNR if cnt_ignr else 0)


def eitr_interval_us(value: int, profile: str = "82576") -> float:
    """The interval an EITR value asks for, in µs (inverse of :func:`eitr`)."""
    return ((value & EITR_INTERVAL_MASK) >> 2) * _shape(profile)[3] / 1000


def ivar_tx_position(layout: str, queue: int) -> tuple[int, int]:
    """(IVAR0 index, bit shift) of TX queue ``queue``'s entry — the pure formula of facts §1.6.

    ``"column"`` (82576): index q & 7, shift ((q & 8) << 1) + 8 (8 or 24);
    ``"row"`` (82580/i350/i210): index q >> 1, shift ((q & 1) << 4) + 8 (8 or 24).
    """
    if queue < 0:
        raise ValueError(f"queue must be >= 0, not {queue}")
    if layout == "column":
        return queue & 7, ((queue & 8) << 1) + 8
    if layout == "row":
        return queue >> 1, ((queue & 1) << 4) + 8
    raise ValueError(f"IVAR layout must be 'column' or 'row', not {layout!r}")


def ivar_entry(vector: int) -> int:
    """One 8-bit IVAR entry: ``vector | IVAR_VALID`` (facts §1.6)."""
    return _field("IVAR vector", vector, 7) | IVAR_VALID


def ivar_tx(queue: int, vector: int, profile: str = "82576") -> tuple[str, int]:
    """(IVAR register name, bit shift) where TX queue ``queue``'s entry lives on ``profile`` (facts §1.6, §5).

    The register's new value is ``(old & ~(0xFF << shift)) | ivar_entry(vector) << shift``.
    Queue and vector must exist on the profile.
    """
    queues, vectors, layout, _ = _shape(profile)
    if not 0 <= queue < queues:
        raise ValueError(f"profile {profile} has TX queues 0..{queues - 1}, not {queue}")
    if not 0 <= vector < vectors:
        raise ValueError(f"profile {profile} has MSI-X vectors 0..{vectors - 1}, not {vector}")
    index, shift = ivar_tx_position(layout, queue)
    return f"IVAR0_{index}", shift


def ivar_misc(vector: int) -> int:
    """IVAR_MISC value routing the "other" cause to ``vector``: (vector | 0x80) << 8 (facts §1.6).

    On the I210 that is INT_Alloc[9] (vector bits 10:8) with its valid bit 15 [I210 p429].
    """
    return ivar_entry(vector) << 8


def eicr_vector_bit(vector: int) -> int:
    """EICR/EIMS/EICS/EIAC/EIAM bit of MSI-X vector ``vector`` in MSI-X mode: 1 << vector (facts §1.6, §6.5)."""
    return 1 << _field("vector", vector, 5)


# --- the table ----------------------------------------------------------------------------
def _global_defs(vectors: int, ivars: int) -> list[RegDef]:
    """The global TX and interrupt registers of facts §1.1 (offsets and access column)."""
    defs = [
        RegDef("CTRL", 0x00000, "RW", ignore=CTRL_RST | CTRL_DEV_RST,
               doc="device control (§1.3); RST/DEV_RST read-back UNCONFIRMED, not compared; "
                   "a write with either forgets the mirror's predictions"),
        RegDef("STATUS", 0x00008, "RO", volatile=True, doc="device status (§1.3), hardware-owned"),
        RegDef("VET", 0x00038, "RW", mask=0xFFFF,
               doc="VLAN EtherType: the TPID of inserted tags; igb_reset writes 0x8100 (§1.1)"),
        RegDef("ICR", 0x000C0, "RC", volatile=True, doc="interrupt cause, R/clr (§1.1, §6.5)"),
        RegDef("ICS", 0x000C8, "WO", doc="interrupt cause set"),
        RegDef("IMS", 0x000D0, "RW", volatile=True,
               doc="mask set/read: a write sets bits, IMC and IAM auto-mask clear them (§1.6)"),
        RegDef("IMC", 0x000D8, "WO", doc="interrupt mask clear"),
        RegDef("IAM", 0x000E0, "RW", doc="auto-mask on ICR read"),
        RegDef("TCTL", 0x00400, "RW",
               doc="TX control (§1.4); reset: PSP=1, CT=0xF on the I210 [I210 p452], rest UNCONFIRMED"),
        RegDef("GPIE", 0x01514, "RW", doc="general purpose interrupt enable (§1.6)"),
        RegDef("EICS", 0x01520, "WO", doc="extended cause set (§6.5)"),
        RegDef("EIMS", 0x01524, "RW", volatile=True,
               doc="extended mask set/read: a write sets bits, EIMC and EIAM auto-mask clear them"),
        RegDef("EIMC", 0x01528, "WO", doc="extended mask clear"),
        RegDef("EIAC", 0x0152C, "RW", doc="extended auto-clear"),
        RegDef("EIAM", 0x01530, "RW", doc="extended auto-mask"),
        RegDef("EICR", 0x01580, "W1C", volatile=True,
               doc="extended cause: W1C in MSI-X mode (not cleared by a read) [I210 p418, p324]; "
                   "read-to-clear outside MSI-X mode (e1000_regs.h 'R/clr')"),
        RegDef("IVAR_MISC", 0x01740, "RW", doc="'other' cause -> vector, (vector|0x80) << 8 (§1.6)"),
    ]
    defs += [RegDef(f"EITR{n}", 0x01680 + 4 * n, "RW", mask=EITR_INTERVAL_MASK | EITR_CNT_IGNR,
                    ignore=MASK32 & ~EITR_INTERVAL_MASK,
                    doc="throttle (§1.7): only Interval 14:2 is compared; CNT_IGNR and the "
                        "counter fields' read-back UNCONFIRMED")
             for n in range(vectors)]
    defs += [RegDef(f"IVAR0_{i}", 0x01700 + 4 * i, "RW", doc="IVAR0[i]: four 8-bit entries (§1.6)")
             for i in range(ivars)]
    return defs


def _txq_defs(n: int) -> list[RegDef]:
    """Queue n's TX registers (facts §1.2, §1.5) at the driver's offsets."""
    spec = {
        "TDBAL": dict(ignore=0xF, doc="ring base 31:0; HW ignores the low 4 bits [I210 p296], not compared"),
        "TDBAH": dict(doc="ring base 63:32"),
        "TDLEN": dict(mask=0x000FFF80,
                      doc="ring bytes, LEN 19:7, bits 6:0 read 0 [I210 p457] (82576 UNCONFIRMED)"),
        "TDH": dict(mask=0xFFFF, volatile=True, doc="head 15:0, hardware-owned"),
        "TXCTL": dict(doc="DCA_TXCTRL: DCA / relaxed-ordering controls"),
        "TDT": dict(mask=0xFFFF, doc="tail 15:0, software-owned; TXDCTL.ENABLE re-initialises it [I210 p459]"),
        "TXDCTL": dict(mask=TXDCTL_FIELDS_MASK, lag_clear=TXDCTL_ENABLE,
                       doc="PTHRESH 4:0, HTHRESH 12:8, WTHRESH 20:16, ENABLE 25, SWFLSH 26, PRIORITY 27; "
                           "ENABLE reads 1 after a disable until the queue stopped [I210 p459]"),
        "TDWBAL": dict(doc="head write-back address 31:2, Head_WB_En b0, WB_on_EITR b1 (I210)"),
        "TDWBAH": dict(doc="head write-back address 63:32"),
    }
    return [RegDef(txq_name(f, n), txq_offset(f, n), "RW", **kw) for f, kw in spec.items()]


class RegisterModel:
    """The TX and interrupt registers of one profile ("82576" or "i210", case-insensitive).

    Attributes: ``profile``, ``num_tx_queues``, ``num_vectors`` (MSI-X vectors =
    EITR registers = EICR vector bits), ``ivar_layout`` ("column"/"row"),
    ``eitr_unit_ns``. See the module docstring for sources and UNCONFIRMED values.

    Besides the look-ups it carries the cause bits (``ICR_TXDW`` …) and the field
    builders (``txdctl``, ``tctl``, ``eitr`` …, the profile-dependent ones bound to
    the profile), their decoders (``txdctl_fields``, ``gpie_msix``,
    ``eitr_interval_ps``, ``tx_vectors_of``) and :meth:`mirror`.
    """

    def __init__(self, profile: str = "82576"):
        self.profile = str(profile).lower()
        self.num_tx_queues, self.num_vectors, self.ivar_layout, self.eitr_unit_ns = _shape(self.profile)
        ivars = 1 + max(ivar_tx_position(self.ivar_layout, q)[0] for q in range(self.num_tx_queues))
        defs = _global_defs(self.num_vectors, ivars)
        for n in range(self.num_tx_queues):
            defs += _txq_defs(n)
        self._by_name = {d.name: d for d in defs}
        self._by_offset = {d.offset: d.name for d in defs}
        self._aliases: dict[str, tuple[int, ...]] = {}
        if self.profile == "i210":
            # canonical 0xE000 + 0x40*n for queues 0..3 as well [I210 p457-p459]
            for n in range(min(4, self.num_tx_queues)):
                for f, off in TXQ_FIELDS.items():
                    name, alias = txq_name(f, n), 0xE000 + 0x40 * n + off
                    self._by_offset[alias] = name
                    self._aliases[name] = (alias,)
        if len(self._by_offset) != len(defs) + sum(map(len, self._aliases.values())):
            raise AssertionError("register offsets collide")  # a table bug

    # the cause bits and field builders, reachable from an instance too
    ICR_TXDW, ICR_LSC, ICR_DOUTSYNC, ICR_INT_ASSERTED = ICR_TXDW, ICR_LSC, ICR_DOUTSYNC, ICR_INT_ASSERTED
    EICR_OTHER = EICR_OTHER
    EITR_CNT_IGNR = EITR_CNT_IGNR
    txdctl = staticmethod(txdctl)
    tdwbal = staticmethod(tdwbal)
    tdwbah = staticmethod(tdwbah)
    tctl = staticmethod(tctl)
    gpie = staticmethod(gpie)
    ivar_entry = staticmethod(ivar_entry)

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def reg(self, name: str) -> RegDef:
        """The RegDef called ``name``; KeyError naming the profile if there is none."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no register {name!r} in the {self.profile} register model") from None

    def offset(self, name: str) -> int:
        """``name``'s offset as the driver addresses it (e1000_regs.h, facts §1.1/§1.2)."""
        return self.reg(name).offset

    def offsets(self, name: str) -> tuple[int, ...]:
        """Every offset that decodes to ``name``: the driver's first, then I210 aliases."""
        return (self.reg(name).offset, *self._aliases.get(name, ()))

    def name_at(self, offset: int) -> str | None:
        """The register at ``offset`` (aliases included), or None when the model has none there."""
        return self._by_offset.get(offset)

    def names(self) -> tuple[str, ...]:
        """Every register name, in offset order."""
        return tuple(sorted(self._by_name, key=lambda n: self._by_name[n].offset))

    def regs(self) -> tuple[RegDef, ...]:
        """Every RegDef, in offset order."""
        return tuple(self._by_name[n] for n in self.names())

    def txq_name(self, field: str, n: int) -> str:
        """Queue n's register name; ValueError if the profile has no queue n."""
        if not 0 <= n < self.num_tx_queues:
            raise ValueError(f"profile {self.profile} has TX queues 0..{self.num_tx_queues - 1}, not {n}")
        return txq_name(field, n)

    def eitr(self, interval_us: int, cnt_ignr: bool = True) -> int:
        """:func:`eitr` for this profile."""
        return eitr(interval_us, self.profile, cnt_ignr)

    def ivar_tx(self, queue: int, vector: int) -> tuple[str, int]:
        """:func:`ivar_tx` for this profile."""
        return ivar_tx(queue, vector, self.profile)

    def ivar_misc(self, vector: int) -> int:
        """:func:`ivar_misc`, checking the vector exists on this profile."""
        if not 0 <= vector < self.num_vectors:
            raise ValueError(f"profile {self.profile} has MSI-X vectors 0..{self.num_vectors - 1}, not {vector}")
        return ivar_misc(vector)

    # --- decoders (the inverse of the builders) ---
    @staticmethod
    def txdctl_fields(value: int) -> dict[str, int]:
        """TXDCTL's fields: pthresh, hthresh, wthresh, enable, swflsh (facts §1.5)."""
        return {"pthresh": value & 0x1F, "hthresh": value >> 8 & 0x1F, "wthresh": value >> 16 & 0x1F,
                "enable": int(bool(value & TXDCTL_ENABLE)), "swflsh": int(bool(value & TXDCTL_SWFLSH))}

    @staticmethod
    def gpie_msix(value: int) -> bool:
        """Whether a GPIE value selects MSI-X mode (Multiple_MSIX, b4)."""
        return bool(value & GPIE_MSIX_MODE)

    def eitr_interval_ps(self, value: int) -> int:
        """The interval an EITR value asks for, in ps, at this profile's unit (0 = no moderation)."""
        return ((value & EITR_INTERVAL_MASK) >> 2) * self.eitr_unit_ns * 1000

    def tx_queue_vectors_of(self, values: Mapping[str, int | None]) -> dict[int, int]:
        """TX queue -> the MSI-X vector its valid IVAR entry in ``values`` routes it to.

        ``values`` maps register names to values (missing IVAR registers count as 0).
        """
        out = {}
        for q in range(self.num_tx_queues):
            index, shift = ivar_tx_position(self.ivar_layout, q)
            entry = (values.get(f"IVAR0_{index}") or 0) >> shift & 0xFF
            if entry & IVAR_VALID:
                out[q] = entry & ~IVAR_VALID
        return out

    def tx_vectors_of(self, values: Mapping[str, int | None]) -> set[int]:
        """The MSI-X vectors the TX queues are routed to by valid IVAR entries in ``values``."""
        return set(self.tx_queue_vectors_of(values).values())

    def tx_queue_vectors(self, mirror: RegMirror) -> dict[int, int]:
        """:meth:`tx_queue_vectors_of` over a mirror's predicted IVAR values."""
        return self.tx_queue_vectors_of({n: mirror.predicted(n) for n in self.names() if n.startswith("IVAR0_")})

    def tx_vectors(self, mirror: RegMirror) -> set[int]:
        """:meth:`tx_vectors_of` over a mirror's predicted IVAR values."""
        return self.tx_vectors_of({n: mirror.predicted(n) for n in self.names() if n.startswith("IVAR0_")})

    def mirror(self) -> RegMirror:
        """A fresh :class:`RegMirror` of this model."""
        return RegMirror(self)

    def eicr_bit(self, vector: int) -> int:
        """EICR bit of ``vector`` in MSI-X mode, checking the vector exists on this profile."""
        if not 0 <= vector < self.num_vectors:
            raise ValueError(f"profile {self.profile} has MSI-X vectors 0..{self.num_vectors - 1}, not {vector}")
        return eicr_vector_bit(vector)


# --- the mirror -----------------------------------------------------------------------------
class RegMirror:
    """The register values the testbench expects, fed with its writes and checked on its reads.

    * :meth:`predict_write` applies the access type: RW stores ``value & mask``;
      RO ignores the write; WO stores nothing (reads are undefined); W1C clears
      the written 1 bits of a known value; RC keeps the value. A write to CTRL
      with RST or DEV_RST forgets every prediction (a device reset; which values
      survive it is UNCONFIRMED apart from EITR, facts §6.4). A TXDCTLn write that
      sets ENABLE forgets TDTn (the queue's TDH/TDT are re-initialised, to a value
      the facts do not give [I210 p459]). It returns a note (str) when the write
      breaks a programming rule — TDBAH/TDLEN/TDWBAL/TDWBAH written while the
      queue is predicted enabled [I210 p457, p300] — else None.
    * :meth:`check_read` returns None when a read agrees, else a message. Not
      checked: ``volatile`` registers, WO registers and registers with no
      prediction yet (the first read of such a plain-storage register is then
      adopted as the prediction). ``ignore`` bits are not compared; ``lag_clear``
      bits predicted 0 may read 1. A read of an RC register clears its prediction.
    """

    def __init__(self, model: RegisterModel):
        self.model = model
        self._pred: dict[str, int] = {d.name: d.reset for d in model.regs() if d.reset is not None}

    def predicted(self, name: str) -> int | None:
        """The expected value of ``name``, or None when there is none."""
        self.model.reg(name)
        return self._pred.get(name)

    def assume(self, name: str, value: int) -> None:
        """Set the expected value of ``name`` (e.g. a reset value learnt elsewhere)."""
        self.model.reg(name)
        self._pred[name] = value & MASK32

    def forget(self, name: str | None = None) -> None:
        """Drop the prediction of ``name`` (all predictions when None)."""
        if name is None:
            self._pred.clear()
        else:
            self._pred.pop(name, None)

    def is_checked(self, name: str) -> bool:
        """Whether reads of ``name`` are ever compared (plain storage: not volatile, not WO)."""
        d = self.model.reg(name)
        return not d.volatile and d.access != "WO"

    def predict_write(self, name: str, value: int) -> str | None:
        """Apply a write of ``value`` to ``name``; a programming-rule note or None (see the class doc).

        A name the model does not have (an unmodelled register) is ignored: None.
        """
        if name not in self.model:
            return None
        d = self.model.reg(name)
        value &= MASK32
        note = self._rule_note(name)
        acc = d.access
        if acc == "RW":
            self._pred[name] = value & d.mask
        elif acc == "W1C":
            if name in self._pred:
                self._pred[name] &= ~(value & d.mask) & MASK32
        elif acc == "RO":
            note = note or f"{name}: write {value:#010x} to a read-only register (ignored)"
        # WO: reads undefined, nothing stored; RC: a write changes nothing the facts give
        if name == "CTRL" and value & (CTRL_RST | CTRL_DEV_RST):
            self._pred.clear()
        elif name.startswith("TXDCTL") and value & TXDCTL_ENABLE:
            self._pred.pop("TDT" + name[len("TXDCTL"):], None)
        return note

    def _rule_note(self, name: str) -> str | None:
        for field in _PROGRAM_WHILE_DISABLED:
            if name.startswith(field) and name[len(field):].isdigit():
                ctl = self._pred.get("TXDCTL" + name[len(field):])
                if ctl is not None and ctl & TXDCTL_ENABLE:
                    return (f"{name} written while TXDCTL{name[len(field):]}.ENABLE=1 "
                            "(program it only while the queue is disabled, I210 p457/p300)")
        return None

    def check_read(self, name: str, value: int) -> str | None:
        """Compare a read of ``name`` with the prediction: None when it agrees, else a message.

        A name the model does not have (an unmodelled register) is not checked: None.
        """
        if name not in self.model:
            return None
        d = self.model.reg(name)
        if d.volatile or d.access == "WO":
            return None
        value &= MASK32
        pred = self._pred.get(name)
        if pred is None:
            if d.access != "RC":
                self._pred[name] = value
            return None
        if d.access == "RC":
            self._pred[name] = 0
        care = MASK32 & ~d.ignore & ~(d.lag_clear & ~pred)
        diff = (value ^ pred) & care
        if not diff:
            return None
        return (f"{name} ({d.offset:#07x}) read {value:#010x}, expected {pred:#010x} "
                f"(differing bits {diff:#010x})")
