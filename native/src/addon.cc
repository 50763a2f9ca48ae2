// N-API bindings: every function works in place on the Float32Array/Int32Array storage it is given
// (zero copy); shapes and strides come as small Int32Arrays.
#include <node_api.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "kernels.h"

namespace {

struct Args {
  napi_env env;
  napi_value v[16];
  size_t n = 16;
  bool failed = false;

  Args(napi_env e, napi_callback_info info) : env(e) { napi_get_cb_info(e, info, &n, v, nullptr, nullptr); }

  void fail(const char* msg) {
    if (!failed) napi_throw_type_error(env, nullptr, msg);
    failed = true;
  }
  template <typename T>
  T* array(size_t i, napi_typedarray_type want, size_t* len = nullptr) {
    napi_typedarray_type type;
    size_t length;
    void* data;
    if (i >= n || napi_get_typedarray_info(env, v[i], &type, &length, &data, nullptr, nullptr) != napi_ok ||
        type != want) {
      fail("dlip native: argument is not a typed array of the expected type");
      return nullptr;
    }
    if (len) *len = length;
    return static_cast<T*>(data);
  }
  float* f32(size_t i, size_t* len = nullptr) { return array<float>(i, napi_float32_array, len); }
  int32_t* i32(size_t i, size_t* len = nullptr) { return array<int32_t>(i, napi_int32_array, len); }
  double* f64(size_t i, size_t* len = nullptr) { return array<double>(i, napi_float64_array, len); }
  int64_t integer(size_t i) {
    int64_t x = 0;
    if (i >= n || napi_get_value_int64(env, v[i], &x) != napi_ok) fail("dlip native: expected an integer");
    return x;
  }
  double number(size_t i) {
    double x = 0;
    if (i >= n || napi_get_value_double(env, v[i], &x) != napi_ok) fail("dlip native: expected a number");
    return x;
  }
  bool boolean(size_t i) {
    bool x = false;
    if (i >= n || napi_get_value_bool(env, v[i], &x) != napi_ok) fail("dlip native: expected a boolean");
    return x;
  }
};

napi_value undef(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// Reads rank and up to 8 int64 values per group from an Int32Array laid out as [g0..., g1..., ...].
bool groups(Args& a, size_t i, int groupsWanted, int* rank, int64_t out[][8]) {
  size_t len;
  const int32_t* p = a.i32(i, &len);
  if (!p || len % groupsWanted != 0 || len / groupsWanted == 0 || len / groupsWanted > 8) {
    a.fail("dlip native: bad shape descriptor");
    return false;
  }
  *rank = int(len / groupsWanted);
  for (int g = 0; g < groupsWanted; g++)
    for (int d = 0; d < *rank; d++) out[g][d] = p[g * *rank + d];
  return true;
}

napi_value SetThreads(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int64_t n = a.integer(0);
  if (!a.failed) dlip::set_threads(int(n));
  return undef(env);
}

napi_value Info(napi_env env, napi_callback_info) {
  napi_value o, cfg, threads, mode;
  napi_create_object(env, &o);
  napi_create_string_utf8(env, dlip::blas_config(), NAPI_AUTO_LENGTH, &cfg);
  napi_create_int32(env, dlip::threads(), &threads);
  const int m = dlip::blas_parallel_mode();
  napi_create_string_utf8(env, m == 1 ? "openmp" : m == 0 ? "pthreads" : "serial", NAPI_AUTO_LENGTH, &mode);
  napi_set_named_property(env, o, "blas", cfg);
  napi_set_named_property(env, o, "threads", threads);
  napi_set_named_property(env, o, "blasThreading", mode);
  return o;
}

// gemm(a, b, c, batch, m, n, k, transA, transB, strideA, strideB)
napi_value Gemm(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t la, lb, lc;
  const float *A = a.f32(0, &la), *B = a.f32(1, &lb);
  float* C = a.f32(2, &lc);
  const int64_t batch = a.integer(3), m = a.integer(4), n = a.integer(5), k = a.integer(6);
  const bool ta = a.boolean(7), tb = a.boolean(8);
  const int64_t sA = a.integer(9), sB = a.integer(10);
  if (a.failed) return nullptr;
  if (uint64_t(lc) < uint64_t(batch * m * n) || uint64_t(la) < uint64_t((batch - 1) * sA + m * k) ||
      uint64_t(lb) < uint64_t((batch - 1) * sB + k * n)) {
    a.fail("dlip native: gemm operands too small");
    return nullptr;
  }
  dlip::gemm(A, B, C, batch, int(m), int(n), int(k), ta, tb, sA, sB);
  return undef(env);
}

// linear(x, w, b, y, m, n, k)
napi_value Linear(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t lx, lw, lb, ly;
  const float *X = a.f32(0, &lx), *W = a.f32(1, &lw), *B = a.f32(2, &lb);
  float* Y = a.f32(3, &ly);
  const int64_t m = a.integer(4), n = a.integer(5), k = a.integer(6);
  if (a.failed) return nullptr;
  if (uint64_t(lx) < uint64_t(m * k) || uint64_t(lw) < uint64_t(n * k) || uint64_t(lb) < uint64_t(n) ||
      uint64_t(ly) < uint64_t(m * n)) {
    a.fail("dlip native: linear operands too small");
    return nullptr;
  }
  dlip::linear(X, W, B, Y, int(m), int(n), int(k));
  return undef(env);
}

// binary(op, a, b, out, desc) with desc = [shape..., strideA..., strideB...]
napi_value Binary(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int64_t op = a.integer(0);
  const float *A = a.f32(1), *B = a.f32(2);
  float* O = a.f32(3);
  int rank = 0;
  int64_t g[3][8];
  if (a.failed || !groups(a, 4, 3, &rank, g)) return nullptr;
  dlip::binary(dlip::Binary(op), A, B, O, rank, g[0], g[1], g[2]);
  return undef(env);
}

// unary(op, x, y)
napi_value Unary(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int64_t op = a.integer(0);
  size_t n, ny;
  const float* X = a.f32(1, &n);
  float* Y = a.f32(2, &ny);
  if (a.failed) return nullptr;
  dlip::unary(dlip::Unary(op), X, Y, int64_t(std::min(n, ny)));
  return undef(env);
}

// reduce(op, x, out, outer, r, inner)
napi_value Reduce(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const int64_t op = a.integer(0);
  const float* X = a.f32(1);
  float* O = a.f32(2);
  const int64_t outer = a.integer(3), r = a.integer(4), inner = a.integer(5);
  if (a.failed) return nullptr;
  dlip::reduce(dlip::Reduce(op), X, O, outer, r, inner);
  return undef(env);
}

// transpose(x, out, desc) with desc = [shape..., perm...]
napi_value Transpose(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float* X = a.f32(0);
  float* O = a.f32(1);
  int rank = 0;
  int64_t g[2][8];
  if (a.failed || !groups(a, 2, 2, &rank, g)) return nullptr;
  dlip::transpose(X, O, rank, g[0], g[1]);
  return undef(env);
}

// copyBlock(src, dst, desc) with desc = [srcShape..., srcBegin..., dstShape..., dstBegin..., size...]
napi_value CopyBlock(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float* S = a.f32(0);
  float* D = a.f32(1);
  int rank = 0;
  int64_t g[5][8];
  if (a.failed || !groups(a, 2, 5, &rank, g)) return nullptr;
  dlip::copy_block(S, g[0], g[1], D, g[2], g[3], g[4], rank);
  return undef(env);
}

// softmax(x, y, c) / softmaxGrad(y, dy, dx, c)
napi_value Softmax(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t n;
  const float* X = a.f32(0, &n);
  float* Y = a.f32(1);
  const int64_t c = a.integer(2);
  if (a.failed) return nullptr;
  dlip::softmax(X, Y, int64_t(n) / c, c);
  return undef(env);
}

napi_value SoftmaxGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t n;
  const float *Y = a.f32(0, &n), *DY = a.f32(1);
  float* DX = a.f32(2);
  const int64_t c = a.integer(3);
  if (a.failed) return nullptr;
  dlip::softmax_grad(Y, DY, DX, int64_t(n) / c, c);
  return undef(env);
}

// layerNorm(x, g, b, eps, y, mean, rstd)
napi_value LayerNorm(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t n, c;
  const float *X = a.f32(0, &n), *G = a.f32(1, &c), *Bt = a.f32(2);
  const double eps = a.number(3);
  float *Y = a.f32(4), *M = a.f32(5), *R = a.f32(6);
  if (a.failed) return nullptr;
  dlip::layer_norm(X, G, Bt, float(eps), Y, M, R, int64_t(n / c), int64_t(c));
  return undef(env);
}

// layerNormGrad(dy, x, g, mean, rstd, dx, dg, db)
napi_value LayerNormGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t n, c;
  const float *DY = a.f32(0, &n), *X = a.f32(1), *G = a.f32(2, &c), *M = a.f32(3), *R = a.f32(4);
  float *DX = a.f32(5), *DG = a.f32(6), *DB = a.f32(7);
  if (a.failed) return nullptr;
  dlip::layer_norm_grad(DY, X, G, M, R, DX, DG, DB, int64_t(n / c), int64_t(c));
  return undef(env);
}

// gelu(x, y) / geluGrad(x, dy, dx)
napi_value Gelu(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t n;
  const float* X = a.f32(0, &n);
  float* Y = a.f32(1);
  if (a.failed) return nullptr;
  dlip::gelu(X, Y, int64_t(n));
  return undef(env);
}

napi_value GeluGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t n;
  const float *X = a.f32(0, &n), *DY = a.f32(1);
  float* DX = a.f32(2);
  if (a.failed) return nullptr;
  dlip::gelu_grad(X, DY, DX, int64_t(n));
  return undef(env);
}

bool attnShape(Args& a, size_t i, dlip::AttnShape* s) {
  size_t len;
  const int32_t* d = a.i32(i, &len);
  if (!d || len != 5) {
    a.fail("dlip native: bad attention shape");
    return false;
  }
  *s = {d[0], d[1], d[2], d[3], d[4]};
  return true;
}

// attnProbs(q, k, mask | null, maskStrides[4], scale, shape[b, h, tq, tk, d], p)
napi_value AttnProbs(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float *Q = a.f32(0), *K = a.f32(1);
  napi_valuetype t;
  napi_typeof(env, a.v[2], &t);
  const float* M = t == napi_null ? nullptr : a.f32(2);
  size_t nms;
  const int32_t* ms32 = a.i32(3, &nms);
  const double scale = a.number(4);
  dlip::AttnShape s;
  float* P = a.f32(6);
  if (a.failed || !attnShape(a, 5, &s) || nms != 4) return nullptr;
  const int64_t ms[4] = {ms32[0], ms32[1], ms32[2], ms32[3]};
  dlip::attn_probs(Q, K, M, ms, float(scale), s, P);
  return undef(env);
}

// attnProbsGrad(p, dp, q, k, scale, shape, dq, dk)
napi_value AttnProbsGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float *P = a.f32(0), *DP = a.f32(1), *Q = a.f32(2), *K = a.f32(3);
  const double scale = a.number(4);
  dlip::AttnShape s;
  float *DQ = a.f32(6), *DK = a.f32(7);
  if (a.failed || !attnShape(a, 5, &s)) return nullptr;
  dlip::attn_probs_grad(P, DP, Q, K, float(scale), s, DQ, DK);
  return undef(env);
}

// attnContext(p, v, shape, o)
napi_value AttnContext(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float *P = a.f32(0), *V = a.f32(1);
  dlip::AttnShape s;
  float* O = a.f32(3);
  if (a.failed || !attnShape(a, 2, &s)) return nullptr;
  dlip::attn_context(P, V, s, O);
  return undef(env);
}

// attnContextGrad(p, v, dout, shape, dp, dv)
napi_value AttnContextGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const float *P = a.f32(0), *V = a.f32(1), *DO = a.f32(2);
  dlip::AttnShape s;
  float *DP = a.f32(4), *DV = a.f32(5);
  if (a.failed || !attnShape(a, 3, &s)) return nullptr;
  dlip::attn_context_grad(P, V, DO, s, DP, DV);
  return undef(env);
}

// adamw(p, g, m, v, pOut, lr, beta1, beta2, eps, weightDecay, bias1, bias2)
napi_value AdamW(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t n;
  const float *P = a.f32(0, &n), *G = a.f32(1);
  float *M = a.f32(2), *V = a.f32(3), *PO = a.f32(4);
  const double lr = a.number(5), b1 = a.number(6), b2 = a.number(7), eps = a.number(8), wd = a.number(9),
               c1 = a.number(10), c2 = a.number(11);
  if (a.failed) return nullptr;
  dlip::adamw(P, G, M, V, PO, int64_t(n), float(lr), float(b1), float(b2), float(eps), float(wd), float(c1),
              float(c2));
  return undef(env);
}

// gatherRows(table, ids, out, width) / scatterAddRows(upd, ids, out, width)
napi_value GatherRows(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t n;
  const float* T = a.f32(0);
  const int32_t* I = a.i32(1, &n);
  float* O = a.f32(2);
  const int64_t w = a.integer(3);
  if (a.failed) return nullptr;
  dlip::gather_rows(T, I, O, int64_t(n), w);
  return undef(env);
}

napi_value ScatterAddRows(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t n;
  const float* U = a.f32(0);
  const int32_t* I = a.i32(1, &n);
  float* O = a.f32(2);
  const int64_t w = a.integer(3);
  if (a.failed) return nullptr;
  dlip::scatter_add_rows(U, I, O, int64_t(n), w);
  return undef(env);
}

// Reads a soft target from arguments i.. : a dense teacher Float32Array, or null then ids (Int32Array),
// probs and tail; `rows` rows of `v` classes.
bool softTarget(Args& a, size_t i, int64_t rows, int64_t v, dlip::SoftTarget* t) {
  napi_valuetype type;
  if (i >= a.n || napi_typeof(a.env, a.v[i], &type) != napi_ok) {
    a.fail("dlip native: missing soft target");
    return false;
  }
  if (type != napi_null) {
    size_t n;
    t->teacher = a.f32(i, &n);
    if (!a.failed && int64_t(n) != rows * v) a.fail("dlip native: teacher logits do not match the student's");
    return !a.failed;
  }
  size_t nIds, nProbs, nTail;
  t->teacher = nullptr;
  t->ids = a.i32(i + 1, &nIds);
  t->probs = a.f32(i + 2, &nProbs);
  t->tail = a.f32(i + 3, &nTail);
  if (a.failed) return false;
  t->k = rows > 0 ? int64_t(nIds) / rows : 0;
  if (nIds != nProbs || int64_t(nTail) != rows || t->k * rows != int64_t(nIds)) a.fail("dlip native: bad sparse soft target");
  for (size_t j = 0; j < nIds && !a.failed; j++)
    if (t->ids[j] < 0 || t->ids[j] >= v) a.fail("dlip native: soft target id outside the classes");
  return !a.failed;
}

// What softXent and softXentGrad share: logits z (rows·v) at 0, v at 1, the temperature at 2 and the
// soft target from 5 on; 3 and 4 are each one's outputs.
struct SoftXentArgs {
  const float* z;
  int64_t rows, v;
  float temperature;
  dlip::SoftTarget target;
};

bool softXentArgs(Args& a, SoftXentArgs* s) {
  size_t n;
  s->z = a.f32(0, &n);
  s->v = a.integer(1);
  s->temperature = float(a.number(2));
  if (a.failed || s->v <= 0) return false;
  s->rows = int64_t(n) / s->v;
  s->target = {};
  return softTarget(a, 5, s->rows, s->v, &s->target);
}

// softXent(z, v, temperature, cross, negEntropy, teacher | null, ids?, probs?, tail?)
napi_value SoftXent(napi_env env, napi_callback_info info) {
  Args a(env, info);
  SoftXentArgs s;
  if (!softXentArgs(a, &s)) return nullptr;
  float *cross = a.f32(3), *negEntropy = a.f32(4);
  if (a.failed) return nullptr;
  dlip::soft_xent(s.z, s.target, s.temperature, s.rows, s.v, cross, negEntropy);
  return undef(env);
}

// softXentGrad(z, v, temperature, scale, dz, teacher | null, ids?, probs?, tail?)
napi_value SoftXentGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  SoftXentArgs s;
  if (!softXentArgs(a, &s)) return nullptr;
  const float* scale = a.f32(3);
  float* dz = a.f32(4);
  if (a.failed) return nullptr;
  dlip::soft_xent_grad(s.z, s.target, s.temperature, scale, s.rows, s.v, dz);
  return undef(env);
}

// rowTopK(x, v, k, lse: Float64Array [rows], ids: Int32Array [rows·k])
napi_value RowTopK(napi_env env, napi_callback_info info) {
  Args a(env, info);
  size_t n, nLse, nIds;
  const float* X = a.f32(0, &n);
  const int64_t v = a.integer(1), k = a.integer(2);
  double* lse = a.f64(3, &nLse);
  int32_t* ids = a.i32(4, &nIds);
  if (a.failed) return nullptr;
  if (v <= 0 || k <= 0 || n % v != 0 || nLse != n / v || int64_t(nIds) != int64_t(nLse) * k) {
    a.fail("dlip native: rowTopK shapes do not agree");
    return nullptr;
  }
  dlip::row_top_k(X, int64_t(nLse), v, int(k), lse, ids);
  return undef(env);
}

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor fns[] = {
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"gemm", nullptr, Gemm, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"linear", nullptr, Linear, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"binary", nullptr, Binary, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"unary", nullptr, Unary, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"reduce", nullptr, Reduce, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"transpose", nullptr, Transpose, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"copyBlock", nullptr, CopyBlock, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"softmax", nullptr, Softmax, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"softmaxGrad", nullptr, SoftmaxGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"layerNorm", nullptr, LayerNorm, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"layerNormGrad", nullptr, LayerNormGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"gelu", nullptr, Gelu, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"geluGrad", nullptr, GeluGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"attnProbs", nullptr, AttnProbs, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"attnProbsGrad", nullptr, AttnProbsGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"attnContext", nullptr, AttnContext, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"attnContextGrad", nullptr, AttnContextGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"softXent", nullptr, SoftXent, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"softXentGrad", nullptr, SoftXentGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"rowTopK", nullptr, RowTopK, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"adamw", nullptr, AdamW, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"gatherRows", nullptr, GatherRows, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"scatterAddRows", nullptr, ScatterAddRows, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
