// doorbell_top: harness top for the doorbell example model (sim/examples/doorbell.py).
//
// There is no DUT logic here: the device is the Python model, run by the
// cocotb engine adapter (sim/tb/adapter.py) with this simulator's time as its
// time. The top only provides
//   * simulated time and a free-running clock generated in HDL (an `always #`
//     loop costs no Python wake-ups, unlike a cocotb Clock);
//   * the interrupt pin `irq`, driven from Python by the model's irq output
//     (sim.tb.adapter.pin_driver). It is a top-level port so that Icarus keeps
//     it and VPI can write it (internal nets nothing drives are optimised away);
//   * two small HDL consumers of the pin, so a test can check that HDL logic
//     really sees the level the model drives: `irq_count` counts rising edges
//     (asynchronously) and `irq_q` is `irq` sampled on the clock.
//
// Time: 1 ns unit, 1 ps precision (the adapter needs 1 ps or finer).
`timescale 1ns/1ps

module doorbell_top #(
    parameter integer CLK_HALF_PERIOD_PS = 4000   // 125 MHz
) (
    output reg        clk = 1'b0,
    input  wire       irq,          // driven by the Python model
    output reg [31:0] irq_count = 32'd0,
    output reg        irq_q = 1'b0
);

    always #(CLK_HALF_PERIOD_PS * 1ps) clk = ~clk;

    always @(posedge irq) irq_count <= irq_count + 32'd1;

    always @(posedge clk) irq_q <= (irq === 1'b1);

endmodule
