import Kiln

/// `max(x, 0)`.
public final class ReLU: Module, UnaryLayer {
    /// The layer.
    public override init() { super.init() }
    /// Applies ReLU.
    public func callAsFunction(_ x: Tensor) -> Tensor { x.relu() }
}

/// GELU, exact or with GPT-2's tanh approximation.
public final class GELU: Module, UnaryLayer {
    /// Whether the tanh approximation is used.
    public let approximate: Bool
    /// The layer.
    public init(approximate: Bool = false) { self.approximate = approximate; super.init() }
    /// Applies GELU.
    public func callAsFunction(_ x: Tensor) -> Tensor { x.gelu(approximate: approximate) }
}

/// `x σ(x)`.
public final class SiLU: Module, UnaryLayer {
    /// The layer.
    public override init() { super.init() }
    /// Applies SiLU.
    public func callAsFunction(_ x: Tensor) -> Tensor { x.silu() }
}

/// The hyperbolic tangent.
public final class Tanh: Module, UnaryLayer {
    /// The layer.
    public override init() { super.init() }
    /// Applies tanh.
    public func callAsFunction(_ x: Tensor) -> Tensor { x.tanh() }
}

/// The logistic function.
public final class Sigmoid: Module, UnaryLayer {
    /// The layer.
    public override init() { super.init() }
    /// Applies the sigmoid.
    public func callAsFunction(_ x: Tensor) -> Tensor { x.sigmoid() }
}

/// `x` for positive inputs, `slope · x` otherwise.
public final class LeakyReLU: Module, UnaryLayer {
    /// The negative slope.
    public let slope: Double
    /// The layer.
    public init(slope: Double = 0.01) { self.slope = slope; super.init() }
    /// Applies the leaky ReLU.
    public func callAsFunction(_ x: Tensor) -> Tensor { x.leakyRelu(slope: slope) }
}

/// Softmax along an axis.
public final class Softmax: Module, UnaryLayer {
    /// The axis normalised.
    public let axis: Int
    /// The layer.
    public init(axis: Int = -1) { self.axis = axis; super.init() }
    /// Applies softmax.
    public func callAsFunction(_ x: Tensor) -> Tensor { x.softmax(axis: axis) }
}
