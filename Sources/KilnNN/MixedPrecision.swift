import Kiln

/// Mixed precision: inside `MixedPrecision.autocast(_:)`, the layers whose cost is matrix products (`Linear`,
/// `Conv2d`, `Conv1d`) compute in float16 or bfloat16 from float32 master weights and return float32; everything
/// else — softmax, normalisation, losses, optimizer updates — stays in float32. On the CPU the low-precision
/// products round their inputs to the format and accumulate in float32, so the same code is testable here.
public enum MixedPrecision {
    @TaskLocal static var computeType: DType?

    /// The dtype matrix products use in the current scope, or nil for full precision.
    public static var current: DType? { computeType }

    /// Runs `body` with matrix products in `dtype` (float16 or bfloat16; float32 turns autocast off).
    public static func autocast<R>(_ dtype: DType, _ body: () throws -> R) rethrows -> R {
        require(dtype == .float16 || dtype == .bfloat16 || dtype == .float32, "autocast: \(dtype) is not a compute precision")
        return try $computeType.withValue(dtype == .float32 ? nil : dtype, operation: body)
    }

    /// `product` of `input` and `weight`, computed in the autocast dtype when one is set and the input is float32
    /// (the result returned as float32), else as given.
    static func product(_ input: Tensor, _ weight: Tensor, _ product: (Tensor, Tensor) -> Tensor) -> Tensor {
        guard let low = computeType, input.dtype == .float32 else { return product(input, weight) }
        return product(input.to(low), weight.to(low)).to(.float32)
    }
}

/// Dynamic loss scaling with PyTorch `GradScaler`'s semantics: multiply the loss by `scale` before `backward()`;
/// `step` unscales the gradients and skips the update (halving the scale) when any is infinite or NaN, and
/// doubles the scale after `growthInterval` consecutive clean steps.
public final class GradScaler {
    /// The current loss multiplier (initially 2¹⁶).
    public private(set) var scale: Double
    /// Multiplies the scale after `growthInterval` clean steps.
    public let growthFactor: Double
    /// Multiplies the scale after a step with non-finite gradients.
    public let backoffFactor: Double
    /// The number of clean steps between growths.
    public let growthInterval: Int
    /// Clean steps since the last growth or backoff.
    public private(set) var cleanSteps = 0

    /// A scaler with PyTorch's defaults.
    public init(initialScale: Double = 65536, growthFactor: Double = 2, backoffFactor: Double = 0.5, growthInterval: Int = 2000) {
        scale = initialScale; self.growthFactor = growthFactor; self.backoffFactor = backoffFactor; self.growthInterval = growthInterval
    }

    /// `loss · scale`, to call `backward()` on.
    public func scaled(_ loss: Tensor) -> Tensor { loss * scale }

    /// Unscales the gradients of `model`'s trainable parameters and, if all are finite, lets `optimizer` update
    /// the model; then adjusts the scale. Returns whether the update was taken.
    @discardableResult
    public func step(_ optimizer: Optimizer, model: Module) -> Bool {
        let parameters = model.trainableParameters().map(\.tensor)
        // Unscale every gradient, then read one total back: a single device synchronisation per step.
        let finite = noGrad { () -> Bool in
            var total: Tensor?
            for p in parameters {
                guard let g = p.grad else { continue }
                let unscaled = g / scale
                p.grad = unscaled
                let magnitude = unscaled.to(.float32).abs().sum()
                total = total.map { $0 + magnitude } ?? magnitude
            }
            return total?.item(Float.self).isFinite ?? true
        }
        if finite {
            optimizer.update(model: model)
            cleanSteps += 1
            if cleanSteps == growthInterval {
                scale *= growthFactor
                cleanSteps = 0
            }
        } else {
            scale *= backoffFactor
            cleanSteps = 0
        }
        return finite
    }
}
