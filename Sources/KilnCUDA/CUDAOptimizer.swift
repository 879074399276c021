import CCUDA
import Foundation
import KilnCore

extension CUDABackend {
    /// One in-place SGD step.
    public func sgdStep(parameter: BufferView, gradient: BufferView, momentumBuffer: BufferView?,
                        parameters h: SGDParameters, isFirstStep: Bool) {
        require(h.momentum == 0 || momentumBuffer != nil, "sgdStep: momentum \(h.momentum) needs a momentum buffer")
        let buffer = h.momentum != 0 ? momentumBuffer : nil
        let layouts = [parameter.layout, gradient.layout] + (buffer.map { [$0.layout] } ?? [parameter.layout])
        launchElementwise("kiln_sgd_step", op: "sgdStep", KernelIterator(layouts)) {
            $0.append(parameter.address); $0.append(gradient.address); $0.append(buffer.address); $0.append(parameter.code)
            $0.append(h.learningRate); $0.append(h.momentum); $0.append(1 - h.dampening); $0.append(h.weightDecay)
            $0.append(Int32(h.nesterov ? 1 : 0)); $0.append(Int32(isFirstStep ? 1 : 0))
        }
    }

    /// One in-place Adam/AdamW step.
    public func adamStep(parameter: BufferView, gradient: BufferView, firstMoment: BufferView, secondMoment: BufferView,
                         parameters h: AdamParameters, step: Int) {
        require(step >= 1, "adamStep: step counts from 1, got \(step)")
        let correction1 = 1 - Foundation.pow(h.beta1, Double(step))
        let correction2 = 1 - Foundation.pow(h.beta2, Double(step))
        let constants = KilnAdam(stepSize: h.learningRate / correction1, sqrtCorrection2: correction2.squareRoot(),
                                 beta1: h.beta1, beta2: h.beta2, epsilon: h.epsilon, weightDecay: h.weightDecay,
                                 oneMinusBeta1: 1 - h.beta1, oneMinusBeta2: 1 - h.beta2,
                                 decay: 1 - h.learningRate * h.weightDecay, decoupled: h.decoupledWeightDecay ? 1 : 0)
        let iterator = KernelIterator([parameter.layout, gradient.layout, firstMoment.layout, secondMoment.layout])
        launchElementwise("kiln_adam_step", op: "adamStep", iterator) {
            $0.append(parameter.address); $0.append(gradient.address); $0.append(firstMoment.address)
            $0.append(secondMoment.address); $0.append(parameter.code); $0.append(constants)
        }
    }
}
