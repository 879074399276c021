/// Layer normalisation over the last axis, with optional elementwise affine `weight` and `bias` (shape
/// `[features]`), through the device's fused kernels.
public func layerNorm(_ x: Tensor, weight: Tensor? = nil, bias: Tensor? = nil, epsilon: Double = 1e-5) -> Tensor {
    OpCheck.floatingPoint("layerNorm", x)
    require(x.rank >= 1, "layerNorm: needs at least one axis, got a scalar")
    let features = x.shape[x.rank - 1]
    for p in [weight, bias].compactMap({ $0 }) {
        require(p.shape == [features], "layerNorm: affine parameters must be [\(features)], got \(p.shape) for input \(x.shape)")
    }
    OpCheck.sameDevice("layerNorm", [x] + [weight, bias].compactMap { $0 })
    OpCheck.supported(.layerNorm, x.dtype, on: x.device)
    let rows = x.count / Swift.max(features, 1)
    let input = x.reshaped([rows, features])
    let (w, b) = (weight?.to(x.dtype), bias?.to(x.dtype))
    let statsType: DType = x.dtype == .float64 ? .float64 : .float32
    let out = Tensor.uninitialized([rows, features], dtype: x.dtype, device: x.device)
    let mean = Tensor.uninitialized([rows], dtype: statsType, device: x.device)
    let rstd = Tensor.uninitialized([rows], dtype: statsType, device: x.device)
    x.device.backend.layerNorm(input.view, weight: w?.view, bias: b?.view, epsilon: epsilon, out: out.view,
                               mean: mean.view, rstd: rstd.view)
    let inputs = [input] + [w, b].compactMap { $0 }
    let recorded = out.recorded("layerNorm", inputs) { g in
        let device = g.device
        let dx = Tensor.uninitialized(g.shape, dtype: g.dtype, device: device)
        let dw = w.map { Tensor.uninitialized($0.shape, dtype: $0.dtype, device: device) }
        let db = b.map { Tensor.uninitialized($0.shape, dtype: $0.dtype, device: device) }
        device.backend.layerNormBackward(gradient: g.view, x: input.view, mean: mean.view, rstd: rstd.view,
                                         weight: w?.view, gradInput: dx.view, gradWeight: dw?.view, gradBias: db?.view)
        let gradients: [Tensor] = [dx] + [dw, db].compactMap { $0 }
        return gradients
    }
    return recorded.reshaped(x.shape)
}

/// How a loss over many elements is combined.
public enum LossReduction: String, Sendable, CaseIterable {
    /// One loss per element.
    case none
    /// The mean (over non-ignored elements for cross-entropy).
    case mean
    /// The sum.
    case sum
}

/// Cross-entropy between `logits` (`[batch, classes]`, or `[..., classes]`) and integer class `targets` (the
/// leading shape), fused: log-softmax and the negative log-likelihood in one kernel, and one for the gradient.
///
/// - Parameters:
///   - ignoreIndex: a target value whose rows contribute nothing (and are not counted by the mean).
///   - labelSmoothing: ε: the target distribution becomes `(1-ε)·onehot + ε/classes`.
public func crossEntropy(logits: Tensor, targets: Tensor, reduction: LossReduction = .mean, ignoreIndex: Int? = nil,
                         labelSmoothing: Double = 0) -> Tensor {
    OpCheck.floatingPoint("crossEntropy", logits)
    OpCheck.sameDevice("crossEntropy", [logits, targets])
    require(logits.rank >= 1 && Array(logits.shape.dropLast()) == targets.shape && targets.dtype.isIndex,
                 "crossEntropy: logits \(logits.shape) need integer targets of shape \(Array(logits.shape.dropLast())), got \(targets.dtype) \(targets.shape)")
    OpCheck.supported(.crossEntropy, logits.dtype, on: logits.device)
    let classes = logits.shape[logits.rank - 1]
    let rows = targets.count
    let x = logits.reshaped([rows, classes])
    let t = targets.reshaped([rows])
    let options = CrossEntropyOptions(ignoreIndex: ignoreIndex, labelSmoothing: labelSmoothing)
    let losses = Tensor.uninitialized([rows], dtype: logits.dtype, device: logits.device)
    logits.device.backend.crossEntropy(logits: x.view, targets: t.view, options: options, losses: losses.view)
    let perRow = losses.recorded("crossEntropy", [x]) { g in
        let dx = Tensor.uninitialized([rows, classes], dtype: g.dtype, device: g.device)
        g.device.backend.crossEntropyBackward(logits: x.view, targets: t.view, gradient: g.view, options: options, out: dx.view)
        return [dx]
    }
    switch reduction {
    case .none: return perRow.reshaped(targets.shape)
    case .sum: return perRow.sum()
    case .mean:
        guard let ignoreIndex else { return perRow.mean() }
        let counted = noGrad { (t .!= Double(ignoreIndex)).sum().to(logits.dtype) }
        return perRow.sum() / counted
    }
}

/// Inverted dropout: in training, each element is zeroed with probability `p` and the rest scaled by
/// `1/(1-p)`, with the mask drawn from the Philox stream of `generator`; otherwise the identity.
public func dropout(_ x: Tensor, p: Double, training: Bool = true, generator: RandomGenerator = .default) -> Tensor {
    require(p >= 0 && p <= 1, "dropout: probability \(p) is outside [0, 1]")
    guard training && p > 0 else { return x }
    OpCheck.floatingPoint("dropout", x)
    OpCheck.supported(.dropout, x.dtype, on: x.device)
    let out = Tensor.uninitialized(x.shape, dtype: x.dtype, device: x.device)
    let mask = Tensor.uninitialized(x.shape, dtype: .uint8, device: x.device)
    x.device.backend.dropout(x.view, probability: p, stream: generator.reserve(x.count), out: out.view, mask: mask.view)
    let scale = p < 1 ? 1 / (1 - p) : 0
    return out.recorded("dropout", [x]) { g in [g * mask.to(g.dtype) * scale] }
}
