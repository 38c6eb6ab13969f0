"""The NIC model's internal state as waveform signals: shared by the testbench's waves and ``igbsim run --vcd``.

:func:`nic_state_signals` declares the signals (dotted names, widths) and
:func:`nic_state` reads their values — per TX queue: ``TDH``, ``TDT``,
``fetch_ptr``, ``desc_cache_fill`` (descriptors in the on-chip cache),
``wb_pending`` (processed descriptors not written back yet), ``fetching``
(a descriptor fetch in flight), ``enabled``; then the packet-buffer fill in
bytes, ``ICR``/``EICR``/``EIMS``, the INTx line, ``mac.busy`` (a frame on
the wire) and ``eitrN_running`` (vector N's EITR counter counting down) for
the first :func:`wave_vectors` vectors.

These are model internals read for display only, never for checking: the
reads have no side effects (no register read-to-clear, no memory model).
"""
from __future__ import annotations

__all__ = ["nic_state_signals", "nic_state", "wave_vectors"]


def wave_vectors(nic) -> int:
    """Vectors whose EITR counters the waveform shows: 0 (other / INTx) and the TX queues' ones."""
    return min(nic.irq.num_vectors, 4)


def nic_state_signals(nic, n_queues: int) -> list[tuple[str, int]]:
    """(dotted name, width in bits) of every signal :func:`nic_state` returns, in display order."""
    sig = []
    for q in range(n_queues):
        p = f"nic.txq{q}."
        sig += [(p + "TDH", 16), (p + "TDT", 16), (p + "fetch_ptr", 16), (p + "desc_cache_fill", 8),
                (p + "wb_pending", 8), (p + "fetching", 1), (p + "enabled", 1)]
    sig += [("nic.pb.fill_bytes", 32), ("nic.irq.ICR", 32), ("nic.irq.EICR", 32), ("nic.irq.EIMS", 32),
            ("nic.irq.INTx", 1), ("nic.mac.busy", 1)]
    sig += [(f"nic.irq.eitr{v}_running", 1) for v in range(wave_vectors(nic))]
    return sig


def nic_state(nic, n_queues: int, now_ps: int) -> dict[str, int]:
    """The value of every signal of :func:`nic_state_signals` at ``now_ps`` (the engine's current time)."""
    s = {}
    for q in range(n_queues):
        txq, p = nic.queues[q], f"nic.txq{q}."
        s[p + "TDH"], s[p + "TDT"], s[p + "fetch_ptr"] = txq.head, txq.tail, txq.fetch_ptr
        s[p + "desc_cache_fill"], s[p + "wb_pending"] = len(txq.cache), len(txq.wb_pending)
        s[p + "fetching"], s[p + "enabled"] = int(txq.fetching), int(txq.enabled)
    irq = nic.irq
    s["nic.pb.fill_bytes"] = nic.profile.tx_packet_buffer_bytes - nic.pb_free
    s["nic.irq.ICR"], s["nic.irq.EICR"], s["nic.irq.EIMS"] = irq._icr, irq._eicr, irq._eims
    s["nic.irq.INTx"] = int(irq._line)
    s["nic.mac.busy"] = int(nic.mac.busy_until_ps > now_ps)
    for v in range(wave_vectors(nic)):
        s[f"nic.irq.eitr{v}_running"] = int(irq._counter[v] is not None)
    return s
