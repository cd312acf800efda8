// LoRA Lab's fused CPU kernels for native TensorFlow (the tfjs-node backend).
//
// tfjs-node runs every tfjs op as one TensorFlow eager op. A Llama block's RMSNorm, rotary
// embedding, masked softmax and SwiGLU (GPT-2's LayerNorm and gelu_new) are 4–12 small
// elementwise ops each, forward and backward:
// a smollm-135m step runs ~4400 kernels, and TensorFlow's elementwise kernels on these sizes took
// 3–7× PyTorch's time (docs/bench/2026-12-04/smollm). Each op below does one of those chains in one
// pass over its tensors. They are registered into TensorFlow's op and kernel registries through
// TensorFlow's C API (tensorflow/c/ops.h, kernels.h) when this N-API module loads, so the tfjs-node
// binding runs them by name (backend.executeMultipleOutputs) like any TensorFlow op.
//
// Built by `npm run setup:native` with g++ against the install's C headers and libtensorflow_cc
// (src/core/backend/fusedOps.ts). float32 only. Numerics: the same formulas as the tfjs chains in
// src/core/backend/tensorOps.ts, in float32, with exp by Cody–Waite range reduction and a degree-7
// polynomial (relative error < 2e-7 against float64 over the range softmax and sigmoid use).
#include <node_api.h>

#include <tensorflow/c/kernels.h>
#include <tensorflow/c/ops.h>
#include <tensorflow/c/tf_status.h>
#include <tensorflow/c/tf_tensor.h>

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

// The hash of this file the build was made from (fusedOpsBuild.ts), checked when it is loaded.
#ifndef LORA_LAB_OPS_SOURCE
#define LORA_LAB_OPS_SOURCE "unknown"
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LL_X86 1
#define LL_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#define LL_AVX512 __attribute__((target("avx512f")))
#define LL_AVX2 __attribute__((target("avx2,fma")))
#else
#define LL_X86 0
#define LL_CLONES
#define LL_AVX512
#define LL_AVX2
#endif

namespace {

// ---- a small thread pool: the calling thread and the workers share a kernel's chunks ----
//
// Waking a thread that sleeps on a condition variable took ~80 µs on the 2-vCPU VMs this was
// measured on (the idle vCPU halts and needs an IPI), longer than most of these kernels run
// (30–400 µs). So a kernel's rows are cut into chunks that the caller and the workers take from one
// counter: the caller starts at once and takes every chunk a late worker has not; it waits only for
// chunks a worker has begun. A worker stays awake a short while after each kernel (spinning, then
// yielding its core to TensorFlow's threads), so the next kernel usually finds it there.

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

double EnvNumber(const char* name, double fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const double x = std::strtod(v, &end);
  return end && *end == 0 && x >= 0 ? x : fallback;
}

class Pool {
 public:
  explicit Pool(int threads) : threads_(std::max(1, threads)), awakeNs_(static_cast<int64_t>(EnvNumber("LORA_LAB_OPS_AWAKE_US", 300) * 1000)) {
    for (int i = 1; i < threads_; i++) workers_.emplace_back([this] { Loop(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> l(m_);
      stop_ = true;
      gen_.fetch_add(1);
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
  }
  int threads() const { return threads_; }

  // fn(begin, end) over [0, n) in chunks; inline when the work is small (cost units ≈ flops).
  void For(int64_t n, double costPerItem, const std::function<void(int64_t, int64_t)>& fn) {
    if (n <= 0) return;
    if (threads_ == 1 || n * costPerItem < 40000 || n < 2) {
      fn(0, n);
      return;
    }
    std::unique_lock<std::mutex> call(call_);  // one parallel region at a time
    Job job{&fn, n, std::min<int64_t>(n, 4 * threads_)};
    job_.store(&job);
    {
      std::lock_guard<std::mutex> l(m_);  // a worker about to sleep sees the new generation
      gen_.fetch_add(1);
    }
    if (sleeping_.load() > 0) cv_.notify_all();
    Run(job);
    job_.store(nullptr);                    // a worker arriving now finds nothing to do
    while (active_.load() != 0) CpuRelax();  // the chunks workers have begun
  }

 private:
  struct Job {
    const std::function<void(int64_t, int64_t)>* fn;
    int64_t n, chunks;
    std::atomic<int64_t> next{0};
  };
  static void Run(Job& job) {
    for (;;) {
      const int64_t c = job.next.fetch_add(1);
      if (c >= job.chunks) return;
      (*job.fn)(job.n * c / job.chunks, job.n * (c + 1) / job.chunks);
    }
  }
  static int64_t NowNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
  void Loop() {
    uint64_t seen = gen_.load();
    for (;;) {
      // Awake for awakeNs_ after the last kernel: ~20 µs spinning, then yielding the core.
      const int64_t start = NowNs();
      int polls = 0;
      while (gen_.load(std::memory_order_acquire) == seen) {
        if (++polls % 64 != 0) {
          CpuRelax();
          continue;
        }
        const int64_t now = NowNs();
        if (now - start > awakeNs_) break;
        if (now - start > 20000) sched_yield();
      }
      if (gen_.load() == seen) {
        std::unique_lock<std::mutex> l(m_);
        sleeping_.fetch_add(1);
        cv_.wait(l, [&] { return gen_.load() != seen; });
        sleeping_.fetch_sub(1);
      }
      seen = gen_.load();
      if (stop_) return;
      // Entering before looking: For() waits for every worker that found its job (seq_cst on both sides).
      active_.fetch_add(1);
      if (Job* job = job_.load()) Run(*job);
      active_.fetch_sub(1);
    }
  }
  int threads_;
  int64_t awakeNs_;
  std::vector<std::thread> workers_;
  std::mutex m_, call_;
  std::condition_variable cv_;
  std::atomic<Job*> job_{nullptr};
  std::atomic<int> active_{0}, sleeping_{0};
  std::atomic<uint64_t> gen_{0};
  bool stop_ = false;
};

int ThreadCount() {
  const char* env = std::getenv("TF_NUM_INTRAOP_THREADS");
  if (env && std::atoi(env) > 0) return std::atoi(env);
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

Pool& ThePool() {
  static Pool* pool = new Pool(ThreadCount());  // never destroyed: workers outlive module teardown order
  return *pool;
}

// ---- exp for arrays: vectorisable, no libm call ----

// e^x for x in float32's range: x = n·ln2 + r, |r| ≤ ln2/2, e^r by its Taylor polynomial of
// degree 7 (truncation < 1.2e-8 relative), 2^n built in the exponent bits. Inputs below −87.3
// give 0 (as softmax of a −1e9 mask must), above 88 are clamped (e^88 ≈ 1.65e38).
__attribute__((always_inline)) inline float ExpF(float x) {
  x = std::min(std::max(x, -87.3f), 88.0f);  // 88.0: n ≤ 127, so 2^n stays finite
  // Round to nearest by adding and removing 1.5·2²³ (no libm call, so the loops vectorise).
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693145751953125f;  // ln2 split: hi part exact in float
  r = r - n * 1.428606765330187e-06f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return x <= -87.3f ? 0.0f : p * scale;
}

// Σ f(j) over [0, n) in 16 independent lanes, so the compiler vectorises the sum (a plain
// `s += …` is a serial chain it may not reorder without -ffast-math).
template <typename F>
inline float LaneSum(int64_t n, F f) {
  float acc[16] = {0};
  int64_t j = 0;
  for (; j + 16 <= n; j += 16)
    for (int k = 0; k < 16; k++) acc[k] += f(j + k);
  float s = 0;
  for (; j < n; j++) s += f(j);
  for (int k = 0; k < 16; k++) s += acc[k];
  return s;
}

template <typename F>
inline float LaneMax(int64_t n, F f) {
  float acc[16];
  for (int k = 0; k < 16; k++) acc[k] = -INFINITY;
  int64_t j = 0;
  for (; j + 16 <= n; j += 16)
    for (int k = 0; k < 16; k++) acc[k] = std::max(acc[k], f(j + k));
  float m = -INFINITY;
  for (; j < n; j++) m = std::max(m, f(j));
  for (int k = 0; k < 16; k++) m = std::max(m, acc[k]);
  return m;
}

// ---- kernels (plain loops the compiler vectorises; rows split across the pool) ----

// y = x·r·w, r = 1/√(mean(x²) + eps), per row of d. With delta: x ← x + delta first, written to sum
// (the residual stream's add before the norm, in the same pass).
LL_CLONES void RmsNormRows(const float* x, const float* delta, const float* w, float* y, float* r, float* sum, int64_t r0, int64_t r1, int64_t d, float eps) {
  for (int64_t i = r0; i < r1; i++) {
    const float* xi = x + i * d;
    if (delta) {
      const float* di = delta + i * d;
      float* si = sum + i * d;
      for (int64_t j = 0; j < d; j++) si[j] = xi[j] + di[j];
      xi = si;
    }
    float* yi = y + i * d;
    const float ss = LaneSum(d, [&](int64_t j) { return xi[j] * xi[j]; });
    const float ri = 1.0f / std::sqrt(ss / static_cast<float>(d) + eps);
    r[i] = ri;
    for (int64_t j = 0; j < d; j++) yi[j] = (xi[j] * ri) * w[j];
  }
}

// dx = resid + r·(g − x̂·mean(g⊙x̂)), g = dy⊙w, x̂ = x·r.
LL_CLONES void RmsNormGradRows(const float* dy, const float* x, const float* r, const float* w, const float* resid, float* dx, int64_t r0, int64_t r1, int64_t d) {
  for (int64_t i = r0; i < r1; i++) {
    const float* dyi = dy + i * d;
    const float* xi = x + i * d;
    const float ri = r[i];
    const float dot = LaneSum(d, [&](int64_t j) { return (dyi[j] * w[j]) * (xi[j] * ri); });
    const float mean = dot / static_cast<float>(d);
    const float* ei = resid + i * d;
    float* o = dx + i * d;
    for (int64_t j = 0; j < d; j++) {
      const float v = ((dyi[j] * w[j]) - (xi[j] * ri) * mean) * ri;
      o[j] = ei[j] + v;
    }
  }
}

// y = (x − mean)·rstd·γ + β, rstd = 1/√(var + eps), per row of d (LayerNorm, GPT-2). With delta:
// x ← x + (delta + bias) first (bias optional: the frozen projection's bias), written to sum.
LL_CLONES void LayerNormRows(const float* x, const float* delta, const float* bias, const float* gamma, const float* beta, float* y, float* mean, float* rstd, float* sum, int64_t r0, int64_t r1, int64_t d, float eps) {
  for (int64_t i = r0; i < r1; i++) {
    const float* xi = x + i * d;
    if (delta) {
      const float* di = delta + i * d;
      float* si = sum + i * d;
      if (bias)
        for (int64_t j = 0; j < d; j++) si[j] = xi[j] + (di[j] + bias[j]);
      else
        for (int64_t j = 0; j < d; j++) si[j] = xi[j] + di[j];
      xi = si;
    }
    float* yi = y + i * d;
    const float mu = LaneSum(d, [&](int64_t j) { return xi[j]; }) / static_cast<float>(d);
    const float var = LaneSum(d, [&](int64_t j) { return (xi[j] - mu) * (xi[j] - mu); }) / static_cast<float>(d);
    const float rs = 1.0f / std::sqrt(var + eps);
    mean[i] = mu;
    rstd[i] = rs;
    for (int64_t j = 0; j < d; j++) yi[j] = ((xi[j] - mu) * rs) * gamma[j] + beta[j];
  }
}

// dx = resid + rstd·(g − mean(g) − x̂·mean(g⊙x̂)), g = dy⊙γ, x̂ = (x − mean)·rstd.
LL_CLONES void LayerNormGradRows(const float* dy, const float* x, const float* mean, const float* rstd, const float* gamma, const float* resid, float* dx, int64_t r0, int64_t r1, int64_t d) {
  for (int64_t i = r0; i < r1; i++) {
    const float* dyi = dy + i * d;
    const float* xi = x + i * d;
    const float mu = mean[i], rs = rstd[i];
    const float mg = LaneSum(d, [&](int64_t j) { return dyi[j] * gamma[j]; }) / static_cast<float>(d);
    const float mgx = LaneSum(d, [&](int64_t j) { return (dyi[j] * gamma[j]) * ((xi[j] - mu) * rs); }) / static_cast<float>(d);
    const float* ei = resid + i * d;
    float* o = dx + i * d;
    for (int64_t j = 0; j < d; j++) o[j] = ei[j] + ((dyi[j] * gamma[j]) - mg - ((xi[j] - mu) * rs) * mgx) * rs;
  }
}

// tanh(u) = 1 − 2/(e^{2u} + 1): exact limits ±1, absolute error ~1e-7.
inline float TanhF(float u) { return 1.0f - 2.0f / (ExpF(2.0f * u) + 1.0f); }

constexpr float kSqrt2OverPi = 0.7978845608028654f;

// GPT-2's gelu_new: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
__attribute__((always_inline)) inline float GeluNewF(float v) {
  const float t = TanhF((v + 0.044715f * (v * v * v)) * kSqrt2OverPi);
  return (0.5f * v) * (1.0f + t);
}

LL_CLONES void GeluNewRange(const float* x, float* y, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; i++) y[i] = GeluNewF(x[i]);
}

// Per row of C: pre = x + bias; y = act(pre) + residual (bias, residual optional; act 1: gelu_new).
// A frozen layer's bias with what follows it (GPT-2's c_fc + gelu_new, c_proj + the residual add).
LL_CLONES void BiasActRows(const float* x, const float* bias, const float* res, float* y, float* pre, int64_t r0, int64_t r1, int64_t C, bool gelu) {
  for (int64_t i = r0; i < r1; i++) {
    const float* xi = x + i * C;
    float* yi = y + i * C;
    float* pi = pre ? pre + i * C : nullptr;
    if (bias)
      for (int64_t j = 0; j < C; j++) yi[j] = xi[j] + bias[j];
    else
      for (int64_t j = 0; j < C; j++) yi[j] = xi[j];
    if (pi) std::memcpy(pi, yi, static_cast<size_t>(C) * sizeof(float));
    if (gelu)
      for (int64_t j = 0; j < C; j++) yi[j] = GeluNewF(yi[j]);
    if (res) {
      const float* ri = res + i * C;
      for (int64_t j = 0; j < C; j++) yi[j] += ri[j];
    }
  }
}

// dx = dy·(0.5·(1 + t) + 0.5·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²)).
LL_CLONES void GeluNewGradRange(const float* dy, const float* x, float* dx, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; i++) {
    const float v = x[i];
    // t and 1 − t² = sech²(u) = 4E/(E + 1)² from one E = e^{2u} (no cancellation in 1 − t² near |t| = 1).
    const float e = ExpF(2.0f * ((v + 0.044715f * (v * v * v)) * kSqrt2OverPi));
    const float t = 1.0f - 2.0f / (e + 1.0f);
    const float sech2 = (4.0f / (e + 1.0f)) * (e / (e + 1.0f));  // no overflow at the clamped e ≈ 1.65e38
    const float inner = ((3.0f * 0.044715f) * (v * v) + 1.0f) * kSqrt2OverPi;
    dx[i] = dy[i] * ((t + 1.0f) * 0.5f + ((0.5f * v) * sech2) * inner);
  }
}

// out = base (+ bias) + u·m for a low rank r: u [N, r], m [r, C] (LoRA's (s·x·Aᵀ)·Bᵀ added to x·W
// and the layer's bias, and its backward g·A added to dy·Wᵀ). Per row, r passes over the output row (in L1), each vectorised.
// base's rows have Cb columns; the output is its window offset…offset + C.
LL_CLONES void AddLowRankRows(const float* base, const float* u, const float* m, const float* bias, float* out, int64_t r0, int64_t r1, int64_t r, int64_t C, int64_t Cb, int64_t offset) {
  for (int64_t i = r0; i < r1; i++) {
    const float* bi = base + i * Cb + offset;
    const float* ui = u + i * r;
    float* oi = out + i * C;
    if (bias)
      for (int64_t j = 0; j < C; j++) oi[j] = bi[j] + bias[j];
    else
      for (int64_t j = 0; j < C; j++) oi[j] = bi[j];
    for (int64_t k = 0; k < r; k++) {
      const float uk = ui[k];
      const float* mk = m + k * C;
      for (int64_t j = 0; j < C; j++) oi[j] += uk * mk[j];
    }
  }
}

// Per row of logits [n, V]: lse = max + log Σ exp(l − max), and with probs p = exp(l − max)/Σ.
// The LM head's loss (and its gradient's softmax) in 2–3 passes over a row that stays in L2.
LL_CLONES void LogSoftmaxRows(const float* logits, float* lse, float* p, int64_t r0, int64_t r1, int64_t V) {
  for (int64_t i = r0; i < r1; i++) {
    const float* li = logits + i * V;
    const float mx = LaneMax(V, [&](int64_t j) { return li[j]; });
    const float sum = LaneSum(V, [&](int64_t j) { return ExpF(li[j] - mx); });
    const float l = mx + std::log(sum);
    lse[i] = l;
    if (!p) continue;
    float* pi = p + i * V;
    const float inv = 1.0f / sum;  // exp(l − max)/Σ: l − max is exact near the max, l − lse would carry lse's rounding
    for (int64_t j = 0; j < V; j++) pi[j] = ExpF(li[j] - mx) * inv;
  }
}

// Heads between [B·T, C] rows (tokens; columns offset…offset + H·hd) and [B, H, T, hd]: attention's
// layout change (reshape + transpose (+ reshape) in tfjs, a copy either way), one op.
LL_CLONES void HeadRows(const float* in, float* out, int64_t r0, int64_t r1, int64_t T, int64_t heads, int64_t hd, int64_t C, int64_t offset, bool merge) {
  for (int64_t row = r0; row < r1; row++) {  // row = (b·heads + h)·T + t
    const int64_t t = row % T;
    const int64_t bh = row / T;
    const int64_t b = bh / heads;
    const int64_t h = bh % heads;
    const int64_t token = merge ? ((b * T + t) * heads + h) * hd : (b * T + t) * C + offset + h * hd;
    const float* src = in + (merge ? row * hd : token);
    float* dst = out + (merge ? token : row * hd);
    std::memcpy(dst, src, static_cast<size_t>(hd) * sizeof(float));
  }
}

// Rotary embedding between [B·T, heads·hd] rows (tokens) and [B, heads, T, hd] (attention's layout).
// split: y[b,h,t] = rot(x[b·T+t, h]) by +θ;  merge (backward): y[b·T+t, h] = rot(x[b,h,t]) by −θ.
// rot by ±θ: out[i] = a[i]·c ∓ a[i+half]·s, out[i+half] = a[i+half]·c ± a[i]·s (cos/sin [T, hd]).
// The token rows have C columns, the heads at columns offset… (a window of a wider product: q, k, v from one).
LL_CLONES void RopeRows(const float* __restrict in, const float* __restrict cosT, const float* __restrict sinT, float* __restrict out, int64_t r0, int64_t r1, int64_t T, int64_t heads, int64_t hd, int64_t C, int64_t offset, bool merge) {
  const int64_t half = hd / 2;
  const float sign = merge ? -1.0f : 1.0f;
  for (int64_t row = r0; row < r1; row++) {  // row = (b·heads + h)·T + t
    const int64_t t = row % T;
    const int64_t bh = row / T;
    const int64_t b = bh / heads;
    const int64_t h = bh % heads;
    const int64_t tokenOffset = (b * T + t) * C + offset + h * hd;
    const int64_t headOffset = row * hd;
    const float* src = in + (merge ? headOffset : tokenOffset);
    float* dst = out + (merge ? tokenOffset : headOffset);
    const float* c = cosT + t * hd;
    const float* s = sinT + t * hd;
    for (int64_t i = 0; i < half; i++) {
      const float a = src[i];
      const float bb = src[i + half];
      dst[i] = a * c[i] - sign * (bb * s[i]);
      dst[i + half] = bb * c[i + half] + sign * (a * s[i + half]);
    }
  }
}

// p = softmax(scale·s + mask[t]) per row; rows are (group, r) with query t = r mod Tq.
LL_CLONES void SoftmaxRows(const float* s, const float* mask, float* p, int64_t r0, int64_t r1, int64_t R, int64_t Tq, int64_t Tk, float scale) {
  for (int64_t row = r0; row < r1; row++) {
    const float* si = s + row * Tk;
    const float* mi = mask + ((row % R) % Tq) * Tk;
    float* pi = p + row * Tk;
    for (int64_t j = 0; j < Tk; j++) pi[j] = si[j] * scale + mi[j];
    const float mx = LaneMax(Tk, [&](int64_t j) { return pi[j]; });
    for (int64_t j = 0; j < Tk; j++) pi[j] = ExpF(pi[j] - mx);
    const float sum = LaneSum(Tk, [&](int64_t j) { return pi[j]; });
    const float inv = 1.0f / sum;
    for (int64_t j = 0; j < Tk; j++) pi[j] *= inv;
  }
}

// dS = scale·P⊙(dP − Σⱼ dP⊙P) per row.
LL_CLONES void SoftmaxGradRows(const float* dp, const float* p, float* ds, int64_t r0, int64_t r1, int64_t Tk, float scale) {
  for (int64_t row = r0; row < r1; row++) {
    const float* a = dp + row * Tk;
    const float* b = p + row * Tk;
    const float dot = LaneSum(Tk, [&](int64_t j) { return a[j] * b[j]; });
    float* o = ds + row * Tk;
    for (int64_t j = 0; j < Tk; j++) o[j] = (b[j] * (a[j] - dot)) * scale;
  }
}

// m = g·σ(g)·u.
LL_CLONES void SwiGluRange(const float* g, const float* u, float* m, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; i++) {
    const float sig = 1.0f / (1.0f + ExpF(-g[i]));
    m[i] = (g[i] * sig) * u[i];
  }
}

// dg = dm·u·σ(g)·(1 + g·(1 − σ(g))), du = dm·g·σ(g).
LL_CLONES void SwiGluGradRange(const float* dm, const float* g, const float* u, float* dg, float* du, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; i++) {
    const float sig = 1.0f / (1.0f + ExpF(-g[i]));
    du[i] = dm[i] * (g[i] * sig);
    dg[i] = (dm[i] * u[i]) * (sig * (g[i] * (1.0f - sig) + 1.0f));
  }
}

// ---- attention without a gradient: scores, softmax and P·V per block of query rows ----
//
// y = softmax(scale·Q·Kᵀ + mask)·V written straight into [B·Tq, H·hd], for the forwards no tape
// records (evaluation, prefill). Per block of RB query rows of one head: the scores against the
// keys the block can see (the mask's visible range: a causal mask halves the work), the softmax
// of each row in place, then P·V with RB rows × 4 vectors of V's row in registers. Keys are
// transposed once per KV group ([hd, Tk], so a score row is vectorised over keys); grouped-query
// heads read their group's keys, as HF's repeat_kv. Written with GCC's vector types, instantiated
// per instruction set (AVX-512: 16 lanes, 4 rows; AVX2+FMA: 8 lanes, 2 rows; otherwise 4 lanes).

// A mask value at or below this gives exp(…) = 0 for any score a model makes: such keys at the
// ends of a row are skipped (inside the visible range they are computed and give 0 as well).
constexpr float kMasked = -1e8f;
constexpr float kOne = 1.0f;

struct AttentionShape {
  int64_t B, H, K, Tq, Tk, hd;
  float scale;
};

// Vector values only ever cross always_inline calls: no ABI concern.
#pragma GCC diagnostic ignored "-Wpsabi"

template <int W>
struct VecOf {
  typedef float type __attribute__((vector_size(W * sizeof(float))));
};

template <int W>
__attribute__((always_inline)) inline typename VecOf<W>::type LoadV(const float* p) {
  typename VecOf<W>::type v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// *p in every lane: one broadcast load. GCC 12 builds `V{} + x` with an extra add (0.0 + x is not
// an identity for −0 without -ffast-math) and a vector of equal elements lane by lane (16 masked
// broadcasts), so the AVX/AVX-512 instantiations say it in assembly (the instruction exists in both).
template <int W>
__attribute__((always_inline)) inline typename VecOf<W>::type Splat(const float* p) {
  typename VecOf<W>::type v;
  if constexpr (W == 4 || !LL_X86) {
    v = typename VecOf<W>::type{} + *p;  // SSE2 has no broadcast load (elsewhere only width 4 runs)
  } else {
    asm("vbroadcastss %1, %0" : "=v"(v) : "m"(*p));
  }
  return v;
}

template <int W>
__attribute__((always_inline)) inline void StoreV(float* p, typename VecOf<W>::type v) {
  std::memcpy(p, &v, sizeof(v));
}

// Rows [Tk, hd] → [hd, TkPad] (zero-padded): a score row is then vectorised over keys.
inline void TransposeRows(const float* src, float* dst, int64_t Tk, int64_t hd, int64_t TkPad) {
  for (int64_t j = 0; j < Tk; j++)
    for (int64_t d = 0; d < hd; d++) dst[d * TkPad + j] = src[j * hd + d];
}

// s[r][c0…c1) = Σ_d x[r][d]·t[d][c0…c1) for RB rows x against t [hd, TkPad], in chunks of 2W keys
// (scores Q·Kᵀ, and dO·Vᵀ in the backward).
template <int W, int RB>
__attribute__((always_inline)) inline void ScoreChunks(const float* const* x, const float* t, int64_t TkPad, int64_t hd, int64_t c0, int64_t c1, float* const* s) {
  using V = typename VecOf<W>::type;
  for (int64_t c = c0; c < c1; c += 2 * W) {
    V acc[RB][2] = {};
    for (int64_t d = 0; d < hd; d++) {
      const V t0 = LoadV<W>(&t[d * TkPad + c]), t1 = LoadV<W>(&t[d * TkPad + c + W]);
      for (int r = 0; r < RB; r++) {
        const V xv = Splat<W>(&x[r][d]);
        acc[r][0] += xv * t0;
        acc[r][1] += xv * t1;
      }
    }
    for (int r = 0; r < RB; r++) StoreV<W>(s[r] + c, acc[r][0]), StoreV<W>(s[r] + c + W, acc[r][1]);
  }
}

// out[r] = mul[r]·Σ_{j∈[j0,j1)} w[r][j]·m[j] for the first `rows` of RB weight rows and rows m [·, hd]
// (P·V, and dS·K in the backward); RB rows × 4 vectors of m's row in registers. mul: null for 1.
template <int W, int RB>
__attribute__((always_inline)) inline void WeightedRows(const float* const* w, const float* m, int64_t j0, int64_t j1, int64_t hd, float* const* out, const float* mul, int64_t rows) {
  using V = typename VecOf<W>::type;
  for (int64_t d0 = 0; d0 < hd; d0 += 4 * W) {
    V acc[RB][4] = {};
    for (int64_t j = j0; j < j1; j++) {
      const float* mj = m + j * hd + d0;
      const V m0 = LoadV<W>(mj), m1 = LoadV<W>(mj + W), m2 = LoadV<W>(mj + 2 * W), m3 = LoadV<W>(mj + 3 * W);
      for (int r = 0; r < RB; r++) {
        const V wv = Splat<W>(&w[r][j]);
        acc[r][0] += wv * m0;
        acc[r][1] += wv * m1;
        acc[r][2] += wv * m2;
        acc[r][3] += wv * m3;
      }
    }
    for (int r = 0; r < RB; r++) {
      if (r >= rows) break;
      const V scale = mul ? Splat<W>(&mul[r]) : Splat<W>(&kOne);
      for (int u = 0; u < 4; u++) StoreV<W>(out[r] + d0 + u * W, acc[r][u] * scale);
    }
  }
}

// Work items [i0, i1): item = (g·rep + hr)·blocks + block, g = b·K + kv, head h = kv·rep + hr.
// lo/hi [Tq]: each query row's visible key range.
template <int W, int RB>
__attribute__((always_inline)) inline void AttentionItems(const float* q, const float* k, const float* v, const float* mask, const int64_t* lo, const int64_t* hi,
                                                         float* y, float* pOut, const AttentionShape& a, int64_t i0, int64_t i1) {
  constexpr int64_t kChunk = 2 * W;  // keys per score pass
  const int64_t rep = a.H / a.K, blocks = (a.Tq + RB - 1) / RB, hd = a.hd, Tk = a.Tk;
  const int64_t TkPad = (Tk + kChunk - 1) / kChunk * kChunk;
  std::vector<float> kt(static_cast<size_t>(hd * TkPad), 0.0f), s(static_cast<size_t>(RB * TkPad));
  int64_t ktGroup = -1;
  for (int64_t item = i0; item < i1; item++) {
    const int64_t g = item / (rep * blocks), hr = item / blocks % rep, t0 = item % blocks * RB;
    const int64_t rows = std::min<int64_t>(RB, a.Tq - t0);
    const int64_t b = g / a.K, h = g % a.K * rep + hr;
    const float* vg = v + g * Tk * hd;
    if (g != ktGroup) TransposeRows(k + g * Tk * hd, kt.data(), Tk, hd, TkPad), ktGroup = g;
    int64_t jlo = Tk, jhi = 0;
    for (int64_t r = 0; r < rows; r++) jlo = std::min(jlo, lo[t0 + r]), jhi = std::max(jhi, hi[t0 + r]);
    // Rows past the last of a short block repeat it (computed, never written).
    const float* qr[RB];
    float* sr[RB];
    for (int r = 0; r < RB; r++) {
      qr[r] = q + ((b * a.H + h) * a.Tq + t0 + std::min<int64_t>(r, rows - 1)) * hd;
      sr[r] = s.data() + r * TkPad;
    }
    ScoreChunks<W, RB>(qr, kt.data(), TkPad, hd, jlo / kChunk * kChunk, jhi, sr);
    float inv[RB];
    for (int64_t r = 0; r < rows; r++) {
      float* p = sr[r];
      const float* m = mask ? mask + (t0 + r) * Tk : nullptr;
      if (m)
        for (int64_t j = jlo; j < jhi; j++) p[j] = p[j] * a.scale + m[j];
      else
        for (int64_t j = jlo; j < jhi; j++) p[j] = p[j] * a.scale;
      const float mx = LaneMax(jhi - jlo, [&](int64_t j) { return p[jlo + j]; });
      for (int64_t j = jlo; j < jhi; j++) p[j] = ExpF(p[j] - mx);
      inv[r] = 1.0f / LaneSum(jhi - jlo, [&](int64_t j) { return p[jlo + j]; });
    }
    if (pOut) {  // the probabilities for the backward: [G, R, Tk], row hr·Tq + t of group g, 0 outside [jlo, jhi)
      for (int64_t r = 0; r < rows; r++) {
        float* pr = pOut + (g * rep * a.Tq + hr * a.Tq + t0 + r) * Tk;
        std::fill(pr, pr + jlo, 0.0f);
        for (int64_t j = jlo; j < jhi; j++) pr[j] = sr[r][j] * inv[r];
        std::fill(pr + jhi, pr + Tk, 0.0f);
      }
    }
    for (int r = rows; r < RB; r++) sr[r] = sr[rows - 1];
    float* out[RB];
    for (int r = 0; r < RB; r++) out[r] = y + ((b * a.Tq + t0 + std::min<int64_t>(r, rows - 1)) * a.H + h) * hd;
    WeightedRows<W, RB>(sr, vg, jlo, jhi, hd, out, inv, rows);
  }
}

LL_AVX512 void Attention16(const float* q, const float* k, const float* v, const float* m, const int64_t* lo, const int64_t* hi, float* y, float* p, const AttentionShape& a, int64_t i0, int64_t i1) {
  AttentionItems<16, 4>(q, k, v, m, lo, hi, y, p, a, i0, i1);
}
LL_AVX2 void Attention8(const float* q, const float* k, const float* v, const float* m, const int64_t* lo, const int64_t* hi, float* y, float* p, const AttentionShape& a, int64_t i0, int64_t i1) {
  AttentionItems<8, 2>(q, k, v, m, lo, hi, y, p, a, i0, i1);
}
void Attention4(const float* q, const float* k, const float* v, const float* m, const int64_t* lo, const int64_t* hi, float* y, float* p, const AttentionShape& a, int64_t i0, int64_t i1) {
  AttentionItems<4, 2>(q, k, v, m, lo, hi, y, p, a, i0, i1);
}

// The head dimension must be a multiple of this (4 vectors of the widest instruction set).
constexpr int64_t kAttentionHeadDimMultiple = 64;

// The vector width the hand-vectorised kernels use: the widest the CPU has (AVX-512: 16 lanes,
// AVX2+FMA: 8, otherwise 4); LORA_LAB_OPS_LANES=8 or 4 picks a narrower one (the tests run each).
int VectorLanes() {
  static const int lanes = [] {
    int best = 4;
#if LL_X86
    best = __builtin_cpu_supports("avx512f") ? 16 : (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? 8 : 4;
#endif
    const int want = static_cast<int>(EnvNumber("LORA_LAB_OPS_LANES", best));
    return (want == 4 || want == 8 || want == 16) && want <= best ? want : best;
  }();
  return lanes;
}

// Calls the instantiation for the vector width VectorLanes() picks (16: AVX-512, 8: AVX2, else 4).
template <typename F, typename... A>
void ByLanes(F f16, F f8, F f4, A&&... args) {
  const int lanes = VectorLanes();
  (lanes == 16 ? f16 : lanes == 8 ? f8 : f4)(std::forward<A>(args)...);
}

// Query rows per work item of the attention instantiation ByLanes picks.
int64_t AttentionRowBlock() { return VectorLanes() == 16 ? 4 : 2; }

// ---- attention's backward from the saved probabilities ----
//
//   dP = dO·Vᵀ;  dS = scale·P ⊙ (dP − Σⱼ dP⊙P);  dQ = dS·K;  dK = dSᵀ·Q;  dV = Pᵀ·dO
// over the keys each query row saw (P's nonzero span; a causal mask halves the work), dO read from
// dy [B·Tq, H·hd] in place. Phase 1 per block of query rows: dP as scores against Vᵀ, dS (kept for
// phase 2) and dQ. Phase 2 per block of keys: dK and dV summed over the query rows that saw them.

struct AttentionGradArgs {
  const float *q, *k, *v, *p, *dy;
  float *dq, *dk, *dv, *ds;
  const int64_t *lo, *hi;  // per row of P ([G·R]): the span of nonzero probabilities
  AttentionShape a;
};

template <int W, int RB>
__attribute__((always_inline)) inline void AttentionGradRows(const AttentionGradArgs& x, int64_t i0, int64_t i1) {
  constexpr int64_t kChunk = 2 * W;
  const AttentionShape& a = x.a;
  const int64_t rep = a.H / a.K, R = rep * a.Tq, blocks = (a.Tq + RB - 1) / RB, hd = a.hd, Tk = a.Tk;
  const int64_t TkPad = (Tk + kChunk - 1) / kChunk * kChunk;
  std::vector<float> vt(static_cast<size_t>(hd * TkPad), 0.0f), s(static_cast<size_t>(RB * TkPad));
  int64_t vtGroup = -1;
  for (int64_t item = i0; item < i1; item++) {
    const int64_t g = item / (rep * blocks), hr = item / blocks % rep, t0 = item % blocks * RB;
    const int64_t rows = std::min<int64_t>(RB, a.Tq - t0);
    const int64_t b = g / a.K, h = g % a.K * rep + hr, row0 = g * R + hr * a.Tq + t0;
    if (g != vtGroup) TransposeRows(x.v + g * Tk * hd, vt.data(), Tk, hd, TkPad), vtGroup = g;
    int64_t jlo = Tk, jhi = 0;
    for (int64_t r = 0; r < rows; r++) jlo = std::min(jlo, x.lo[row0 + r]), jhi = std::max(jhi, x.hi[row0 + r]);
    if (jlo >= jhi) jlo = 0, jhi = 0;  // rows with no probability at all: nothing flows back
    const float* dor[RB];
    float* sr[RB];
    for (int r = 0; r < RB; r++) {
      dor[r] = x.dy + ((b * a.Tq + t0 + std::min<int64_t>(r, rows - 1)) * a.H + h) * hd;
      sr[r] = s.data() + r * TkPad;
    }
    ScoreChunks<W, RB>(dor, vt.data(), TkPad, hd, jlo / kChunk * kChunk, jhi, sr);  // dP = dO·Vᵀ
    float* dsr[RB] = {};
    for (int64_t r = 0; r < rows; r++) {  // dS = scale·P ⊙ (dP − Σ dP⊙P), kept (0 outside [jlo, jhi))
      const float* pr = x.p + (row0 + r) * Tk;
      const float* dp = sr[r];
      float* ds = x.ds + (row0 + r) * Tk;
      const float dot = LaneSum(jhi - jlo, [&](int64_t j) { return dp[jlo + j] * pr[jlo + j]; });
      std::fill(ds, ds + jlo, 0.0f);
      for (int64_t j = jlo; j < jhi; j++) ds[j] = (pr[j] * (dp[j] - dot)) * a.scale;
      std::fill(ds + jhi, ds + Tk, 0.0f);
      dsr[r] = ds;
    }
    for (int r = rows; r < RB; r++) dsr[r] = dsr[rows - 1];
    float* out[RB];  // dq [B, H, Tq, hd] = [G, R, hd]
    for (int r = 0; r < RB; r++) out[r] = x.dq + (row0 + std::min<int64_t>(r, rows - 1)) * hd;
    WeightedRows<W, RB>(dsr, x.k + g * Tk * hd, jlo, jhi, hd, out, nullptr, rows);  // dQ = dS·K
  }
}

// Phase 2: items = (g, block of KB keys); dK[j] = Σ_r dS[r, j]·Q[r], dV[j] = Σ_r P[r, j]·dO[r].
template <int W, int KB>
__attribute__((always_inline)) inline void AttentionGradKeys(const AttentionGradArgs& x, int64_t i0, int64_t i1) {
  using V = typename VecOf<W>::type;
  const AttentionShape& a = x.a;
  const int64_t rep = a.H / a.K, R = rep * a.Tq, blocks = (a.Tk + KB - 1) / KB, hd = a.hd, Tk = a.Tk;
  for (int64_t item = i0; item < i1; item++) {
    const int64_t g = item / blocks, j0 = item % blocks * KB;
    const int64_t keys = std::min<int64_t>(KB, Tk - j0);
    const int64_t b = g / a.K, kv = g % a.K;
    for (int64_t d0 = 0; d0 < hd; d0 += 2 * W) {
      V ak[KB][2] = {}, av[KB][2] = {};
      for (int64_t r = 0; r < R; r++) {
        const int64_t row = g * R + r;
        if (x.hi[row] <= j0 || x.lo[row] >= j0 + keys) continue;
        const int64_t t = r % a.Tq, h = kv * rep + r / a.Tq;
        const float* qr = x.q + row * hd + d0;
        const float* dor = x.dy + ((b * a.Tq + t) * a.H + h) * hd + d0;
        const V q0 = LoadV<W>(qr), q1 = LoadV<W>(qr + W), o0 = LoadV<W>(dor), o1 = LoadV<W>(dor + W);
        const float* dsr = x.ds + row * Tk + j0;
        const float* pr = x.p + row * Tk + j0;
        for (int kk = 0; kk < KB; kk++) {
          const int64_t j = std::min<int64_t>(kk, keys - 1);  // past the last key: repeated, not written
          const V sv = Splat<W>(&dsr[j]), pv = Splat<W>(&pr[j]);
          ak[kk][0] += sv * q0;
          ak[kk][1] += sv * q1;
          av[kk][0] += pv * o0;
          av[kk][1] += pv * o1;
        }
      }
      for (int kk = 0; kk < KB; kk++) {
        if (kk >= keys) break;
        float* dk = x.dk + (g * Tk + j0 + kk) * hd + d0;
        float* dv = x.dv + (g * Tk + j0 + kk) * hd + d0;
        StoreV<W>(dk, ak[kk][0]), StoreV<W>(dk + W, ak[kk][1]);
        StoreV<W>(dv, av[kk][0]), StoreV<W>(dv + W, av[kk][1]);
      }
    }
  }
}

constexpr int64_t kGradKeyBlock = 4;

LL_AVX512 void AttentionGradRows16(const AttentionGradArgs& x, int64_t i0, int64_t i1) { AttentionGradRows<16, 4>(x, i0, i1); }
LL_AVX2 void AttentionGradRows8(const AttentionGradArgs& x, int64_t i0, int64_t i1) { AttentionGradRows<8, 2>(x, i0, i1); }
void AttentionGradRows4(const AttentionGradArgs& x, int64_t i0, int64_t i1) { AttentionGradRows<4, 2>(x, i0, i1); }
LL_AVX512 void AttentionGradKeys16(const AttentionGradArgs& x, int64_t i0, int64_t i1) { AttentionGradKeys<16, kGradKeyBlock>(x, i0, i1); }
LL_AVX2 void AttentionGradKeys8(const AttentionGradArgs& x, int64_t i0, int64_t i1) { AttentionGradKeys<8, kGradKeyBlock>(x, i0, i1); }
void AttentionGradKeys4(const AttentionGradArgs& x, int64_t i0, int64_t i1) { AttentionGradKeys<4, kGradKeyBlock>(x, i0, i1); }

// ---- LoRA's rank-r products: u = s·x·M [N, r] and the gradient reduction aᵀ·g [D, r] (r ≤ 16) ----
//
// TensorFlow's MatMul spends ~150–330 µs on these thin products (a [512, 576]·[576, 8] is 4.7 MFLOP)
// where the work is ~30 µs. Here a row of r values is one 16-lane value (r padded to 16: one zmm
// with AVX-512, two ymm with AVX2, four xmm otherwise): u's rows as 8 (or 4, 2) accumulators over
// the shared dimension, and the reduction over rows for 8 output rows at a time.
constexpr int64_t kLowRankMax = 16;

// u[i, :r] = s·Σ_d x[i, d]·m16[d, :] for rows [i0, i1), m16 [D, 16] zero-padded.
template <int W>
__attribute__((always_inline)) inline void LowRankRowsImpl(const float* x, const float* m16, float* u, int64_t i0, int64_t i1, int64_t D, int64_t r, float s) {
  using V = typename VecOf<W>::type;
  constexpr int NV = 16 / W, RB = 8 / NV;
  for (int64_t i = i0; i < i1; i += RB) {
    const int64_t rows = std::min<int64_t>(RB, i1 - i);
    const float* xr[RB];
    for (int k = 0; k < RB; k++) xr[k] = x + (i + std::min<int64_t>(k, rows - 1)) * D;
    V acc[RB][NV] = {};
    for (int64_t d = 0; d < D; d++) {
      V mv[NV];
      for (int v = 0; v < NV; v++) mv[v] = LoadV<W>(m16 + d * 16 + v * W);
      for (int k = 0; k < RB; k++) {
        const V b = Splat<W>(&xr[k][d]);
        for (int v = 0; v < NV; v++) acc[k][v] += b * mv[v];
      }
    }
    float tile[RB][16];  // all of acc written with constant indices, so acc stays in registers
    const V sv = Splat<W>(&s);
    for (int k = 0; k < RB; k++)
      for (int v = 0; v < NV; v++) StoreV<W>(&tile[k][v * W], acc[k][v] * sv);
    for (int64_t k = 0; k < rows; k++) std::memcpy(u + (i + k) * r, tile[k], static_cast<size_t>(r) * sizeof(float));
  }
}

// out16[d, :] = Σ_i a[i, d]·g16[i, :] for d in [d0, d1), g16 [N, 16] zero-padded.
template <int W>
__attribute__((always_inline)) inline void LowRankGradImpl(const float* a, const float* g16, float* out16, int64_t d0, int64_t d1, int64_t N, int64_t D) {
  using V = typename VecOf<W>::type;
  constexpr int NV = 16 / W, DB = 8 / NV;
  for (int64_t d = d0; d < d1; d += DB) {
    const int64_t cols = std::min<int64_t>(DB, d1 - d);
    V acc[DB][NV] = {};
    for (int64_t i = 0; i < N; i++) {
      V gv[NV];
      for (int v = 0; v < NV; v++) gv[v] = LoadV<W>(g16 + i * 16 + v * W);
      const float* ai = a + i * D + d;
      for (int k = 0; k < DB; k++) {
        const V b = Splat<W>(&ai[std::min<int64_t>(k, cols - 1)]);
        for (int v = 0; v < NV; v++) acc[k][v] += b * gv[v];
      }
    }
    for (int k = 0; k < DB; k++) {
      if (k >= cols) break;
      for (int v = 0; v < NV; v++) StoreV<W>(out16 + (d + k) * 16 + v * W, acc[k][v]);
    }
  }
}

LL_AVX512 void LowRankRows16(const float* x, const float* m, float* u, int64_t i0, int64_t i1, int64_t D, int64_t r, float s) { LowRankRowsImpl<16>(x, m, u, i0, i1, D, r, s); }
LL_AVX2 void LowRankRows8(const float* x, const float* m, float* u, int64_t i0, int64_t i1, int64_t D, int64_t r, float s) { LowRankRowsImpl<8>(x, m, u, i0, i1, D, r, s); }
void LowRankRows4(const float* x, const float* m, float* u, int64_t i0, int64_t i1, int64_t D, int64_t r, float s) { LowRankRowsImpl<4>(x, m, u, i0, i1, D, r, s); }
LL_AVX512 void LowRankGrad16(const float* a, const float* g, float* o, int64_t d0, int64_t d1, int64_t N, int64_t D) { LowRankGradImpl<16>(a, g, o, d0, d1, N, D); }
LL_AVX2 void LowRankGrad8(const float* a, const float* g, float* o, int64_t d0, int64_t d1, int64_t N, int64_t D) { LowRankGradImpl<8>(a, g, o, d0, d1, N, D); }
void LowRankGrad4(const float* a, const float* g, float* o, int64_t d0, int64_t d1, int64_t N, int64_t D) { LowRankGradImpl<4>(a, g, o, d0, d1, N, D); }

// ---- TensorFlow glue ----

struct Attrs {
  float eps = 0, scale = 1;
  int64_t batch = 0, heads = 0, headDim = 0, offset = 0;
  int64_t activation = 0;
  bool merge = false, transposeM = false, transposeOut = false, probs = false, keepPre = false;
};

struct Input {
  TF_Tensor* t = nullptr;
  ~Input() {
    if (t) TF_DeleteTensor(t);
  }
  const float* data() const { return static_cast<const float*>(TF_TensorData(t)); }
  int rank() const { return TF_NumDims(t); }
  int64_t dim(int i) const { return TF_Dim(t, i); }
  int64_t size() const { return TF_TensorElementCount(t); }
};

std::vector<int64_t> DimsOf(const Input& t) {
  std::vector<int64_t> d(t.rank());
  for (int i = 0; i < t.rank(); i++) d[i] = t.dim(i);
  return d;
}

bool Fail(TF_OpKernelContext* ctx, const std::string& op, const std::string& message) {
  TF_Status* st = TF_NewStatus();
  TF_SetStatus(st, TF_INVALID_ARGUMENT, (op + ": " + message).c_str());
  TF_OpKernelContext_Failure(ctx, st);
  TF_DeleteStatus(st);
  return false;
}

bool GetInputs(TF_OpKernelContext* ctx, const char* op, std::vector<Input>& in) {
  TF_Status* st = TF_NewStatus();
  for (size_t i = 0; i < in.size(); i++) {
    TF_GetInput(ctx, static_cast<int>(i), &in[i].t, st);
    if (TF_GetCode(st) != TF_OK) {
      TF_OpKernelContext_Failure(ctx, st);
      TF_DeleteStatus(st);
      return false;
    }
    if (TF_TensorType(in[i].t) != TF_FLOAT) {
      TF_DeleteStatus(st);
      return Fail(ctx, op, "input " + std::to_string(i) + " must be float32");
    }
  }
  TF_DeleteStatus(st);
  return true;
}

float* Output(TF_OpKernelContext* ctx, int index, const std::vector<int64_t>& dims) {
  TF_Status* st = TF_NewStatus();
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  TF_Tensor* t = TF_AllocateOutput(ctx, index, TF_FLOAT, dims.data(), static_cast<int>(dims.size()), static_cast<size_t>(n) * sizeof(float), st);
  float* data = nullptr;
  if (TF_GetCode(st) != TF_OK) TF_OpKernelContext_Failure(ctx, st);
  else data = static_cast<float*>(TF_TensorData(t));
  if (t) TF_DeleteTensor(t);  // the output keeps its buffer; this drops our handle only
  TF_DeleteStatus(st);
  return data;
}

// LoraLabRmsNorm (x, weight) → (y, r); LoraLabAddRmsNorm (x, delta, weight) → (sum, y, r), sum = x + delta.
void RmsNormCompute(const Attrs& a, TF_OpKernelContext* ctx, bool add) {
  const char* op = add ? "LoraLabAddRmsNorm" : "LoraLabRmsNorm";
  std::vector<Input> in(add ? 3 : 2);
  if (!GetInputs(ctx, op, in)) return;
  const Input &x = in[0], &w = in[add ? 2 : 1];
  if (x.rank() != 2 || w.rank() != 1 || w.dim(0) != x.dim(1) || (add && DimsOf(in[1]) != DimsOf(x))) {
    Fail(ctx, op, add ? "x and delta must be [rows, d] and weight [d]" : "x must be [rows, d] and weight [d]");
    return;
  }
  const int64_t N = x.dim(0), d = x.dim(1);
  int o = 0;
  float* sum = add ? Output(ctx, o++, {N, d}) : nullptr;
  if (add && !sum) return;
  float* y = Output(ctx, o++, {N, d});
  float* r = y ? Output(ctx, o++, {N, 1}) : nullptr;
  if (!r) return;
  const float* delta = add ? in[1].data() : nullptr;
  ThePool().For(N, (add ? 5.0 : 3.0) * d, [&](int64_t r0, int64_t r1) { RmsNormRows(x.data(), delta, w.data(), y, r, sum, r0, r1, d, a.eps); });
}

void ComputeRmsNorm(void* kernel, TF_OpKernelContext* ctx) { RmsNormCompute(*static_cast<Attrs*>(kernel), ctx, false); }
void ComputeAddRmsNorm(void* kernel, TF_OpKernelContext* ctx) { RmsNormCompute(*static_cast<Attrs*>(kernel), ctx, true); }

void ComputeRmsNormGrad(void*, TF_OpKernelContext* ctx) {
  std::vector<Input> in(5);
  if (!GetInputs(ctx, "LoraLabRmsNormGrad", in)) return;
  const int64_t N = in[1].dim(0), d = in[1].dim(1);
  const bool ok = in[0].rank() == 2 && in[1].rank() == 2 && in[4].rank() == 2 && in[0].dim(0) == N && in[0].dim(1) == d &&
                  in[4].dim(0) == N && in[4].dim(1) == d && in[2].size() == N && in[3].size() == d;
  if (!ok) {
    Fail(ctx, "LoraLabRmsNormGrad", "dy, x and residual must be [rows, d], r [rows, 1], weight [d]");
    return;
  }
  float* dx = Output(ctx, 0, {N, d});
  if (!dx) return;
  ThePool().For(N, 6.0 * d, [&](int64_t r0, int64_t r1) { RmsNormGradRows(in[0].data(), in[1].data(), in[2].data(), in[3].data(), in[4].data(), dx, r0, r1, d); });
}

// LoraLabLayerNorm (x, γ, β) → (y, mean, rstd); LoraLabAddLayerNorm (x, delta, bias, γ, β) → (sum, y,
// mean, rstd), sum = x + (delta + bias), bias [d] or empty.
void LayerNormCompute(const Attrs& a, TF_OpKernelContext* ctx, bool add) {
  const char* op = add ? "LoraLabAddLayerNorm" : "LoraLabLayerNorm";
  std::vector<Input> in(add ? 5 : 3);
  if (!GetInputs(ctx, op, in)) return;
  const int k = add ? 2 : 0;
  const Input &x = in[0], &g = in[1 + k], &b = in[2 + k];
  const bool biasOk = !add || in[2].size() == 0 || (in[2].rank() == 1 && in[2].dim(0) == x.dim(1));
  if (x.rank() != 2 || g.rank() != 1 || b.rank() != 1 || g.dim(0) != x.dim(1) || b.dim(0) != x.dim(1) || (add && DimsOf(in[1]) != DimsOf(x)) || !biasOk) {
    Fail(ctx, op, add ? "x and delta must be [rows, d], bias [d] or empty, gamma and beta [d]" : "x must be [rows, d], gamma and beta [d]");
    return;
  }
  const int64_t N = x.dim(0), d = x.dim(1);
  int o = 0;
  float* sum = add ? Output(ctx, o++, {N, d}) : nullptr;
  if (add && !sum) return;
  float* y = Output(ctx, o++, {N, d});
  float* mean = y ? Output(ctx, o++, {N, 1}) : nullptr;
  float* rstd = mean ? Output(ctx, o++, {N, 1}) : nullptr;
  if (!rstd) return;
  const float* delta = add ? in[1].data() : nullptr;
  const float* bias = add && in[2].size() ? in[2].data() : nullptr;
  ThePool().For(N, (add ? 7.0 : 5.0) * d, [&](int64_t r0, int64_t r1) { LayerNormRows(x.data(), delta, bias, g.data(), b.data(), y, mean, rstd, sum, r0, r1, d, a.eps); });
}

void ComputeLayerNorm(void* kernel, TF_OpKernelContext* ctx) { LayerNormCompute(*static_cast<Attrs*>(kernel), ctx, false); }
void ComputeAddLayerNorm(void* kernel, TF_OpKernelContext* ctx) { LayerNormCompute(*static_cast<Attrs*>(kernel), ctx, true); }

void ComputeLayerNormGrad(void*, TF_OpKernelContext* ctx) {
  std::vector<Input> in(6);
  if (!GetInputs(ctx, "LoraLabLayerNormGrad", in)) return;
  const int64_t N = in[1].dim(0), d = in[1].dim(1);
  const bool ok = in[0].rank() == 2 && in[1].rank() == 2 && in[5].rank() == 2 && in[0].dim(0) == N && in[0].dim(1) == d &&
                  in[5].dim(0) == N && in[5].dim(1) == d && in[2].size() == N && in[3].size() == N && in[4].size() == d;
  if (!ok) {
    Fail(ctx, "LoraLabLayerNormGrad", "dy, x and residual must be [rows, d], mean and rstd [rows, 1], gamma [d]");
    return;
  }
  float* dx = Output(ctx, 0, {N, d});
  if (!dx) return;
  ThePool().For(N, 8.0 * d, [&](int64_t r0, int64_t r1) { LayerNormGradRows(in[0].data(), in[1].data(), in[2].data(), in[3].data(), in[4].data(), in[5].data(), dx, r0, r1, d); });
}

void ComputeRope(void* kernel, TF_OpKernelContext* ctx) {
  const Attrs& a = *static_cast<Attrs*>(kernel);
  std::vector<Input> in(3);
  if (!GetInputs(ctx, "LoraLabRope", in)) return;
  const Input &x = in[0], &c = in[1], &s = in[2];
  if (c.rank() != 2 || s.rank() != 2 || s.dim(0) != c.dim(0) || s.dim(1) != c.dim(1) || c.dim(1) % 2 != 0) {
    Fail(ctx, "LoraLabRope", "cos and sin must be [T, headDim] with an even headDim");
    return;
  }
  const int64_t T = c.dim(0), hd = c.dim(1), H = a.heads, B = a.batch;
  const bool shapeOk = a.merge ? (x.rank() == 4 && x.dim(0) == B && x.dim(1) == H && x.dim(2) == T && x.dim(3) == hd && a.offset == 0)
                               : (x.rank() == 2 && x.dim(0) == B * T && a.offset >= 0 && x.dim(1) >= a.offset + H * hd);
  if (!shapeOk) {
    Fail(ctx, "LoraLabRope", a.merge ? "x must be [batch, heads, T, headDim]" : "x must be [batch·T, columns] with offset + heads·headDim columns or more");
    return;
  }
  float* y = a.merge ? Output(ctx, 0, {B * T, H * hd}) : Output(ctx, 0, {B, H, T, hd});
  if (!y) return;
  const int64_t C = a.merge ? H * hd : x.dim(1);
  ThePool().For(B * H * T, 3.0 * hd, [&](int64_t r0, int64_t r1) { RopeRows(x.data(), c.data(), s.data(), y, r0, r1, T, H, hd, C, a.offset, a.merge); });
}

void ComputeSoftmax(void* kernel, TF_OpKernelContext* ctx) {
  const Attrs& a = *static_cast<Attrs*>(kernel);
  std::vector<Input> in(2);
  if (!GetInputs(ctx, "LoraLabMaskedSoftmax", in)) return;
  const Input &s = in[0], &m = in[1];
  if (s.rank() != 3 || m.rank() != 2 || m.dim(1) != s.dim(2) || s.dim(1) % m.dim(0) != 0) {
    Fail(ctx, "LoraLabMaskedSoftmax", "scores must be [groups, rows, Tk] and the mask [Tq, Tk] with Tq dividing rows");
    return;
  }
  const int64_t G = s.dim(0), R = s.dim(1), Tk = s.dim(2), Tq = m.dim(0);
  float* p = Output(ctx, 0, {G, R, Tk});
  if (!p) return;
  ThePool().For(G * R, 12.0 * Tk, [&](int64_t r0, int64_t r1) { SoftmaxRows(s.data(), m.data(), p, r0, r1, R, Tq, Tk, a.scale); });
}

void ComputeSoftmaxGrad(void* kernel, TF_OpKernelContext* ctx) {
  const Attrs& a = *static_cast<Attrs*>(kernel);
  std::vector<Input> in(2);
  if (!GetInputs(ctx, "LoraLabSoftmaxGrad", in)) return;
  const Input &dp = in[0], &p = in[1];
  if (dp.rank() != 3 || p.rank() != 3 || dp.dim(0) != p.dim(0) || dp.dim(1) != p.dim(1) || dp.dim(2) != p.dim(2)) {
    Fail(ctx, "LoraLabSoftmaxGrad", "dP and P must be the same [groups, rows, Tk]");
    return;
  }
  const int64_t rows = p.dim(0) * p.dim(1), Tk = p.dim(2);
  float* ds = Output(ctx, 0, {p.dim(0), p.dim(1), Tk});
  if (!ds) return;
  ThePool().For(rows, 4.0 * Tk, [&](int64_t r0, int64_t r1) { SoftmaxGradRows(dp.data(), p.data(), ds, r0, r1, Tk, a.scale); });
}

void ComputeSwiGlu(void*, TF_OpKernelContext* ctx) {
  std::vector<Input> in(2);
  if (!GetInputs(ctx, "LoraLabSwiGlu", in)) return;
  if (DimsOf(in[0]) != DimsOf(in[1])) {
    Fail(ctx, "LoraLabSwiGlu", "gate and up must have the same shape");
    return;
  }
  float* m = Output(ctx, 0, DimsOf(in[0]));
  if (!m) return;
  ThePool().For(in[0].size(), 12.0, [&](int64_t i0, int64_t i1) { SwiGluRange(in[0].data(), in[1].data(), m, i0, i1); });
}

void ComputeSwiGluGrad(void*, TF_OpKernelContext* ctx) {
  std::vector<Input> in(3);
  if (!GetInputs(ctx, "LoraLabSwiGluGrad", in)) return;
  if (DimsOf(in[0]) != DimsOf(in[1]) || DimsOf(in[0]) != DimsOf(in[2])) {
    Fail(ctx, "LoraLabSwiGluGrad", "dm, gate and up must have the same shape");
    return;
  }
  float* dg = Output(ctx, 0, DimsOf(in[0]));
  float* du = dg ? Output(ctx, 1, DimsOf(in[0])) : nullptr;
  if (!du) return;
  ThePool().For(in[0].size(), 16.0, [&](int64_t i0, int64_t i1) { SwiGluGradRange(in[0].data(), in[1].data(), in[2].data(), dg, du, i0, i1); });
}

void ComputeGeluNew(void*, TF_OpKernelContext* ctx) {
  std::vector<Input> in(1);
  if (!GetInputs(ctx, "LoraLabGeluNew", in)) return;
  float* y = Output(ctx, 0, DimsOf(in[0]));
  if (!y) return;
  ThePool().For(in[0].size(), 14.0, [&](int64_t i0, int64_t i1) { GeluNewRange(in[0].data(), y, i0, i1); });
}

void ComputeGeluNewGrad(void*, TF_OpKernelContext* ctx) {
  std::vector<Input> in(2);
  if (!GetInputs(ctx, "LoraLabGeluNewGrad", in)) return;
  if (DimsOf(in[0]) != DimsOf(in[1])) {
    Fail(ctx, "LoraLabGeluNewGrad", "dy and x must have the same shape");
    return;
  }
  float* dx = Output(ctx, 0, DimsOf(in[0]));
  if (!dx) return;
  ThePool().For(in[0].size(), 20.0, [&](int64_t i0, int64_t i1) { GeluNewGradRange(in[0].data(), in[1].data(), dx, i0, i1); });
}

void ComputeAddLowRank(void* kernel, TF_OpKernelContext* ctx) {
  const Attrs& a = *static_cast<Attrs*>(kernel);
  std::vector<Input> in(4);
  if (!GetInputs(ctx, "LoraLabAddLowRank", in)) return;
  const Input &base = in[0], &u = in[1], &m = in[2], &bias = in[3];
  // The output's C columns: m's; base may be wider (columns offset…offset + C of it).
  const int64_t C = m.rank() == 2 ? (a.transposeM ? m.dim(0) : m.dim(1)) : -1;
  const bool ok = base.rank() == 2 && u.rank() == 2 && m.rank() == 2 && u.dim(0) == base.dim(0) && (a.transposeM ? m.dim(1) : m.dim(0)) == u.dim(1) &&
                  a.offset >= 0 && base.dim(1) >= a.offset + C &&
                  (bias.size() == 0 || (bias.rank() == 1 && bias.dim(0) == C));
  if (!ok) {
    Fail(ctx, "LoraLabAddLowRank", a.transposeM ? "base must be [N, C] (or wider, from column offset), u [N, r], m [C, r] (transposed) and bias [C] or empty" : "base must be [N, C] (or wider, from column offset), u [N, r], m [r, C] and bias [C] or empty");
    return;
  }
  const int64_t N = base.dim(0), Cb = base.dim(1), r = u.dim(1);
  float* out = Output(ctx, 0, {N, C});
  if (!out) return;
  const float* mk = m.data();
  std::vector<float> mt;
  if (a.transposeM) {  // m given as [C, r]: rows of [r, C] made once (r·C floats)
    mt.resize(static_cast<size_t>(r * C));
    for (int64_t j = 0; j < C; j++)
      for (int64_t k = 0; k < r; k++) mt[k * C + j] = mk[j * r + k];
    mk = mt.data();
  }
  ThePool().For(N, 2.0 * static_cast<double>(C) * static_cast<double>(r + 1), [&](int64_t r0, int64_t r1) { AddLowRankRows(base.data(), u.data(), mk, bias.size() ? bias.data() : nullptr, out, r0, r1, r, C, Cb, a.offset); });
}

void ComputeLogSoftmax(void* kernel, TF_OpKernelContext* ctx) {
  const Attrs& a = *static_cast<Attrs*>(kernel);
  std::vector<Input> in(1);
  if (!GetInputs(ctx, "LoraLabLogSoftmax", in)) return;
  if (in[0].rank() != 2) {
    Fail(ctx, "LoraLabLogSoftmax", "logits must be [rows, vocabulary]");
    return;
  }
  const int64_t n = in[0].dim(0), V = in[0].dim(1);
  float* lse = Output(ctx, 0, {n});
  if (!lse) return;
  float* p = a.probs ? Output(ctx, 1, {n, V}) : Output(ctx, 1, {0});
  if (a.probs && !p) return;
  ThePool().For(n, 24.0 * V, [&](int64_t r0, int64_t r1) { LogSoftmaxRows(in[0].data(), lse, a.probs ? p : nullptr, r0, r1, V); });
}

void ComputeHeads(void* kernel, TF_OpKernelContext* ctx) {
  const Attrs& a = *static_cast<Attrs*>(kernel);
  std::vector<Input> in(1);
  if (!GetInputs(ctx, "LoraLabHeads", in)) return;
  const Input& x = in[0];
  const int64_t B = a.batch, H = a.heads, hd = a.headDim;
  if (B <= 0 || H <= 0 || hd <= 0) {
    Fail(ctx, "LoraLabHeads", "batch, heads and head_dim must be positive");
    return;
  }
  int64_t T, C = H * hd;
  if (a.merge) {
    if (x.size() % (B * H * hd) != 0) {
      Fail(ctx, "LoraLabHeads", "x must hold batch·heads·T·head_dim values");
      return;
    }
    T = x.size() / (B * H * hd);
  } else {
    if (x.rank() != 2 || x.dim(0) % B != 0 || a.offset < 0 || x.dim(1) < a.offset + H * hd) {
      Fail(ctx, "LoraLabHeads", "x must be [batch·T, columns] with offset + heads·head_dim columns or more");
      return;
    }
    T = x.dim(0) / B;
    C = x.dim(1);
  }
  float* y = a.merge ? Output(ctx, 0, {B * T, H * hd}) : Output(ctx, 0, {B, H, T, hd});
  if (!y) return;
  ThePool().For(B * H * T, 1.0 * hd, [&](int64_t r0, int64_t r1) { HeadRows(x.data(), y, r0, r1, T, H, hd, C, a.offset, a.merge); });
}

void ComputeAttention(void* kernel, TF_OpKernelContext* ctx) {
  const Attrs& at = *static_cast<Attrs*>(kernel);
  std::vector<Input> in(4);
  if (!GetInputs(ctx, "LoraLabAttention", in)) return;
  const Input &q = in[0], &k = in[1], &v = in[2], &m = in[3];
  const bool shapes = q.rank() == 4 && k.rank() == 4 && DimsOf(k) == DimsOf(v) && k.dim(0) == q.dim(0) && k.dim(3) == q.dim(3) && k.dim(1) > 0 && q.dim(1) % k.dim(1) == 0;
  if (!shapes) {
    Fail(ctx, "LoraLabAttention", "q must be [batch, heads, Tq, head_dim] and k, v [batch, kv_heads, Tk, head_dim] with kv_heads dividing heads");
    return;
  }
  AttentionShape a{q.dim(0), q.dim(1), k.dim(1), q.dim(2), k.dim(2), q.dim(3), at.scale};
  if (a.hd % kAttentionHeadDimMultiple != 0) {
    Fail(ctx, "LoraLabAttention", "head_dim must be a multiple of " + std::to_string(kAttentionHeadDimMultiple));
    return;
  }
  const bool masked = m.size() > 0;
  if (masked && (m.rank() != 2 || m.dim(0) != a.Tq || m.dim(1) != a.Tk)) {
    Fail(ctx, "LoraLabAttention", "the mask must be [Tq, Tk] or empty");
    return;
  }
  float* y = Output(ctx, 0, {a.B * a.Tq, a.H * a.hd});
  float* p = y ? (at.probs ? Output(ctx, 1, {a.B * a.K, a.H / a.K * a.Tq, a.Tk}) : Output(ctx, 1, {0})) : nullptr;
  if (!y || (at.probs && !p) || a.B * a.Tq == 0) return;
  // Each query row's visible keys: from its first to its last mask value above kMasked (all keys
  // when none is: a fully masked row's softmax is uniform, as the unfused chain gives).
  std::vector<int64_t> lo(a.Tq, 0), hi(a.Tq, a.Tk);
  if (masked) {
    const float* md = m.data();
    for (int64_t t = 0; t < a.Tq; t++) {
      const float* row = md + t * a.Tk;
      int64_t first = 0, last = a.Tk;
      while (first < a.Tk && row[first] <= kMasked) first++;
      while (last > first && row[last - 1] <= kMasked) last--;
      if (first < last) lo[t] = first, hi[t] = last;
    }
  }
  const int64_t rb = AttentionRowBlock(), items = a.B * a.H * ((a.Tq + rb - 1) / rb);
  ThePool().For(items, 4.0 * static_cast<double>(rb * a.Tk * a.hd), [&](int64_t i0, int64_t i1) { ByLanes(Attention16, Attention8, Attention4, q.data(), k.data(), v.data(), masked ? m.data() : nullptr, lo.data(), hi.data(), y, at.probs ? p : nullptr, a, i0, i1); });
}

void ComputeLowRank(void* kernel, TF_OpKernelContext* ctx) {
  const Attrs& a = *static_cast<Attrs*>(kernel);
  std::vector<Input> in(2);
  if (!GetInputs(ctx, "LoraLabLowRank", in)) return;
  const Input &x = in[0], &m = in[1];
  const int64_t D = x.rank() == 2 ? x.dim(1) : -1;
  const int64_t r = m.rank() == 2 ? (a.transposeM ? m.dim(0) : m.dim(1)) : -1;
  if (x.rank() != 2 || m.rank() != 2 || (a.transposeM ? m.dim(1) : m.dim(0)) != D || r < 1 || r > kLowRankMax) {
    Fail(ctx, "LoraLabLowRank", a.transposeM ? "x must be [N, D] and m [r, D] (transposed) with 1 ≤ r ≤ 16" : "x must be [N, D] and m [D, r] with 1 ≤ r ≤ 16");
    return;
  }
  const int64_t N = x.dim(0);
  float* u = Output(ctx, 0, {N, r});
  if (!u || N == 0) return;
  std::vector<float> m16(static_cast<size_t>(D * 16), 0.0f);  // [D, 16]: m's rows padded to one 16-lane value
  const float* md = m.data();
  for (int64_t d = 0; d < D; d++)
    for (int64_t k = 0; k < r; k++) m16[d * 16 + k] = a.transposeM ? md[k * D + d] : md[d * r + k];
  ThePool().For(N, 32.0 * D, [&](int64_t i0, int64_t i1) { ByLanes(LowRankRows16, LowRankRows8, LowRankRows4, x.data(), m16.data(), u, i0, i1, D, r, a.scale); });
}

void ComputeLowRankGrad(void* kernel, TF_OpKernelContext* ctx) {
  const Attrs& at = *static_cast<Attrs*>(kernel);
  std::vector<Input> in(2);
  if (!GetInputs(ctx, "LoraLabLowRankGrad", in)) return;
  const Input &a = in[0], &g = in[1];
  if (a.rank() != 2 || g.rank() != 2 || g.dim(0) != a.dim(0) || g.dim(1) < 1 || g.dim(1) > kLowRankMax) {
    Fail(ctx, "LoraLabLowRankGrad", "a must be [N, D] and g [N, r] with 1 ≤ r ≤ 16");
    return;
  }
  const int64_t N = a.dim(0), D = a.dim(1), r = g.dim(1);
  float* out = at.transposeOut ? Output(ctx, 0, {r, D}) : Output(ctx, 0, {D, r});
  if (!out || D == 0) return;
  std::vector<float> g16(static_cast<size_t>(N * 16), 0.0f), out16(static_cast<size_t>(D * 16));
  const float* gd = g.data();
  for (int64_t i = 0; i < N; i++) std::memcpy(&g16[i * 16], gd + i * r, static_cast<size_t>(r) * sizeof(float));
  ThePool().For(D, 32.0 * N, [&](int64_t d0, int64_t d1) { ByLanes(LowRankGrad16, LowRankGrad8, LowRankGrad4, a.data(), g16.data(), out16.data(), d0, d1, N, D); });
  for (int64_t d = 0; d < D; d++)
    for (int64_t k = 0; k < r; k++) (at.transposeOut ? out[k * D + d] : out[d * r + k]) = out16[d * 16 + k];
}

// LoraLabBiasAct (x, bias, residual) → (y, pre): pre = x + bias, y = act(pre) + residual; bias and
// residual [C]/[N, C] or empty; pre only with keep_pre (else empty).
void ComputeBiasAct(void* kernel, TF_OpKernelContext* ctx) {
  const Attrs& a = *static_cast<Attrs*>(kernel);
  std::vector<Input> in(3);
  if (!GetInputs(ctx, "LoraLabBiasAct", in)) return;
  const Input &x = in[0], &bias = in[1], &res = in[2];
  const bool ok = x.rank() == 2 && (bias.size() == 0 || (bias.rank() == 1 && bias.dim(0) == x.dim(1))) && (res.size() == 0 || DimsOf(res) == DimsOf(x)) && a.activation >= 0 && a.activation <= 1;
  if (!ok) {
    Fail(ctx, "LoraLabBiasAct", "x must be [N, C], bias [C] or empty, residual [N, C] or empty, activation 0 (none) or 1 (gelu_new)");
    return;
  }
  const int64_t N = x.dim(0), C = x.dim(1);
  float* y = Output(ctx, 0, {N, C});
  float* pre = y ? (a.keepPre ? Output(ctx, 1, {N, C}) : Output(ctx, 1, {0})) : nullptr;
  if (!y || (a.keepPre && !pre)) return;
  const float* b = bias.size() ? bias.data() : nullptr;
  const float* r = res.size() ? res.data() : nullptr;
  ThePool().For(N, (a.activation == 1 ? 16.0 : 2.0) * C, [&](int64_t r0, int64_t r1) { BiasActRows(x.data(), b, r, y, a.keepPre ? pre : nullptr, r0, r1, C, a.activation == 1); });
}

void ComputeAttentionGrad(void* kernel, TF_OpKernelContext* ctx) {
  const Attrs& at = *static_cast<Attrs*>(kernel);
  std::vector<Input> in(5);
  if (!GetInputs(ctx, "LoraLabAttentionGrad", in)) return;
  const Input &q = in[0], &k = in[1], &v = in[2], &p = in[3], &dy = in[4];
  const bool shapes = q.rank() == 4 && k.rank() == 4 && DimsOf(k) == DimsOf(v) && k.dim(0) == q.dim(0) && k.dim(3) == q.dim(3) && k.dim(1) > 0 && q.dim(1) % k.dim(1) == 0;
  if (!shapes) {
    Fail(ctx, "LoraLabAttentionGrad", "q must be [batch, heads, Tq, head_dim] and k, v [batch, kv_heads, Tk, head_dim] with kv_heads dividing heads");
    return;
  }
  AttentionShape a{q.dim(0), q.dim(1), k.dim(1), q.dim(2), k.dim(2), q.dim(3), at.scale};
  const int64_t G = a.B * a.K, R = a.H / a.K * a.Tq;
  if (a.hd % kAttentionHeadDimMultiple != 0) {
    Fail(ctx, "LoraLabAttentionGrad", "head_dim must be a multiple of " + std::to_string(kAttentionHeadDimMultiple));
    return;
  }
  if (p.rank() != 3 || p.dim(0) != G || p.dim(1) != R || p.dim(2) != a.Tk || dy.rank() != 2 || dy.dim(0) != a.B * a.Tq || dy.dim(1) != a.H * a.hd) {
    Fail(ctx, "LoraLabAttentionGrad", "p must be [batch·kv_heads, heads/kv_heads·Tq, Tk] and dy [batch·Tq, heads·head_dim]");
    return;
  }
  float* dq = Output(ctx, 0, DimsOf(q));
  float* dk = dq ? Output(ctx, 1, DimsOf(k)) : nullptr;
  float* dv = dk ? Output(ctx, 2, DimsOf(v)) : nullptr;
  if (!dv || G * R == 0) return;
  // Each row's span of nonzero probabilities: the keys its mask let through (exactly: a 0 adds nothing).
  std::vector<int64_t> lo(G * R), hi(G * R);
  const float* pd = p.data();
  ThePool().For(G * R, 1.0 * a.Tk, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      const float* row = pd + r * a.Tk;
      int64_t first = 0, last = a.Tk;
      while (first < a.Tk && row[first] == 0.0f) first++;
      while (last > first && row[last - 1] == 0.0f) last--;
      lo[r] = first, hi[r] = last;
    }
  });
  std::vector<float> ds(static_cast<size_t>(G * R * a.Tk));
  AttentionGradArgs x{q.data(), k.data(), v.data(), pd, dy.data(), dq, dk, dv, ds.data(), lo.data(), hi.data(), a};
  const int64_t rb = AttentionRowBlock();
  ThePool().For(a.B * a.H * ((a.Tq + rb - 1) / rb), 6.0 * static_cast<double>(rb * a.Tk * a.hd), [&](int64_t i0, int64_t i1) { ByLanes(AttentionGradRows16, AttentionGradRows8, AttentionGradRows4, x, i0, i1); });
  ThePool().For(G * ((a.Tk + kGradKeyBlock - 1) / kGradKeyBlock), 4.0 * static_cast<double>(kGradKeyBlock * R * a.hd), [&](int64_t i0, int64_t i1) { ByLanes(AttentionGradKeys16, AttentionGradKeys8, AttentionGradKeys4, x, i0, i1); });
}

void* CreateKernel(TF_OpKernelConstruction* ctx) {
  auto* a = new Attrs();
  TF_Status* st = TF_NewStatus();
  auto has = [&](const char* name) { return TF_OpKernelConstruction_HasAttr(ctx, name, st); };
  if (has("eps")) TF_OpKernelConstruction_GetAttrFloat(ctx, "eps", &a->eps, st);
  if (has("scale")) TF_OpKernelConstruction_GetAttrFloat(ctx, "scale", &a->scale, st);
  int32_t v = 0;
  if (has("batch")) TF_OpKernelConstruction_GetAttrInt32(ctx, "batch", &v, st), a->batch = v;
  if (has("heads")) TF_OpKernelConstruction_GetAttrInt32(ctx, "heads", &v, st), a->heads = v;
  if (has("head_dim")) TF_OpKernelConstruction_GetAttrInt32(ctx, "head_dim", &v, st), a->headDim = v;
  if (has("offset")) TF_OpKernelConstruction_GetAttrInt32(ctx, "offset", &v, st), a->offset = v;
  TF_Bool b = 0;
  if (has("merge")) TF_OpKernelConstruction_GetAttrBool(ctx, "merge", &b, st), a->merge = b;
  if (has("transpose_m")) TF_OpKernelConstruction_GetAttrBool(ctx, "transpose_m", &b, st), a->transposeM = b;
  if (has("activation")) TF_OpKernelConstruction_GetAttrInt32(ctx, "activation", &v, st), a->activation = v;
  if (has("keep_pre")) TF_OpKernelConstruction_GetAttrBool(ctx, "keep_pre", &b, st), a->keepPre = b;
  if (has("transpose_out")) TF_OpKernelConstruction_GetAttrBool(ctx, "transpose_out", &b, st), a->transposeOut = b;
  if (has("probs")) TF_OpKernelConstruction_GetAttrBool(ctx, "probs", &b, st), a->probs = b;
  if (TF_GetCode(st) != TF_OK) TF_OpKernelConstruction_Failure(ctx, st);
  TF_DeleteStatus(st);
  return a;
}

void DeleteKernel(void* kernel) { delete static_cast<Attrs*>(kernel); }

void UnknownShape(TF_ShapeInferenceContext* ctx, TF_Status* status) {
  TF_ShapeInferenceContextSetUnknownShape(ctx, status);
}

struct OpSpec {
  const char* name;
  std::vector<const char*> inputs, outputs, attrs;
  void (*compute)(void*, TF_OpKernelContext*);
};

const std::vector<OpSpec>& Specs() {
  static const std::vector<OpSpec> specs = {
      {"LoraLabRmsNorm", {"x: float", "weight: float"}, {"y: float", "r: float"}, {"eps: float"}, ComputeRmsNorm},
      {"LoraLabAddRmsNorm", {"x: float", "delta: float", "weight: float"}, {"sum: float", "y: float", "r: float"}, {"eps: float"}, ComputeAddRmsNorm},
      {"LoraLabRmsNormGrad", {"dy: float", "x: float", "r: float", "weight: float", "residual: float"}, {"dx: float"}, {}, ComputeRmsNormGrad},
      {"LoraLabRope", {"x: float", "cos: float", "sin: float"}, {"y: float"}, {"batch: int", "heads: int", "offset: int = 0", "merge: bool"}, ComputeRope},
      {"LoraLabMaskedSoftmax", {"scores: float", "mask: float"}, {"p: float"}, {"scale: float"}, ComputeSoftmax},
      {"LoraLabSoftmaxGrad", {"dp: float", "p: float"}, {"ds: float"}, {"scale: float"}, ComputeSoftmaxGrad},
      {"LoraLabSwiGlu", {"gate: float", "up: float"}, {"m: float"}, {}, ComputeSwiGlu},
      {"LoraLabSwiGluGrad", {"dm: float", "gate: float", "up: float"}, {"dgate: float", "dup: float"}, {}, ComputeSwiGluGrad},
      {"LoraLabLayerNorm", {"x: float", "gamma: float", "beta: float"}, {"y: float", "mean: float", "rstd: float"}, {"eps: float"}, ComputeLayerNorm},
      {"LoraLabAddLayerNorm", {"x: float", "delta: float", "bias: float", "gamma: float", "beta: float"}, {"sum: float", "y: float", "mean: float", "rstd: float"}, {"eps: float"}, ComputeAddLayerNorm},
      {"LoraLabLayerNormGrad", {"dy: float", "x: float", "mean: float", "rstd: float", "gamma: float", "residual: float"}, {"dx: float"}, {}, ComputeLayerNormGrad},
      {"LoraLabGeluNew", {"x: float"}, {"y: float"}, {}, ComputeGeluNew},
      {"LoraLabGeluNewGrad", {"dy: float", "x: float"}, {"dx: float"}, {}, ComputeGeluNewGrad},
      {"LoraLabAddLowRank", {"base: float", "u: float", "m: float", "bias: float"}, {"out: float"}, {"transpose_m: bool", "offset: int = 0"}, ComputeAddLowRank},
      {"LoraLabLowRank", {"x: float", "m: float"}, {"u: float"}, {"scale: float", "transpose_m: bool"}, ComputeLowRank},
      {"LoraLabLowRankGrad", {"a: float", "g: float"}, {"out: float"}, {"transpose_out: bool"}, ComputeLowRankGrad},
      {"LoraLabBiasAct", {"x: float", "bias: float", "residual: float"}, {"y: float", "pre: float"}, {"activation: int", "keep_pre: bool"}, ComputeBiasAct},
      {"LoraLabLogSoftmax", {"logits: float"}, {"lse: float", "p: float"}, {"probs: bool"}, ComputeLogSoftmax},
      {"LoraLabAttention", {"q: float", "k: float", "v: float", "mask: float"}, {"y: float", "p: float"}, {"scale: float", "probs: bool = false"}, ComputeAttention},
      {"LoraLabAttentionGrad", {"q: float", "k: float", "v: float", "p: float", "dy: float"}, {"dq: float", "dk: float", "dv: float"}, {"scale: float"}, ComputeAttentionGrad},
      {"LoraLabHeads", {"x: float"}, {"y: float"}, {"batch: int", "heads: int", "head_dim: int", "offset: int", "merge: bool"}, ComputeHeads},
  };
  return specs;
}

// Registers every op once per process; returns "" or the first error.
std::string RegisterAll() {
  static std::once_flag once;
  static std::string error;
  std::call_once(once, [] {
    TF_Status* st = TF_NewStatus();
    for (const OpSpec& s : Specs()) {
      TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder(s.name);
      for (const char* i : s.inputs) TF_OpDefinitionBuilderAddInput(b, i);
      for (const char* o : s.outputs) TF_OpDefinitionBuilderAddOutput(b, o);
      for (const char* at : s.attrs) TF_OpDefinitionBuilderAddAttr(b, at);
      TF_OpDefinitionBuilderSetShapeInferenceFunction(b, UnknownShape);
      TF_RegisterOpDefinition(b, st);
      if (TF_GetCode(st) != TF_OK) {
        error = std::string(s.name) + ": " + TF_Message(st);
        break;
      }
      TF_KernelBuilder* kb = TF_NewKernelBuilder(s.name, "CPU", CreateKernel, s.compute, DeleteKernel);
      TF_RegisterKernelBuilder(s.name, kb, st);
      if (TF_GetCode(st) != TF_OK) {
        error = std::string(s.name) + " kernel: " + TF_Message(st);
        break;
      }
    }
    TF_DeleteStatus(st);
  });
  return error;
}

napi_value Init(napi_env env, napi_value exports) {
  const std::string error = RegisterAll();
  if (!error.empty()) {
    napi_throw_error(env, nullptr, ("LoRA Lab fused ops: registering failed: " + error).c_str());
    return nullptr;
  }
  napi_value ops, name, threads;
  napi_create_array(env, &ops);
  uint32_t i = 0;
  for (const OpSpec& s : Specs()) {
    napi_create_string_utf8(env, s.name, NAPI_AUTO_LENGTH, &name);
    napi_set_element(env, ops, i++, name);
  }
  napi_set_named_property(env, exports, "ops", ops);
  napi_create_int32(env, ThePool().threads(), &threads);
  napi_set_named_property(env, exports, "threads", threads);
  napi_value lanes;
  napi_create_int32(env, VectorLanes(), &lanes);
  napi_set_named_property(env, exports, "lanes", lanes);
  napi_value source;
  napi_create_string_utf8(env, LORA_LAB_OPS_SOURCE, NAPI_AUTO_LENGTH, &source);
  napi_set_named_property(env, exports, "source", source);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
