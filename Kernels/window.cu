// Sliding-window kernels over [batch, channels, height, width] images: im2col and col2im for convolution,
// max and average pooling with their backward passes. Backward passes gather (one thread per input pixel
// sums what reaches it), so they are deterministic and need no atomics.
#include "common.cuh"

#define IMAGE(v, b, c, y, x) ((v).offset + (b) * (v).strides[0] + (c) * (v).strides[1] + (y) * (v).strides[2] + (x) * (v).strides[3])
#define COLUMNS(v, b, r, p) ((v).offset + (b) * (v).strides[0] + (r) * (v).strides[1] + (p) * (v).strides[2])

/// `columns[b, (c·kh + ky)·kw + kx, oy·ow + ox] = x[b, c, y, x]`, zero outside the image. One block per column
/// row (image `b`, row `(c·kh + ky)·kw + kx`), its threads along the positions: the row's indices are worked
/// out once, and each position costs one 32-bit division.
extern "C" __global__ void kiln_im2col(KilnWindow g, const void *x, KilnImage xv, void *columns, KilnImage cv, int type) {
    i64 taps = g.kernelHeight * g.kernelWidth, rows = g.channels * taps;
    unsigned plane = (unsigned)(g.outputHeight * g.outputWidth), width = (unsigned)g.outputWidth;
    for (i64 line = blockIdx.x; line < g.batch * rows; line += gridDim.x) {
        i64 b = line / rows, rowIndex = line % rows, c = rowIndex / taps;
        i64 ky = (rowIndex % taps) / g.kernelWidth, kx = rowIndex % g.kernelWidth;
        i64 top = ky * g.dilationHeight - g.paddingHeight, left = kx * g.dilationWidth - g.paddingWidth;
        for (unsigned p = threadIdx.x; p < plane; p += blockDim.x) {
            unsigned oy = p / width, ox = p - oy * width;
            i64 y = oy * g.strideHeight + top, xx = ox * g.strideWidth + left;
            bool inside = y >= 0 && y < g.height && xx >= 0 && xx < g.width;
            i64 to = COLUMNS(cv, b, rowIndex, (i64)p);
            if (type == KILN_F64) store<double>(columns, type, to, inside ? load<double>(x, type, IMAGE(xv, b, c, y, xx)) : 0.0);
            else store<float>(columns, type, to, inside ? load<float>(x, type, IMAGE(xv, b, c, y, xx)) : 0.0f);
        }
    }
}

/// Calls `body(outputY, outputX)` for every window position whose tap (ky, kx) lands on input pixel (y, x).
template <typename Body> __device__ __forceinline__ void windows_covering(const KilnWindow &g, i64 y, i64 x, Body body) {
    for (i64 ky = 0; ky < g.kernelHeight; ++ky) {
        i64 sy = y + g.paddingHeight - ky * g.dilationHeight;
        if (sy < 0 || (g.strideHeight != 1 && sy % g.strideHeight != 0)) continue;
        i64 oy = g.strideHeight == 1 ? sy : sy / g.strideHeight;
        if (oy >= g.outputHeight) continue;
        for (i64 kx = 0; kx < g.kernelWidth; ++kx) {
            i64 sx = x + g.paddingWidth - kx * g.dilationWidth;
            if (sx < 0 || (g.strideWidth != 1 && sx % g.strideWidth != 0)) continue;
            i64 ox = g.strideWidth == 1 ? sx : sx / g.strideWidth;
            if (ox < g.outputWidth) body(ky, kx, oy, ox);
        }
    }
}

template <typename F>
__device__ void col2im_pixel(const KilnWindow &g, i64 b, i64 c, i64 y, i64 x, const void *columns, KilnImage cv,
                             void *out, KilnImage ov, int type) {
    F total = 0;
    windows_covering(g, y, x, [&](i64 ky, i64 kx, i64 oy, i64 ox) {
        total += load<F>(columns, type, COLUMNS(cv, b, (c * g.kernelHeight + ky) * g.kernelWidth + kx, oy * g.outputWidth + ox));
    });
    store<F>(out, type, IMAGE(ov, b, c, y, x), total);
}

/// `out[b, c, y, x]` = the sum of the columns entries im2col took from that pixel.
extern "C" __global__ void kiln_col2im(KilnWindow g, const void *columns, KilnImage cv, void *out, KilnImage ov, int type) {
    GRID_STRIDE(i, g.batch * g.channels * g.height * g.width) {
        i64 x = i % g.width, y = (i / g.width) % g.height, c = (i / g.width / g.height) % g.channels;
        i64 b = i / g.width / g.height / g.channels;
        if (type == KILN_F64) col2im_pixel<double>(g, b, c, y, x, columns, cv, out, ov, type);
        else col2im_pixel<float>(g, b, c, y, x, columns, cv, out, ov, type);
    }
}

template <typename F>
__device__ void pool_window(const KilnWindow &g, bool isMax, i64 b, i64 c, i64 oy, i64 ox, const void *x, KilnImage xv,
                            void *out, KilnImage ov, void *indices, int indexType, KilnImage iv, int type) {
    F best = -INFINITY, total = 0;
    i64 bestAt = -1;
    for (i64 ky = 0; ky < g.kernelHeight; ++ky) {
        i64 y = oy * g.strideHeight - g.paddingHeight + ky * g.dilationHeight;
        if (y < 0 || y >= g.height) continue;
        for (i64 kx = 0; kx < g.kernelWidth; ++kx) {
            i64 xx = ox * g.strideWidth - g.paddingWidth + kx * g.dilationWidth;
            if (xx < 0 || xx >= g.width) continue;
            F v = load<F>(x, type, IMAGE(xv, b, c, y, xx));
            total += v;
            if (bestAt < 0 || v > best || (v != v && best == best)) {
                best = v;
                bestAt = y * g.width + xx;
            }
        }
    }
    store<F>(out, type, IMAGE(ov, b, c, oy, ox), isMax ? best : total / (F)(g.kernelHeight * g.kernelWidth));
    if (indices) store<i64>(indices, indexType, IMAGE(iv, b, c, oy, ox), bestAt);
}

/// Max (recording each maximum's position in its plane into `indices`) or average pooling.
extern "C" __global__ void kiln_pool(KilnWindow g, int isMax, const void *x, KilnImage xv, void *out, KilnImage ov,
                                     void *indices, int indexType, KilnImage iv, int type) {
    GRID_STRIDE(i, g.batch * g.channels * g.outputHeight * g.outputWidth) {
        i64 ox = i % g.outputWidth, oy = (i / g.outputWidth) % g.outputHeight;
        i64 c = (i / g.outputWidth / g.outputHeight) % g.channels, b = i / g.outputWidth / g.outputHeight / g.channels;
        if (type == KILN_F64) pool_window<double>(g, isMax, b, c, oy, ox, x, xv, out, ov, indices, indexType, iv, type);
        else pool_window<float>(g, isMax, b, c, oy, ox, x, xv, out, ov, indices, indexType, iv, type);
    }
}

template <typename F>
__device__ void pool_backward_pixel(const KilnWindow &g, bool isMax, i64 b, i64 c, i64 y, i64 x, const void *dy,
                                    KilnImage dv, const void *indices, int indexType, KilnImage iv, void *out,
                                    KilnImage ov, int type, i64 *fault) {
    F total = 0, windowSize = (F)(g.kernelHeight * g.kernelWidth);
    i64 here = y * g.width + x;
    windows_covering(g, y, x, [&](i64, i64, i64 oy, i64 ox) {
        F share = load<F>(dy, type, IMAGE(dv, b, c, oy, ox));
        if (!isMax) {
            total += share / windowSize;
            return;
        }
        i64 at = load<i64>(indices, indexType, IMAGE(iv, b, c, oy, ox));
        if (index_ok(fault, KILN_FAULT_MAX_POOL_BACKWARD, at, g.height * g.width) && at == here) total += share;
    });
    store<F>(out, type, IMAGE(ov, b, c, y, x), total);
}

/// The input gradient of pooling: each pixel sums the output gradients of the windows it fed (for max
/// pooling, the windows whose recorded maximum it was).
extern "C" __global__ void kiln_pool_backward(KilnWindow g, int isMax, const void *dy, KilnImage dv, const void *indices,
                                              int indexType, KilnImage iv, void *out, KilnImage ov, int type,
                                              i64 *fault) {
    GRID_STRIDE(i, g.batch * g.channels * g.height * g.width) {
        i64 x = i % g.width, y = (i / g.width) % g.height, c = (i / g.width / g.height) % g.channels;
        i64 b = i / g.width / g.height / g.channels;
        if (type == KILN_F64) pool_backward_pixel<double>(g, isMax, b, c, y, x, dy, dv, indices, indexType, iv, out, ov, type, fault);
        else pool_backward_pixel<float>(g, isMax, b, c, y, x, dy, dv, indices, indexType, iv, out, ov, type, fault);
    }
}
