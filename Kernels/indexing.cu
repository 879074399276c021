// Indexing kernels: index-select and gather (reads through an index), index-add and scatter-add (atomic
// accumulation through an index). Out-of-range indices are reported through the fault word, not read.
#include "common.cuh"

/// `out = x[…, indices[…], …]`. Operands: 0 `out`, 1 `x` with the indexed axis' stride zeroed, 2 the
/// position of each element's index in `indices`; `axisStride` steps `x` along the indexed axis.
extern "C" __global__ void kiln_index_read(KilnIter it, i64 extent, i64 axisStride, const void *indices,
                                           int indexType, const void *x, void *out, int type, i64 *fault, int site) {
    int domain = domain_of(type);
    i64 o[KILN_MAX_OPERANDS];
    GRID_STRIDE(i, it.count) {
        offsets_at(it, i, o);
        i64 index = load<i64>(indices, indexType, o[2]);
        if (!index_ok(fault, site, index, extent)) continue;
        i64 from = o[1] + index * axisStride;
        if (domain == 0) store<float>(out, type, o[0], load<float>(x, type, from));
        else if (domain == 1) store<double>(out, type, o[0], load<double>(x, type, from));
        else store<i64>(out, type, o[0], load<i64>(x, type, from));
    }
}

/// `out[…, indices[…], …] += source`. Operands: 0 `source`, 1 `out` with the indexed axis' stride zeroed,
/// 2 the position of each element's index in `indices`; `axisStride` steps `out` along the indexed axis.
extern "C" __global__ void kiln_index_add(KilnIter it, i64 extent, i64 axisStride, const void *indices,
                                          int indexType, const void *source, void *out, int type, i64 *fault,
                                          int site) {
    int domain = domain_of(type);
    i64 o[KILN_MAX_OPERANDS];
    GRID_STRIDE(i, it.count) {
        offsets_at(it, i, o);
        i64 index = load<i64>(indices, indexType, o[2]);
        if (!index_ok(fault, site, index, extent)) continue;
        i64 to = o[1] + index * axisStride;
        if (domain == 0) atomic_add<float>(out, type, to, load<float>(source, type, o[0]));
        else if (domain == 1) atomic_add<double>(out, type, to, load<double>(source, type, o[0]));
        else atomic_add<i64>(out, type, to, load<i64>(source, type, o[0]));
    }
}
