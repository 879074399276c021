/// The fused optimizer updates of the device protocol, on tensors: each updates a parameter (and its state)
/// in place on the parameter's device, outside gradient recording. The optimizers of `KilnNN` drive these.
public enum FusedUpdate {
    /// One SGD step; `momentumBuffer` is needed when momentum is on (the first step initialises it).
    public static func sgd(parameter: Tensor, gradient: Tensor, momentumBuffer: Tensor?, parameters: SGDParameters,
                           isFirstStep: Bool) {
        check("sgdStep", parameter, [gradient] + [momentumBuffer].compactMap { $0 })
        OpCheck.supported(.sgdStep, parameter.dtype, on: parameter.device)
        parameter.device.backend.sgdStep(parameter: parameter.view, gradient: gradient.view,
                                         momentumBuffer: momentumBuffer?.view, parameters: parameters,
                                         isFirstStep: isFirstStep)
    }

    /// One Adam or AdamW step; `step` counts from 1.
    public static func adam(parameter: Tensor, gradient: Tensor, firstMoment: Tensor, secondMoment: Tensor,
                            parameters: AdamParameters, step: Int) {
        check("adamStep", parameter, [gradient, firstMoment, secondMoment])
        OpCheck.supported(.adamStep, parameter.dtype, on: parameter.device)
        parameter.device.backend.adamStep(parameter: parameter.view, gradient: gradient.view, firstMoment: firstMoment.view,
                                          secondMoment: secondMoment.view, parameters: parameters, step: step)
    }

    private static func check(_ op: String, _ parameter: Tensor, _ others: [Tensor]) {
        OpCheck.sameDevice(op, [parameter] + others)
        OpCheck.floatingPoint(op, parameter)
        for t in others where t.shape != parameter.shape {
            fatalError("\(op): state or gradient of shape \(t.shape) for a parameter of shape \(parameter.shape)")
        }
    }
}
