"""``igbsim explore``: find, shrink and replay ordering bugs of the real igb driver against the NIC model.

See ``docs/explore.md``. The parts, each a module named by its role:
scenarios (warm starts), the explore-mode machine configuration, the
invariant checker, the search (bounded exhaustive, random, PCT), shrinking,
the timeline, replay tokens, variants (replacement driver functions) and the
matrix of barrier sites.
"""
