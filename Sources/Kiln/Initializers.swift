/// Weight initialisations with PyTorch's definitions (`torch.nn.init`). Fans are computed from the shape as
/// PyTorch does: `fanIn = shape[1] · receptive field`, `fanOut = shape[0] · receptive field`.
public enum Initializer {
    /// Which fan scales an initialisation.
    public enum FanMode: Sendable {
        /// Preserves the forward pass's variance.
        case fanIn
        /// Preserves the backward pass's variance.
        case fanOut
    }

    /// `(fanIn, fanOut)` of a weight shape.
    public static func fans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int) {
        require(shape.count >= 2, "Initializer: fans need at least 2 axes, got \(shape)")
        let receptive = shape.dropFirst(2).reduce(1, *)
        return (shape[1] * receptive, shape[0] * receptive)
    }

    /// The gain of a leaky ReLU with negative slope `a` (`√(2 / (1 + a²))`; `a = 0` is ReLU).
    public static func leakyReluGain(_ a: Double) -> Double { (2 / (1 + a * a)).squareRoot() }

    /// Kaiming (He) uniform: `U(-b, b)`, `b = gain · √(3 / fan)` with the leaky-ReLU gain of `a`.
    public static func kaimingUniform(_ shape: [Int], a: Double = 0, mode: FanMode = .fanIn, dtype: DType = .float32,
                                      device: Device = .default, generator: RandomGenerator = .default) -> Tensor {
        let bound = leakyReluGain(a) * (3 / Double(fan(shape, mode))).squareRoot()
        return Tensor.uniform(shape, low: -bound, high: bound, dtype: dtype, device: device, generator: generator)
    }

    /// Kaiming (He) normal: `N(0, gain² / fan)`.
    public static func kaimingNormal(_ shape: [Int], a: Double = 0, mode: FanMode = .fanIn, dtype: DType = .float32,
                                     device: Device = .default, generator: RandomGenerator = .default) -> Tensor {
        let std = leakyReluGain(a) / Double(fan(shape, mode)).squareRoot()
        return Tensor.normal(shape, std: std, dtype: dtype, device: device, generator: generator)
    }

    /// Xavier (Glorot) uniform: `U(-b, b)`, `b = gain · √(6 / (fanIn + fanOut))`.
    public static func xavierUniform(_ shape: [Int], gain: Double = 1, dtype: DType = .float32, device: Device = .default,
                                     generator: RandomGenerator = .default) -> Tensor {
        let (fanIn, fanOut) = fans(shape)
        let bound = gain * (6 / Double(fanIn + fanOut)).squareRoot()
        return Tensor.uniform(shape, low: -bound, high: bound, dtype: dtype, device: device, generator: generator)
    }

    /// Xavier (Glorot) normal: `N(0, gain² · 2 / (fanIn + fanOut))`.
    public static func xavierNormal(_ shape: [Int], gain: Double = 1, dtype: DType = .float32, device: Device = .default,
                                    generator: RandomGenerator = .default) -> Tensor {
        let (fanIn, fanOut) = fans(shape)
        return Tensor.normal(shape, std: gain * (2 / Double(fanIn + fanOut)).squareRoot(), dtype: dtype, device: device,
                             generator: generator)
    }

    private static func fan(_ shape: [Int], _ mode: FanMode) -> Int {
        let (fanIn, fanOut) = fans(shape)
        return mode == .fanIn ? fanIn : fanOut
    }
}
