"""Small example models written only against the engine API (:class:`sim.engine.EngineAPI`).

They run unchanged on the native engine (:mod:`sim.engine`) and, through the
adapter in :mod:`sim.tb.adapter`, inside cocotb with the HDL simulator's time.
"""
