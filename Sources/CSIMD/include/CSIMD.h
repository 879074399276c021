// Vector operations that Swift's SIMD types do not reliably compile to single instructions.
//
// Multiply-adds the compiler may fuse: Swift evaluates `a * b + c` as two roundings, and its `addingProduct`
// promises one, which on a target without fused multiply-add hardware becomes a call to `fmaf` per lane. These
// functions say neither: their product and sum carry Clang's `contract` flag, so a build for a CPU with FMA
// (`-target-cpu native` on x86-64 since Haswell, every AArch64) emits one fused instruction and a portable build
// emits a multiply and an add.
//
// Widening, horizontal sums and maxima, a NaN-blind maximum, and a NaN test: the standard library's generic
// `SIMD8<Double>(SIMD8<Float>)`, `sum()`, `max()` and `any(_:)` are sometimes left as out-of-line calls in hot
// loops (the conversion passing its result in four 128-bit registers). Here they are inlined: one conversion
// instruction, the lanes added in the same order as `sum()`, and a maximum as a tree over halves (exact in any
// order).
//
// Prefetch hints: the GEMM micro-kernel asks for its tile of C while it multiplies, and the vector maps and
// reductions ask for the line 4 KB ahead of the one they read, so that loads stay in flight while they compute.
//
// The target's register file (`KILN_WIDE_VECTOR_REGISTERS`, `KILN_NARROW_VECTOR_REGISTERS`), which sizes the
// GEMM's register tile and how many vectors a loop keeps in flight.
//
// Every function is inlined into its Swift caller; the vector types import as `SIMD8`/`SIMD16` of `Float`/`Double`.
#ifndef KILN_CSIMD_H
#define KILN_CSIMD_H

typedef float kiln_float8 __attribute__((ext_vector_type(8)));
typedef float kiln_float16 __attribute__((ext_vector_type(16)));
typedef double kiln_double8 __attribute__((ext_vector_type(8)));
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

/// Eight floats widened to doubles (exactly).
static inline __attribute__((always_inline)) kiln_double8 kiln_widen_float8(kiln_float8 a) {
    return __builtin_convertvector(a, kiln_double8);
}

/// The sum of sixteen lanes, added in lane order (as the standard library's `sum()`, so results do not change
/// with the form; a tree of halves rounds differently, and the default training task's outcome turned on that).
static inline __attribute__((always_inline)) float kiln_sum_float16(kiln_float16 a) {
    float s = a[0];
    for (int i = 1; i < 16; i++) s += a[i];
    return s;
}

/// The largest of sixteen lanes (which hold no NaN): halves compared until one lane is left.
static inline __attribute__((always_inline)) float kiln_max_float16(kiln_float16 a) {
    kiln_float8 b = __builtin_elementwise_max(a.lo, a.hi);
    float __attribute__((ext_vector_type(4))) c = __builtin_elementwise_max(b.lo, b.hi);
    float __attribute__((ext_vector_type(2))) d = __builtin_elementwise_max(c.lo, c.hi);
    return d.x > d.y ? d.x : d.y;
}

/// The larger of `a` and `b` lane by lane, `b` where either is NaN: one `maxps`-class instruction (a NaN-keeping
/// maximum takes four), for maxima whose NaNs reach the result another way.
static inline __attribute__((always_inline)) kiln_float16 kiln_greater_float16(kiln_float16 a, kiln_float16 b) {
    return a > b ? a : b;
}

/// Whether any of sixteen lanes is NaN (the only value unequal to itself): the lane masks or-ed together.
static inline __attribute__((always_inline)) int kiln_has_nan_float16(kiln_float16 a) {
    int __attribute__((ext_vector_type(16))) unordered = a != a;
    return __builtin_reduce_or(unordered) != 0;
}

/// The sum of eight lanes, added in lane order (as `kiln_sum_float16`).
static inline __attribute__((always_inline)) double kiln_sum_double8(kiln_double8 a) {
    double s = a[0];
    for (int i = 1; i < 8; i++) s += a[i];
    return s;
}

/// A hint that the cache line holding `p` will be read soon: fetched towards the first-level cache now
/// (`prefetcht0`), without faulting or changing anything if it is not.
static inline __attribute__((always_inline)) void kiln_prefetch_for_read(const void *p) {
    __builtin_prefetch(p, 0, 3);
}

/// A hint that the cache line holding `p` will be written soon: fetched towards the first-level cache now
/// (`prefetchw` or `prefetcht0`), without faulting or changing anything if it is not.
static inline __attribute__((always_inline)) void kiln_prefetch_for_write(const void *p) {
    __builtin_prefetch(p, 1, 3);
}

/// 1 where the build's target CPU has 32 vector registers of 64 bytes (AVX-512), which the GEMM micro-kernel's
/// largest register tile needs, 0 otherwise: decided by the build's target (`-target-cpu`). A macro, so that Swift
/// sees a constant.
#if defined(__AVX512F__)
#define KILN_WIDE_VECTOR_REGISTERS 1
#else
#define KILN_WIDE_VECTOR_REGISTERS 0
#endif

/// 1 where the build's target CPU has only sixteen vector registers of 16 bytes (x86-64 without AVX: the portable
/// default build), for which the GEMM micro-kernel takes a smaller register tile, 0 otherwise (AArch64 has 32).
#if defined(__x86_64__) && !defined(__AVX__)
#define KILN_NARROW_VECTOR_REGISTERS 1
#else
#define KILN_NARROW_VECTOR_REGISTERS 0
#endif

#endif
