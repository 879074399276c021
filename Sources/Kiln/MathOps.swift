import Foundation

extension Tensor {
    /// Elementwise absolute value.
    public func abs() -> Tensor { unaryOp(.abs).recorded("abs", [self]) { [x = self] g in [g * x.sign()] } }
    /// Elementwise sign: -1, 0 or 1 (no gradient).
    public func sign() -> Tensor { unaryOp(.sign) }
    /// Elementwise square.
    public func square() -> Tensor { unaryOp(.square).recorded("square", [self]) { [x = self] g in [g * x * 2] } }
    /// Elementwise `e^x`.
    public func exp() -> Tensor {
        let y = unaryOp(.exp)
        return y.recorded("exp", [self]) { [y = y.detached()] g in [g * y] }
    }
    /// Elementwise natural logarithm.
    public func log() -> Tensor { unaryOp(.log).recorded("log", [self]) { [x = self] g in [g / x] } }
    /// Elementwise square root.
    public func sqrt() -> Tensor {
        let y = unaryOp(.sqrt)
        return y.recorded("sqrt", [self]) { [y = y.detached()] g in [g / (y * 2)] }
    }
    /// Elementwise `1 / √x`.
    public func rsqrt() -> Tensor {
        let y = unaryOp(.rsqrt)
        return y.recorded("rsqrt", [self]) { [y = y.detached()] g in [g * y * y * y * -0.5] }
    }
    /// Elementwise `1 / x`.
    public func reciprocal() -> Tensor {
        let y = unaryOp(.reciprocal)
        return y.recorded("reciprocal", [self]) { [y = y.detached()] g in [-g * y * y] }
    }
    /// Elementwise sine.
    public func sin() -> Tensor { unaryOp(.sin).recorded("sin", [self]) { [x = self] g in [g * x.cos()] } }
    /// Elementwise cosine.
    public func cos() -> Tensor { unaryOp(.cos).recorded("cos", [self]) { [x = self] g in [-g * x.sin()] } }
    /// Elementwise hyperbolic tangent.
    public func tanh() -> Tensor { activation(.tanh) }
    /// Elementwise logistic function.
    public func sigmoid() -> Tensor { activation(.sigmoid) }
    /// Elementwise `max(x, 0)`.
    public func relu() -> Tensor { activation(.relu) }
    /// Elementwise GELU: exact (`x Φ(x)`) or, with `approximate`, GPT-2's tanh form.
    public func gelu(approximate: Bool = false) -> Tensor { activation(approximate ? .geluTanh : .gelu) }
    /// Elementwise `x σ(x)`.
    public func silu() -> Tensor { activation(.silu) }

    /// An activation of `UnaryOp.fusedBackward`, its gradient `g · op′` one device op (as PyTorch's
    /// `threshold_backward`, `gelu_backward`, …) rather than a chain of elementwise ops over the whole tensor.
    private func activation(_ op: UnaryOp) -> Tensor {
        let y = unaryOp(op)
        let saved = op.backwardReadsOutput ? y.detached() : self
        return y.recorded(op.rawValue, [self]) { g in
            let g = g.to(saved.dtype)
            OpCheck.supported(.unaryBackward(op), g.dtype, on: g.device)
            let dx = Tensor.uninitialized(g.shape, dtype: g.dtype, device: g.device)
            g.device.backend.unaryBackward(op, saved.view, gradient: g.view, out: dx.view)
            return [dx]
        }
    }
    /// Elementwise error function.
    public func erf() -> Tensor {
        unaryOp(.erf).recorded("erf", [self]) { [x = self] g in [g * (x * x * -1).exp() * (2 / Double.pi.squareRoot())] }
    }
    /// Elementwise rounding toward −∞ (no gradient).
    public func floor() -> Tensor { unaryOp(.floor) }
    /// Elementwise rounding toward +∞ (no gradient).
    public func ceil() -> Tensor { unaryOp(.ceil) }
    /// Elementwise rounding to nearest, ties to even (no gradient).
    public func rounded() -> Tensor { unaryOp(.round) }
    /// Elementwise `x` for positive and `slope · x` for negative inputs.
    public func leakyRelu(slope: Double = 0.01) -> Tensor { which(self .> 0, self, self * slope) }
}

/// Elementwise `max(x, 0)`.
public func relu(_ x: Tensor) -> Tensor { x.relu() }
/// Elementwise GELU (exact, or GPT-2's tanh approximation).
public func gelu(_ x: Tensor, approximate: Bool = false) -> Tensor { x.gelu(approximate: approximate) }
/// Elementwise `x σ(x)`.
public func silu(_ x: Tensor) -> Tensor { x.silu() }
/// Elementwise logistic function.
public func sigmoid(_ x: Tensor) -> Tensor { x.sigmoid() }
