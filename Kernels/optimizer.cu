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

template <typename F>
__device__ void adam_element(const KilnIter &it, i64 i, void *w, const void *g, void *m, void *v, int type,
                             const KilnAdam &h) {
    i64 o[KILN_MAX_OPERANDS];
    offsets_at(it, i, o);
    F wi = load<F>(w, type, o[0]), d = load<F>(g, type, o[1]);
    if (h.decoupled) wi *= (F)h.decay;
    else d += (F)h.weightDecay * wi;
    F mi = (F)h.beta1 * load<F>(m, type, o[2]) + (F)h.oneMinusBeta1 * d;
    F vi = (F)h.beta2 * load<F>(v, type, o[3]) + (F)h.oneMinusBeta2 * d * d;
    wi -= (F)h.stepSize * mi / (sqrt(vi) / (F)h.sqrtCorrection2 + (F)h.epsilon);
    store<F>(m, type, o[2], mi);
    store<F>(v, type, o[3], vi);
    store<F>(w, type, o[0], wi);
}

/// Operands: 0 parameter, 1 gradient, 2 first moment, 3 second moment.
extern "C" __global__ void kiln_adam_step(KilnIter it, void *parameter, const void *gradient, void *firstMoment,
                                          void *secondMoment, int type, KilnAdam h) {
    GRID_STRIDE(i, it.count) {
        if (type == KILN_F64) adam_element<double>(it, i, parameter, gradient, firstMoment, secondMoment, type, h);
        else adam_element<float>(it, i, parameter, gradient, firstMoment, secondMoment, type, h);
    }
}
