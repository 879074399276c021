import Kiln

/// Scales the gradients of `parameters` so that their global L2 norm is at most `maxNorm` (PyTorch's
/// `clip_grad_norm_`), and returns the norm before clipping.
@discardableResult
public func clipGradNorm(_ parameters: [Tensor], maxNorm: Double) -> Double {
    noGrad {
        let grads = parameters.compactMap(\.grad)
        guard !grads.isEmpty else { return 0 }
        let squares = grads.map { $0.to(.float64).square().sum() }.reduce(Tensor(0.0 as Double, device: grads[0].device)) { $0 + $1.to(grads[0].device) }
        let norm = squares.sqrt().item(Double.self)
        let scale = maxNorm / (norm + 1e-6)
        if scale < 1 {
            for p in parameters { p.grad = p.grad.map { $0 * scale } }
        }
        return norm
    }
}

/// Clamps every gradient element of `parameters` to `[-limit, limit]` (PyTorch's `clip_grad_value_`).
public func clipGradValue(_ parameters: [Tensor], limit: Double) {
    noGrad {
        for p in parameters { p.grad = p.grad?.clamped(min: -limit, max: limit) }
    }
}
