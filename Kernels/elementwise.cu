// Elementwise kernels: fill, copy (with casts), unary functions and the activations' fused backward, binary
// functions, comparisons and selection, over
// any strided or broadcast layout (KilnIter); a contiguous operand set arrives as rank 1 with unit strides.
#include "common.cuh"

template <typename F> __device__ __forceinline__ F unary_float(int op, F a) {
    switch (op) {
    case KILN_NEG: return -a;
    case KILN_ABS: return fabs(a);
    case KILN_SIGN: return a > (F)0 ? (F)1 : (a < (F)0 ? (F)-1 : (a != a ? a : (F)0));
    case KILN_SQUARE: return a * a;
    case KILN_EXP: return exp(a);
    case KILN_LOG: return log(a);
    case KILN_SQRT: return sqrt(a);
    case KILN_RSQRT: return (F)1 / sqrt(a);
    case KILN_RECIPROCAL: return (F)1 / a;
    case KILN_SIN: return sin(a);
    case KILN_COS: return cos(a);
    case KILN_TANH: return tanh(a);
    case KILN_SIGMOID: return sigmoid_of(a);
    case KILN_RELU: return a > (F)0 ? a : (a != a ? a : (F)0);
    case KILN_GELU: return a * ((F)1 + erf(a * (F)0.70710678118654752440)) / (F)2;
    case KILN_GELU_TANH: {
        F inner = (F)0.79788456080286535588 * (a + (F)0.044715 * a * a * a);
        return a * ((F)1 + tanh(inner)) / (F)2;
    }
    case KILN_SILU: return a * sigmoid_of(a);
    case KILN_ERF: return erf(a);
    case KILN_FLOOR: return floor(a);
    case KILN_CEIL: return ceil(a);
    default: return rint(a);
    }
}

__device__ i64 unary_integer(int op, i64 a) {
    u64 u = (u64)a;
    switch (op) {
    case KILN_NEG: return (i64)(0ull - u);
    case KILN_ABS: return a < 0 ? (i64)(0ull - u) : a;
    case KILN_SIGN: return a > 0 ? 1 : (a < 0 ? -1 : 0);
    case KILN_SQUARE: return (i64)(u * u);
    default: return a > 0 ? a : 0;
    }
}

template <typename F> __device__ __forceinline__ F binary_float(int op, F a, F b) {
    switch (op) {
    case KILN_ADD: return a + b;
    case KILN_SUB: return a - b;
    case KILN_MUL: return a * b;
    case KILN_DIV: return a / b;
    case KILN_POW: return pow(a, b);
    case KILN_MAXIMUM: return a != a || b != b ? (F)NAN : (b >= a ? b : a);
    default: return a != a || b != b ? (F)NAN : (b < a ? b : a);
    }
}

__device__ i64 binary_integer(int op, i64 a, i64 b) {
    switch (op) {
    case KILN_ADD: return (i64)((u64)a + (u64)b);
    case KILN_SUB: return (i64)((u64)a - (u64)b);
    case KILN_MUL: return (i64)((u64)a * (u64)b);
    case KILN_MAXIMUM: return b >= a ? b : a;
    default: return b < a ? b : a;
    }
}

template <typename C> __device__ __forceinline__ bool compare_values(int op, C a, C b) {
    switch (op) {
    case KILN_EQ: return a == b;
    case KILN_NE: return a != b;
    case KILN_LT: return a < b;
    case KILN_LE: return a <= b;
    case KILN_GT: return a > b;
    default: return a >= b;
    }
}

/// Operand 0 is `out`.
extern "C" __global__ void kiln_fill(KilnIter it, void *out, int outType, double value) {
    int domain = domain_of(outType);
    i64 o[KILN_MAX_OPERANDS];
    GRID_STRIDE(i, it.count) {
        offsets_at(it, i, o);
        if (domain == 0) store<float>(out, outType, o[0], (float)value);
        else if (domain == 1) store<double>(out, outType, o[0], value);
        else store<i64>(out, outType, o[0], outType == KILN_BOOL ? (value != 0.0 ? 1 : 0) : double_to_i64(value));
    }
}

/// `f(x)` elementwise in compute type `C` (operand 1 `x` of dtype `xType` into operand 0 `out` of `outType`).
template <typename C, typename Function>
__device__ void unary_via(const KilnIter &it, const void *x, int xType, void *out, int outType, Function f) {
    struct Item {
        C x;
        i64 at;
    };
    unrolled_walk<Item>(
        it, [&](const i64 *o) { return Item{load<C>(x, xType, o[1]), o[0]}; },
        [&](Item item) { store<C>(out, outType, item.at, f(item.x)); });
}

/// The value itself, for a copy through a compute type.
struct Identity {
    template <typename T> __device__ __forceinline__ T operator()(T v) const { return v; }
};

/// Operands: 0 `out`, 1 `source`. Integers copy exactly; anything touching float64 or a 32/64-bit integer
/// source goes through double; the rest through float.
extern "C" __global__ void KILN_ELEMENTWISE_BOUNDS kiln_copy(KilnIter it, const void *source, int sourceType, void *out, int outType) {
    const void *bases[2] = {out, source};
    if (sourceType == KILN_F32 && outType == KILN_F32 && float4_ready(it, bases, 2))
        map_float4<1>(it, out, {source}, [](const float *a) { return a[0]; });
    else if (domain_of(sourceType) == 2 && domain_of(outType) == 2) unary_via<i64>(it, source, sourceType, out, outType, Identity());
    else if (sourceType == KILN_F64 || outType == KILN_F64 || sourceType == KILN_I64 || sourceType == KILN_I32)
        unary_via<double>(it, source, sourceType, out, outType, Identity());
    else unary_via<float>(it, source, sourceType, out, outType, Identity());
}

/// `g · op′` for an activation (UnaryOp.fusedBackward); `s` is the op's output for sigmoid and tanh, else its
/// input.
template <typename F> __device__ __forceinline__ F unary_backward(int op, F s, F g) {
    switch (op) {
    case KILN_RELU: return g * (s > (F)0 ? (F)1 : (F)0);
    case KILN_SIGMOID: return g * s * ((F)1 - s);
    case KILN_TANH: return g * ((F)1 - s * s);
    case KILN_GELU:
        return g * (((F)1 + erf(s * (F)0.70710678118654752440)) / (F)2 + s * exp(s * s / (F)-2) * (F)0.39894228040143267794);
    case KILN_GELU_TANH: {
        F c = (F)0.79788456080286535588, t = tanh(c * (s + (F)0.044715 * s * s * s));
        return g * (((F)1 + t) / (F)2 + s / (F)2 * ((F)1 - t * t) * (c * ((F)1 + (F)0.134145 * s * s)));
    }
    case KILN_SILU: {
        F sg = sigmoid_of(s);
        return g * sg * ((F)1 + s * ((F)1 - sg));
    }
    default: return (F)NAN;
    }
}

/// The float32 forms of the three kinds of elementwise op, for an op known when the kernel is compiled.
template <int Op> struct UnaryFloat {
    __device__ __forceinline__ float operator()(const float *a) const { return unary_float<float>(Op, a[0]); }
};
template <int Op> struct BackwardFloat {
    __device__ __forceinline__ float operator()(const float *a) const { return unary_backward<float>(Op, a[0], a[1]); }
};
template <int Op> struct BinaryFloat {
    __device__ __forceinline__ float operator()(const float *a) const { return binary_float<float>(Op, a[0], a[1]); }
};

/// `map_float4` with `Function<op>` for an `op` in `[First, Last]`: one loop per op, each holding that op's code
/// alone (a loop that switches over every op per element spans hundreds of kilobytes of instructions).
template <template <int> class Function, int First, int Last, int N> struct Float4Dispatch {
    __device__ static void run(int op, const KilnIter &it, void *out, const void *const (&inputs)[N]) {
        if (op == First) map_float4<N>(it, out, inputs, Function<First>());
        else Float4Dispatch<Function, First + 1, Last, N>::run(op, it, out, inputs);
    }
};
template <template <int> class Function, int Last, int N> struct Float4Dispatch<Function, Last, Last, N> {
    __device__ static void run(int, const KilnIter &it, void *out, const void *const (&inputs)[N]) {
        map_float4<N>(it, out, inputs, Function<Last>());
    }
};

/// Operands: 0 `out`, 1 `x`; both of dtype `type`.
extern "C" __global__ void KILN_ELEMENTWISE_BOUNDS kiln_unary(KilnIter it, int op, const void *x, void *out, int type) {
    int domain = domain_of(type);
    const void *bases[2] = {out, x};
    if (type == KILN_F32 && float4_ready(it, bases, 2)) Float4Dispatch<UnaryFloat, KILN_NEG, KILN_ROUND, 1>::run(op, it, out, {x});
    else if (domain == 0) unary_via<float>(it, x, type, out, type, [=](float a) { return unary_float<float>(op, a); });
    else if (domain == 1) unary_via<double>(it, x, type, out, type, [=](double a) { return unary_float<double>(op, a); });
    else unary_via<i64>(it, x, type, out, type, [=](i64 a) { return unary_integer(op, a); });
}

/// `f(a, b)` elementwise in compute type `C` over operands 1 and 2 of the walk (operand 0 `out`).
template <typename C, typename Function>
__device__ void binary_via(const KilnIter &it, const void *a, const void *b, void *out, int type, Function f) {
    struct Item {
        C a, b;
        i64 at;
    };
    unrolled_walk<Item>(
        it, [&](const i64 *o) { return Item{load<C>(a, type, o[1]), load<C>(b, type, o[2]), o[0]}; },
        [&](Item item) { store<C>(out, type, item.at, f(item.a, item.b)); });
}

/// Operands: 0 `out`, 1 `saved`, 2 `gradient`; all of floating dtype `type`.
extern "C" __global__ void KILN_ELEMENTWISE_BOUNDS kiln_unary_backward(KilnIter it, int op, const void *saved, const void *gradient, void *out,
                                               int type) {
    const void *bases[3] = {out, saved, gradient};
    if (type == KILN_F32 && op >= KILN_TANH && op <= KILN_SILU && float4_ready(it, bases, 3))
        Float4Dispatch<BackwardFloat, KILN_TANH, KILN_SILU, 2>::run(op, it, out, {saved, gradient});
    else if (domain_of(type) == 1)
        binary_via<double>(it, saved, gradient, out, type, [=](double s, double g) { return unary_backward<double>(op, s, g); });
    else binary_via<float>(it, saved, gradient, out, type, [=](float s, float g) { return unary_backward<float>(op, s, g); });
}

/// Operands: 0 `out`, 1 `a`, 2 `b`; all of dtype `type`.
extern "C" __global__ void KILN_ELEMENTWISE_BOUNDS kiln_binary(KilnIter it, int op, const void *a, const void *b, void *out, int type) {
    int domain = domain_of(type);
    const void *bases[3] = {out, a, b};
    if (type == KILN_F32 && float4_ready(it, bases, 3)) Float4Dispatch<BinaryFloat, KILN_ADD, KILN_MINIMUM, 2>::run(op, it, out, {a, b});
    else if (domain == 0) binary_via<float>(it, a, b, out, type, [=](float x, float y) { return binary_float<float>(op, x, y); });
    else if (domain == 1) binary_via<double>(it, a, b, out, type, [=](double x, double y) { return binary_float<double>(op, x, y); });
    else binary_via<i64>(it, a, b, out, type, [=](i64 x, i64 y) { return binary_integer(op, x, y); });
}

/// Operands: 0 `out` (bool), 1 `a`, 2 `b` (dtype `type`).
extern "C" __global__ void kiln_compare(KilnIter it, int op, const void *a, const void *b, int type, uint8_t *out) {
    int domain = domain_of(type);
    i64 o[KILN_MAX_OPERANDS];
    GRID_STRIDE(i, it.count) {
        offsets_at(it, i, o);
        bool r = domain == 0   ? compare_values(op, load<float>(a, type, o[1]), load<float>(b, type, o[2]))
                 : domain == 1 ? compare_values(op, load<double>(a, type, o[1]), load<double>(b, type, o[2]))
                               : compare_values(op, load<i64>(a, type, o[1]), load<i64>(b, type, o[2]));
        out[o[0]] = r ? 1 : 0;
    }
}

/// Operands: 0 `out`, 1 `condition` (bool), 2 `a`, 3 `b`; `a`, `b` and `out` of dtype `type`.
extern "C" __global__ void kiln_select(KilnIter it, const uint8_t *condition, const void *a, const void *b, void *out,
                                      int type) {
    int domain = domain_of(type);
    i64 o[KILN_MAX_OPERANDS];
    GRID_STRIDE(i, it.count) {
        offsets_at(it, i, o);
        i64 from = condition[o[1]] != 0 ? o[2] : o[3];
        const void *source = condition[o[1]] != 0 ? a : b;
        if (domain == 0) store<float>(out, type, o[0], load<float>(source, type, from));
        else if (domain == 1) store<double>(out, type, o[0], load<double>(source, type, from));
        else store<i64>(out, type, o[0], load<i64>(source, type, from));
    }
}
