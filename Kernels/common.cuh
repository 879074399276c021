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

/// A grid-stride walk over `it` in which each thread first reads `KILN_UNROLL` elements (`read(offsets)`
/// returns what an element's result needs, its output offset included), then writes their results
/// (`write(item)`): the reads are all in flight together, where a load-then-store loop waits for each load in
/// turn and reaches about half the memory bandwidth.
template <typename Item, typename Read, typename Write>
__device__ __forceinline__ void unrolled_walk(const KilnIter &it, Read read, Write write) {
    i64 n = it.count, block = blockDim.x, step = block * gridDim.x * KILN_UNROLL;
    for (i64 first = (i64)blockIdx.x * block * KILN_UNROLL + threadIdx.x; first < n; first += step) {
        Item items[KILN_UNROLL];
#pragma unroll
        for (int u = 0; u < KILN_UNROLL; ++u) {
            if (first + u * block >= n) continue;
            i64 o[KILN_MAX_OPERANDS];
            offsets_at(it, first + u * block, o);
            items[u] = read(o);
        }
#pragma unroll
        for (int u = 0; u < KILN_UNROLL; ++u)
            if (first + u * block < n) write(items[u]);
    }
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
