"""igbsim's simulation packages: the foundation at the bottom, the assembly and run layer on top.

Foundation — what every model is built on; it never imports the assembly or
the run layer:

* :mod:`sim.engine` — the discrete-event engine: integer picosecond time,
  processes, events, the choice policies; the engine API that all model code
  is written against (:class:`sim.engine.EngineAPI`). Stdlib only.
* :mod:`sim.host` — the simulated host hardware: physical memory, IOMMU, DMA
  and MMIO ports, MSI-X, PCIe link timing, CPUs with store buffers, the
  memory-ordering profiles and litmus programs. Imports the engine only.

On top of the foundation (and of ``rtl_model``, ``driver`` and ``stack``):

* :mod:`sim.assembly` — a whole system put together: host + NIC + driver +
  stack + wire + link partner, the NIC-alone harness, pcap capture, skb
  builder.
* :mod:`sim.run` — the user-facing run layer: the ``igbsim`` CLI, the
  scenarios it runs and the report it prints.

Beside them:

* ``sim/hdl`` (Verilog harness tops) and :mod:`sim.tb` (cocotb testbenches and
  :mod:`sim.tb.adapter`, the engine API on cocotb triggers) — the cocotb
  harness that ``make sim`` runs.
* :mod:`sim.examples` — small models written only against the engine API,
  run natively and under cocotb.
"""
