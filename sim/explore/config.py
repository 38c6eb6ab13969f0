"""The explorer's scenario table and the configuration that fixes an execution's starting state.

Light on purpose (no model is imported here): the ``igbsim`` command builds
its options from it before anything is simulated. How each scenario is
built and started is :mod:`sim.explore.scenarios`.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Scenario", "SCENARIOS", "ScenarioConfig", "ring_thresholds", "IGB_MIN_TXD", "EXPLORE_PROFILES",
           "DESC_NEEDED_LINUX", "TX_WAKE_THRESHOLD_LINUX"]

#: The profiles an explorer run may use (``sc`` has no store buffer: nothing to explore).
EXPLORE_PROFILES = ("x86-tso", "arm64", "power", "riscv")
#: igb.h: ``DESC_NEEDED`` = ``MAX_SKB_FRAGS + 4`` (17 + 4) and ``TX_WAKE_THRESHOLD`` = twice that
#: (tests/explore check them against driver/igb/igb.py).
DESC_NEEDED_LINUX = 21
TX_WAKE_THRESHOLD_LINUX = 42

#: igb's smallest ring (``IGB_MIN_TXD``, 64 since Linux 6.6: "igb: Change IGB_MIN to allow set rx/tx value
#: between 64 and 80"). Smaller rings are for exploration only.
IGB_MIN_TXD = 64


@dataclass(frozen=True)
class Scenario:
    """A named scenario: its one-line summary, default ring size and packet count."""

    name: str
    summary: str
    ring: int
    packets: int


SCENARIOS = {s.name: s for s in (
    Scenario("tx", "packets onto a warm ring (previous-lap DD in every slot, next_to_use before the wrap)", 64, 3),
    Scenario("tx-full", "the ring near full: the queue stops and re-checks while CPU 1 cleans", 8, 2),
    Scenario("tx-burst", "an xmit_more batch from the qdisc, one doorbell, while CPU 1 polls", 64, 3),
    Scenario("tx-mapfail", "tx-burst where any DMA mapping may fail (a choice)", 64, 3),
)}


@dataclass(frozen=True)
class ScenarioConfig:
    """Everything that fixes an execution's starting state (a replay token carries it)."""

    scenario: str = "tx"
    profile: str = "arm64"
    packets: int | None = None
    ring: int | None = None
    cpus: int = 2
    itr: int = 3
    wthresh: int | None = None
    nic: str = "82576"

    @property
    def spec(self) -> Scenario:
        return SCENARIOS[self.scenario]

    @property
    def ring_size(self) -> int:
        return self.ring if self.ring is not None else self.spec.ring

    @property
    def packet_count(self) -> int:
        return self.packets if self.packets is not None else self.spec.packets

    def check(self) -> None:
        """ValueError (one line) for a configuration no scenario can run."""
        if self.scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {self.scenario!r}; choose one of: {', '.join(SCENARIOS)}")
        if self.profile not in EXPLORE_PROFILES:
            raise ValueError(f"unknown profile {self.profile!r}; choose from x86-tso, arm64, power, riscv")
        if self.nic not in ("82576", "i210"):
            raise ValueError(f"unknown NIC {self.nic!r}; choose 82576 or i210")
        for name in ("packets", "ring", "cpus", "itr", "wthresh"):
            value = getattr(self, name)
            if value is not None and type(value) is not int:
                raise ValueError(f"--{name} {value!r}: a whole number")
        ring = self.ring_size
        if not 8 <= ring <= 4096 or ring % 8:
            raise ValueError(f"--ring {ring}: a multiple of 8 from 8 to 4096 (igb's own minimum is {IGB_MIN_TXD})")
        if not 1 <= self.packet_count <= 8:
            raise ValueError(f"--packets {self.packet_count}: 1 to 8 (exploration grows fast with packets)")
        desc_needed, _ = ring_thresholds(ring)
        if self.scenario == "tx-full" and self.packet_count >= ring - desc_needed:
            raise ValueError(f"--packets {self.packet_count}: tx-full on {ring} descriptors leaves room for fewer")
        if self.cpus < 2:
            raise ValueError("--cpus: at least 2 (the sender and the cleaner run on different CPUs)")
        if self.itr not in (0, 1, 3) and not 10 <= self.itr <= 10_000:
            raise ValueError(f"--itr {self.itr}: 0, 1, 3 or an interval of 10..10000 us (ethtool -C rx-usecs)")
        if self.wthresh is not None and not 0 <= self.wthresh <= 31:
            raise ValueError(f"--wthresh {self.wthresh}: 0 to 31 (TXDCTL.WTHRESH is 5 bits)")

    @property
    def below_minimum(self) -> bool:
        return self.ring_size < IGB_MIN_TXD


def ring_thresholds(ring: int) -> tuple[int, int]:
    """(DESC_NEEDED, TX_WAKE_THRESHOLD) for ``ring`` descriptors: Linux's, or scaled below igb's minimum."""
    if ring >= IGB_MIN_TXD:
        return DESC_NEEDED_LINUX, TX_WAKE_THRESHOLD_LINUX
    need = ring // 4
    return need, 2 * need
