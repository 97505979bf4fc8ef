// Output-stationary systolic processing element.
// Holds one accumulator. While `en` is high and `drain` low it multiplies the operands
// arriving from the left (a) and from the top (b), adds the product to the accumulator and
// forwards both operands one PE further (right / down) through registers. While `drain`
// is high the accumulator instead loads `acc_in` (the accumulator of the PE above), so a
// column of PEs becomes a shift register that moves results out one row per cycle.
// Arithmetic: signed DATA_W x DATA_W products, ACC_W-bit two's-complement wrap-around.
`default_nettype none
module systolic_pe #(
    parameter integer DATA_W = 8,
    parameter integer ACC_W  = 32
) (
    input  wire                     clk,
    input  wire                     rst,
    input  wire                     en,
    input  wire                     drain,
    input  wire signed [DATA_W-1:0] a_in,
    input  wire signed [DATA_W-1:0] b_in,
    input  wire signed [ACC_W-1:0]  acc_in,
    output reg  signed [DATA_W-1:0] a_out,
    output reg  signed [DATA_W-1:0] b_out,
    output reg  signed [ACC_W-1:0]  acc
);
    wire signed [2*DATA_W-1:0] product = a_in * b_in;

    always @(posedge clk) begin
        if (rst) begin
            a_out <= {DATA_W{1'b0}};
            b_out <= {DATA_W{1'b0}};
            acc   <= {ACC_W{1'b0}};
        end else if (drain) begin
            acc <= acc_in;
        end else if (en) begin
            a_out <= a_in;
            b_out <= b_in;
            acc   <= acc + {{(ACC_W-2*DATA_W){product[2*DATA_W-1]}}, product};
        end
    end
endmodule
`default_nettype wire
