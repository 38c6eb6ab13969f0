// nic_top: harness top for the igb NIC model (rtl_model/nic.py) at transaction level (L0).
//
// There is no DUT logic here: the NIC, the host it sits in and the test host
// programming it (sim/assembly/nic_harness.py) are Python models run by the cocotb engine
// adapter (sim/tb/adapter.py), with this simulator's time as their time. The
// top only provides
//   * simulated time and a free-running clock generated in HDL (an `always #`
//     loop costs no Python wake-ups);
//   * the legacy interrupt pin `irq` (INTx level), driven from Python by the
//     NIC model's INTx output (sim.tb.adapter.pin_driver);
//   * an MSI-X message strobe: for every MSI-X message that lands in the host,
//     Python puts the message data on `msix_data` and pulses `msix_strobe`
//     (one strobe per message, at least 1 ns high and 1 ns low);
//   * small HDL consumers of those pins, so a test can check that HDL logic
//     really sees them: `irq_count` counts rising edges of `irq`, `irq_q` is
//     `irq` sampled on the clock, `msix_count` counts strobes and
//     `msix_last_data` latches the data of the last one.
// The inputs are top-level ports so that Icarus keeps them and VPI can write
// them (internal nets nothing drives are optimised away).
//
// Time: 1 ns unit, 1 ps precision (the adapter needs 1 ps or finer).
`timescale 1ns/1ps

module nic_top #(
    parameter integer CLK_HALF_PERIOD_PS = 4000   // 125 MHz (the 82576's 1 Gb/s GMII clock)
) (
    output reg        clk = 1'b0,
    input  wire       irq,            // INTx level, driven by the Python model
    input  wire       msix_strobe,    // one pulse per MSI-X message, driven by Python
    input  wire [31:0] msix_data,     // the message's data, valid while msix_strobe is high
    output reg [31:0] irq_count = 32'd0,
    output reg        irq_q = 1'b0,
    output reg [31:0] msix_count = 32'd0,
    output reg [31:0] msix_last_data = 32'd0
);

    always #(CLK_HALF_PERIOD_PS * 1ps) clk = ~clk;

    always @(posedge irq) irq_count <= irq_count + 32'd1;

    always @(posedge clk) irq_q <= (irq === 1'b1);

    always @(posedge msix_strobe) begin
        msix_count <= msix_count + 32'd1;
        msix_last_data <= msix_data;
    end

endmodule
