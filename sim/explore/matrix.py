"""``igbsim explore --matrix``: every profile × every transmit and completion barrier site, dropped and weakened.

The sites are igb's in ``igb_tx_map``, ``igb_maybe_stop_tx`` and
``igb_clean_tx_irq`` (:data:`MATRIX_SITES`). Each is tried dropped and,
where a weaker primitive exists, weakened to each one (an accessor is
relaxed: ``writel`` -> ``writel_relaxed``; dropping it runs
``__raw_writel``). A cell searches the scenarios in order with the bounded
exhaustive search and reports the first violation (its invariant and
replay token) or "none with ≤ b (exhaustive)". A site the in-order
execution of a scenario never reaches (the hang report's register reads)
is not searched there; a cell whose site no scenario reaches says so.

Cells whose change leaves the site's ordering the same under a profile
(x86's ``dma_wmb`` and ``smp_wmb`` are both compiler barriers; POWER's
``writel_relaxed`` is ``writel``) run the very same executions, so they
share one search (:func:`effect`): a change that orders nothing less is
searched as the unmodified driver. The searches run in parallel worker
processes (``jobs``); each worker builds a scenario's warm state once per
profile. The table does not depend on ``jobs``.
"""
from __future__ import annotations

import multiprocessing
from dataclasses import asdict, dataclass

from driver.igb.sites import IGB_SITES, SITE
from driver.platform.sites import dropped_primitive, weaker_primitives
from sim.host.ordering import NONE, PROFILES

from .runner import DriverConfig, Session
from .scenarios import ScenarioConfig
from .search import bounded_search
from .token import encode

__all__ = ["MATRIX_SITES", "UNMODIFIED", "Cell", "Verdict", "cells", "effect", "run_matrix", "format_table"]

MATRIX_SITES = tuple(s for s in IGB_SITES
                     if s.name.split(".")[0] in ("igb_tx_map", "igb_maybe_stop_tx", "igb_clean_tx_irq"))


@dataclass(frozen=True)
class Cell:
    """One row of the matrix: a profile, a site and what runs there (None: dropped)."""

    profile: str
    site: str
    primitive: str | None

    @property
    def change(self) -> str:
        if self.site == UNMODIFIED:
            return ""
        return "dropped" if self.primitive is None else f"-> {self.primitive}"


@dataclass(frozen=True)
class Verdict:
    """A cell's result: the violation found (invariant, scenario, replay token) or none within the bound."""

    cell: Cell
    invariant: str | None
    scenario: str | None
    token: str | None
    text: str
    executions: int

    def as_dict(self) -> dict:
        d = asdict(self)
        d["cell"] = asdict(self.cell)
        return d


def site_changes(site) -> list[str | None]:
    """None (dropped) and each strictly weaker primitive of ``site``, the barrier-free accessor excepted."""
    weaker = sorted(p for p in weaker_primitives(site.primitive) if p != dropped_primitive(site.primitive))
    return [None, *weaker]


#: The first row of every profile: the driver as Linux has it.
UNMODIFIED = "(unmodified driver)"


def cells(profiles, sites=MATRIX_SITES) -> list[Cell]:
    """The unmodified driver, then every site change, for each profile."""
    return [Cell(p, UNMODIFIED, None) for p in profiles] + \
        [Cell(p, s.name, change) for p in profiles for s in sites for change in site_changes(s)]


_SESSIONS: dict[tuple, Session] = {}   # per worker process: (profile, scenario, packets) -> warm session


def _session(profile: str, scenario: str, packets: int) -> Session:
    """The warm session of a scenario, built once per worker; only the current profile's are kept (the
    searches come in profile order, and a smaller process forks faster)."""
    key = (profile, scenario, packets)
    if key not in _SESSIONS:
        for old in [k for k in _SESSIONS if k[0] != profile]:
            del _SESSIONS[old]
        _SESSIONS[key] = Session(ScenarioConfig(scenario, profile, packets))
    return _SESSIONS[key]


def effect(profile: str, site: str, primitive: str | None):
    """What running ``primitive`` (None: dropped) at ``site`` orders under ``profile``; None when it is what
    the site's own primitive orders (the cell behaves as the unmodified driver)."""
    if site == UNMODIFIED:
        return None
    s, prof = SITE[site], PROFILES[profile]
    if s.is_accessor:
        new, old = prof.accessor(primitive or dropped_primitive(s.primitive)), prof.accessor(s.primitive)
        return None if (new.before, new.after) == (old.before, old.after) else (site, new.before, new.after)
    new, old = (NONE if primitive is None else prof.barrier(primitive)), prof.barrier(s.primitive)
    return None if new == old else (site, new)


@dataclass(frozen=True)
class _Found:
    """One search's result over the scenarios, shared by the cells with the same effect."""

    invariant: str | None
    scenario: str | None
    ranks: tuple[int, ...]
    text: str
    executions: int


def _search(profile: str, site: str | None, primitive: str | None, scenarios, packets: int, budget: int) -> _Found:
    """Search the driver with ``site`` changed (None: unmodified) over ``scenarios`` (module docstring)."""
    driver = DriverConfig(((site, primitive),) if site else ())
    total, reached = 0, False
    for scenario in scenarios:
        session = _session(profile, scenario, packets)
        result = bounded_search(session, budget, driver=driver, reached=site)
        total += result.executions
        if result.stopped == "not reached":
            continue
        reached = True
        if result.found is not None:
            v = result.violation
            return _Found(v.invariant, scenario, result.found.ranks, v.line(), total)
        if result.stopped.startswith("error"):
            raise RuntimeError(f"{profile} {site or 'unmodified'} {primitive} {scenario}: the model failed "
                               f"({result.stopped})")
        if not result.exhaustive:
            return _Found(None, None, (), f"none in {total} executions (stopped: {result.stopped})", total)
    if not reached:
        return _Found(None, None, (), "not reached by any scenario's executions without deviations", total)
    return _Found(None, None, (), f"none with ≤ {budget} (exhaustive)", total)


def _work(args) -> _Found:
    return _search(*args)


def run_matrix(profiles, *, scenarios=("tx", "tx-full", "tx-burst"), packets: int = 2, budget: int = 2,
               jobs: int = 2, sites=MATRIX_SITES, progress=None) -> list[Verdict]:
    """Every cell's verdict, in :func:`cells` order (module docstring)."""
    todo = cells(profiles, sites)
    searches: dict[tuple, tuple] = {}
    for c in todo:
        key = (c.profile, effect(c.profile, c.site, c.primitive))
        if key not in searches:
            searches[key] = (c.profile, c.site if key[1] is not None else None, c.primitive,
                             tuple(scenarios), packets, budget)
    keys = list(searches)
    results = dict(zip(keys, _map(_work, [searches[k] for k in keys], jobs, progress)))
    out = []
    for c in todo:
        f = results[(c.profile, effect(c.profile, c.site, c.primitive))]
        token = None
        if f.invariant is not None:
            driver = DriverConfig(((c.site, c.primitive),) if c.site != UNMODIFIED else ())
            token = encode(ScenarioConfig(f.scenario, c.profile, packets), driver, f.ranks)
        out.append(Verdict(c, f.invariant, f.scenario, token, f.text, f.executions))
    return out


def _map(fn, items, jobs: int, progress):
    if jobs <= 1:
        for k, item in enumerate(items, 1):
            yield fn(item)
            if progress is not None:
                progress(k)
        return
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        for k, result in enumerate(pool.imap(fn, items), 1):
            yield result
            if progress is not None:
                progress(k)


def format_table(verdicts: list[Verdict]) -> str:
    """The verdicts as a table: one row per site change, one column per profile."""
    profiles = list(dict.fromkeys(v.cell.profile for v in verdicts))
    rows = list(dict.fromkeys((v.cell.site, v.cell.change) for v in verdicts))
    by = {(v.cell.site, v.cell.change, v.cell.profile): v for v in verdicts}
    width = 34
    out = [f"{'site':<30} {'change':<18}" + "".join(p.ljust(width) for p in profiles).rstrip()]
    for site, change in rows:
        line = f"{site:<30} {change:<18}"
        for p in profiles:
            v = by[(site, change, p)]
            short = v.invariant or ("not reached" if v.text.startswith("not reached") else v.text)
            line += short.ljust(width)
        out.append(line.rstrip())
    flagged = [v for v in verdicts if v.token]
    if flagged:
        out.append("")
        out.append("replay tokens:")
        out += [f"  {v.cell.profile} {v.cell.site} {v.cell.change} ({v.scenario}): {v.token}" for v in flagged]
    return "\n".join(out) + "\n"
