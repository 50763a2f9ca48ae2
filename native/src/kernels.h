// Float32 kernels of dlip's native tfjs backend. Pure C++ (no N-API) so they can be tested and
// profiled on their own; addon.cc binds them. All pointers are to contiguous row-major storage.
#pragma once
#include <cstdint>

namespace dlip {

// Threads used by OpenMP loops and by OpenBLAS.
void set_threads(int n);
int threads();
// "OpenBLAS <config>" and whether it runs on OpenMP (1), pthreads (0) or single-threaded (-1).
const char* blas_config();
int blas_parallel_mode();

// C[b] = op(A[b]) · op(B[b]) for b < batch; A[b] = A + b*strideA (stride 0 broadcasts).
void gemm(const float* a, const float* b, float* c, int64_t batch, int m, int n, int k, bool transA,
          bool transB, int64_t strideA, int64_t strideB);

// y[m, n] = Σ_k x[m, k]·w[n, k] + b[n]: a PyTorch-layout linear layer with the bias folded into the GEMM.
void linear(const float* x, const float* w, const float* b, float* y, int m, int n, int k);

enum class Binary : int { Add, Sub, Mul, Div, Max, Min, SquaredDiff, Pow };
enum class Unary : int { Exp, Log, Neg, Sqrt, Rsqrt, Square, Erf, Tanh, Sigmoid, Relu, Abs, Reciprocal };
enum class Reduce : int { Sum, Mean, Max, Min };

// out[i] = a[i·sa] ⊙ b[i·sb] over an up-to-6-d index space `shape` (rank dims), with per-dim strides
// sa/sb in elements (0 where that operand broadcasts).
void binary(Binary op, const float* a, const float* b, float* out, int rank, const int64_t* shape,
            const int64_t* sa, const int64_t* sb);
void unary(Unary op, const float* x, float* y, int64_t n);
// x viewed as [outer, r, inner]; out[outer, inner] = reduce over r.
void reduce(Reduce op, const float* x, float* out, int64_t outer, int64_t r, int64_t inner);
// out = x with its rank dims permuted: out dim i is x dim perm[i].
void transpose(const float* x, float* out, int rank, const int64_t* shape, const int64_t* perm);

// Copies the block `size` starting at index `srcBegin` of src (shape srcShape) to index `dstBegin` of
// dst (shape dstShape): Slice, Concat, Split, Pack and Unpack are all this one copy.
void copy_block(const float* src, const int64_t* srcShape, const int64_t* srcBegin, float* dst, const int64_t* dstShape,
                const int64_t* dstBegin, const int64_t* size, int rank);

// Fused ops over rows of length c (the last axis).
void softmax(const float* x, float* y, int64_t rows, int64_t c);
void softmax_grad(const float* y, const float* dy, float* dx, int64_t rows, int64_t c);
void layer_norm(const float* x, const float* g, const float* b, float eps, float* y, float* mean,
                float* rstd, int64_t rows, int64_t c);
void layer_norm_grad(const float* dy, const float* x, const float* g, const float* mean, const float* rstd,
                     float* dx, float* dg, float* db, int64_t rows, int64_t c);
void gelu(const float* x, float* y, int64_t n);
void gelu_grad(const float* x, const float* dy, float* dx, int64_t n);

// Multi-head attention on [B, T, H·D] tensors without moving heads into their own axis: each (b, h)
// reads its D columns in place (BLAS leading dimension H·D). P is [B, H, Tq, Tk].
struct AttnShape {
  int64_t b, h, tq, tk, d;
};
// P = softmax(scale·Q·Kᵀ + mask); mask (optional) is indexed by per-axis strides over [B, H, Tq, Tk].
void attn_probs(const float* q, const float* k, const float* mask, const int64_t* maskStrides, float scale,
                AttnShape s, float* p);
// dQ, dK from dP (the gradient of P).
void attn_probs_grad(const float* p, const float* dp, const float* q, const float* k, float scale, AttnShape s,
                     float* dq, float* dk);
// O = P·V, written as [B, Tq, H·D].
void attn_context(const float* p, const float* v, AttnShape s, float* o);
// dP = dO·Vᵀ and dV = Pᵀ·dO.
void attn_context_grad(const float* p, const float* v, const float* dout, AttnShape s, float* dp, float* dv);

// Cross-entropy of softmax(z/T) rows [rows, v] against a soft target p, the sum both the LM loss and LM
// KD reduce to. p is dense, softmax(teacher/T) of teacher logits [rows, v], or sparse: tail[r] on every
// class plus (probs[r, i] − tail[r]) at ids[r, i] (label smoothing, a top-k teacher).
struct SoftTarget {
  const float* teacher;  // dense, or nullptr
  const int32_t* ids;    // sparse [rows, k]
  const float* probs;
  const float* tail;
  int64_t k;
};
// cross[r] = Σ_j p_j·log q_j, q = softmax(z/T); for a dense target also negEntropy[r] = Σ_j p_j·log p_j.
void soft_xent(const float* z, SoftTarget t, float temperature, int64_t rows, int64_t v, float* cross,
               float* negEntropy);
// dz[r, j] = scale[r]·(q_j − p_j): the gradient of −Σ_r scale[r]·cross[r] with respect to z/T.
void soft_xent_grad(const float* z, SoftTarget t, float temperature, const float* scale, int64_t rows, int64_t v,
                    float* dz);

// A search step's scoring of rows [rows, v] of logits: lse[r] = log Σ exp(x) (float exps, a double sum)
// and ids[r, :k] the k largest entries (value desc, index asc; never NaN; -1 past a short row).
void row_top_k(const float* x, int64_t rows, int64_t v, int k, double* lse, int32_t* ids);

// One torch.optim.AdamW step: writes the new parameter to pOut; m and v update in place.
void adamw(const float* p, const float* g, float* m, float* v, float* pOut, int64_t n, float lr, float beta1,
           float beta2, float eps, float weightDecay, float bias1, float bias2);

// out[i, :] = table[ids[i], :]; the caller checks that ids are in range.
void gather_rows(const float* table, const int32_t* ids, float* out, int64_t n, int64_t width);
// out[ids[i], :] += upd[i, :]; out must be zeroed by the caller.
void scatter_add_rows(const float* upd, const int32_t* ids, float* out, int64_t n, int64_t width);

}  // namespace dlip
