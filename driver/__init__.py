"""The Linux igb driver's TX path in Python, with names mirroring ``igb_main.c``.

It talks to the NIC only through MMIO, DMA memory and interrupts, on the
kernel API in ``driver.platform``; it never imports ``rtl_model``.
"""
