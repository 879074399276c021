// Shared device code of Kiln's kernels: element access by run-time dtype, strided iteration, block
// reductions, atomics and the Philox stream. Arithmetic runs in float (float32, float16, bfloat16), double
// (float64) or 64-bit integers (integers and bool), as on the CPU backend.
#pragma once

#include <cuda_fp16.h>
#include <stdint.h>

#include "../Sources/CCUDA/include/KilnKernelABI.h"

typedef long long i64;
typedef unsigned long long u64;

// MARK: Conversions (C semantics, as the CPU backend: float to integer truncates, NaN gives 0, saturating)

__device__ __forceinline__ float bf16_to_float(uint16_t bits) { return __uint_as_float(((unsigned)bits) << 16); }

__device__ __forceinline__ uint16_t float_to_bf16(float value) {
    unsigned u = __float_as_uint(value);
    if (isnan(value)) return (uint16_t)((u >> 16) | 0x0040u);
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

__device__ __forceinline__ i64 double_to_i64(double v) {
    if (isnan(v)) return 0;
    if (v >= 9.223372036854775807e18) return (i64)0x7FFFFFFFFFFFFFFFLL;
    if (v <= -9.223372036854775808e18) return (i64)(-0x7FFFFFFFFFFFFFFFLL - 1);
    return (i64)v;
}

template <typename C> __device__ __forceinline__ C from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ double from_float<double>(float v) { return (double)v; }
template <> __device__ __forceinline__ i64 from_float<i64>(float v) { return double_to_i64((double)v); }

template <typename C> __device__ __forceinline__ C from_double(double v);
template <> __device__ __forceinline__ float from_double<float>(double v) { return (float)v; }
template <> __device__ __forceinline__ double from_double<double>(double v) { return v; }
template <> __device__ __forceinline__ i64 from_double<i64>(double v) { return double_to_i64(v); }

template <typename C> __device__ __forceinline__ C from_i64(i64 v) { return (C)v; }

/// Element `index` of `base` (of dtype `type`) in the compute type `C`.
template <typename C> __device__ __forceinline__ C load(const void *base, int type, i64 index) {
    switch (type) {
    case KILN_F32: return from_float<C>(((const float *)base)[index]);
    case KILN_F64: return from_double<C>(((const double *)base)[index]);
    case KILN_F16: return from_float<C>(__half2float(__ushort_as_half(((const unsigned short *)base)[index])));
    case KILN_BF16: return from_float<C>(bf16_to_float(((const uint16_t *)base)[index]));
    case KILN_I32: return from_i64<C>(((const int32_t *)base)[index]);
    case KILN_I64: return from_i64<C>(((const i64 *)base)[index]);
    default: return from_i64<C>(((const uint8_t *)base)[index]);
    }
}

__device__ __forceinline__ i64 to_i64(float v) { return double_to_i64((double)v); }
__device__ __forceinline__ i64 to_i64(double v) { return double_to_i64(v); }
__device__ __forceinline__ i64 to_i64(i64 v) { return v; }

/// Stores `value` as element `index` of `base` (of dtype `type`), rounding to nearest even for 16-bit floats.
template <typename C> __device__ __forceinline__ void store(void *base, int type, i64 index, C value) {
    switch (type) {
    case KILN_F32: ((float *)base)[index] = (float)value; break;
    case KILN_F64: ((double *)base)[index] = (double)value; break;
    case KILN_F16: ((unsigned short *)base)[index] = __half_as_ushort(__float2half_rn((float)value)); break;
    case KILN_BF16: ((uint16_t *)base)[index] = float_to_bf16((float)value); break;
    case KILN_I32: ((int32_t *)base)[index] = (int32_t)to_i64(value); break;
    case KILN_I64: ((i64 *)base)[index] = to_i64(value); break;
    case KILN_U8: ((uint8_t *)base)[index] = (uint8_t)to_i64(value); break;
    default: ((uint8_t *)base)[index] = value != (C)0 ? 1 : 0; break;
    }
}

/// The compute domain of a dtype: 0 float, 1 double, 2 integer.
__device__ __forceinline__ int domain_of(int type) {
    return type == KILN_F64 ? 1 : (type == KILN_F32 || type == KILN_F16 || type == KILN_BF16) ? 0 : 2;
}

// MARK: Math

/// The logistic function, evaluated so that neither tail overflows.
template <typename F> __device__ __forceinline__ F sigmoid_of(F a) {
    return a >= (F)0 ? (F)1 / ((F)1 + exp(-a)) : exp(a) / ((F)1 + exp(a));
}

// MARK: Iteration

/// The element offsets of every operand at position `linear` of the iteration's row-major order.
__device__ __forceinline__ void offsets_at(const KilnIter &it, i64 linear, i64 *offsets) {
    if (it.rank == 1) {
        // The common case (contiguous operands merge to one axis): no division at all.
#pragma unroll
        for (int k = 0; k < KILN_MAX_OPERANDS; ++k) offsets[k] = it.offset[k] + linear * it.strides[k][0];
        return;
    }
#pragma unroll
    for (int k = 0; k < KILN_MAX_OPERANDS; ++k) offsets[k] = it.offset[k];
    if (it.count <= 0x7FFFFFFF) {
        // Every index fits 31 bits: divide by each extent with the host's multiplier, not a division routine.
        unsigned rest = (unsigned)linear;
#pragma unroll
        for (int d = 0; d < KILN_MAX_RANK; ++d) {
            if (d >= it.rank) break;
            unsigned quotient = d + 1 == it.rank ? 0 : (__umulhi(rest, it.magic[d]) + rest) >> it.shift[d];
            unsigned index = rest - quotient * (unsigned)it.shape[d];
            rest = quotient;
#pragma unroll
            for (int k = 0; k < KILN_MAX_OPERANDS; ++k) offsets[k] += (i64)index * it.strides[k][d];
        }
        return;
    }
#pragma unroll
    for (int d = 0; d < KILN_MAX_RANK; ++d) {
        if (d >= it.rank) break;
        i64 extent = it.shape[d];
        i64 index = d + 1 == it.rank ? linear : linear % extent;
        linear /= extent;
#pragma unroll
        for (int k = 0; k < KILN_MAX_OPERANDS; ++k) offsets[k] += index * it.strides[k][d];
    }
}

/// The elementwise kernels' launch shape (`elementwiseConfiguration`: 256 threads) and at least four blocks per
/// multiprocessor: at most 64 registers a thread, so that enough loads stay in flight.
#define KILN_ELEMENTWISE_BOUNDS __launch_bounds__(256, 4)

/// One-block-per-row kernels (`rowConfiguration`: up to 512 threads): registers capped so that such a block
/// always launches.
#define KILN_ROW_BOUNDS __launch_bounds__(512)

/// Elements each thread loads before it stores any in `unrolled_walk`, and before it adds any in a sum.
#define KILN_UNROLL 4

/// A grid-stride walk over `[0, n)` in which each thread first loads `KILN_UNROLL` items (`load(i)`), then
/// stores their results (`store(i, item)`): the loads are all in flight together, where a load-then-store loop
/// waits for each load in turn and reaches about half the memory bandwidth.
template <typename Item, typename Load, typename Store>
__device__ __forceinline__ void unrolled_range(i64 n, Load load, Store store) {
    i64 block = blockDim.x, step = block * gridDim.x * KILN_UNROLL;
    for (i64 first = (i64)blockIdx.x * block * KILN_UNROLL + threadIdx.x; first < n; first += step) {
        Item items[KILN_UNROLL];
#pragma unroll
        for (int u = 0; u < KILN_UNROLL; ++u)
            if (first + u * block < n) items[u] = load(first + u * block);
#pragma unroll
        for (int u = 0; u < KILN_UNROLL; ++u)
            if (first + u * block < n) store(first + u * block, items[u]);
    }
}

/// `unrolled_range` over the positions of `it`: `read(offsets)` returns what an element's result needs, its
/// output offset included, and `write(item)` stores it.
template <typename Item, typename Read, typename Write>
__device__ __forceinline__ void unrolled_walk(const KilnIter &it, Read read, Write write) {
    unrolled_range<Item>(
        it.count,
        [&](i64 i) {
            i64 o[KILN_MAX_OPERANDS];
            offsets_at(it, i, o);
            return read(o);
        },
        [&](i64, Item item) { write(item); });
}

// MARK: Contiguous float32 as float4

/// Whether float32 element `offset` of `base` starts on a 16-byte boundary, so that float4 loads may read from it.
__device__ __forceinline__ bool aligned4(const void *base, i64 offset) {
    return (((uintptr_t)base + (uintptr_t)offset * 4) & 15) == 0;
}

/// Whether the first `count` operands of `it` (float32, addresses `bases` in operand order) are each one
/// unit-stride run from a 16-byte boundary: the iterator merges contiguous operands to one axis.
__device__ __forceinline__ bool float4_ready(const KilnIter &it, const void *const *bases, int count) {
    if (it.rank != 1) return false;
    for (int k = 0; k < count; ++k)
        if (it.strides[k][0] != 1 || !aligned4(bases[k], it.offset[k])) return false;
    return true;
}

/// Lane `lane` of `v`.
__device__ __forceinline__ float lane_of(float4 v, int lane) {
    return lane == 0 ? v.x : lane == 1 ? v.y : lane == 2 ? v.z : v.w;
}

/// `out = f(inputs)` elementwise over a walk whose operands (0 `out`, then the `N` inputs) are all
/// `float4_ready`: each thread moves float4 groups, and the first threads of block 0 take the last `count % 4`
/// elements. `f` takes the inputs' values at one position as an array.
template <int N, typename Function>
__device__ void map_float4(const KilnIter &it, void *out, const void *const (&inputs)[N], Function f) {
    struct Item {
        float4 v[N];
    };
    i64 groups = it.count / 4;
    float4 *o = (float4 *)((float *)out + it.offset[0]);
    unrolled_range<Item>(
        groups,
        [&](i64 g) {
            Item item;
#pragma unroll
            for (int k = 0; k < N; ++k) item.v[k] = ((const float4 *)((const float *)inputs[k] + it.offset[k + 1]))[g];
            return item;
        },
        [&](i64 g, Item item) {
            float r[4];
#pragma unroll
            for (int lane = 0; lane < 4; ++lane) {
                float a[N];
#pragma unroll
                for (int k = 0; k < N; ++k) a[k] = lane_of(item.v[k], lane);
                r[lane] = f(a);
            }
            o[g] = make_float4(r[0], r[1], r[2], r[3]);
        });
    i64 last = groups * 4 + threadIdx.x;
    if (blockIdx.x == 0 && last < it.count) {
        float a[N];
#pragma unroll
        for (int k = 0; k < N; ++k) a[k] = ((const float *)inputs[k])[it.offset[k + 1] + last];
        ((float *)out)[it.offset[0] + last] = f(a);
    }
}

/// A float32 row held in registers by a block, so that a row kernel reads it from memory once however many
/// passes it makes: thread t holds groups t, t + blockDim.x, … (`has(k)` says whether its k-th exists).
struct RowCache {
    float4 v[KILN_ROW_GROUPS];
    i64 groups;

    /// Loads the `n / 4` groups of the row at `row` (all loads in flight together).
    __device__ __forceinline__ void load(const float *row, i64 n) {
        groups = n / 4;
#pragma unroll
        for (int k = 0; k < KILN_ROW_GROUPS; ++k)
            if (has(k)) v[k] = ((const float4 *)row)[group(k)];
    }

    /// The index of this thread's k-th group in the row.
    __device__ __forceinline__ i64 group(int k) const { return threadIdx.x + (i64)k * blockDim.x; }

    /// Whether this thread's k-th group is in the row.
    __device__ __forceinline__ bool has(int k) const { return group(k) < groups; }

    /// Calls `f(k, lane, column)` for each element this thread holds, in order: lane `lane` of its k-th group, at
    /// `column` of the row.
    template <typename F> __device__ __forceinline__ void for_each(F f) const {
#pragma unroll
        for (int k = 0; k < KILN_ROW_GROUPS; ++k)
            if (has(k))
                for (int lane = 0; lane < 4; ++lane) f(k, lane, group(k) * 4 + lane);
    }

    /// Stores `f(k, lane, column)` (see `for_each`) for each element this thread holds at `column` of `row`, a
    /// float4 group at a time (`row` 16-byte aligned).
    template <typename F> __device__ __forceinline__ void store(float *row, F f) const {
#pragma unroll
        for (int k = 0; k < KILN_ROW_GROUPS; ++k) {
            if (!has(k)) continue;
            float r[4];
            for (int lane = 0; lane < 4; ++lane) r[lane] = f(k, lane, group(k) * 4 + lane);
            ((float4 *)row)[group(k)] = make_float4(r[0], r[1], r[2], r[3]);
        }
    }

    /// The largest element this thread holds (−∞ for none), by the strided loops' rule `!(v <= m)`.
    __device__ __forceinline__ float maximum() const {
        float m = -INFINITY;
        for_each([&](int k, int lane, i64) {
            float x = lane_of(v[k], lane);
            if (!(x <= m)) m = x;
        });
        return m;
    }
};

/// Whether a float32 row of `n` elements may be cached: every row view of the kernel (addresses `bases`, the
/// row's first elements at `offsets`) has unit column stride (`unit`), starts on a 16-byte boundary, and the
/// row fits a `RowCache` of this block.
__device__ __forceinline__ bool row_cacheable(int type, i64 n, bool unit, const void *const *bases, const i64 *offsets,
                                              int count) {
    if (type != KILN_F32 || !unit || n % 4 != 0 || n > 4 * KILN_ROW_GROUPS * (i64)blockDim.x) return false;
    for (int k = 0; k < count; ++k)
        if (!aligned4(bases[k], offsets[k])) return false;
    return true;
}

#define GRID_STRIDE(i, n)                                                                                        \
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)blockDim.x * gridDim.x)

// MARK: Block reductions (blockDim.x a multiple of 32, at most 1024)

template <typename T, typename Combine> __device__ __forceinline__ T warp_reduce(T value, Combine combine) {
#pragma unroll
    for (int shift = 16; shift > 0; shift >>= 1) value = combine(value, __shfl_down_sync(0xFFFFFFFFu, value, shift));
    return value;
}

/// Combines one value per thread; every thread of the block receives the result. `identity` is the value that
/// leaves any other unchanged under `combine` (0 for sums, −∞ for a maximum).
template <typename T, typename Combine> __device__ T block_reduce(T value, Combine combine, T identity) {
    __shared__ T partial[32];
    __shared__ T result;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
    value = warp_reduce(value, combine);
    __syncthreads();
    if (lane == 0) partial[warp] = value;
    __syncthreads();
    if (warp == 0) {
        T v = lane < warps ? partial[lane] : identity;
        v = warp_reduce(v, combine);
        if (lane == 0) result = v;
    }
    __syncthreads();
    return result;
}

/// Sums each of `N` values across the block in one exchange (fewer barriers than `N` calls of `block_reduce`);
/// every thread receives the sums.
template <int N> __device__ void block_sum(double (&values)[N]) {
    __shared__ double partial[N][32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
    __syncthreads();
#pragma unroll
    for (int k = 0; k < N; ++k) {
        double v = values[k];
#pragma unroll
        for (int shift = 16; shift > 0; shift >>= 1) v += __shfl_down_sync(0xFFFFFFFFu, v, shift);
        if (lane == 0) partial[k][warp] = v;
    }
    __syncthreads();
    // Every warp adds the warps' sums itself, in the same order, so no third barrier hands a result over.
#pragma unroll
    for (int k = 0; k < N; ++k) {
        double v = lane < warps ? partial[k][lane] : 0.0;
#pragma unroll
        for (int shift = 16; shift > 0; shift >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, shift);
        values[k] = v;
    }
}

struct Add {
    template <typename T> __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};

/// Maximum (or minimum) that propagates NaN.
struct Extreme {
    bool isMax;
    template <typename T> __device__ __forceinline__ T operator()(T a, T b) const {
        if (a != a) return a;
        if (b != b) return b;
        return isMax ? (b > a ? b : a) : (b < a ? b : a);
    }
};

// MARK: Atomics

/// Adds `value` to a 16-bit float or byte inside an aligned 32-bit word, by compare-and-swap.
template <typename Update> __device__ void atomic_update_narrow(void *address, int bytes, Update update) {
    uintptr_t raw = (uintptr_t)address;
    unsigned *word = (unsigned *)(raw & ~(uintptr_t)3);
    unsigned shift = (unsigned)(raw & 3) * 8, mask = (bytes == 2 ? 0xFFFFu : 0xFFu) << shift;
    unsigned old = *word, assumed;
    do {
        assumed = old;
        unsigned updated = update((assumed & mask) >> shift);
        old = atomicCAS(word, assumed, (assumed & ~mask) | ((updated << shift) & mask));
    } while (assumed != old);
}

/// `base[index] += value` atomically, for every dtype (bool: logical or; integers wrap).
template <typename C> __device__ void atomic_add(void *base, int type, i64 index, C value) {
    switch (type) {
    case KILN_F32: atomicAdd((float *)base + index, (float)value); break;
    case KILN_F64: atomicAdd((double *)base + index, (double)value); break;
    case KILN_I32: atomicAdd((int *)base + index, (int)to_i64(value)); break;
    case KILN_I64: atomicAdd((u64 *)base + index, (u64)to_i64(value)); break;
    case KILN_F16:
        atomic_update_narrow((unsigned short *)base + index, 2, [=](unsigned bits) {
            float sum = __half2float(__ushort_as_half((unsigned short)bits)) + (float)value;
            return (unsigned)__half_as_ushort(__float2half_rn(sum));
        });
        break;
    case KILN_BF16:
        atomic_update_narrow((uint16_t *)base + index, 2,
                             [=](unsigned bits) { return (unsigned)float_to_bf16(bf16_to_float(bits) + (float)value); });
        break;
    case KILN_U8:
        atomic_update_narrow((uint8_t *)base + index, 1, [=](unsigned bits) { return bits + (unsigned)to_i64(value); });
        break;
    default:
        atomic_update_narrow((uint8_t *)base + index, 1,
                             [=](unsigned bits) { return (bits != 0 || value != (C)0) ? 1u : 0u; });
        break;
    }
}

// MARK: Index validation

/// Records the first out-of-range index an op met: `fault[0]` the site, `fault[1]` the index, `fault[2]` the
/// extent. The backend reads the word when it synchronizes and reports the op.
__device__ __forceinline__ bool index_ok(i64 *fault, int site, i64 index, i64 extent) {
    if (index >= 0 && index < extent) return true;
    if (atomicCAS((u64 *)fault, 0ull, (u64)site) == 0ull) {
        fault[1] = index;
        fault[2] = extent;
    }
    return false;
}

// MARK: Philox4x32-10 (the CPU's Philox4x32.block)

__device__ __forceinline__ uint4 philox_block(u64 index, u64 seed) {
    unsigned c0 = (unsigned)index, c1 = (unsigned)(index >> 32), c2 = 0, c3 = 0;
    unsigned k0 = (unsigned)seed, k1 = (unsigned)(seed >> 32);
#pragma unroll
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        unsigned hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
        unsigned hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    return make_uint4(c0, c1, c2, c3);
}

/// The uniform in (0, 1) a word stands for, exactly as `Philox4x32.uniform`.
__device__ __forceinline__ float philox_uniform(unsigned word) { return ((float)(word >> 9) + 0.5f) * 0x1p-23f; }

__device__ __forceinline__ unsigned word_of(uint4 block, int j) {
    return j == 0 ? block.x : j == 1 ? block.y : j == 2 ? block.z : block.w;
}
