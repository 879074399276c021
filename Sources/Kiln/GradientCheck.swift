/// The outcome of comparing autograd's gradients with central finite differences.
public struct GradientCheckResult: Sendable, CustomStringConvertible {
    /// One compared element.
    public struct Mismatch: Sendable {
        /// Which input.
        public let input: Int
        /// The element's row-major index in that input.
        public let index: Int
        /// The gradient from `backward()`.
        public let analytic: Double
        /// The finite-difference estimate.
        public let numeric: Double
    }

    /// The largest `|analytic - numeric|` over every element of every input.
    public let maxAbsoluteError: Double
    /// The element with the largest error relative to the tolerance, when any element was compared.
    public let worst: Mismatch?
    /// Whether every element satisfied `|analytic - numeric| <= atol + rtol · |numeric|`.
    public let passed: Bool

    /// A one-line summary naming the worst element.
    public var description: String {
        guard let worst else { return "no elements to check" }
        return "\(passed ? "passed" : "FAILED"): max |error| \(maxAbsoluteError); worst at input \(worst.input)[\(worst.index)]: analytic \(worst.analytic), numeric \(worst.numeric)"
    }
}

/// Checks the gradients `backward()` computes for `function` against central finite differences, as PyTorch's
/// `gradcheck`: the output is projected onto fixed random weights to give a scalar, and the derivative of
/// that scalar with respect to every element of every input is estimated as `(f(x+ε) - f(x-ε)) / 2ε`.
///
/// Inputs should be `float64` for the differences to be meaningful; integer operands (indices, targets) belong
/// inside `function`, not in `inputs`.
public func checkGradients(_ inputs: [Tensor], epsilon: Double = 1e-6, atol: Double = 1e-5, rtol: Double = 1e-3,
                           seed: UInt64 = 0x6B69_6C6E, _ function: ([Tensor]) -> Tensor) -> GradientCheckResult {
    let leaves = inputs.map { $0.copied().detached().requiringGrad() }
    let output = function(leaves)
    let projection = Tensor.normal(output.shape, dtype: output.dtype, device: output.device,
                                   generator: RandomGenerator(seed: seed))
    func objective(_ xs: [Tensor]) -> Double { (function(xs) * projection).sum().to(.float64).item(Double.self) }
    if output.requiresGrad { (output * projection).sum().backward() }

    var worst: GradientCheckResult.Mismatch?
    var worstRatio = -1.0, maxError = 0.0, passed = true
    for (i, leaf) in leaves.enumerated() {
        let analytic = leaf.grad?.toArray(Double.self) ?? [Double](repeating: 0, count: leaf.count)
        let values = leaf.toArray(Double.self)
        for j in values.indices {
            let numeric = noGrad { () -> Double in
                func shifted(_ delta: Double) -> Double {
                    var v = values
                    v[j] += delta
                    var xs = leaves.map { $0.detached() }
                    xs[i] = Tensor(v, shape: leaf.shape, device: leaf.device).to(leaf.dtype)
                    return objective(xs)
                }
                return (shifted(epsilon) - shifted(-epsilon)) / (2 * epsilon)
            }
            let error = Swift.abs(analytic[j] - numeric)
            let allowed = atol + rtol * Swift.abs(numeric)
            if !(error <= allowed) { passed = false }
            maxError = Swift.max(maxError, error.isNaN ? .infinity : error)
            let ratio = error.isNaN ? .infinity : error / allowed
            if ratio > worstRatio {
                worstRatio = ratio
                worst = .init(input: i, index: j, analytic: analytic[j], numeric: numeric)
            }
        }
    }
    return GradientCheckResult(maxAbsoluteError: maxError, worst: worst, passed: passed)
}
