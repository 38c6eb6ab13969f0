"""``struct device`` and ``struct pci_dev``, reduced to what the DMA, IRQ and MMIO calls need.

A :class:`Device` names the device for ownership and leak reports (Linux
prints ``dev_name(dev)``, e.g. ``0000:01:00.0``). A :class:`PciDev` adds the
PCI identity and its BARs as the platform enumerated them, so a probe
function can ``ioremap(pci_resource_start(pdev, 0), pci_resource_len(pdev, 0))``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

__all__ = ["Device", "PciDev", "pci_resource_start", "pci_resource_len"]


@dataclass(frozen=True)
class Device:
    """A device as the DMA and IRQ APIs see it: just its name."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class PciDev:
    """A PCI function: ``bars`` maps a BAR number to its (start, length) in the MMIO space."""

    name: str
    vendor: int
    device: int
    bars: Mapping[int, tuple[int, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "bars", MappingProxyType(dict(self.bars)))

    @property
    def dev(self) -> Device:
        """``&pdev->dev``."""
        return Device(self.name)


def _bar(pdev: PciDev, bar: int) -> tuple[int, int]:
    try:
        return pdev.bars[bar]
    except KeyError:
        raise ValueError(f"{pdev.name}: BAR{bar} is not implemented "
                         f"(has {', '.join(f'BAR{b}' for b in pdev.bars) or 'none'})") from None


def pci_resource_start(pdev: PciDev, bar: int) -> int:
    """Start address of BAR ``bar``."""
    return _bar(pdev, bar)[0]


def pci_resource_len(pdev: PciDev, bar: int) -> int:
    """Length of BAR ``bar``."""
    return _bar(pdev, bar)[1]
