// PIM bank MAC unit: LANES signed multipliers fed by one DRAM burst per beat.
//
// in_w  : one burst of the DRAM row, lane l = weight l (LANES x DATA_W bits)
// in_x  : the matching slice of the broadcast activation vector (LANES x DATA_W bits)
// in_last marks the row's last burst. Lane accumulators sum w*x over the row; at the row end
// an adder tree adds the lanes and out_sum holds the row's dot product.
// Pipeline: product registers -> lane accumulators -> output register (3 cycles from the last
// burst to out_valid). out_ready low (result not taken) freezes the whole pipeline.
// Cycles: PimBankMacUnit.cycles(bursts, interval) = (bursts-1)*interval + 1 + 3 when a burst
// arrives every `interval` cycles (the DRAM's column-to-column delay).
// Golden model: archsim.engine.fixed_units.PimBankMacUnit.row_dot_raw (exact integers).
`default_nettype none
module pim_bank_mac #(
    parameter integer LANES  = 16,
    parameter integer DATA_W = 16,
    parameter integer ACC_W  = 40,
    parameter integer OUT_W  = 48
) (
    input  wire                    clk,
    input  wire                    rst,
    input  wire                    in_valid,
    output wire                    in_ready,
    input  wire                    in_last,
    input  wire [LANES*DATA_W-1:0] in_w,
    input  wire [LANES*DATA_W-1:0] in_x,
    output reg                     out_valid,
    input  wire                    out_ready,
    output reg  [OUT_W-1:0]        out_sum
);
    localparam integer LATENCY = 3;

    wire stall = out_valid && !out_ready;
    assign in_ready = !stall;
    wire in_fire = in_valid && in_ready;

    reg                   p_valid, p_last, p_first;
    reg                   a_done;
    reg                   next_first;   // the next accepted burst starts a row
    reg [2*DATA_W-1:0]    prod [0:LANES-1];
    reg [ACC_W-1:0]       acc  [0:LANES-1];

    // Adder tree over the lane accumulators (combinational, sign-extended to OUT_W).
    reg signed [OUT_W-1:0] tree_sum;
    integer l;
    always @(*) begin
        tree_sum = {OUT_W{1'b0}};
        for (l = 0; l < LANES; l = l + 1)
            tree_sum = tree_sum + {{(OUT_W-ACC_W){acc[l][ACC_W-1]}}, acc[l]};
    end

    genvar g;
    generate
        for (g = 0; g < LANES; g = g + 1) begin : g_lane
            wire signed [DATA_W-1:0]   w = in_w[g*DATA_W +: DATA_W];
            wire signed [DATA_W-1:0]   x = in_x[g*DATA_W +: DATA_W];
            wire signed [2*DATA_W-1:0] p = prod[g];
            always @(posedge clk) begin
                if (rst) begin
                    prod[g] <= {2*DATA_W{1'b0}};
                    acc[g]  <= {ACC_W{1'b0}};
                end else if (!stall) begin
                    if (in_fire) prod[g] <= w * x;
                    if (p_valid)
                        acc[g] <= (p_first ? {ACC_W{1'b0}} : acc[g]) + {{(ACC_W-2*DATA_W){p[2*DATA_W-1]}}, p};
                end
            end
        end
    endgenerate

    always @(posedge clk) begin
        if (rst) begin
            p_valid <= 1'b0;
            p_last <= 1'b0;
            p_first <= 1'b0;
            a_done <= 1'b0;
            next_first <= 1'b1;
            out_valid <= 1'b0;
            out_sum <= {OUT_W{1'b0}};
        end else if (!stall) begin
            p_valid <= in_fire;
            p_last <= in_fire && in_last;
            p_first <= in_fire && next_first;
            if (in_fire) next_first <= in_last;
            a_done <= p_valid && p_last;
            out_valid <= a_done;
            if (a_done) out_sum <= tree_sum;
        end
    end
endmodule
`default_nettype wire
