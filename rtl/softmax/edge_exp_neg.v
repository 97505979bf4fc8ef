// exp(-d) for d >= 0 on ap_fixed-style raw words with 22 fractional bits (combinational).
// Golden model: archsim.engine.fixed_units.exp_neg_raw (bit-exact).
//   d >= 32.0            -> 0
//   t = (d * round(log2(e) * 2^24)) >> 24       d*log2(e), 22 fractional bits
//   n = t >> 22, k = t[21:16], r = t[15:0]
//   m = P[k] - (((P[k] - P[k+1]) * r) >> 16)    P[k] = round(2^22 * 2^(-k/64))
//   e = m >> n
`default_nettype none
module edge_exp_neg (
    input  wire [31:0] d,
    output wire [22:0] e
);
    `include "softmax/exp2_table.vh"

    localparam [24:0] LOG2E = 25'd24204406;

    wire        zero = |d[31:27];
    wire [51:0] t_full = d[26:0] * LOG2E;
    wire [27:0] t = t_full[51:24];
    wire [5:0]  n = t[27:22];
    wire [5:0]  k = t[21:16];
    wire [15:0] r = t[15:0];
    wire [22:0] p_k  = exp2_neg_table({1'b0, k});
    wire [22:0] p_k1 = exp2_neg_table({1'b0, k} + 7'd1);
    wire [22:0] slope = p_k - p_k1;
    wire [38:0] drop = slope * r;
    wire [22:0] m = p_k - drop[38:16];
    assign e = zero ? 23'd0 : (m >> n);
endmodule
`default_nettype wire
