// Edge-MoE single-pass softmax unit on ap_fixed<32,10> scores (22 fractional bits).
//
// LOAD: one score per accepted handshake; the running bias (max) and sum update as in
//       Edge-MoE's HLS (src/attention.cpp): x > bias -> sum = (sum*exp(bias-x) >> 22) + 1.0,
//       bias = x; else sum += exp(x-bias). Scores are stored (LMAX deep) for the output pass.
// DIV:  recip = floor(2^44 / sum) by a restoring divider, one quotient bit per cycle (23).
// OUT:  one probability per handshake, p = (exp(x-bias) * recip) >> 22, in load order;
//       out_last on the last one. Then back to LOAD with sum = 0, bias = most negative.
// One exponent unit (edge_exp_neg) is shared by LOAD and OUT.
// Golden model: archsim.engine.fixed_units.edge_softmax_raw (bit-exact);
// cycles: EdgeSoftmaxUnit.cycles(L) = 2L + 23 with no idle input / output stall cycles.
// A row longer than LMAX is cut: score LMAX-1 is treated as the last.
// Ignores timing closure: the LOAD update (exp + multiply) is one combinational cycle, as
// the HLS's II=1 loop-carried sum is; an FPGA build would pipeline it over rows (heads).
`default_nettype none
module edge_softmax #(
    parameter integer LMAX = 64
) (
    input  wire        clk,
    input  wire        rst,
    input  wire        in_valid,
    output wire        in_ready,
    input  wire        in_last,
    input  wire [31:0] in_score,
    output wire        out_valid,
    input  wire        out_ready,
    output wire        out_last,
    output wire [31:0] out_prob
);
    localparam integer AW = (LMAX > 1) ? $clog2(LMAX) : 1;
    localparam [1:0] S_LOAD = 2'd0, S_DIV = 2'd1, S_OUT = 2'd2;
    localparam [31:0] ONE = 32'd1 << 22;
    localparam [31:0] FM_MIN = 32'h8000_0000;
    localparam integer RECIP_BITS = 23;

    reg [1:0]         state;
    reg signed [31:0] bias;
    reg [31:0]        total;
    reg [31:0]        scores [0:LMAX-1];
    reg [AW:0]        count;      // scores loaded (LOAD) / probabilities sent (OUT)
    reg [AW:0]        length;
    reg [44:0]        rem;
    reg [53:0]        dsh;
    reg [22:0]        recip;
    reg [4:0]         div_step;

    wire in_fire  = in_valid && in_ready;
    wire out_fire = out_valid && out_ready;
    assign in_ready  = (state == S_LOAD);
    assign out_valid = (state == S_OUT);

    // Shared exponent unit.
    wire signed [31:0] x       = in_score;
    wire               gt      = x > bias;
    wire signed [32:0] x_ext   = {x[31], x};
    wire signed [32:0] b_ext   = {bias[31], bias};
    wire [32:0]        d_load  = gt ? (x_ext - b_ext) : (b_ext - x_ext);
    wire signed [31:0] x_out   = scores[count[AW-1:0]];
    wire [32:0]        d_out   = b_ext - {x_out[31], x_out};
    wire [32:0]        d_sel   = (state == S_OUT) ? d_out : d_load;
    wire [22:0]        e;
    edge_exp_neg u_exp (.d(d_sel[31:0]), .e(e));

    wire [54:0] scaled     = total * e;
    wire [31:0] total_next = gt ? (scaled[53:22] + ONE) : (total + {9'd0, e});
    wire        row_end    = in_last || (count == LMAX - 1);

    wire [45:0] prob_full = e * recip;
    assign out_prob = {9'd0, prob_full[44:22]};
    assign out_last = (count + 1 == length);

    always @(posedge clk) begin
        if (in_fire) scores[count[AW-1:0]] <= in_score;
    end

    always @(posedge clk) begin
        if (rst) begin
            state <= S_LOAD;
            bias <= FM_MIN;
            total <= 32'd0;
            count <= 0;
            length <= 0;
            rem <= 45'd0;
            dsh <= 54'd0;
            recip <= 23'd0;
            div_step <= 5'd0;
        end else begin
            case (state)
                S_LOAD: if (in_fire) begin
                    total <= total_next;
                    if (gt) bias <= x;
                    if (row_end) begin
                        state <= S_DIV;
                        length <= count + 1;
                        count <= 0;
                        rem <= 45'd1 << 44;
                        dsh <= {total_next, 22'd0};
                        recip <= 23'd0;
                        div_step <= 5'd0;
                    end else begin
                        count <= count + 1;
                    end
                end
                S_DIV: begin
                    if ({9'd0, rem} >= dsh) begin
                        rem <= rem - dsh[44:0];
                        recip <= {recip[21:0], 1'b1};
                    end else begin
                        recip <= {recip[21:0], 1'b0};
                    end
                    dsh <= dsh >> 1;
                    div_step <= div_step + 5'd1;
                    if (div_step == RECIP_BITS - 1) state <= S_OUT;
                end
                S_OUT: if (out_fire) begin
                    if (out_last) begin
                        state <= S_LOAD;
                        count <= 0;
                        bias <= FM_MIN;
                        total <= 32'd0;
                    end else begin
                        count <= count + 1;
                    end
                end
                default: state <= S_LOAD;
            endcase
        end
    end
endmodule
`default_nettype wire
