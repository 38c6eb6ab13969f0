"""Barrier sites: declaring, listing, validating, dropping and weakening.

Expected values come from Linux semantics (Documentation/memory-barriers.txt):
a site may only become a weaker primitive of its own kind — mb > rmb/wmb >
dma_rmb/dma_wmb > smp_rmb/smp_wmb, dma_mb > smp_mb, writel > writel_relaxed
> __raw_writel — and the weakening lattice must agree with every
architecture's encoding (a weaker barrier never orders a pair the stronger
one does not).
"""
import pytest

from driver.platform import BarrierSite, SiteError, weaker_primitives
from sim.host.ordering import DR, DW, MR, MW, PROFILES

PUBLISH = BarrierSite("igb_tx_map.publish", "dma_wmb",
                      "descriptors visible before next_to_watch and before the doorbell")
TAIL = BarrierSite("igb_tx_map.tail", "writel", "doorbell after the descriptors")
CLEAN = BarrierSite("igb_clean_tx_irq.eop", "smp_rmb", "no descriptor status read before next_to_watch")
STATUS = BarrierSite("igb_rd32.status", "readl", "flush posted writes")


def test_declare_and_list_in_declaration_order(kernel):
    k = kernel()
    k.sites.declare_all([PUBLISH, TAIL])
    k.sites.declare(CLEAN.name, CLEAN.primitive, CLEAN.reason)
    assert k.sites.sites() == (PUBLISH, TAIL, CLEAN)
    assert k.sites.get("igb_tx_map.tail") is TAIL
    assert [s.is_accessor for s in k.sites.sites()] == [False, True, False]


def test_redeclaring_the_same_site_is_fine_a_different_one_is_not(kernel):
    k = kernel()
    k.sites.declare(PUBLISH)
    k.sites.declare(BarrierSite(PUBLISH.name, PUBLISH.primitive, PUBLISH.reason))
    with pytest.raises(ValueError, match="declared twice"):
        k.sites.declare(BarrierSite(PUBLISH.name, "wmb", PUBLISH.reason))
    assert k.sites.sites() == (PUBLISH,)


@pytest.mark.parametrize("name,prim,reason", [
    ("", "wmb", "why"), ("two words", "wmb", "why"), ("x", "lfence", "why"),
    ("x", "wmb", ""), ("x", "wmb", "two\nlines"), ("x", "__raw_writel", "why"),
])
def test_bad_site_definitions_are_refused(name, prim, reason):
    with pytest.raises(ValueError):
        BarrierSite(name, prim, reason)


def test_calling_a_barrier_needs_a_declared_site_of_that_primitive(kernel):
    k = kernel()
    k.sites.declare_all([PUBLISH, TAIL])
    with pytest.raises(SiteError, match="never declared"):
        k.wmb("igb_tx_map.nowhere")
    with pytest.raises(SiteError, match="declared as dma_wmb"):
        k.wmb(PUBLISH)
    with pytest.raises(SiteError, match="declared as writel"):
        k.dma_wmb(TAIL)
    with pytest.raises(SiteError, match="called with"):
        k.dma_wmb(BarrierSite(PUBLISH.name, "dma_wmb", "another reason"))
    k.dma_wmb(PUBLISH)
    k.dma_wmb(PUBLISH.name)
    assert k.host.site_counts[PUBLISH.name] == 2


def test_drop_and_weaken_write_host_overrides_and_reset_restores(kernel):
    k = kernel()
    k.sites.declare_all([PUBLISH, TAIL, CLEAN, STATUS])
    k.sites.drop(PUBLISH)
    k.sites.weaken(TAIL, "writel_relaxed")
    k.sites.weaken(CLEAN.name, None)
    k.sites.drop(STATUS)
    assert k.host.site_overrides == {PUBLISH.name: None, TAIL.name: "writel_relaxed",
                                     CLEAN.name: None, STATUS.name: "__raw_readl"}
    assert k.sites.effective(TAIL) == "writel_relaxed"
    k.sites.restore(TAIL)
    assert k.sites.effective(TAIL) == "writel"
    k.host.site_overrides["not.a.driver.site"] = None
    k.sites.reset()
    assert k.host.site_overrides == {"not.a.driver.site": None}
    assert k.sites.overrides() == {}


def test_dropping_an_accessor_site_keeps_the_access_without_barriers(kernel):
    k = kernel()
    k.sites.declare(TAIL)
    k.sites.drop(TAIL)
    assert k.sites.effective(TAIL) == "__raw_writel"


@pytest.mark.parametrize("site,to", [
    (PUBLISH, "wmb"),             # stronger
    (PUBLISH, "dma_rmb"),         # other direction
    (PUBLISH, "dma_wmb"),         # not weaker: the same
    (PUBLISH, "writel_relaxed"),  # other kind
    (TAIL, "dma_wmb"),            # other kind
    (TAIL, "readl_relaxed"),      # other direction
    (STATUS, "writel_relaxed"),
    (CLEAN, "smp_wmb"),
])
def test_weaken_refuses_anything_but_a_weaker_primitive_of_the_same_kind(site, to, kernel):
    k = kernel()
    k.sites.declare(site)
    with pytest.raises(ValueError, match="cannot weaken"):
        k.sites.weaken(site, to)
    assert k.host.site_overrides == {}


def test_weaker_primitives_follow_linux_semantics():
    assert weaker_primitives("mb") == {"rmb", "wmb", "dma_mb", "dma_rmb", "dma_wmb", "smp_mb",
                                       "smp_rmb", "smp_wmb"}
    assert weaker_primitives("wmb") == {"dma_wmb", "smp_wmb"}
    assert weaker_primitives("dma_wmb") == {"smp_wmb"}
    assert weaker_primitives("smp_mb") == {"smp_rmb", "smp_wmb"}
    assert weaker_primitives("smp_wmb") == set()
    assert weaker_primitives("writel") == {"writel_relaxed", "__raw_writel"}
    assert weaker_primitives("readl_relaxed") == {"__raw_readl"}


def _covers(strong, weak) -> bool:
    return all(weak.after_of[c] & ~strong.after_of[c] == 0 for c in (MR, MW, DR, DW))


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_weakening_orders_no_more_than_the_original_on_every_profile(profile):
    p = PROFILES[profile]
    for strong in ("mb", "rmb", "wmb", "dma_mb", "dma_rmb", "dma_wmb", "smp_mb"):
        for weak in weaker_primitives(strong):
            assert _covers(p.barrier(strong), p.barrier(weak)), f"{profile}: {weak} orders more than {strong}"
    for strong in ("writel", "writel_relaxed", "readl", "readl_relaxed"):
        for weak in weaker_primitives(strong):
            s, w = p.accessor(strong), p.accessor(weak)
            assert _covers(s.before, w.before) and _covers(s.after, w.after), f"{profile}: {weak} vs {strong}"


def test_apply_validates_the_whole_configuration_before_changing_anything(kernel):
    k = kernel()
    k.sites.declare_all([PUBLISH, TAIL])
    with pytest.raises(ValueError):
        k.sites.apply({TAIL.name: "writel_relaxed", PUBLISH.name: "mb"})
    assert k.host.site_overrides == {}
    with pytest.raises(SiteError):
        k.sites.apply({"igb_tx_map.typo": None})
    k.sites.apply({TAIL.name: "writel_relaxed", PUBLISH.name: None})
    assert k.sites.overrides() == {TAIL.name: "writel_relaxed", PUBLISH.name: None}


def test_an_override_given_to_the_host_is_validated_when_the_site_is_declared(kernel):
    k = kernel(site_overrides={PUBLISH.name: "smp_wmb", TAIL.name: "wmb"})
    k.sites.declare(PUBLISH)
    with pytest.raises(ValueError, match="cannot weaken accessor writel"):
        k.sites.declare(TAIL)


def test_counts_report_executions_per_declared_site_including_dropped_ones(kernel):
    k = kernel()
    k.sites.declare_all([PUBLISH, CLEAN])
    k.sites.drop(CLEAN)
    for _ in range(3):
        k.dma_wmb(PUBLISH)
        k.smp_rmb(CLEAN)
    k.dma_wmb(PUBLISH)
    assert k.sites.counts() == {PUBLISH.name: 4, CLEAN.name: 3}
