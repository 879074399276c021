// Multiply-adds that the compiler may fuse.
//
// Swift evaluates `a * b + c` as two roundings, and its `addingProduct` promises one, which on a target without
// fused multiply-add hardware becomes a call to `fmaf` per lane. These functions say neither: their product and
// sum carry Clang's `contract` flag, so a build for a CPU with FMA (`-target-cpu native` on x86-64 since Haswell,
// every AArch64) emits one fused instruction and a portable build emits a multiply and an add. Both are inlined
// into the Swift caller; the vector types import as `SIMD16<Float>` and `SIMD16<Double>`.
#ifndef KILN_MULTIPLY_ADD_H
#define KILN_MULTIPLY_ADD_H

typedef float kiln_float16 __attribute__((ext_vector_type(16)));
typedef double kiln_double16 __attribute__((ext_vector_type(16)));

/// `a·b + c` over sixteen lanes, fused where the target allows.
static inline __attribute__((always_inline)) kiln_float16
kiln_multiply_add_float16(kiln_float16 a, kiln_float16 b, kiln_float16 c) {
#pragma clang fp contract(fast)
    return a * b + c;
}

/// `a·b + c` over sixteen lanes, fused where the target allows.
static inline __attribute__((always_inline)) kiln_double16
kiln_multiply_add_double16(kiln_double16 a, kiln_double16 b, kiln_double16 c) {
#pragma clang fp contract(fast)
    return a * b + c;
}

#endif
