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
        let c = AdamConstants<F>(h, step: step), floatConstants = AdamConstants<Float>(h, step: step)
        ElementwiseEngine.withContiguous(gradient, as: F.self) { g in
            ElementwiseEngine.withOutput(parameter, as: F.self, preserving: true) { w in
                ElementwiseEngine.withOutput(firstMoment, as: F.self, preserving: true) { m in
                    ElementwiseEngine.withOutput(secondMoment, as: F.self, preserving: true) { v in
                        Parallel.forEach(parameter.count, grain: ElementwiseEngine.grain) { range in
                            var start = range.lowerBound
                            if let w = w as? UnsafeMutablePointer<Float>, let g = g as? UnsafePointer<Float>,
                               let m = m as? UnsafeMutablePointer<Float>, let v = v as? UnsafeMutablePointer<Float> {
                                start = adamVectorised(w, g, m, v, range, floatConstants)
                            }
                            for i in start..<range.upperBound {
                                var d = g[i]
                                if c.decoupled { w[i] *= c.decay } else { d += c.weightDecay * w[i] }
                                m[i] = c.beta1 * m[i] + c.oneMinusBeta1 * d
                                v[i] = c.beta2 * v[i] + c.oneMinusBeta2 * d * d
                                w[i] -= c.stepSize * m[i] / (v[i].squareRoot() / c.sqrtCorrection2 + c.epsilon)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Adam's constants for one step in the compute type, each formed in Double and rounded once (1 - β₂
    /// rounded from Float(β₂) would be 1.3e-5 off).
    private struct AdamConstants<F: CPUFloat> {
        let stepSize, sqrtCorrection2, beta1, beta2, epsilon, weightDecay, oneMinusBeta1, oneMinusBeta2, decay: F
        let decoupled: Bool

        init(_ h: AdamParameters, step: Int) {
            let correction1 = 1 - Foundation.pow(h.beta1, Double(step))
            let correction2 = 1 - Foundation.pow(h.beta2, Double(step))
            stepSize = F(h.learningRate / correction1)
            sqrtCorrection2 = F(correction2.squareRoot())
            (beta1, beta2, epsilon, weightDecay) = (F(h.beta1), F(h.beta2), F(h.epsilon), F(h.weightDecay))
            (oneMinusBeta1, oneMinusBeta2, decay) = (F(1 - h.beta1), F(1 - h.beta2), F(1 - h.learningRate * h.weightDecay))
            decoupled = h.decoupledWeightDecay
        }
    }

    /// The float32 Adam update sixteen elements at a time, with the scalar loop's exact arithmetic (the scalar
    /// loop does not vectorise: the compiler cannot prove the four arrays apart). Returns where the tail starts.
    private static func adamVectorised(_ w: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>,
                                       _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>,
                                       _ range: Range<Int>, _ h: AdamConstants<Float>) -> Int {
        typealias V = SIMD16<Float>
        let (rw, rg, rm, rv) = (UnsafeMutableRawPointer(w), UnsafeRawPointer(g), UnsafeMutableRawPointer(m), UnsafeMutableRawPointer(v))
        var i = range.lowerBound
        while i + 16 <= range.upperBound {
            let offset = i * 4
            var d = rg.loadUnaligned(fromByteOffset: offset, as: V.self)
            var wi = rw.loadUnaligned(fromByteOffset: offset, as: V.self)
            if h.decoupled { wi *= h.decay } else { d += h.weightDecay * wi }
            let mi = h.beta1 * rm.loadUnaligned(fromByteOffset: offset, as: V.self) + h.oneMinusBeta1 * d
            let vi = h.beta2 * rv.loadUnaligned(fromByteOffset: offset, as: V.self) + h.oneMinusBeta2 * d * d
            // vᵢ ≥ 0: its magnitude's root lets the compiler use one vector square root instead of a per-lane
            // call with the C library's errno check (which `squareRoot()` on a vector compiles to).
            var root = V()
            for lane in 0..<16 { root[lane] = vi[lane].magnitude.squareRoot() }
            wi -= h.stepSize * mi / (root / h.sqrtCorrection2 + h.epsilon)
            rm.storeBytes(of: mi, toByteOffset: offset, as: V.self)
            rv.storeBytes(of: vi, toByteOffset: offset, as: V.self)
            rw.storeBytes(of: wi, toByteOffset: offset, as: V.self)
            i += 16
        }
        return i
    }
}
