import Foundation
import KilnCore

/// The fused optimizer updates, in place, following PyTorch's `torch.optim` formulas.
enum CPUOptimizer {
    static func sgd(parameter: BufferView, gradient: BufferView, momentumBuffer: BufferView?, parameters h: SGDParameters,
                    isFirstStep: Bool) {
        if parameter.dtype == .float64 {
            sgd(Double.self, parameter, gradient, momentumBuffer, h, isFirstStep)
        } else {
            sgd(Float.self, parameter, gradient, momentumBuffer, h, isFirstStep)
        }
    }

    private static func sgd<F: CPUFloat>(_ type: F.Type, _ parameter: BufferView, _ gradient: BufferView,
                                         _ momentumBuffer: BufferView?, _ h: SGDParameters, _ isFirstStep: Bool) {
        require(h.momentum == 0 || momentumBuffer != nil, "sgdStep: momentum \(h.momentum) needs a momentum buffer")
        // Constants are formed in Double and rounded once, so 1 - dampening is as exact as the format allows.
        let (lr, mu, keep, wd) = (F(h.learningRate), F(h.momentum), F(1 - h.dampening), F(h.weightDecay))
        ElementwiseEngine.withContiguous(gradient, as: F.self) { g in
            ElementwiseEngine.withOutput(parameter, as: F.self, preserving: true) { w in
                let update = { (buffer: UnsafeMutablePointer<F>?) in
                    Parallel.forEach(parameter.count, grain: ElementwiseEngine.grain) { range in
                        for i in range {
                            var d = g[i] + wd * w[i]
                            if let buffer {
                                buffer[i] = isFirstStep ? d : mu * buffer[i] + keep * d
                                d = h.nesterov ? d + mu * buffer[i] : buffer[i]
                            }
                            w[i] -= lr * d
                        }
                    }
                }
                if let momentumBuffer, h.momentum != 0 {
                    ElementwiseEngine.withOutput(momentumBuffer, as: F.self, preserving: true) { update($0) }
                } else {
                    update(nil)
                }
            }
        }
    }

    static func adam(parameter: BufferView, gradient: BufferView, firstMoment: BufferView, secondMoment: BufferView,
                     parameters h: AdamParameters, step: Int) {
        if parameter.dtype == .float64 {
            adam(Double.self, parameter, gradient, firstMoment, secondMoment, h, step)
        } else {
            adam(Float.self, parameter, gradient, firstMoment, secondMoment, h, step)
        }
    }

    private static func adam<F: CPUFloat>(_ type: F.Type, _ parameter: BufferView, _ gradient: BufferView,
                                          _ firstMoment: BufferView, _ secondMoment: BufferView, _ h: AdamParameters,
                                          _ step: Int) {
        require(step >= 1, "adamStep: step counts from 1, got \(step)")
        let correction1 = 1 - Foundation.pow(h.beta1, Double(step))
        let correction2 = 1 - Foundation.pow(h.beta2, Double(step))
        let stepSize = F(h.learningRate / correction1)
        let sqrtCorrection2 = F(correction2.squareRoot())
        // Constants are formed in Double and rounded once: 1 - β₂ rounded from Float(β₂) would be 1.3e-5 off.
        let (b1, b2, eps, wd) = (F(h.beta1), F(h.beta2), F(h.epsilon), F(h.weightDecay))
        let (oneMinusB1, oneMinusB2, decay) = (F(1 - h.beta1), F(1 - h.beta2), F(1 - h.learningRate * h.weightDecay))
        let decoupled = h.decoupledWeightDecay
        ElementwiseEngine.withContiguous(gradient, as: F.self) { g in
            ElementwiseEngine.withOutput(parameter, as: F.self, preserving: true) { w in
                ElementwiseEngine.withOutput(firstMoment, as: F.self, preserving: true) { m in
                    ElementwiseEngine.withOutput(secondMoment, as: F.self, preserving: true) { v in
                        Parallel.forEach(parameter.count, grain: ElementwiseEngine.grain) { range in
                            for i in range {
                                var d = g[i]
                                if decoupled { w[i] *= decay } else { d += wd * w[i] }
                                m[i] = b1 * m[i] + oneMinusB1 * d
                                v[i] = b2 * v[i] + oneMinusB2 * d * d
                                w[i] -= stepSize * m[i] / (v[i].squareRoot() / sqrtCorrection2 + eps)
                            }
                        }
                    }
                }
            }
        }
    }
}
