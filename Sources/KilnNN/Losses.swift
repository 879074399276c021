import Kiln

/// Combines per-element losses.
func reduce(_ losses: Tensor, _ reduction: LossReduction) -> Tensor {
    switch reduction {
    case .none: losses
    case .mean: losses.mean()
    case .sum: losses.sum()
    }
}

/// Mean squared error `(prediction - target)²`.
public func mseLoss(_ prediction: Tensor, _ target: Tensor, reduction: LossReduction = .mean) -> Tensor {
    reduce((prediction - target).square(), reduction)
}

/// Mean absolute error `|prediction - target|`.
public func l1Loss(_ prediction: Tensor, _ target: Tensor, reduction: LossReduction = .mean) -> Tensor {
    reduce((prediction - target).abs(), reduction)
}

/// Binary cross-entropy of `logits` against targets in [0, 1], computed stably as
/// `max(x, 0) - x·t + log(1 + e^-|x|)`, with an optional weight for positive examples.
public func binaryCrossEntropy(logits: Tensor, targets: Tensor, positiveWeight: Double? = nil,
                               reduction: LossReduction = .mean) -> Tensor {
    let softplus = ((-logits.abs()).exp() + 1).log() + logits.relu()       // log(1 + e^x), without overflow
    if let positiveWeight {
        // w·t·softplus(-x) + (1-t)·softplus(x), with softplus(-x) = softplus(x) - x.
        let weight = targets * (positiveWeight - 1) + 1
        return reduce((1 - targets) * logits + weight * (softplus - logits), reduction)
    }
    return reduce(softplus - logits * targets, reduction)
}

/// Negative log-likelihood of log-probabilities `[batch, classes]` at integer `targets`.
public func nllLoss(logProbabilities: Tensor, targets: Tensor, reduction: LossReduction = .mean) -> Tensor {
    let picked = -logProbabilities.gather(axis: -1 + logProbabilities.rank, indices: targets.unsqueezed(axis: -1)).squeezed(axis: -1)
    return reduce(picked, reduction)
}

/// The Kullback–Leibler divergence `Σ target·(log target - input)` with `input` as log-probabilities and
/// `target` as probabilities (PyTorch's `kl_div`); `.mean` averages over the batch (PyTorch's `batchmean`).
public func klDivLoss(logProbabilities: Tensor, target: Tensor, reduction: LossReduction = .mean) -> Tensor {
    let safeLog = which(target .> 0, target, Tensor.ones([], dtype: target.dtype, device: target.device)).log()
    let terms = target * (safeLog - logProbabilities)
    switch reduction {
    case .none: return terms
    case .sum: return terms.sum()
    case .mean: return terms.sum() / Double(Swift.max(terms.shape.first ?? 1, 1))
    }
}

/// Cross-entropy against target probabilities (soft labels) over the last axis: `-Σ p·log softmax(logits)`,
/// with optional label smoothing of the targets (`(1-ε)·p + ε/classes`).
public func crossEntropy(logits: Tensor, probabilities: Tensor, labelSmoothing: Double = 0,
                         reduction: LossReduction = .mean) -> Tensor {
    require(logits.shape == probabilities.shape, "crossEntropy: logits \(logits.shape) and probabilities \(probabilities.shape) differ")
    let classes = Double(logits.shape.last ?? 1)
    let targets = labelSmoothing == 0 ? probabilities : probabilities * (1 - labelSmoothing) + labelSmoothing / classes
    return reduce(-(targets * logits.logSoftmax(axis: -1)).sum(axis: -1), reduction)
}

/// The L2 penalty `Σ w²` over `parameters` (add `λ/2 ·` it to a loss for weight decay by gradient).
public func l2Penalty(_ parameters: [Tensor]) -> Tensor {
    parameters.map { $0.square().sum() }.reduce(Tensor.zeros([], dtype: parameters.first?.dtype ?? .float32, device: parameters.first?.device ?? .default), +)
}

/// The L1 penalty `Σ |w|` over `parameters` (sparsity).
public func l1Penalty(_ parameters: [Tensor]) -> Tensor {
    parameters.map { $0.abs().sum() }.reduce(Tensor.zeros([], dtype: parameters.first?.dtype ?? .float32, device: parameters.first?.device ?? .default), +)
}
