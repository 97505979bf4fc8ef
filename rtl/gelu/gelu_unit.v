// Edge-MoE GELU unit on ap_fixed<32,10> words (22 fractional bits), one value per cycle.
//   GELU(x) = ReLU(x) - delta(|x|), delta(a) = a*Phi(-a), tabulated at a = i/32 (i = 0..199,
//   floor to 22 fractional bits) and interpolated linearly; |x| >= 199/32 -> ReLU(x).
//   index = |x| >> 17, t = |x| & (2^17-1): delta = (T[index]*2^17 + t*(T[index+1]-T[index])) >> 17.
// Golden model: archsim.engine.fixed_units.gelu_raw (bit-exact; = kernels/numba/edge_moe.py).
// Pipeline: input register, output register (latency 2); out_ready low stalls both stages.
`default_nettype none
module gelu_unit (
    input  wire        clk,
    input  wire        rst,
    input  wire        in_valid,
    output wire        in_ready,
    input  wire [31:0] in_x,
    output reg         out_valid,
    input  wire        out_ready,
    output reg  [31:0] out_y
);
    `include "gelu/gelu_delta_table.vh"

    localparam integer LATENCY = 2;
    localparam [32:0] TABLE_MAX = 33'd199 << 17;

    wire stall = out_valid && !out_ready;
    assign in_ready = !stall;

    reg               valid1;
    reg signed [31:0] x1;

    wire signed [32:0] x_ext = {x1[31], x1};
    wire [32:0]        x_abs = x1[31] ? -x_ext : x_ext;
    wire signed [31:0] relu  = x1[31] ? 32'sd0 : x1;
    wire               sat   = x_abs >= TABLE_MAX;
    wire [7:0]         index = x_abs[24:17];
    wire signed [17:0] t     = {1'b0, x_abs[16:0]};
    wire [21:0]        a     = gelu_delta_table(index);
    wire [21:0]        b     = gelu_delta_table(index + 8'd1);
    wire signed [22:0] diff  = $signed({1'b0, b}) - $signed({1'b0, a});
    wire signed [41:0] num   = $signed({1'b0, a, 17'd0}) + t * diff;
    wire signed [24:0] delta = num[41:17];
    wire signed [31:0] y     = sat ? relu : relu - delta;

    always @(posedge clk) begin
        if (rst) begin
            valid1 <= 1'b0;
            x1 <= 32'sd0;
            out_valid <= 1'b0;
            out_y <= 32'd0;
        end else if (!stall) begin
            valid1 <= in_valid;
            if (in_valid) x1 <= in_x;
            out_valid <= valid1;
            if (valid1) out_y <= y;
        end
    end
endmodule
`default_nettype wire
