// Fused layer kernels: layer normalisation forward and backward, and cross-entropy over class indices
// (with ignored rows and label smoothing) forward and backward, one block per row with statistics in double;
// the LSTM cell forward and backward, one thread per unit.
#include "common.cuh"

/// Whether every one of `count` row views has unit column stride.
__device__ __forceinline__ bool unit_columns(const KilnMatrix *views, int count) {
    for (int k = 0; k < count; ++k)
        if (views[k].column != 1) return false;
    return true;
}

/// `row_cacheable` for row `r` of the views `views` (addresses `bases`).
__device__ __forceinline__ bool matrix_row_cacheable(int type, i64 n, i64 r, const void *const *bases, const KilnMatrix *views,
                                                     int count) {
    i64 offsets[3];
    for (int k = 0; k < count; ++k) offsets[k] = views[k].offset + r * views[k].row;
    return row_cacheable(type, n, unit_columns(views, count), bases, offsets, count);
}

/// `kiln_layer_norm`'s row `r` held in a `RowCache`: the same statistics in double and output in float.
__device__ void layer_norm_row_cached(i64 n, double epsilon, const float *x, const void *weight, KilnMatrix wv,
                                      const void *bias, KilnMatrix bv, float *out, double *stats) {
    RowCache c;
    c.load(x, n);
    double total = 0;
#pragma unroll
    for (int k = 0; k < KILN_ROW_GROUPS; ++k)
        if (c.has(k)) total += ((double)c.v[k].x + (double)c.v[k].y) + ((double)c.v[k].z + (double)c.v[k].w);
    double mu = block_reduce(total, Add(), 0.0) / (double)n, squares = 0;
    c.for_each([&](int k, int lane, i64) {
        double d = (double)lane_of(c.v[k], lane) - mu;
        squares += d * d;
    });
    double inv = 1.0 / sqrt(block_reduce(squares, Add(), 0.0) / (double)n + epsilon);
    stats[0] = mu;
    stats[1] = inv;
    c.store(out, [&](int k, int lane, i64 i) {
        float v = (lane_of(c.v[k], lane) - (float)mu) * (float)inv;
        if (weight) v *= load<float>(weight, KILN_F32, wv.offset + i * wv.column);
        if (bias) v += load<float>(bias, KILN_F32, bv.offset + i * bv.column);
        return v;
    });
}

/// `out = (x - mean)·rstd·weight + bias` per row of `n` elements, saving `mean` and `rstd`.
extern "C" __global__ void KILN_ROW_BOUNDS kiln_layer_norm(i64 rows, i64 n, double epsilon, int type, const void *x, KilnMatrix xv,
                                           const void *weight, KilnMatrix wv, const void *bias, KilnMatrix bv,
                                           void *out, KilnMatrix ov, void *mean, void *rstd, int statType,
                                           KilnMatrix mv, KilnMatrix rv) {
    const void *bases[2] = {x, out};
    KilnMatrix views[2] = {xv, ov};
    for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
        i64 row = xv.offset + r * xv.row;
        if (matrix_row_cacheable(type, n, r, bases, views, 2)) {
            double stats[2];
            layer_norm_row_cached(n, epsilon, (const float *)x + row, weight, wv, bias, bv, (float *)out + ov.offset + r * ov.row,
                                  stats);
            if (threadIdx.x == 0) {
                store<double>(mean, statType, mv.offset + r * mv.column, stats[0]);
                store<double>(rstd, statType, rv.offset + r * rv.column, stats[1]);
            }
            continue;
        }
        double total = 0;
        for (i64 i = threadIdx.x; i < n; i += blockDim.x) total += load<double>(x, type, row + i * xv.column);
        double mu = block_reduce(total, Add(), 0.0) / (double)n;
        double squares = 0;
        for (i64 i = threadIdx.x; i < n; i += blockDim.x) {
            double d = load<double>(x, type, row + i * xv.column) - mu;
            squares += d * d;
        }
        double inv = 1.0 / sqrt(block_reduce(squares, Add(), 0.0) / (double)n + epsilon);
        if (threadIdx.x == 0) {
            store<double>(mean, statType, mv.offset + r * mv.column, mu);
            store<double>(rstd, statType, rv.offset + r * rv.column, inv);
        }
        for (i64 i = threadIdx.x; i < n; i += blockDim.x) {
            if (type == KILN_F64) {
                double v = (load<double>(x, type, row + i * xv.column) - mu) * inv;
                if (weight) v *= load<double>(weight, type, wv.offset + i * wv.column);
                if (bias) v += load<double>(bias, type, bv.offset + i * bv.column);
                store<double>(out, type, ov.offset + r * ov.row + i * ov.column, v);
            } else {
                float v = (load<float>(x, type, row + i * xv.column) - (float)mu) * (float)inv;
                if (weight) v *= load<float>(weight, type, wv.offset + i * wv.column);
                if (bias) v += load<float>(bias, type, bv.offset + i * bv.column);
                store<float>(out, type, ov.offset + r * ov.row + i * ov.column, v);
            }
        }
    }
}

/// `kiln_layer_norm_backward`'s row held in `RowCache`s (`dy` and `x`), in the same double arithmetic.
__device__ void layer_norm_backward_row_cached(i64 n, const float *dy, const float *x, double mu, double inv, const void *weight,
                                               KilnMatrix wv, float *dx) {
    RowCache cd, cx;
    cd.load(dy, n);
    cx.load(x, n);
    // g = dy·weight and x̂ at one element, for both passes.
    auto terms = [&](int k, int lane, i64 column) {
        double g = lane_of(cd.v[k], lane);
        if (weight) g *= load<double>(weight, KILN_F32, wv.offset + column * wv.column);
        return make_double2(g, ((double)lane_of(cx.v[k], lane) - mu) * inv);
    };
    double sums[2] = {0, 0};
    cd.for_each([&](int k, int lane, i64 column) {
        double2 t = terms(k, lane, column);
        sums[0] += t.x;
        sums[1] += t.x * t.y;
    });
    block_sum(sums);
    double meanG = sums[0] / (double)n, meanGX = sums[1] / (double)n;
    cd.store(dx, [&](int k, int lane, i64 column) {
        double2 t = terms(k, lane, column);
        return (float)(inv * (t.x - meanG - t.y * meanGX));
    });
}

/// `dx = rstd·(g - mean(g) - x̂·mean(g·x̂))` with `g = dy·weight`, one block per row.
extern "C" __global__ void KILN_ROW_BOUNDS kiln_layer_norm_backward(i64 rows, i64 n, int type, const void *dy, KilnMatrix dyv,
                                                    const void *x, KilnMatrix xv, const void *mean, const void *rstd,
                                                    int statType, KilnMatrix mv, KilnMatrix rv, const void *weight,
                                                    KilnMatrix wv, void *dx, KilnMatrix dxv) {
    const void *bases[3] = {dy, x, dx};
    KilnMatrix views[3] = {dyv, xv, dxv};
    for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
        double mu = load<double>(mean, statType, mv.offset + r * mv.column);
        double inv = load<double>(rstd, statType, rv.offset + r * rv.column);
        if (matrix_row_cacheable(type, n, r, bases, views, 3)) {
            layer_norm_backward_row_cached(n, (const float *)dy + dyv.offset + r * dyv.row, (const float *)x + xv.offset + r * xv.row,
                                           mu, inv, weight, wv, (float *)dx + dxv.offset + r * dxv.row);
            continue;
        }
        double sumG = 0, sumGX = 0;
        for (i64 i = threadIdx.x; i < n; i += blockDim.x) {
            double g = load<double>(dy, type, dyv.offset + r * dyv.row + i * dyv.column);
            if (weight) g *= load<double>(weight, type, wv.offset + i * wv.column);
            double xhat = (load<double>(x, type, xv.offset + r * xv.row + i * xv.column) - mu) * inv;
            sumG += g;
            sumGX += g * xhat;
        }
        double sums[2] = {sumG, sumGX};
        block_sum(sums);
        double meanG = sums[0] / (double)n, meanGX = sums[1] / (double)n;
        for (i64 i = threadIdx.x; i < n; i += blockDim.x) {
            double g = load<double>(dy, type, dyv.offset + r * dyv.row + i * dyv.column);
            if (weight) g *= load<double>(weight, type, wv.offset + i * wv.column);
            double xhat = (load<double>(x, type, xv.offset + r * xv.row + i * xv.column) - mu) * inv;
            store<double>(dx, type, dxv.offset + r * dxv.row + i * dxv.column, inv * (g - meanG - xhat * meanGX));
        }
    }
}

/// The column sums `dweight = Σ dy·x̂` and `dbias = Σ dy` over rows `[part·share, (part+1)·share)`, one thread
/// per (column, part), so that a few hundred columns still fill the device. With one part the sums are stored
/// (either output may be null); with more, each thread writes its pair to `partials[part·n + column]` for
/// `kiln_layer_norm_parameter_combine`.
extern "C" __global__ void kiln_layer_norm_parameter_gradients(i64 rows, i64 n, int type, const void *dy,
                                                                KilnMatrix dyv, const void *x, KilnMatrix xv,
                                                                const void *mean, const void *rstd, int statType,
                                                                KilnMatrix mv, KilnMatrix rv, void *dweight,
                                                                KilnMatrix dwv, void *dbias, KilnMatrix dbv,
                                                                i64 parts, double2 *partials) {
    i64 share = (rows + parts - 1) / parts;
    GRID_STRIDE(i, n * parts) {
        i64 c = i % n, part = i / n, end = (part + 1) * share < rows ? (part + 1) * share : rows;
        double dw = 0, db = 0;
        for (i64 r = part * share; r < end; ++r) {
            double mu = load<double>(mean, statType, mv.offset + r * mv.column);
            double inv = load<double>(rstd, statType, rv.offset + r * rv.column);
            double g = load<double>(dy, type, dyv.offset + r * dyv.row + c * dyv.column);
            dw += g * (load<double>(x, type, xv.offset + r * xv.row + c * xv.column) - mu) * inv;
            db += g;
        }
        if (parts > 1) {
            partials[i] = make_double2(dw, db);
            continue;
        }
        if (dweight) store<double>(dweight, type, dwv.offset + c * dwv.column, dw);
        if (dbias) store<double>(dbias, type, dbv.offset + c * dbv.column, db);
    }
}

/// Sums each column's `parts` (at most 32) partial pairs into `dweight` and `dbias` (either may be null), one
/// warp per column, lane k holding part k: a fixed shuffle tree, so the result does not depend on scheduling.
extern "C" __global__ void kiln_layer_norm_parameter_combine(i64 n, int type, i64 parts, const double2 *partials,
                                                             void *dweight, KilnMatrix dwv, void *dbias, KilnMatrix dbv) {
    GRID_STRIDE(i, n * 32) {
        i64 c = i / 32, lane = i % 32;
        double2 p = lane < parts ? partials[lane * n + c] : make_double2(0, 0);
        double dw = warp_reduce(p.x, Add()), db = warp_reduce(p.y, Add());
        if (lane != 0) continue;
        if (dweight) store<double>(dweight, type, dwv.offset + c * dwv.column, dw);
        if (dbias) store<double>(dbias, type, dbv.offset + c * dbv.column, db);
    }
}

/// Per-row cross-entropy (`gradient` null: `out[r]` is the loss) or its gradient (`out` is `[rows, classes]`:
/// `(softmax - target distribution)·gradient[r]`). Rows whose target is `ignoreIndex` (when `hasIgnore`) give 0.
extern "C" __global__ void KILN_ROW_BOUNDS kiln_cross_entropy(i64 rows, i64 classes, int type, const void *logits, KilnMatrix lv,
                                              const void *targets, int targetType, KilnMatrix tv, int hasIgnore,
                                              i64 ignoreIndex, double smoothing, const void *gradient,
                                              KilnMatrix gv, void *out, KilnMatrix ov, i64 *fault) {
    const void *bases[2] = {logits, out};
    KilnMatrix views[2] = {lv, ov};
    for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
        i64 row = lv.offset + r * lv.row;
        // A float32 row (and the gradient's) in a RowCache is read from memory once for all passes; its loads
        // are issued before the target's, so that the two are in flight together.
        bool cached = matrix_row_cacheable(type, classes, r, bases, views, gradient ? 2 : 1);
        RowCache cache;
        if (cached) cache.load((const float *)logits + row, classes);
        i64 t = load<i64>(targets, targetType, tv.offset + r * tv.column);
        bool ignored = hasIgnore && t == ignoreIndex;
        if (!ignored && !index_ok(fault, KILN_FAULT_CROSS_ENTROPY, t, classes)) continue;
        if (ignored) {
            if (!gradient) {
                if (threadIdx.x == 0) store<double>(out, type, ov.offset + r * ov.column, 0.0);
            } else {
                for (i64 c = threadIdx.x; c < classes; c += blockDim.x)
                    store<double>(out, type, ov.offset + r * ov.row + c * ov.column, 0.0);
            }
            continue;
        }
        double m = -INFINITY;
        if (cached) {
            m = cache.maximum();
        } else {
            for (i64 c = threadIdx.x; c < classes; c += blockDim.x) {
                double v = load<double>(logits, type, row + c * lv.column);
                if (!(v <= m)) m = v;
            }
        }
        m = block_reduce(m, Extreme{true}, (double)-INFINITY);
        // Σ exp(v - m), Σ v and the target's logit (held by one thread), summed across the block together.
        double sums[3] = {0, 0, 0};
        if (cached) {
            cache.for_each([&](int k, int lane, i64 c) {
                float v = lane_of(cache.v[k], lane);
                sums[0] += (double)expf(v - (float)m);
                sums[1] += v;
                if (c == t) sums[2] = v;
            });
        } else {
            for (i64 c = threadIdx.x; c < classes; c += blockDim.x) {
                double v = load<double>(logits, type, row + c * lv.column);
                sums[0] += type == KILN_F64 ? exp(v - m) : (double)expf((float)v - (float)m);
                sums[1] += v;
                if (c == t) sums[2] = v;
            }
        }
        block_sum(sums);
        double lse = m + log(sums[0]);
        if (!gradient) {
            if (threadIdx.x == 0) {
                double loss = (1 - smoothing) * (lse - sums[2]);
                if (smoothing > 0) loss += smoothing * (lse - sums[1] / (double)classes);
                store<double>(out, type, ov.offset + r * ov.column, loss);
            }
        } else {
            double g = load<double>(gradient, type, gv.offset + r * gv.column);
            // (softmax − q)·g for the logit of class c, q the target distribution.
            auto gradient_at = [&](i64 c, double v) {
                double q = (c == t ? 1 - smoothing : 0) + smoothing / (double)classes;
                return (exp(v - lse) - q) * g;
            };
            if (cached) {
                cache.store((float *)out + ov.offset + r * ov.row,
                            [&](int k, int lane, i64 c) { return (float)gradient_at(c, lane_of(cache.v[k], lane)); });
                continue;
            }
            for (i64 c = threadIdx.x; c < classes; c += blockDim.x)
                store<double>(out, type, ov.offset + r * ov.row + c * ov.column, gradient_at(c, load<double>(logits, type, row + c * lv.column)));
        }
    }
}

// MARK: LSTM cell (gates i, f, g, o in PyTorch's order); one thread per (row, unit), float64 or float32 math.

/// Gate `k` of unit `j` in row `b` (of the pre-activation gates or their activations).
template <typename F>
__device__ __forceinline__ F lstm_gate(const void *gates, int type, KilnMatrix gv, i64 b, i64 k, i64 j, i64 hidden) {
    return load<F>(gates, type, gv.offset + b * gv.row + (k * hidden + j) * gv.column);
}

template <typename F> __device__ __forceinline__ F at(const void *base, int type, KilnMatrix v, i64 b, i64 j) {
    return load<F>(base, type, v.offset + b * v.row + j * v.column);
}

template <typename F> __device__ __forceinline__ void put(void *base, int type, KilnMatrix v, i64 b, i64 j, F value) {
    store<F>(base, type, v.offset + b * v.row + j * v.column, value);
}

template <typename F>
__device__ void lstm_cell_at(i64 b, i64 j, i64 hidden, int type, const void *gates, KilnMatrix gv, const void *cell,
                             KilnMatrix cv, void *activations, KilnMatrix av, void *hiddenOut, KilnMatrix hv, void *cellOut,
                             KilnMatrix ov) {
    F i = sigmoid_of(lstm_gate<F>(gates, type, gv, b, 0, j, hidden));
    F f = sigmoid_of(lstm_gate<F>(gates, type, gv, b, 1, j, hidden));
    F g = tanh(lstm_gate<F>(gates, type, gv, b, 2, j, hidden));
    F o = sigmoid_of(lstm_gate<F>(gates, type, gv, b, 3, j, hidden));
    // The thread has read its four gates before it writes their activations, so `activations` may be `gates`.
    put<F>(activations, type, av, b, j, i);
    put<F>(activations, type, av, b, hidden + j, f);
    put<F>(activations, type, av, b, 2 * hidden + j, g);
    put<F>(activations, type, av, b, 3 * hidden + j, o);
    F c = f * at<F>(cell, type, cv, b, j) + i * g;
    put<F>(cellOut, type, ov, b, j, c);
    put<F>(hiddenOut, type, hv, b, j, o * tanh(c));
}

/// The activations σ(i), σ(f), tanh(g), σ(o) (possibly over `gates`), `cellOut = σ(f)·cell + σ(i)·tanh(g)` and
/// `hiddenOut = σ(o)·tanh(cellOut)`; all of dtype `type`.
extern "C" __global__ void kiln_lstm_cell(i64 batch, i64 hidden, int type, const void *gates, KilnMatrix gv,
                                          const void *cell, KilnMatrix cv, void *activations, KilnMatrix av,
                                          void *hiddenOut, KilnMatrix hv, void *cellOut, KilnMatrix ov) {
    GRID_STRIDE(e, batch * hidden) {
        i64 b = e / hidden, j = e % hidden;
        if (type == KILN_F64) lstm_cell_at<double>(b, j, hidden, type, gates, gv, cell, cv, activations, av, hiddenOut, hv, cellOut, ov);
        else lstm_cell_at<float>(b, j, hidden, type, gates, gv, cell, cv, activations, av, hiddenOut, hv, cellOut, ov);
    }
}

template <typename F>
__device__ void lstm_cell_backward_at(i64 b, i64 j, i64 hidden, int type, const void *activations, KilnMatrix av,
                                      const void *cell, KilnMatrix cv, const void *cellOut, KilnMatrix ov,
                                      const void *dh, KilnMatrix dhv, const void *dcOut, KilnMatrix dov, void *dGates,
                                      KilnMatrix dgv, void *dCell, KilnMatrix dcv) {
    F i = lstm_gate<F>(activations, type, av, b, 0, j, hidden), f = lstm_gate<F>(activations, type, av, b, 1, j, hidden);
    F g = lstm_gate<F>(activations, type, av, b, 2, j, hidden), o = lstm_gate<F>(activations, type, av, b, 3, j, hidden);
    F t = tanh(at<F>(cellOut, type, ov, b, j)), h = at<F>(dh, type, dhv, b, j);
    F total = at<F>(dcOut, type, dov, b, j) + h * o * ((F)1 - t * t);
    put<F>(dGates, type, dgv, b, j, total * g * i * ((F)1 - i));
    put<F>(dGates, type, dgv, b, hidden + j, total * at<F>(cell, type, cv, b, j) * f * ((F)1 - f));
    put<F>(dGates, type, dgv, b, 2 * hidden + j, total * i * ((F)1 - g * g));
    put<F>(dGates, type, dgv, b, 3 * hidden + j, h * t * o * ((F)1 - o));
    put<F>(dCell, type, dcv, b, j, total * f);
}

/// The LSTM cell's gradients with respect to its pre-activation gates and previous cell state, from the forward's
/// activations; all of dtype `type`.
extern "C" __global__ void kiln_lstm_cell_backward(i64 batch, i64 hidden, int type, const void *activations, KilnMatrix av,
                                                   const void *cell, KilnMatrix cv, const void *cellOut, KilnMatrix ov,
                                                   const void *dh, KilnMatrix dhv, const void *dcOut, KilnMatrix dov,
                                                   void *dGates, KilnMatrix dgv, void *dCell, KilnMatrix dcv) {
    GRID_STRIDE(e, batch * hidden) {
        i64 b = e / hidden, j = e % hidden;
        if (type == KILN_F64)
            lstm_cell_backward_at<double>(b, j, hidden, type, activations, av, cell, cv, cellOut, ov, dh, dhv, dcOut, dov, dGates,
                                          dgv, dCell, dcv);
        else
            lstm_cell_backward_at<float>(b, j, hidden, type, activations, av, cell, cv, cellOut, ov, dh, dhv, dcOut, dov, dGates,
                                         dgv, dCell, dcv);
    }
}
