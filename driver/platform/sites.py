"""Named barrier sites: every barrier and ordered MMIO accessor in a driver, listed and overridable.

A driver declares each place it orders memory once, as a :class:`BarrierSite`
(a stable name such as ``igb_tx_map.publish``, the primitive used there, and
a one-line reason), and passes the site to every call. That makes the set of
barriers a piece of data: it can be listed, and a configuration (or the
ordering explorer) can drop or weaken one site without editing the driver.

The override itself lives in the host (``Host.site_overrides``: site name ->
replacement primitive, or None); the CPU applies it when the site executes
and counts executions in ``Host.site_counts``. :class:`SiteRegistry` is the
validated way in: it only lets a barrier become a *weaker* barrier, and an
accessor a more relaxed accessor of the same direction.

Which barrier is weaker than which is Linux semantics, not one
architecture's encoding (``Documentation/memory-barriers.txt``):

* ``mb`` orders everything ``rmb``, ``wmb`` and ``dma_mb`` order;
* the mandatory read/write barriers cover their ``dma_`` forms
  (``rmb`` > ``dma_rmb``, ``wmb`` > ``dma_wmb``);
* the ``dma_`` forms (outer-shareable: CPU and device) cover the ``smp_``
  forms (inner-shareable: CPUs only): ``dma_mb`` > ``smp_mb``,
  ``dma_rmb`` > ``smp_rmb``, ``dma_wmb`` > ``smp_wmb``;
* a full barrier covers its read and write halves: ``dma_mb`` >
  ``dma_rmb``/``dma_wmb``, ``smp_mb`` > ``smp_rmb``/``smp_wmb``.

Dropping an accessor site keeps the access and removes its barriers: the
site runs ``__raw_writel``/``__raw_readl`` (removing a doorbell write is not a
barrier experiment).
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Iterable, Mapping

from sim.host.ordering import BARRIER_NAMES

__all__ = [
    "BarrierSite", "SiteRegistry", "SiteError", "BARRIER_PRIMITIVES", "ACCESSOR_PRIMITIVES",
    "SITE_PRIMITIVES", "WEAKER", "weaker_primitives", "dropped_primitive",
]

#: Linux barrier primitives a site may use.
BARRIER_PRIMITIVES = BARRIER_NAMES
#: MMIO accessors a site may use (``__raw_*`` only ever appear as replacements).
ACCESSOR_PRIMITIVES = ("writel", "writel_relaxed", "readl", "readl_relaxed")
SITE_PRIMITIVES = BARRIER_PRIMITIVES + ACCESSOR_PRIMITIVES

#: Direct "is weaker than" edges: primitive -> primitives it fully covers (see module docstring).
_COVERS = {
    "mb": ("rmb", "wmb", "dma_mb"),
    "rmb": ("dma_rmb",),
    "wmb": ("dma_wmb",),
    "dma_mb": ("dma_rmb", "dma_wmb", "smp_mb"),
    "dma_rmb": ("smp_rmb",),
    "dma_wmb": ("smp_wmb",),
    "smp_mb": ("smp_rmb", "smp_wmb"),
    "smp_rmb": (),
    "smp_wmb": (),
    "writel": ("writel_relaxed", "__raw_writel"),
    "writel_relaxed": ("__raw_writel",),
    "readl": ("readl_relaxed", "__raw_readl"),
    "readl_relaxed": ("__raw_readl",),
}

#: What dropping an accessor site runs instead (the access without its barriers).
_DROPPED_ACCESSOR = {"writel": "__raw_writel", "writel_relaxed": "__raw_writel",
                     "readl": "__raw_readl", "readl_relaxed": "__raw_readl"}


def _closure(prim: str) -> frozenset[str]:
    """Every primitive strictly weaker than ``prim`` (transitive closure of the edges)."""
    out: set[str] = set()
    todo = list(_COVERS.get(prim, ()))
    while todo:
        p = todo.pop()
        if p not in out:
            out.add(p)
            todo.extend(_COVERS.get(p, ()))
    return frozenset(out)


#: primitive -> every primitive a site using it may be weakened to.
WEAKER: Mapping[str, frozenset[str]] = MappingProxyType({p: _closure(p) for p in _COVERS})


def weaker_primitives(prim: str) -> frozenset[str]:
    """The primitives strictly weaker than ``prim`` (what :meth:`SiteRegistry.weaken` accepts)."""
    return WEAKER[prim]


class SiteError(ValueError):
    """A driver used a barrier site wrongly (undeclared, or with another primitive): a programming error."""


@dataclass(frozen=True)
class BarrierSite:
    """One place a driver orders accesses: ``name`` (stable), ``primitive``, one-line ``reason``."""

    name: str
    primitive: str
    reason: str

    def __post_init__(self) -> None:
        if not self.name or any(c.isspace() for c in self.name):
            raise ValueError(f"barrier site name must be a non-empty word, got {self.name!r}")
        if self.primitive not in SITE_PRIMITIVES:
            raise ValueError(f"barrier site {self.name}: unknown primitive {self.primitive!r}; "
                             f"choose one of: {', '.join(SITE_PRIMITIVES)}")
        if not self.reason.strip() or "\n" in self.reason:
            raise ValueError(f"barrier site {self.name}: the reason must be one non-empty line")

    @property
    def is_accessor(self) -> bool:
        """True for an MMIO accessor site (``writel``…), False for a barrier."""
        return self.primitive in ACCESSOR_PRIMITIVES


class SiteRegistry:
    """The barrier sites a driver declared on one host, and their overrides."""

    def __init__(self, host):
        self.host = host
        self._sites: dict[str, BarrierSite] = {}

    # --- declaring and listing ---------------------------------------------
    def declare(self, site: BarrierSite | str, primitive: str | None = None,
                reason: str | None = None) -> BarrierSite:
        """Declare a site (a BarrierSite, or name/primitive/reason); the same definition twice is fine.

        A different definition under a taken name is a ValueError. An override
        already in ``host.site_overrides`` for this name is validated now.
        """
        if not isinstance(site, BarrierSite):
            site = BarrierSite(site, primitive or "", reason or "")
        old = self._sites.get(site.name)
        if old is not None:
            if old != site:
                raise ValueError(f"barrier site {site.name} declared twice differently: "
                                 f"{old.primitive} ({old.reason}) vs {site.primitive} ({site.reason})")
            return old
        if site.name in self.host.site_overrides:
            _check_replacement(site, self.host.site_overrides[site.name])
        self._sites[site.name] = site
        return site

    def declare_all(self, sites: Iterable[BarrierSite]) -> None:
        """Declare every site of a driver (e.g. its module-level table)."""
        for s in sites:
            self.declare(s)

    def sites(self) -> tuple[BarrierSite, ...]:
        """Every declared site, in declaration order."""
        return tuple(self._sites.values())

    def get(self, name: str) -> BarrierSite:
        """The site called ``name``; SiteError lists the declared ones."""
        try:
            return self._sites[name]
        except KeyError:
            known = ", ".join(self._sites) or "none"
            raise SiteError(f"barrier site {name!r} was never declared (declared: {known})") from None

    def check(self, site: BarrierSite | str, primitive: str) -> str:
        """The name of ``site`` after checking it was declared with ``primitive`` (else SiteError)."""
        name = site.name if isinstance(site, BarrierSite) else site
        declared = self.get(name)
        if isinstance(site, BarrierSite) and site != declared:
            raise SiteError(f"barrier site {name}: called with {site}, declared as {declared}")
        if declared.primitive != primitive:
            raise SiteError(f"barrier site {name} is declared as {declared.primitive} "
                            f"but was called with {primitive}")
        return name

    # --- overriding ---------------------------------------------------------
    def drop(self, site: BarrierSite | str) -> None:
        """Remove the barrier at ``site``; an accessor site keeps its access, without barriers."""
        s = self.get(_name(site))
        self.host.site_overrides[s.name] = _DROPPED_ACCESSOR.get(s.primitive)

    def weaken(self, site: BarrierSite | str, to: str | None) -> None:
        """Run the strictly weaker primitive ``to`` at ``site`` (None = :meth:`drop`)."""
        s = self.get(_name(site))
        if to is None:
            self.drop(s)
            return
        _check_replacement(s, to)
        self.host.site_overrides[s.name] = to

    def apply(self, config: Mapping[str, str | None]) -> None:
        """Apply a configuration ``{site name: weaker primitive or None}``, validating every entry first."""
        for name, to in config.items():
            s = self.get(name)
            if to is not None:
                _check_replacement(s, to)
        for name, to in config.items():
            self.weaken(name, to)

    def restore(self, site: BarrierSite | str) -> None:
        """Undo any override of ``site``."""
        self.host.site_overrides.pop(self.get(_name(site)).name, None)

    def reset(self) -> None:
        """Undo the override of every declared site; overrides of other names stay."""
        for name in self._sites:
            self.host.site_overrides.pop(name, None)

    def overrides(self) -> dict[str, str | None]:
        """The declared sites currently overridden: name -> primitive that runs there."""
        return {n: self.host.site_overrides[n] for n in self._sites if n in self.host.site_overrides}

    def effective(self, site: BarrierSite | str) -> str | None:
        """The primitive that runs at ``site`` now (its own, a weaker one, or None when dropped)."""
        s = self.get(_name(site))
        return self.host.site_overrides.get(s.name, s.primitive)

    def counts(self) -> dict[str, int]:
        """Executions per declared site (dropped executions count too)."""
        return {n: self.host.site_counts[n] for n in self._sites}


def dropped_primitive(primitive: str) -> str | None:
    """What a site using ``primitive`` runs when dropped: nothing for a barrier, the barrier-free access
    (``__raw_writel``/``__raw_readl``) for an accessor."""
    return _DROPPED_ACCESSOR.get(primitive)


def _name(site: BarrierSite | str) -> str:
    return site.name if isinstance(site, BarrierSite) else site


def _check_replacement(site: BarrierSite, to: str | None) -> None:
    """ValueError unless ``to`` is None or strictly weaker than the site's primitive, of the same kind."""
    if to is None or to == _DROPPED_ACCESSOR.get(site.primitive):
        return
    allowed = WEAKER[site.primitive]
    if to not in allowed:
        kind = "accessor" if site.is_accessor else "barrier"
        choices = ", ".join(sorted(allowed)) or "nothing (only dropping)"
        raise ValueError(f"barrier site {site.name}: cannot weaken {kind} {site.primitive} to {to!r}; "
                         f"weaker choices: {choices}")
