// Kernels that reduce along axes: sums, means, variances and extremes over any set of axes, arg-extremes,
// softmax and log-softmax with their backward pass. One block per output (or row); threads stride the
// reduced elements and combine with warp shuffles and a shared-memory step.
#include "common.cuh"

/// One block's share of a reduction: a sum, an extreme, or for a variance the share's element count, mean and
/// sum of squared deviations (combined across shares by Chan's formula, so no share's rounding is amplified).
struct Partial {
    double a, b, c;
};

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
    // Four loads in flight per thread before any is added (a load-then-add loop waits for each in turn).
    double total = 0;
    for (i64 first = begin + threadIdx.x; first < end; first += KILN_UNROLL * blockDim.x) {
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

/// Combines each row's `parts` partials in order (so the result does not depend on scheduling) and stores the
/// reduction; one thread per row.
extern "C" __global__ void kiln_reduce_combine(KilnIter it, int op, int correction, i64 parts, i64 n,
                                               const Partial *partials, void *out, int outType) {
    GRID_STRIDE(row, it.count) {
        i64 base[KILN_MAX_OPERANDS];
        offsets_at(it, row, base);
        Partial total = partials[row * parts];
        Extreme extreme{op == KILN_MAX};
        for (i64 part = 1; part < parts; ++part) {
            Partial p = partials[row * parts + part];
            if (op == KILN_MAX || op == KILN_MIN) {
                total.a = extreme(total.a, p.a);
            } else if (op != KILN_VARIANCE) {
                total.a += p.a;
            } else if (p.a > 0) {
                double count = total.a + p.a, delta = p.b - total.b;
                total.c += p.c + delta * delta * total.a * p.a / count;
                total.b += delta * p.a / count;
                total.a = count;
            }
        }
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
        if (type == KILN_F64) softmax_row<double>(x, out, type, base[0], base[1], length, xStride, outStride, logarithm);
        else softmax_row<float>(x, out, type, base[0], base[1], length, xStride, outStride, logarithm);
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
        if (type == KILN_F64) softmax_backward_row<double>(y, gradient, out, type, base, strides, length, logarithm);
        else softmax_backward_row<float>(y, gradient, out, type, base, strides, length, logarithm);
    }
}
