"""The driver's view of the register map: ``e1000_regs.h`` offsets and ``e1000_defines.h`` bits.

The driver never imports the NIC model, so it carries its own copy of the
names and values it uses, exactly as Linux does (igb_facts §1–§2). Only what
the TX path, interrupts and statistics touch is here.
"""
from __future__ import annotations

# --- global registers (BAR0 offsets, facts §1.1) -------------------------------------------
E1000_CTRL = 0x00000
E1000_STATUS = 0x00008
E1000_CTRL_EXT = 0x00018
E1000_VET = 0x00038
E1000_ICR = 0x000C0
E1000_ICS = 0x000C8
E1000_IMS = 0x000D0
E1000_IMC = 0x000D8
E1000_IAM = 0x000E0
E1000_RCTL = 0x00100
E1000_TCTL = 0x00400
E1000_GPIE = 0x01514
E1000_EICS = 0x01520
E1000_EIMS = 0x01524
E1000_EIMC = 0x01528
E1000_EIAC = 0x0152C
E1000_EIAM = 0x01530
E1000_EICR = 0x01580
E1000_IVAR_MISC = 0x01740
E1000_TSICR = 0x0B66C


def E1000_EITR(n: int) -> int:
    """Interrupt throttle of MSI-X vector ``n``."""
    return 0x01680 + 4 * n


def E1000_IVAR0(index: int) -> int:
    """IVAR array entry ``index`` (82576+: cause -> vector map)."""
    return 0x01700 + 4 * index


def _txq(n: int, field: int) -> int:
    """Per-queue TX register: 0x3800 + 0x100*n for n < 4, else 0xE000 + 0x40*n (facts §1.2)."""
    return (0x3800 + 0x100 * n if n < 4 else 0xE000 + 0x40 * n) + field


def E1000_TDBAL(n: int) -> int:
    return _txq(n, 0x00)


def E1000_TDBAH(n: int) -> int:
    return _txq(n, 0x04)


def E1000_TDLEN(n: int) -> int:
    return _txq(n, 0x08)


def E1000_TDH(n: int) -> int:
    return _txq(n, 0x10)


def E1000_TDT(n: int) -> int:
    return _txq(n, 0x18)


def E1000_TXDCTL(n: int) -> int:
    return _txq(n, 0x28)


# --- statistics (clear on read, facts §1.8) --------------------------------------------------
E1000_GPTC = 0x04080
E1000_GOTCL = 0x04090
E1000_GOTCH = 0x04094
E1000_TOTH = 0x040CC
E1000_TPT = 0x040D4
E1000_TSCTC = 0x040F8
E1000_TSCTFC = 0x040FC

# --- CTRL / CTRL_EXT / STATUS bits (facts §1.3) ------------------------------------------------
E1000_CTRL_EXT_DRV_LOAD = 0x10000000
E1000_STATUS_FD = 0x00000001
E1000_STATUS_LU = 0x00000002
E1000_STATUS_TXOFF = 0x00000010
E1000_STATUS_SPEED_100 = 0x00000040
E1000_STATUS_SPEED_1000 = 0x00000080

# --- TCTL (facts §1.4) ---------------------------------------------------------------------------
E1000_TCTL_EN = 0x00000002
E1000_TCTL_PSP = 0x00000008
E1000_TCTL_CT = 0x00000FF0
E1000_TCTL_COLD = 0x003FF000
E1000_TCTL_RTLC = 0x01000000
E1000_CT_SHIFT = 4
E1000_COLD_SHIFT = 12
E1000_COLLISION_THRESHOLD = 15
E1000_COLLISION_DISTANCE = 63

# --- TXDCTL (facts §1.5) -----------------------------------------------------------------------
E1000_TXDCTL_QUEUE_ENABLE = 0x02000000

# --- interrupts (facts §1.6–§1.7) ------------------------------------------------------------------
E1000_ICR_TXDW = 0x00000001
E1000_ICR_LSC = 0x00000004
E1000_ICR_RXSEQ = 0x00000008
E1000_ICR_RXDMT0 = 0x00000010
E1000_ICR_RXT0 = 0x00000080
E1000_ICR_DOUTSYNC = 0x10000000
E1000_ICR_DRSTA = 0x40000000
E1000_ICR_INT_ASSERTED = 0x80000000
E1000_IMS_LSC = E1000_ICR_LSC
E1000_IMS_DOUTSYNC = E1000_ICR_DOUTSYNC
E1000_IMS_DRSTA = E1000_ICR_DRSTA
E1000_ICS_RXDMT0 = E1000_ICR_RXDMT0
IMS_ENABLE_MASK = (E1000_ICR_RXT0 | E1000_ICR_TXDW | E1000_ICR_RXDMT0 | E1000_ICR_RXSEQ
                   | E1000_ICR_LSC | E1000_ICR_DOUTSYNC)
E1000_GPIE_NSICR = 0x00000001
E1000_GPIE_MSIX_MODE = 0x00000010
E1000_GPIE_EIAME = 0x40000000
E1000_GPIE_PBA = 0x80000000
E1000_IVAR_VALID = 0x80
E1000_EITR_CNT_IGNR = 0x80000000

# --- advanced TX descriptors (facts §2.2–§2.5) -----------------------------------------------------
E1000_ADVTXD_DTYP_CTXT = 0x00200000
E1000_ADVTXD_DTYP_DATA = 0x00300000
E1000_ADVTXD_DCMD_EOP = 0x01000000
E1000_ADVTXD_DCMD_IFCS = 0x02000000
E1000_ADVTXD_DCMD_RS = 0x08000000
E1000_ADVTXD_DCMD_DEXT = 0x20000000
E1000_ADVTXD_DCMD_VLE = 0x40000000
E1000_ADVTXD_DCMD_TSE = 0x80000000
E1000_ADVTXD_MAC_TSTAMP = 0x00080000
E1000_TXD_CMD_DEXT = 0x20000000
E1000_TXD_POPTS_IXSM = 0x01
E1000_TXD_POPTS_TXSM = 0x02
E1000_TXD_STAT_DD = 0x00000001
E1000_ADVTXD_PAYLEN_SHIFT = 14
E1000_ADVTXD_MACLEN_SHIFT = 9
E1000_ADVTXD_L4LEN_SHIFT = 8
E1000_ADVTXD_MSS_SHIFT = 16
E1000_ADVTXD_TUCMD_IPV4 = 0x00000400
E1000_ADVTXD_TUCMD_L4T_UDP = 0x00000000
E1000_ADVTXD_TUCMD_L4T_TCP = 0x00000800
E1000_ADVTXD_TUCMD_L4T_SCTP = 0x00001000
E1000_ADVTXD_IDX_SHIFT = 4

# --- reset (e1000_reset_hw_82575 / _82580) ----------------------------------------------------------
E1000_CTRL_RST = 0x04000000
E1000_CTRL_DEV_RST = 0x20000000
E1000_RCTL_EN = 0x00000002
ETHERNET_IEEE_VLAN_TYPE = 0x8100
