// N x N output-stationary systolic array computing one tile C[N][N] = A[N][K] * B[K][N].
//
// Interface (valid/ready):
//   in_*  : one k-slice per handshake: in_a lane i = A[i][k], in_b lane j = B[k][j];
//           in_last marks k = K-1. Idle input cycles freeze the whole array (no MAC, no shift).
//   out_* : one result row per handshake, bottom row first (out_row = N-1 .. 0),
//           out_c lane j = C[out_row][j]. out_ready low holds the drain.
// Timing: row i of A and column j of B enter through skew registers i and j deep, so PE(i,j)
// performs its k-th MAC in the (k+i+j)-th advancing cycle. After the last slice the array
// advances 2N-2 more cycles with zero operands (FLUSH), then shifts the N result rows out
// (DRAIN). First accepted slice to last result row, with no idle cycles or back-pressure:
//   K + (N-1) + (N-1) + N = K + 3N - 2 cycles (archsim SystolicArray.tile_cycles).
// Ignores: overlapping the drain of one tile with the next tile's fill (tiles run back to back).
`default_nettype none
module systolic_array #(
    parameter integer N      = 4,
    parameter integer DATA_W = 8,
    parameter integer ACC_W  = 32
) (
    input  wire                  clk,
    input  wire                  rst,
    input  wire                  in_valid,
    output wire                  in_ready,
    input  wire                  in_last,
    input  wire [N*DATA_W-1:0]   in_a,
    input  wire [N*DATA_W-1:0]   in_b,
    output wire                  out_valid,
    input  wire                  out_ready,
    output wire [7:0]            out_row,
    output wire [N*ACC_W-1:0]    out_c
);
    localparam [1:0] S_COMPUTE = 2'd0, S_FLUSH = 2'd1, S_DRAIN = 2'd2;
    localparam integer FLUSH_CYCLES = 2 * N - 2;

    reg [1:0]  state;
    reg [15:0] count;

    wire in_fire  = in_valid && in_ready;
    wire out_fire = out_valid && out_ready;
    wire en       = in_fire || (state == S_FLUSH);
    wire drain    = out_fire;

    assign in_ready  = (state == S_COMPUTE);
    assign out_valid = (state == S_DRAIN);
    assign out_row   = N - 1 - count[7:0];

    always @(posedge clk) begin
        if (rst) begin
            state <= S_COMPUTE;
            count <= 16'd0;
        end else begin
            case (state)
                S_COMPUTE: if (in_fire && in_last) begin
                    state <= (FLUSH_CYCLES == 0) ? S_DRAIN : S_FLUSH;
                    count <= 16'd0;
                end
                S_FLUSH: begin
                    if (count == FLUSH_CYCLES - 1) begin
                        state <= S_DRAIN;
                        count <= 16'd0;
                    end else begin
                        count <= count + 16'd1;
                    end
                end
                S_DRAIN: if (out_fire) begin
                    if (count == N - 1) begin
                        state <= S_COMPUTE;
                        count <= 16'd0;
                    end else begin
                        count <= count + 16'd1;
                    end
                end
                default: state <= S_COMPUTE;
            endcase
        end
    end

    // Operands fed this cycle: the input slice while computing, zeros while flushing.
    wire [N*DATA_W-1:0] feed_a = (state == S_COMPUTE) ? in_a : {N*DATA_W{1'b0}};
    wire [N*DATA_W-1:0] feed_b = (state == S_COMPUTE) ? in_b : {N*DATA_W{1'b0}};

    // Skew lines: lane i delayed by i advancing cycles (lane 0 not delayed).
    wire [DATA_W-1:0] a_edge [0:N-1];
    wire [DATA_W-1:0] b_edge [0:N-1];
    genvar i, j, s;
    generate
        for (i = 0; i < N; i = i + 1) begin : g_skew
            if (i == 0) begin : g_direct
                assign a_edge[i] = feed_a[DATA_W-1:0];
                assign b_edge[i] = feed_b[DATA_W-1:0];
            end else begin : g_delay
                reg [DATA_W-1:0] a_sr [0:i-1];
                reg [DATA_W-1:0] b_sr [0:i-1];
                for (s = 0; s < i; s = s + 1) begin : g_stage
                    always @(posedge clk) begin
                        if (rst) begin
                            a_sr[s] <= {DATA_W{1'b0}};
                            b_sr[s] <= {DATA_W{1'b0}};
                        end else if (en) begin
                            a_sr[s] <= (s == 0) ? feed_a[i*DATA_W +: DATA_W] : a_sr[(s == 0) ? 0 : s-1];
                            b_sr[s] <= (s == 0) ? feed_b[i*DATA_W +: DATA_W] : b_sr[(s == 0) ? 0 : s-1];
                        end
                    end
                end
                assign a_edge[i] = a_sr[i-1];
                assign b_edge[i] = b_sr[i-1];
            end
        end

        // PE grid. a flows right along a row, b flows down a column, acc drains downward.
        wire [DATA_W-1:0] a_link [0:N-1][0:N];
        wire [DATA_W-1:0] b_link [0:N][0:N-1];
        wire [ACC_W-1:0]  acc_q  [0:N-1][0:N-1];
        for (i = 0; i < N; i = i + 1) begin : g_row
            assign a_link[i][0] = a_edge[i];
            assign b_link[0][i] = b_edge[i];
            for (j = 0; j < N; j = j + 1) begin : g_col
                systolic_pe #(.DATA_W(DATA_W), .ACC_W(ACC_W)) pe (
                    .clk(clk), .rst(rst), .en(en), .drain(drain),
                    .a_in(a_link[i][j]), .b_in(b_link[i][j]),
                    .acc_in((i == 0) ? {ACC_W{1'b0}} : acc_q[(i == 0) ? 0 : i-1][j]),
                    .a_out(a_link[i][j+1]), .b_out(b_link[i+1][j]),
                    .acc(acc_q[i][j])
                );
            end
        end
        for (j = 0; j < N; j = j + 1) begin : g_out
            assign out_c[j*ACC_W +: ACC_W] = acc_q[N-1][j];
        end
    endgenerate
endmodule
`default_nettype wire
