// Kernels that reduce along axes: sums, means, variances and extremes over any set of axes, arg-extremes,
// softmax and log-softmax with their backward pass. One block per output (or row); threads stride the
// reduced elements and combine with warp shuffles and a shared-memory step.
#include "common.cuh"

/// One block's share of a reduction: a sum, an extreme, or for a variance the share's element count, mean and
/// sum of squared deviations (combined across shares by Chan's formula, so no share's rounding is amplified).
struct Partial {
    double a, b, c;
};

/// Float4 loads a thread of a contiguous sum has in flight before it adds any: twice the elementwise kernels'
/// (a read-only stream has no stores to overlap with).
#define KILN_SUM_UNROLL 8

/// This thread's share of the sum of `count` contiguous float32 values at `p`: the elements before the first
/// 16-byte boundary one each, then float4 groups, then the last elements one each.
__device__ double thread_sum_contiguous(const float *p, i64 count) {
    i64 head = (i64)((16 - ((uintptr_t)p & 15)) & 15) / 4;
    if (head > count) head = count;
    i64 groups = (count - head) / 4, rest = head + groups * 4;
    const float4 *q = (const float4 *)(p + head);
    double total = threadIdx.x < head ? p[threadIdx.x] : 0.0;
    for (i64 first = threadIdx.x; first < groups; first += KILN_SUM_UNROLL * (i64)blockDim.x) {
        float4 v[KILN_SUM_UNROLL];
#pragma unroll
        for (int u = 0; u < KILN_SUM_UNROLL; ++u) {
            i64 g = first + u * (i64)blockDim.x;
            v[u] = g < groups ? q[g] : make_float4(0, 0, 0, 0);
        }
#pragma unroll
        for (int u = 0; u < KILN_SUM_UNROLL; ++u) total += ((double)v[u].x + (double)v[u].y) + ((double)v[u].z + (double)v[u].w);
    }
    if (rest + threadIdx.x < count) total += p[rest + threadIdx.x];
    return total;
}

/// Reduces the elements `[begin, end)` of the reduced walk from `base` (the whole block takes part).
__device__ Partial reduce_span(const KilnIter &reduced, i64 base, i64 begin, i64 end, int op, const void *x, int xType) {
    i64 at[KILN_MAX_OPERANDS];
    if (op == KILN_MAX || op == KILN_MIN) {
        Extreme extreme{op == KILN_MAX};
        double identity = op == KILN_MAX ? -INFINITY : INFINITY, best = identity;
        for (i64 j = begin + threadIdx.x; j < end; j += blockDim.x) {
            offsets_at(reduced, j, at);
            best = extreme(best, load<double>(x, xType, base + at[0]));
        }
        return {block_reduce(best, extreme, identity), 0, 0};
    }
    double total = 0;
    if (xType == KILN_F32 && reduced.rank == 1 && reduced.strides[0][0] == 1)
        total = thread_sum_contiguous((const float *)x + base + begin, end - begin);
    // Four loads in flight per thread before any is added (a load-then-add loop waits for each in turn).
    else for (i64 first = begin + threadIdx.x; first < end; first += KILN_UNROLL * blockDim.x) {
        double values[KILN_UNROLL];
#pragma unroll
        for (int u = 0; u < KILN_UNROLL; ++u) {
            i64 j = first + u * (i64)blockDim.x;
            values[u] = 0;
            if (j < end) {
                offsets_at(reduced, j, at);
                values[u] = load<double>(x, xType, base + at[0]);
            }
        }
#pragma unroll
        for (int u = 0; u < KILN_UNROLL; ++u) total += values[u];
    }
    total = block_reduce(total, Add(), 0.0);
    if (op != KILN_VARIANCE) return {total, 0, 0};
    double count = (double)(end - begin), mean = count > 0 ? total / count : 0, squares = 0;
    for (i64 j = begin + threadIdx.x; j < end; j += blockDim.x) {
        offsets_at(reduced, j, at);
        double d = load<double>(x, xType, base + at[0]) - mean;
        squares += d * d;
    }
    return {count, mean, block_reduce(squares, Add(), 0.0)};
}

/// The reduction's value from the partial of all `n` elements.
__device__ double finish(Partial p, int op, int correction, i64 n) {
    switch (op) {
    case KILN_SUM: return p.a;
    case KILN_MEAN: return p.a / (double)n;
    case KILN_VARIANCE: return n == 0 ? NAN : p.c / (double)(n - correction);
    default: return n == 0 ? NAN : p.a;
    }
}

/// `it` walks the kept positions (operand 0 `x`, operand 1 `out`); `reduced` walks the reduced positions of
/// `x` (operand 0). Each row is cut into `parts` contiguous shares, one block each: with one share the block
/// stores the result; with more it writes its `Partial` to `partials[row·parts + part]` for
/// `kiln_reduce_combine`. Sums accumulate in double; the mean of nothing is NaN, as are the extremes of nothing.
extern "C" __global__ void KILN_ROW_BOUNDS kiln_reduce(KilnIter it, KilnIter reduced, int op, int correction, i64 parts,
                                       const void *x, int xType, void *out, int outType, Partial *partials) {
    i64 n = reduced.count, share = (n + parts - 1) / parts;
    for (i64 task = blockIdx.x; task < it.count * parts; task += gridDim.x) {
        i64 row = task / parts, part = task % parts, base[KILN_MAX_OPERANDS];
        offsets_at(it, row, base);
        i64 begin = part * share, end = begin + share < n ? begin + share : n;
        Partial p = reduce_span(reduced, base[0], begin < end ? begin : end, end, op, x, xType);
        if (threadIdx.x != 0) continue;
        if (parts == 1) store<double>(out, outType, base[1], finish(p, op, correction, n));
        else partials[task] = p;
    }
}

/// Two partials of consecutive shares as one (`b` follows `a`; an empty share of a variance changes nothing).
__device__ __forceinline__ Partial combine(Partial a, Partial b, int op) {
    if (op == KILN_MAX || op == KILN_MIN) return {Extreme{op == KILN_MAX}(a.a, b.a), 0, 0};
    if (op != KILN_VARIANCE) return {a.a + b.a, 0, 0};
    if (b.a == 0) return a;
    if (a.a == 0) return b;
    double count = a.a + b.a, delta = b.b - a.b;
    return {count, a.b + delta * b.a / count, a.c + b.c + delta * delta * a.a * b.a / count};
}

/// Combines each row's `parts` partials and stores the reduction, one warp per row: lane k combines parts
/// k·s … (k+1)·s − 1 in order, then the lanes combine in a fixed shuffle tree, so the result does not depend on
/// scheduling.
extern "C" __global__ void kiln_reduce_combine(KilnIter it, int op, int correction, i64 parts, i64 n,
                                               const Partial *partials, void *out, int outType) {
    int lane = threadIdx.x & 31;
    i64 share = (parts + 31) / 32;
    GRID_STRIDE(i, it.count * 32) {
        i64 row = i / 32, begin = lane * share, end = begin + share < parts ? begin + share : parts;
        const Partial *p = partials + row * parts;
        Partial total = begin < end ? p[begin] : Partial{op == KILN_MAX ? -INFINITY : op == KILN_MIN ? INFINITY : 0, 0, 0};
        for (i64 part = begin + 1; part < end; ++part) total = combine(total, p[part], op);
#pragma unroll
        for (int shift = 1; shift < 32; shift <<= 1) {
            Partial next{__shfl_down_sync(0xFFFFFFFFu, total.a, shift), __shfl_down_sync(0xFFFFFFFFu, total.b, shift),
                         __shfl_down_sync(0xFFFFFFFFu, total.c, shift)};
            if ((lane & (2 * shift - 1)) == 0 && lane + shift < 32) total = combine(total, next, op);
        }
        if (lane != 0) continue;
        i64 base[KILN_MAX_OPERANDS];
        offsets_at(it, row, base);
        store<double>(out, outType, base[1], finish(total, op, correction, n));
    }
}

/// The index of the first extreme element along one axis (the first NaN if there is one). `it` walks the rows
/// (operand 0 `x`, operand 1 `out`, int64).
extern "C" __global__ void KILN_ROW_BOUNDS kiln_arg_reduce(KilnIter it, int op, i64 length, i64 stride, const void *x, int xType,
                                           i64 *out) {
    bool isMax = op == KILN_ARGMAX;
    for (i64 row = blockIdx.x; row < it.count; row += gridDim.x) {
        i64 base[KILN_MAX_OPERANDS];
        offsets_at(it, row, base);
        double best = 0;
        i64 bestAt = -1;
        for (i64 j = threadIdx.x; j < length; j += blockDim.x) {
            double v = load<double>(x, xType, base[0] + j * stride);
            bool better = bestAt < 0 || (best == best && (v != v || (isMax ? v > best : v < best)));
            if (better) {
                best = v;
                bestAt = j;
            }
        }
        // Pack (value, index) pairs through shared memory: the better value wins, the lower index on ties.
        __shared__ double values[1024];
        __shared__ i64 positions[1024];
        values[threadIdx.x] = best;
        positions[threadIdx.x] = bestAt;
        __syncthreads();
        for (unsigned half = blockDim.x / 2; half > 0; half >>= 1) {
            if (threadIdx.x < half) {
                double v = values[threadIdx.x + half], b = values[threadIdx.x];
                i64 vAt = positions[threadIdx.x + half], bAt = positions[threadIdx.x];
                bool take = vAt >= 0 &&
                            (bAt < 0 || (v != v && (b == b || vAt < bAt)) ||
                             (v == v && b == b && ((isMax ? v > b : v < b) || (v == b && vAt < bAt))));
                if (take) {
                    values[threadIdx.x] = v;
                    positions[threadIdx.x] = vAt;
                }
            }
            __syncthreads();
        }
        if (threadIdx.x == 0) out[base[1]] = positions[0] < 0 ? 0 : positions[0];
        __syncthreads();
    }
}

/// `softmax_row` for a row held in a `RowCache` (float32, unit stride, aligned input and output rows).
__device__ void softmax_row_cached(const float *x, float *out, i64 n, bool logarithm) {
    RowCache c;
    c.load(x, n);
    float m = block_reduce(c.maximum(), Extreme{true}, -INFINITY);
    if (m == -INFINITY) m = 0;
    float total = 0;
#pragma unroll
    for (int k = 0; k < KILN_ROW_GROUPS; ++k)
        if (c.has(k)) {
            float4 e = make_float4(exp(c.v[k].x - m), exp(c.v[k].y - m), exp(c.v[k].z - m), exp(c.v[k].w - m));
            total += e.x + e.y + e.z + e.w;
            if (!logarithm) c.v[k] = e;
        }
    total = block_reduce(total, Add(), 0.0f);
    float logTotal = log(total), scale = 1.0f / total;
#pragma unroll
    for (int k = 0; k < KILN_ROW_GROUPS; ++k) {
        if (!c.has(k)) continue;
        float4 v = c.v[k];
        ((float4 *)out)[c.group(k)] = logarithm ? make_float4(v.x - m - logTotal, v.y - m - logTotal, v.z - m - logTotal, v.w - m - logTotal)
                                                : make_float4(v.x * scale, v.y * scale, v.z * scale, v.w * scale);
    }
}

template <typename F>
__device__ void softmax_row(const void *x, void *out, int type, i64 xBase, i64 outBase, i64 n, i64 xStride,
                            i64 outStride, bool logarithm) {
    F m = -INFINITY;
    for (i64 j = threadIdx.x; j < n; j += blockDim.x) {
        F v = load<F>(x, type, xBase + j * xStride);
        if (!(v <= m)) m = v;
    }
    m = block_reduce(m, Extreme{true}, (F)-INFINITY);
    if (m == -INFINITY) m = 0;
    F total = 0;
    for (i64 j = threadIdx.x; j < n; j += blockDim.x) total += exp(load<F>(x, type, xBase + j * xStride) - m);
    total = block_reduce(total, Add(), (F)0);
    F logTotal = log(total), scale = (F)1 / total;
    for (i64 j = threadIdx.x; j < n; j += blockDim.x) {
        F v = load<F>(x, type, xBase + j * xStride) - m;
        store<F>(out, type, outBase + j * outStride, logarithm ? v - logTotal : exp(v) * scale);
    }
}

/// Softmax or log-softmax along an axis of `length` elements; `it` walks the rows (operand 0 `x`, 1 `out`).
extern "C" __global__ void KILN_ROW_BOUNDS kiln_softmax(KilnIter it, i64 length, i64 xStride, i64 outStride, int logarithm,
                                        const void *x, void *out, int type) {
    for (i64 row = blockIdx.x; row < it.count; row += gridDim.x) {
        i64 base[KILN_MAX_OPERANDS];
        offsets_at(it, row, base);
        const void *bases[2] = {x, out};
        if (row_cacheable(type, length, xStride == 1 && outStride == 1, bases, base, 2))
            softmax_row_cached((const float *)x + base[0], (float *)out + base[1], length, logarithm);
        else if (type == KILN_F64) softmax_row<double>(x, out, type, base[0], base[1], length, xStride, outStride, logarithm);
        else softmax_row<float>(x, out, type, base[0], base[1], length, xStride, outStride, logarithm);
    }
}

/// `softmax_backward_row` for rows held in `RowCache`s (float32, unit stride, aligned rows).
__device__ void softmax_backward_row_cached(const float *y, const float *g, float *out, i64 n, bool logarithm) {
    RowCache cy, cg;
    cy.load(y, n);
    cg.load(g, n);
    float total = 0;
#pragma unroll
    for (int k = 0; k < KILN_ROW_GROUPS; ++k)
        if (cy.has(k)) {
            float4 a = cy.v[k], b = cg.v[k];
            total += logarithm ? b.x + b.y + b.z + b.w : b.x * a.x + b.y * a.y + b.z * a.z + b.w * a.w;
        }
    total = block_reduce(total, Add(), 0.0f);
#pragma unroll
    for (int k = 0; k < KILN_ROW_GROUPS; ++k) {
        if (!cy.has(k)) continue;
        float4 a = cy.v[k], b = cg.v[k];
        ((float4 *)out)[cy.group(k)] =
            logarithm ? make_float4(b.x - exp(a.x) * total, b.y - exp(a.y) * total, b.z - exp(a.z) * total, b.w - exp(a.w) * total)
                      : make_float4(a.x * (b.x - total), a.y * (b.y - total), a.z * (b.z - total), a.w * (b.w - total));
    }
}

template <typename F>
__device__ void softmax_backward_row(const void *y, const void *g, void *out, int type, const i64 *base,
                                     const i64 *strides, i64 n, bool logarithm) {
    F total = 0;
    for (i64 j = threadIdx.x; j < n; j += blockDim.x) {
        F gj = load<F>(g, type, base[1] + j * strides[1]);
        total += logarithm ? gj : gj * load<F>(y, type, base[0] + j * strides[0]);
    }
    total = block_reduce(total, Add(), (F)0);
    for (i64 j = threadIdx.x; j < n; j += blockDim.x) {
        F yj = load<F>(y, type, base[0] + j * strides[0]), gj = load<F>(g, type, base[1] + j * strides[1]);
        store<F>(out, type, base[2] + j * strides[2], logarithm ? gj - exp(yj) * total : yj * (gj - total));
    }
}

/// The gradient of softmax (`y·(g - Σ g·y)`) or log-softmax (`g - exp(y)·Σ g`) along an axis; `it` walks the
/// rows (operand 0 `y`, 1 `gradient`, 2 `out`).
extern "C" __global__ void KILN_ROW_BOUNDS kiln_softmax_backward(KilnIter it, i64 length, i64 yStride, i64 gradientStride,
                                                 i64 outStride, int logarithm, const void *y, const void *gradient,
                                                 void *out, int type) {
    i64 strides[3] = {yStride, gradientStride, outStride};
    for (i64 row = blockIdx.x; row < it.count; row += gridDim.x) {
        i64 base[KILN_MAX_OPERANDS];
        offsets_at(it, row, base);
        const void *bases[3] = {y, gradient, out};
        if (row_cacheable(type, length, yStride == 1 && gradientStride == 1 && outStride == 1, bases, base, 3))
            softmax_backward_row_cached((const float *)y + base[0], (const float *)gradient + base[1], (float *)out + base[2], length,
                                        logarithm);
        else if (type == KILN_F64) softmax_backward_row<double>(y, gradient, out, type, base, strides, length, logarithm);
        else softmax_backward_row<float>(y, gradient, out, type, base, strides, length, logarithm);
    }
}
