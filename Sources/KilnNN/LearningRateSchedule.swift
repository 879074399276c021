import Foundation

/// A learning rate as a function of the step (counting from 0).
public protocol LearningRateSchedule: Sendable {
    /// The learning rate for `step`.
    func learningRate(at step: Int) -> Double
}

/// `initial · factor^⌊step / every⌋` (PyTorch's `StepLR`).
public struct StepDecay: LearningRateSchedule {
    /// The starting rate, the factor and the period.
    public let initial: Double, factor: Double, every: Int
    /// A step decay.
    public init(initial: Double, factor: Double, every: Int) { self.initial = initial; self.factor = factor; self.every = every }
    /// The decayed rate.
    public func learningRate(at step: Int) -> Double { initial * Foundation.pow(factor, Double(step / every)) }
}

/// `initial · factor^step` (PyTorch's `ExponentialLR`).
public struct ExponentialDecay: LearningRateSchedule {
    /// The starting rate and the per-step factor.
    public let initial: Double, factor: Double
    /// An exponential decay.
    public init(initial: Double, factor: Double) { self.initial = initial; self.factor = factor }
    /// The decayed rate.
    public func learningRate(at step: Int) -> Double { initial * Foundation.pow(factor, Double(step)) }
}

/// A linear ramp from `initial` to `final` over `steps`, then `final`.
public struct LinearSchedule: LearningRateSchedule {
    /// The end points and the length.
    public let initial: Double, final: Double, steps: Int
    /// A linear schedule (warm-up when rising, decay when falling).
    public init(initial: Double, final: Double, steps: Int) { self.initial = initial; self.final = final; self.steps = steps }
    /// The interpolated rate.
    public func learningRate(at step: Int) -> Double {
        steps <= 0 || step >= steps ? final : initial + (final - initial) * Double(step) / Double(steps)
    }
}

/// Cosine decay from `initial` to `minimum` over `steps`, then `minimum` (PyTorch's `CosineAnnealingLR`).
public struct CosineDecay: LearningRateSchedule {
    /// The end points and the length.
    public let initial: Double, minimum: Double, steps: Int
    /// A cosine decay.
    public init(initial: Double, steps: Int, minimum: Double = 0) { self.initial = initial; self.minimum = minimum; self.steps = steps }
    /// The decayed rate.
    public func learningRate(at step: Int) -> Double {
        guard step < steps else { return minimum }
        return minimum + (initial - minimum) * (1 + Foundation.cos(Double.pi * Double(step) / Double(steps))) / 2
    }
}

/// Schedules run one after another: each runs for its length (its own step counting from 0); the last runs on.
/// `JoinedSchedule([(LinearSchedule(initial: 0, final: 1e-3, steps: 100), 100), (CosineDecay(...), 900)])` is
/// cosine decay with linear warm-up.
public struct JoinedSchedule: LearningRateSchedule {
    /// The pieces and how many steps each lasts.
    public let pieces: [(schedule: any LearningRateSchedule, steps: Int)]
    /// A joined schedule.
    public init(_ pieces: [(any LearningRateSchedule, Int)]) { self.pieces = pieces.map { (schedule: $0.0, steps: $0.1) } }
    /// The rate of the piece `step` falls in.
    public func learningRate(at step: Int) -> Double {
        var start = 0
        for (i, piece) in pieces.enumerated() {
            if step < start + piece.steps || i == pieces.count - 1 { return piece.schedule.learningRate(at: step - start) }
            start += piece.steps
        }
        return 0
    }
}
