// Fused optimizer updates, in place, as PyTorch's torch.optim.SGD and Adam/AdamW define them. Hyper-parameters
// arrive as double and are rounded once to the compute type, as on the CPU.
#include "common.cuh"

template <typename F>
__device__ void sgd_element(const KilnIter &it, i64 i, void *w, const void *g, void *buffer, int type, double lr,
                            double momentum, double keep, double decay, bool nesterov, bool first) {
    i64 o[KILN_MAX_OPERANDS];
    offsets_at(it, i, o);
    F wi = load<F>(w, type, o[0]);
    F d = load<F>(g, type, o[1]) + (F)decay * wi;
    if (buffer) {
        F b = first ? d : (F)momentum * load<F>(buffer, type, o[2]) + (F)keep * d;
        store<F>(buffer, type, o[2], b);
        d = nesterov ? d + (F)momentum * b : b;
    }
    store<F>(w, type, o[0], wi - (F)lr * d);
}

/// Operands: 0 parameter, 1 gradient, 2 momentum buffer (null when momentum is off).
extern "C" __global__ void kiln_sgd_step(KilnIter it, void *parameter, const void *gradient, void *buffer, int type,
                                         double lr, double momentum, double keep, double decay, int nesterov,
                                         int first) {
    GRID_STRIDE(i, it.count) {
        if (type == KILN_F64) sgd_element<double>(it, i, parameter, gradient, buffer, type, lr, momentum, keep, decay, nesterov, first);
        else sgd_element<float>(it, i, parameter, gradient, buffer, type, lr, momentum, keep, decay, nesterov, first);
    }
}

/// One element's Adam/AdamW update of parameter `w`, moments `m` and `v` from gradient `d`.
template <typename F> __device__ __forceinline__ void adam_update(F &w, F d, F &m, F &v, const KilnAdam &h) {
    if (h.decoupled) w *= (F)h.decay;
    else d += (F)h.weightDecay * w;
    m = (F)h.beta1 * m + (F)h.oneMinusBeta1 * d;
    v = (F)h.beta2 * v + (F)h.oneMinusBeta2 * d * d;
    w -= (F)h.stepSize * m / (sqrt(v) / (F)h.sqrtCorrection2 + (F)h.epsilon);
}

template <typename F>
__device__ void adam_element(const KilnIter &it, i64 i, void *w, const void *g, void *m, void *v, int type,
                             const KilnAdam &h) {
    i64 o[KILN_MAX_OPERANDS];
    offsets_at(it, i, o);
    F wi = load<F>(w, type, o[0]), mi = load<F>(m, type, o[2]), vi = load<F>(v, type, o[3]);
    adam_update<F>(wi, load<F>(g, type, o[1]), mi, vi, h);
    store<F>(m, type, o[2], mi);
    store<F>(v, type, o[3], vi);
    store<F>(w, type, o[0], wi);
}

/// The update over float4 groups of operands that are all `float4_ready`, then the last `count % 4` elements.
__device__ void adam_float4(const KilnIter &it, void *parameter, const void *gradient, void *firstMoment,
                            void *secondMoment, const KilnAdam &h) {
    struct Item {
        float4 w, g, m, v;
    };
    float4 *w = (float4 *)((float *)parameter + it.offset[0]), *m = (float4 *)((float *)firstMoment + it.offset[2]);
    float4 *v = (float4 *)((float *)secondMoment + it.offset[3]);
    const float4 *g = (const float4 *)((const float *)gradient + it.offset[1]);
    i64 groups = it.count / 4;
    unrolled_range<Item>(
        groups, [&](i64 k) { return Item{w[k], g[k], m[k], v[k]}; },
        [&](i64 k, Item e) {
            adam_update<float>(e.w.x, e.g.x, e.m.x, e.v.x, h);
            adam_update<float>(e.w.y, e.g.y, e.m.y, e.v.y, h);
            adam_update<float>(e.w.z, e.g.z, e.m.z, e.v.z, h);
            adam_update<float>(e.w.w, e.g.w, e.m.w, e.v.w, h);
            m[k] = e.m;
            v[k] = e.v;
            w[k] = e.w;
        });
    i64 last = groups * 4 + threadIdx.x;
    if (blockIdx.x == 0 && last < it.count) adam_element<float>(it, last, parameter, gradient, firstMoment, secondMoment, KILN_F32, h);
}

/// Operands: 0 parameter, 1 gradient, 2 first moment, 3 second moment.
extern "C" __global__ void kiln_adam_step(KilnIter it, void *parameter, const void *gradient, void *firstMoment,
                                          void *secondMoment, int type, KilnAdam h) {
    const void *bases[4] = {parameter, gradient, firstMoment, secondMoment};
    if (type == KILN_F32 && float4_ready(it, bases, 4)) {
        adam_float4(it, parameter, gradient, firstMoment, secondMoment, h);
        return;
    }
    GRID_STRIDE(i, it.count) {
        if (type == KILN_F64) adam_element<double>(it, i, parameter, gradient, firstMoment, secondMoment, type, h);
        else adam_element<float>(it, i, parameter, gradient, firstMoment, secondMoment, type, h);
    }
}
