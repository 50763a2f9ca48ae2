#include "kernels.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

extern "C" {
// OpenBLAS extensions (declared in its cblas.h on most builds; repeated here for the ones that are not).
void openblas_set_num_threads(int);
char* openblas_get_config(void);
int openblas_get_parallel(void);
}

namespace dlip {

namespace {

int g_threads = 1;

// Below this many elements a parallel region costs more than it saves: on a 2-core machine with
// other load, waking the second thread took 50-200 µs, while one core adds 1M floats in ~400 µs.
constexpr int64_t kParallelMin = 1 << 20;

inline int par_threads(int64_t work) { return work >= kParallelMin ? g_threads : 1; }

// Below this many multiply-adds a product (or a set of attention heads) runs on one thread. A batch-1
// forward is made of m = 17 products; threading them made tiny-student's image encoding 1.8x slower on
// 2 idle cores (1.9 ms against 1.1 ms on one thread) and tiny-teacher's no faster.
constexpr int64_t kParallelMacs = int64_t(1) << 21;

// exp for float32 (Cephes expf): ~1 ulp, branch-free so that loops calling it vectorise (with
// -fno-trapping-math, see binding.gyp); glibc's expf
// only vectorises under -ffast-math.
inline float fexp(float x) {
  x = std::min(std::max(x, -87.33654f), 88.72283f);
  float fx = std::floor(x * 1.44269504088896341f + 0.5f);
  float z = x - fx * 0.693359375f;
  z -= fx * -2.12194440e-4f;
  float y = 1.9875691500e-4f;
  y = y * z + 1.3981999507e-3f;
  y = y * z + 8.3334519073e-3f;
  y = y * z + 4.1665795894e-2f;
  y = y * z + 1.6666665459e-1f;
  y = y * z + 5.0000001201e-1f;
  y = y * z * z + z + 1.0f;
  int32_t bits = (static_cast<int32_t>(fx) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return y * scale;
}

// erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, below float32 resolution near 1), the same
// approximation PyTorch's vectorised CPU erf uses; glibc's erff does not vectorise.
inline float ferf(float x) {
  float ax = std::fabs(x);
  float t = 1.0f / (1.0f + 0.3275911f * ax);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  float y = 1.0f - p * t * fexp(-ax * ax);
  return std::copysign(y, x);
}

template <Binary op>
inline float apply(float a, float b) {
  if constexpr (op == Binary::Add) return a + b;
  if constexpr (op == Binary::Sub) return a - b;
  if constexpr (op == Binary::Mul) return a * b;
  if constexpr (op == Binary::Div) return a / b;
  if constexpr (op == Binary::Max) return (a != a || b != b) ? NAN : (a > b ? a : b);
  if constexpr (op == Binary::Min) return (a != a || b != b) ? NAN : (a < b ? a : b);
  if constexpr (op == Binary::SquaredDiff) return (a - b) * (a - b);
  if constexpr (op == Binary::Pow) return std::pow(a, b);
  return 0;
}

// One contiguous run of the innermost dimension, specialised on the common stride patterns so the
// compiler vectorises them.
template <Binary op>
void run(const float* a, const float* b, float* out, int64_t n, int64_t sa, int64_t sb) {
  if (sa == 1 && sb == 1) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) out[i] = apply<op>(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const float bv = *b;
#pragma omp simd
    for (int64_t i = 0; i < n; i++) out[i] = apply<op>(a[i], bv);
  } else if (sa == 0 && sb == 1) {
    const float av = *a;
#pragma omp simd
    for (int64_t i = 0; i < n; i++) out[i] = apply<op>(av, b[i]);
  } else {
    for (int64_t i = 0; i < n; i++) out[i] = apply<op>(a[i * sa], b[i * sb]);
  }
}

// Splits the flat index space of `shape` into one chunk per thread; f(start, end, idx) gets each
// chunk with idx = the multi-index of `start`.
template <typename F>
void for_chunks(int rank, const int64_t* shape, F f) {
  int64_t total = 1;
  for (int d = 0; d < rank; d++) total *= shape[d];
  if (total == 0) return;
  const int nt = par_threads(total);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    const int64_t start = total * t / T, end = total * (t + 1) / T;
    if (start < end) {
      int64_t idx[8];
      int64_t rem = start;
      for (int d = rank - 1; d >= 0; d--) {
        idx[d] = rem % shape[d];
        rem /= shape[d];
      }
      f(start, end, idx);
    }
  }
}

template <Binary op>
void binary_t(const float* a, const float* b, float* out, int rank, const int64_t* shape, const int64_t* sa,
              const int64_t* sb) {
  const int64_t inner = shape[rank - 1];
  for_chunks(rank, shape, [&](int64_t pos, int64_t end, int64_t* idx) {
    while (pos < end) {
      int64_t oa = 0, ob = 0;
      for (int d = 0; d < rank; d++) {
        oa += idx[d] * sa[d];
        ob += idx[d] * sb[d];
      }
      const int64_t len = std::min(inner - idx[rank - 1], end - pos);
      run<op>(a + oa, b + ob, out + pos, len, sa[rank - 1], sb[rank - 1]);
      pos += len;
      idx[rank - 1] += len;
      for (int d = rank - 1; d > 0 && idx[d] == shape[d]; d--) {
        idx[d] = 0;
        idx[d - 1]++;
      }
    }
  });
}

template <typename F>
void parallel_n(int64_t n, F f) {
  const int nt = par_threads(n);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    const int64_t s = n * t / T, e = n * (t + 1) / T;
    if (s < e) f(s, e);
  }
}

// Rows [0, rows) split over threads when rows·c is large enough.
template <typename F>
void parallel_rows(int64_t rows, int64_t c, F f) {
  const int nt = std::min<int64_t>(par_threads(rows * c), rows);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
  for (int64_t r = 0; r < rows; r++) f(r);
}

}  // namespace

void set_threads(int n) {
  g_threads = std::max(1, n);
  omp_set_num_threads(g_threads);
  openblas_set_num_threads(g_threads);
}

int threads() { return g_threads; }

const char* blas_config() { return openblas_get_config(); }

int blas_parallel_mode() {
  switch (openblas_get_parallel()) {
    case 2:
      return 1;
    case 1:
      return 0;
    default:
      return -1;
  }
}

// OpenBLAS's OpenMP build reads omp_get_max_threads() at every call and threads any product above
// ~262k multiply-adds; this scope makes a smaller-than-kParallelMacs product run on the calling
// thread. (The pthreads build has no cheap per-call switch and keeps its own rule.)
class SerialBlasIfSmall {
 public:
  explicit SerialBlasIfSmall(int64_t macs) : on_(g_threads > 1 && macs < kParallelMacs && blas_parallel_mode() == 1) {
    if (on_) omp_set_num_threads(1);
  }
  ~SerialBlasIfSmall() {
    if (on_) omp_set_num_threads(g_threads);
  }
  SerialBlasIfSmall(const SerialBlasIfSmall&) = delete;
  SerialBlasIfSmall& operator=(const SerialBlasIfSmall&) = delete;

 private:
  bool on_;
};

void gemm(const float* a, const float* b, float* c, int64_t batch, int m, int n, int k, bool transA,
          bool transB, int64_t strideA, int64_t strideB) {
  const int lda = transA ? m : k, ldb = transB ? k : n;
  const CBLAS_TRANSPOSE ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans;
  auto one = [&](int64_t i) {
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a + i * strideA, lda, b + i * strideB, ldb, 0.0f,
                c + i * int64_t(m) * n, n);
  };
  // Many small products (attention heads): one per thread, each single-threaded inside OpenBLAS.
  // Only safe with OpenBLAS's OpenMP build, which runs serially when called inside a parallel region.
  const int64_t macs = int64_t(m) * n * k;
  if (batch > 1 && g_threads > 1 && blas_parallel_mode() == 1 && macs < (int64_t(1) << 22) &&
      batch * macs >= kParallelMacs) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < batch; i++) one(i);
  } else {
    SerialBlasIfSmall serial(batch * macs);
    for (int64_t i = 0; i < batch; i++) one(i);
  }
}

void linear(const float* x, const float* w, const float* b, float* y, int m, int n, int k) {
  // Rows of y start as the bias and the GEMM accumulates onto them (beta = 1): no separate pass.
  parallel_rows(m, n, [&](int64_t r) { std::memcpy(y + r * n, b, n * sizeof(float)); });
  SerialBlasIfSmall serial(int64_t(m) * n * k);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, x, k, w, k, 1.0f, y, n);
}

void binary(Binary op, const float* a, const float* b, float* out, int rank, const int64_t* shape,
            const int64_t* sa, const int64_t* sb) {
  switch (op) {
    case Binary::Add: return binary_t<Binary::Add>(a, b, out, rank, shape, sa, sb);
    case Binary::Sub: return binary_t<Binary::Sub>(a, b, out, rank, shape, sa, sb);
    case Binary::Mul: return binary_t<Binary::Mul>(a, b, out, rank, shape, sa, sb);
    case Binary::Div: return binary_t<Binary::Div>(a, b, out, rank, shape, sa, sb);
    case Binary::Max: return binary_t<Binary::Max>(a, b, out, rank, shape, sa, sb);
    case Binary::Min: return binary_t<Binary::Min>(a, b, out, rank, shape, sa, sb);
    case Binary::SquaredDiff: return binary_t<Binary::SquaredDiff>(a, b, out, rank, shape, sa, sb);
    case Binary::Pow: return binary_t<Binary::Pow>(a, b, out, rank, shape, sa, sb);
  }
}

template <typename F>
static void map(const float* x, float* y, int64_t n, F f) {
  parallel_n(n, [&](int64_t s, int64_t e) {
#pragma omp simd
    for (int64_t i = s; i < e; i++) y[i] = f(x[i]);
  });
}

void unary(Unary op, const float* x, float* y, int64_t n) {
  switch (op) {
    case Unary::Exp: return map(x, y, n, [](float v) { return fexp(v); });
    case Unary::Log: return map(x, y, n, [](float v) { return std::log(v); });
    case Unary::Neg: return map(x, y, n, [](float v) { return -v; });
    case Unary::Sqrt: return map(x, y, n, [](float v) { return std::sqrt(v); });
    case Unary::Rsqrt: return map(x, y, n, [](float v) { return 1.0f / std::sqrt(v); });
    case Unary::Square: return map(x, y, n, [](float v) { return v * v; });
    case Unary::Erf: return map(x, y, n, [](float v) { return ferf(v); });
    case Unary::Tanh: return map(x, y, n, [](float v) { return std::tanh(v); });
    case Unary::Sigmoid: return map(x, y, n, [](float v) { return 1.0f / (1.0f + fexp(-v)); });
    case Unary::Relu: return map(x, y, n, [](float v) { return v > 0 ? v : (v != v ? v : 0.0f); });
    case Unary::Abs: return map(x, y, n, [](float v) { return std::fabs(v); });
    case Unary::Reciprocal: return map(x, y, n, [](float v) { return 1.0f / v; });
  }
}

void reduce(Reduce op, const float* x, float* out, int64_t outer, int64_t r, int64_t inner) {
  const bool sum = op == Reduce::Sum || op == Reduce::Mean;
  const float scale = op == Reduce::Mean ? 1.0f / float(r) : 1.0f;
  if (inner == 1) {
    parallel_rows(outer, r, [&](int64_t o) {
      const float* row = x + o * r;
      float acc;
      if (sum) {
        acc = 0;
#pragma omp simd reduction(+ : acc)
        for (int64_t i = 0; i < r; i++) acc += row[i];
        acc *= scale;
      } else {
        acc = r > 0 ? row[0] : (op == Reduce::Max ? -INFINITY : INFINITY);
        for (int64_t i = 1; i < r; i++) acc = op == Reduce::Max ? std::max(acc, row[i]) : std::min(acc, row[i]);
      }
      out[o] = acc;
    });
    return;
  }
  // Reduce over a middle axis: accumulate whole rows of `inner`, vectorised along inner. With few
  // outer slices, split `inner` across threads instead.
  auto slice = [&](int64_t o, int64_t i0, int64_t i1) {
    float* dst = out + o * inner;
    const float* src = x + o * r * inner;
    if (r == 0) {
      for (int64_t i = i0; i < i1; i++) dst[i] = sum ? 0.0f : (op == Reduce::Max ? -INFINITY : INFINITY);
      return;
    }
    for (int64_t i = i0; i < i1; i++) dst[i] = src[i];
    for (int64_t j = 1; j < r; j++) {
      const float* s = src + j * inner;
      if (sum) {
#pragma omp simd
        for (int64_t i = i0; i < i1; i++) dst[i] += s[i];
      } else if (op == Reduce::Max) {
        for (int64_t i = i0; i < i1; i++) dst[i] = std::max(dst[i], s[i]);
      } else {
        for (int64_t i = i0; i < i1; i++) dst[i] = std::min(dst[i], s[i]);
      }
    }
    if (scale != 1.0f)
      for (int64_t i = i0; i < i1; i++) dst[i] *= scale;
  };
  if (outer >= g_threads) {
    parallel_rows(outer, r * inner, [&](int64_t o) { slice(o, 0, inner); });
  } else {
    for (int64_t o = 0; o < outer; o++) {
      const int nt = par_threads(r * inner);
#pragma omp parallel num_threads(nt) if (nt > 1)
      {
        const int t = omp_get_thread_num(), T = omp_get_num_threads();
        slice(o, inner * t / T, inner * (t + 1) / T);
      }
    }
  }
}

void transpose(const float* x, float* out, int rank, const int64_t* shape, const int64_t* perm) {
  int64_t xs[8], os[8], ss[8];
  xs[rank - 1] = 1;
  for (int d = rank - 2; d >= 0; d--) xs[d] = xs[d + 1] * shape[d + 1];
  for (int d = 0; d < rank; d++) {
    os[d] = shape[perm[d]];
    ss[d] = xs[perm[d]];
  }
  const int64_t inner = os[rank - 1], step = ss[rank - 1];
  for_chunks(rank, os, [&](int64_t pos, int64_t end, int64_t* idx) {
    while (pos < end) {
      int64_t off = 0;
      for (int d = 0; d < rank; d++) off += idx[d] * ss[d];
      const int64_t len = std::min(inner - idx[rank - 1], end - pos);
      const float* src = x + off;
      float* dst = out + pos;
      if (step == 1) {
        std::memcpy(dst, src, len * sizeof(float));
      } else {
        for (int64_t i = 0; i < len; i++) dst[i] = src[i * step];
      }
      pos += len;
      idx[rank - 1] += len;
      for (int d = rank - 1; d > 0 && idx[d] == os[d]; d--) {
        idx[d] = 0;
        idx[d - 1]++;
      }
    }
  });
}

void copy_block(const float* src, const int64_t* srcShape, const int64_t* srcBegin, float* dst, const int64_t* dstShape,
                const int64_t* dstBegin, const int64_t* size, int rank) {
  int64_t ss[8], ds[8];
  ss[rank - 1] = ds[rank - 1] = 1;
  for (int d = rank - 2; d >= 0; d--) {
    ss[d] = ss[d + 1] * srcShape[d + 1];
    ds[d] = ds[d + 1] * dstShape[d + 1];
  }
  int64_t so = 0, dso = 0;
  for (int d = 0; d < rank; d++) {
    so += srcBegin[d] * ss[d];
    dso += dstBegin[d] * ds[d];
  }
  const int64_t inner = size[rank - 1];
  // One row of `inner` contiguous floats per outer index.
  int64_t rows = 1;
  for (int d = 0; d < rank - 1; d++) rows *= size[d];
  parallel_rows(rows, inner, [&](int64_t r) {
    int64_t s = so, t = dso, rem = r;
    for (int d = rank - 2; d >= 0; d--) {
      const int64_t i = rem % size[d];
      rem /= size[d];
      s += i * ss[d];
      t += i * ds[d];
    }
    std::memcpy(dst + t, src + s, inner * sizeof(float));
  });
}

void softmax(const float* x, float* y, int64_t rows, int64_t c) {
  parallel_rows(rows, c, [&](int64_t r) {
    const float* xr = x + r * c;
    float* yr = y + r * c;
    float mx = -INFINITY;
    for (int64_t i = 0; i < c; i++) mx = std::max(mx, xr[i]);
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < c; i++) {
      yr[i] = fexp(xr[i] - mx);
      s += yr[i];
    }
    const float inv = 1.0f / s;
#pragma omp simd
    for (int64_t i = 0; i < c; i++) yr[i] *= inv;
  });
}

void softmax_grad(const float* y, const float* dy, float* dx, int64_t rows, int64_t c) {
  parallel_rows(rows, c, [&](int64_t r) {
    const float *yr = y + r * c, *dyr = dy + r * c;
    float* dxr = dx + r * c;
    float dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int64_t i = 0; i < c; i++) dot += yr[i] * dyr[i];
#pragma omp simd
    for (int64_t i = 0; i < c; i++) dxr[i] = yr[i] * (dyr[i] - dot);
  });
}

namespace {

// log Σ_j exp(x_j/T) of one row, and exp(x_j/T − max) into e when given (the caller's row buffer).
float row_log_sum_exp(const float* x, float invT, int64_t v, float* e) {
  float mx = -INFINITY;
  for (int64_t j = 0; j < v; j++) mx = std::max(mx, x[j]);
  mx *= invT;
  float s = 0;
  if (e) {
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < v; j++) {
      e[j] = fexp(x[j] * invT - mx);
      s += e[j];
    }
  } else {
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < v; j++) s += fexp(x[j] * invT - mx);
  }
  return mx + std::log(s);
}

}  // namespace

void soft_xent(const float* z, SoftTarget t, float temperature, int64_t rows, int64_t v, float* cross,
               float* negEntropy) {
  const float invT = 1.0f / temperature;
  parallel_rows(rows, v, [&](int64_t r) {
    const float* zr = z + r * v;
    const float lseS = row_log_sum_exp(zr, invT, v, nullptr);
    if (t.teacher) {
      // Both rows through the same arithmetic, so a model against itself gives exactly 0.
      const float* tr = t.teacher + r * v;
      const float lseT = row_log_sum_exp(tr, invT, v, nullptr);
      float c = 0, h = 0;
#pragma omp simd reduction(+ : c, h)
      for (int64_t j = 0; j < v; j++) {
        const float lp = tr[j] * invT - lseT;
        const float p = fexp(lp);
        c += p * (zr[j] * invT - lseS);
        h += p * lp;
      }
      cross[r] = c;
      negEntropy[r] = h;
    } else {
      const float tail = t.tail[r];
      float sumLogQ = 0;
      if (tail != 0) {
#pragma omp simd reduction(+ : sumLogQ)
        for (int64_t j = 0; j < v; j++) sumLogQ += zr[j] * invT - lseS;
      }
      float c = tail * sumLogQ;
      for (int64_t i = 0; i < t.k; i++) c += (t.probs[r * t.k + i] - tail) * (zr[t.ids[r * t.k + i]] * invT - lseS);
      cross[r] = c;
    }
  });
}

void soft_xent_grad(const float* z, SoftTarget t, float temperature, const float* scale, int64_t rows, int64_t v,
                    float* dz) {
  const float invT = 1.0f / temperature;
  parallel_rows(rows, v, [&](int64_t r) {
    const float* zr = z + r * v;
    float* dr = dz + r * v;
    const float s = scale[r];
    const float lseS = row_log_sum_exp(zr, invT, v, nullptr);
    if (t.teacher) {
      const float* tr = t.teacher + r * v;
      const float lseT = row_log_sum_exp(tr, invT, v, nullptr);
#pragma omp simd
      for (int64_t j = 0; j < v; j++) dr[j] = s * (fexp(zr[j] * invT - lseS) - fexp(tr[j] * invT - lseT));
    } else {
      const float tail = t.tail[r];
#pragma omp simd
      for (int64_t j = 0; j < v; j++) dr[j] = s * (fexp(zr[j] * invT - lseS) - tail);
      for (int64_t i = 0; i < t.k; i++) dr[t.ids[r * t.k + i]] -= s * (t.probs[r * t.k + i] - tail);
    }
  });
}

void row_top_k(const float* x, int64_t rows, int64_t v, int k, double* lse, int32_t* ids) {
  parallel_rows(rows, v, [&](int64_t r) {
    const float* xr = x + r * v;
    float mx = -INFINITY;
    for (int64_t j = 0; j < v; j++) mx = std::max(mx, xr[j]);
    if (mx == -INFINITY) {
      lse[r] = -INFINITY;
    } else {
      double s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t j = 0; j < v; j++) s += fexp(xr[j] - mx);
      lse[r] = double(mx) + std::log(s);
    }
    // Kept sorted best first; an entry enters only when strictly above the worst kept (or while the
    // list is short): in index order, a later index never beats an equal value.
    int32_t* top = ids + r * k;
    int n = 0;
    for (int64_t j = 0; j < v; j++) {
      const float y = xr[j];
      if (y != y || (n == k && !(y > xr[top[k - 1]]))) continue;
      int pos = n < k ? n++ : k - 1;
      while (pos > 0 && y > xr[top[pos - 1]]) {
        top[pos] = top[pos - 1];
        pos--;
      }
      top[pos] = int32_t(j);
    }
    for (int i = n; i < k; i++) top[i] = -1;
  });
}

void layer_norm(const float* x, const float* g, const float* b, float eps, float* y, float* mean, float* rstd,
                int64_t rows, int64_t c) {
  parallel_rows(rows, c, [&](int64_t r) {
    const float* xr = x + r * c;
    float* yr = y + r * c;
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < c; i++) s += xr[i];
    const float mu = s / float(c);
    float ss = 0;
#pragma omp simd reduction(+ : ss)
    for (int64_t i = 0; i < c; i++) ss += (xr[i] - mu) * (xr[i] - mu);
    const float rs = 1.0f / std::sqrt(ss / float(c) + eps);
#pragma omp simd
    for (int64_t i = 0; i < c; i++) yr[i] = (xr[i] - mu) * rs * g[i] + b[i];
    mean[r] = mu;
    rstd[r] = rs;
  });
}

void layer_norm_grad(const float* dy, const float* x, const float* g, const float* mean, const float* rstd,
                     float* dx, float* dg, float* db, int64_t rows, int64_t c) {
  // dγ and dβ are sums over rows: each thread accumulates its own, then they are added.
  const int nt = par_threads(rows * c);
  std::vector<float> part(size_t(nt) * 2 * c, 0.0f);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    float* pg = part.data() + size_t(t) * 2 * c;
    float* pb = pg + c;
    for (int64_t r = rows * t / T; r < rows * (t + 1) / T; r++) {
      const float *dyr = dy + r * c, *xr = x + r * c;
      float* dxr = dx + r * c;
      const float mu = mean[r], rs = rstd[r];
      float a = 0, bsum = 0;
#pragma omp simd reduction(+ : a, bsum)
      for (int64_t i = 0; i < c; i++) {
        const float xh = (xr[i] - mu) * rs, gdy = g[i] * dyr[i];
        a += gdy;
        bsum += gdy * xh;
        pg[i] += dyr[i] * xh;
        pb[i] += dyr[i];
      }
      a /= float(c);
      bsum /= float(c);
#pragma omp simd
      for (int64_t i = 0; i < c; i++) dxr[i] = rs * (g[i] * dyr[i] - a - (xr[i] - mu) * rs * bsum);
    }
  }
  for (int64_t i = 0; i < c; i++) {
    float sg = 0, sb = 0;
    for (int t = 0; t < nt; t++) {
      sg += part[size_t(t) * 2 * c + i];
      sb += part[size_t(t) * 2 * c + c + i];
    }
    dg[i] = sg;
    db[i] = sb;
  }
}

void gelu(const float* x, float* y, int64_t n) {
  map(x, y, n, [](float v) { return 0.5f * v * (1.0f + ferf(v * 0.70710678118654752f)); });
}

void gelu_grad(const float* x, const float* dy, float* dx, int64_t n) {
  parallel_n(n, [&](int64_t s, int64_t e) {
#pragma omp simd
    for (int64_t i = s; i < e; i++) {
      const float v = x[i];
      const float cdf = 0.5f * (1.0f + ferf(v * 0.70710678118654752f));
      const float pdf = 0.39894228040143268f * fexp(-0.5f * v * v);
      dx[i] = dy[i] * (cdf + v * pdf);
    }
  });
}

// Runs f(i) for the B·H heads: one head per thread, each BLAS call single-threaded inside. Serial
// unless OpenBLAS is its OpenMP build (which runs serially inside a parallel region), or when the heads
// hold fewer than kParallelMacs multiply-adds in all (`macs` each).
template <typename F>
static void for_heads(int64_t n, int64_t macs, F f) {
  if (g_threads > 1 && blas_parallel_mode() == 1 && n * macs >= kParallelMacs) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) f(i);
  } else {
    for (int64_t i = 0; i < n; i++) f(i);
  }
}

void attn_probs(const float* q, const float* k, const float* mask, const int64_t* ms, float scale, AttnShape s,
                float* p) {
  const int64_t w = s.h * s.d;
  for_heads(s.b * s.h, s.tq * s.tk * s.d, [&](int64_t i) {
    const int64_t b = i / s.h, h = i % s.h;
    float* pi = p + i * s.tq * s.tk;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s.tq, s.tk, s.d, scale, q + b * s.tq * w + h * s.d, w,
                k + b * s.tk * w + h * s.d, w, 0.0f, pi, s.tk);
    for (int64_t r = 0; r < s.tq; r++) {
      float* row = pi + r * s.tk;
      if (mask) {
        const float* m = mask + b * ms[0] + h * ms[1] + r * ms[2];
        if (ms[3] == 1) {
#pragma omp simd
          for (int64_t j = 0; j < s.tk; j++) row[j] += m[j];
        } else {
          for (int64_t j = 0; j < s.tk; j++) row[j] += m[j * ms[3]];
        }
      }
      float mx = -INFINITY;
      for (int64_t j = 0; j < s.tk; j++) mx = std::max(mx, row[j]);
      float sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int64_t j = 0; j < s.tk; j++) {
        row[j] = fexp(row[j] - mx);
        sum += row[j];
      }
      const float inv = 1.0f / sum;
#pragma omp simd
      for (int64_t j = 0; j < s.tk; j++) row[j] *= inv;
    }
  });
}

void attn_probs_grad(const float* p, const float* dp, const float* q, const float* k, float scale, AttnShape s,
                     float* dq, float* dk) {
  const int64_t w = s.h * s.d;
  for_heads(s.b * s.h, s.tq * s.tk * s.d, [&](int64_t i) {
    const int64_t b = i / s.h, h = i % s.h;
    thread_local std::vector<float> ds;
    ds.resize(size_t(s.tq * s.tk));
    const float *pi = p + i * s.tq * s.tk, *dpi = dp + i * s.tq * s.tk;
    // dS = scale · P ⊙ (dP − rowsum(dP ⊙ P)), the softmax backward with the score scale folded in.
    for (int64_t r = 0; r < s.tq; r++) {
      const float *pr = pi + r * s.tk, *dpr = dpi + r * s.tk;
      float* dr = ds.data() + r * s.tk;
      float dot = 0;
#pragma omp simd reduction(+ : dot)
      for (int64_t j = 0; j < s.tk; j++) dot += pr[j] * dpr[j];
#pragma omp simd
      for (int64_t j = 0; j < s.tk; j++) dr[j] = scale * pr[j] * (dpr[j] - dot);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s.tq, s.d, s.tk, 1.0f, ds.data(), s.tk,
                k + b * s.tk * w + h * s.d, w, 0.0f, dq + b * s.tq * w + h * s.d, w);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, s.tk, s.d, s.tq, 1.0f, ds.data(), s.tk,
                q + b * s.tq * w + h * s.d, w, 0.0f, dk + b * s.tk * w + h * s.d, w);
  });
}

void attn_context(const float* p, const float* v, AttnShape s, float* o) {
  const int64_t w = s.h * s.d;
  for_heads(s.b * s.h, s.tq * s.tk * s.d, [&](int64_t i) {
    const int64_t b = i / s.h, h = i % s.h;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s.tq, s.d, s.tk, 1.0f, p + i * s.tq * s.tk, s.tk,
                v + b * s.tk * w + h * s.d, w, 0.0f, o + b * s.tq * w + h * s.d, w);
  });
}

void attn_context_grad(const float* p, const float* v, const float* dout, AttnShape s, float* dp, float* dv) {
  const int64_t w = s.h * s.d;
  for_heads(s.b * s.h, s.tq * s.tk * s.d, [&](int64_t i) {
    const int64_t b = i / s.h, h = i % s.h;
    const float* doi = dout + b * s.tq * w + h * s.d;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s.tq, s.tk, s.d, 1.0f, doi, w, v + b * s.tk * w + h * s.d, w,
                0.0f, dp + i * s.tq * s.tk, s.tk);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, s.tk, s.d, s.tq, 1.0f, p + i * s.tq * s.tk, s.tk, doi, w,
                0.0f, dv + b * s.tk * w + h * s.d, w);
  });
}

void adamw(const float* p, const float* g, float* m, float* v, float* pOut, int64_t n, float lr, float beta1,
           float beta2, float eps, float weightDecay, float bias1, float bias2) {
  const float decay = 1.0f - lr * weightDecay, stepSize = lr / bias1, rootBias2 = std::sqrt(bias2);
  parallel_n(n, [&](int64_t s, int64_t e) {
#pragma omp simd
    for (int64_t i = s; i < e; i++) {
      const float gi = g[i];
      const float mi = beta1 * m[i] + (1.0f - beta1) * gi;
      const float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
      m[i] = mi;
      v[i] = vi;
      pOut[i] = p[i] * decay - stepSize * mi / (std::sqrt(vi) / rootBias2 + eps);
    }
  });
}

void gather_rows(const float* table, const int32_t* ids, float* out, int64_t n, int64_t width) {
  parallel_rows(n, width, [&](int64_t i) {
    std::memcpy(out + i * width, table + int64_t(ids[i]) * width, width * sizeof(float));
  });
}

void scatter_add_rows(const float* upd, const int32_t* ids, float* out, int64_t n, int64_t width) {
  // Serial over rows: two rows may hit the same id.
  for (int64_t i = 0; i < n; i++) {
    float* dst = out + int64_t(ids[i]) * width;
    const float* src = upd + i * width;
#pragma omp simd
    for (int64_t j = 0; j < width; j++) dst[j] += src[j];
  }
}

}  // namespace dlip
