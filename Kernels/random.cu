// Random fills and dropout from the Philox4x32-10 stream, element for element the CPU backend's: element i of
// a fill takes word i % 4 of block offset + i / 4. Arithmetic uses explicitly rounded intrinsics so the compiler
// cannot fuse it into FMAs the CPU does not perform.
#include "common.cuh"

/// One thread per Philox block; writes the block's (up to) four elements in `out`'s row-major order.
extern "C" __global__ void kiln_random(KilnIter it, int distribution, double a, double b, u64 seed, u64 offset,
                                       void *out, int type) {
    i64 blocks = (it.count + 3) / 4;
    i64 o[KILN_MAX_OPERANDS];
    GRID_STRIDE(block, blocks) {
        uint4 words = philox_block(offset + (u64)block, seed);
        double values[4];
        if (distribution == KILN_NORMAL) {
            double r0 = __dsqrt_rn(__dmul_rn(-2.0, log((double)philox_uniform(words.x))));
            double r1 = __dsqrt_rn(__dmul_rn(-2.0, log((double)philox_uniform(words.z))));
            double t0 = __dmul_rn(2.0 * 3.141592653589793, (double)philox_uniform(words.y));
            double t1 = __dmul_rn(2.0 * 3.141592653589793, (double)philox_uniform(words.w));
            double z[4] = {__dmul_rn(r0, cos(t0)), __dmul_rn(r0, sin(t0)), __dmul_rn(r1, cos(t1)), __dmul_rn(r1, sin(t1))};
            for (int j = 0; j < 4; ++j) values[j] = __dadd_rn(a, __dmul_rn(b, z[j]));
        } else {
            for (int j = 0; j < 4; ++j) {
                double u = (double)philox_uniform(word_of(words, j));
                values[j] = distribution == KILN_UNIFORM ? __dadd_rn(a, __dmul_rn(b - a, u)) : (u < a ? 1.0 : 0.0);
            }
        }
        for (int j = 0; j < 4; ++j) {
            i64 element = block * 4 + j;
            if (element >= it.count) break;
            offsets_at(it, element, o);
            store<double>(out, type, o[0], values[j]);
        }
    }
}

/// Inverted dropout: `mask = u ≥ p`, `out = mask ? x·scale : 0`. Operands: 0 `out`, 1 `x`, 2 `mask`.
extern "C" __global__ void kiln_dropout(KilnIter it, double probability, double scale, u64 seed, u64 offset,
                                        const void *x, void *out, int type, void *mask, int maskType) {
    i64 o[KILN_MAX_OPERANDS];
    GRID_STRIDE(i, it.count) {
        unsigned word = word_of(philox_block(offset + (u64)(i / 4), seed), (int)(i % 4));
        bool keep = (double)philox_uniform(word) >= probability;
        offsets_at(it, i, o);
        store<i64>(mask, maskType, o[2], keep ? 1 : 0);
        if (type == KILN_F64) store<double>(out, type, o[0], keep ? load<double>(x, type, o[1]) * scale : 0.0);
        else store<float>(out, type, o[0], keep ? load<float>(x, type, o[1]) * (float)scale : 0.0f);
    }
}
