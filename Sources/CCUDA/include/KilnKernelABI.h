// The argument types shared by the kernels in Kernels/ (compiled by nvcc) and the Swift code that launches them
// (through the CCUDA module). Plain C: every struct has the same layout on both sides.
#ifndef KILN_KERNEL_ABI_H
#define KILN_KERNEL_ABI_H

#include <stdint.h>

enum { KILN_MAX_RANK = 8, KILN_MAX_OPERANDS = 4 };

/// The most float4 groups of a float32 row one thread of a row kernel keeps in registers (a block of b threads
/// holds rows of up to 16·b elements); the launch sizes the block so that each thread holds up to this many.
enum { KILN_ROW_GROUPS = 4 };

/// Element types, as kernels receive them at run time.
enum KilnDTypeCode { KILN_F32 = 0, KILN_F64 = 1, KILN_F16 = 2, KILN_BF16 = 3, KILN_I32 = 4, KILN_I64 = 5,
                     KILN_U8 = 6, KILN_BOOL = 7 };

/// Elementwise functions of one operand (`UnaryOp`).
enum KilnUnaryCode { KILN_NEG, KILN_ABS, KILN_SIGN, KILN_SQUARE, KILN_EXP, KILN_LOG, KILN_SQRT, KILN_RSQRT,
                     KILN_RECIPROCAL, KILN_SIN, KILN_COS, KILN_TANH, KILN_SIGMOID, KILN_RELU, KILN_GELU,
                     KILN_GELU_TANH, KILN_SILU, KILN_ERF, KILN_FLOOR, KILN_CEIL, KILN_ROUND };

/// Elementwise functions of two operands (`BinaryOp`).
enum KilnBinaryCode { KILN_ADD, KILN_SUB, KILN_MUL, KILN_DIV, KILN_POW, KILN_MAXIMUM, KILN_MINIMUM };

/// Comparisons (`CompareOp`).
enum KilnCompareCode { KILN_EQ, KILN_NE, KILN_LT, KILN_LE, KILN_GT, KILN_GE };

/// Reductions (`ReduceOp`, `ArgReduceOp`).
enum KilnReduceCode { KILN_SUM, KILN_MEAN, KILN_MAX, KILN_MIN, KILN_VARIANCE, KILN_ARGMAX, KILN_ARGMIN };

/// Random distributions (`RandomDistribution`).
enum KilnRandomCode { KILN_UNIFORM, KILN_NORMAL, KILN_BERNOULLI };

/// Ops that validate indices on the device and report a bad one through the fault word.
enum KilnFaultSite { KILN_FAULT_NONE, KILN_FAULT_INDEX_SELECT, KILN_FAULT_INDEX_ADD, KILN_FAULT_GATHER,
                     KILN_FAULT_SCATTER_ADD, KILN_FAULT_CROSS_ENTROPY, KILN_FAULT_MAX_POOL_BACKWARD };

/// Up to four operands walked together over one shape in its row-major order. Dimensions are stored innermost
/// first (`shape[0]` is the fastest-moving axis); offsets and strides count elements. `magic` and `shift` divide
/// by each extent with a multiply (`(umulhi(n, magic) + n) >> shift` for n < 2³¹), the host having worked
/// them out once.
typedef struct {
    int64_t count;
    int32_t rank;
    int32_t operands;
    int64_t shape[KILN_MAX_RANK];
    int64_t offset[KILN_MAX_OPERANDS];
    int64_t strides[KILN_MAX_OPERANDS][KILN_MAX_RANK];
    uint32_t magic[KILN_MAX_RANK];
    uint32_t shift[KILN_MAX_RANK];
} KilnIter;

/// A 2-D (or, with `row` unused, 1-D) strided view, in elements.
typedef struct {
    int64_t offset;
    int64_t row;
    int64_t column;
} KilnMatrix;

/// A rank-4 `[batch, channels, height, width]` strided view, in elements.
typedef struct {
    int64_t offset;
    int64_t strides[4];
} KilnImage;

/// The geometry of a 2-D sliding window (`Window2d`).
typedef struct {
    int64_t batch, channels, height, width;
    int64_t kernelHeight, kernelWidth, strideHeight, strideWidth;
    int64_t paddingHeight, paddingWidth, dilationHeight, dilationWidth;
    int64_t outputHeight, outputWidth;
} KilnWindow;

/// The constants of one Adam/AdamW step, formed in double on the host.
typedef struct {
    double stepSize, sqrtCorrection2, beta1, beta2, epsilon, weightDecay, oneMinusBeta1, oneMinusBeta2, decay;
    int64_t decoupled;
} KilnAdam;

#endif
