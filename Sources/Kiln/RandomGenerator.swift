import Synchronization

/// A position in the Philox4x32-10 stream of a seed: every random fill takes the next blocks of it, so a run
/// that starts from the same seed draws the same numbers on every device. Thread-safe.
public final class RandomGenerator: Sendable {
    private let state: Mutex<RandomStream>

    /// A generator at the start of the stream of `seed`.
    public init(seed: UInt64) { state = Mutex(RandomStream(seed: seed, offset: 0)) }

    private static let global = RandomGenerator(seed: 0)
    @TaskLocal private static var scoped: RandomGenerator?

    /// The generator used when none is passed: the innermost `withDefault` scope's, else the process-wide one
    /// (seed 0 until `seed(_:)` is called on it).
    public static var `default`: RandomGenerator { scoped ?? global }

    /// Runs `body` with `generator` as the default (for this task or thread), so that code which draws from the
    /// default — layer initialisation, dropout — is reproducible even while other threads draw too.
    public static func withDefault<R>(_ generator: RandomGenerator, _ body: () throws -> R) rethrows -> R {
        try $scoped.withValue(generator, operation: body)
    }

    /// Restarts the stream of `seed`.
    public func seed(_ seed: UInt64) { state.withLock { $0 = RandomStream(seed: seed, offset: 0) } }

    /// The current seed and offset, for checkpoints.
    public var stream: RandomStream {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }

    /// Takes the blocks for `count` values and returns where they start.
    public func reserve(_ count: Int) -> RandomStream {
        state.withLock { current in
            let start = current
            current.offset &+= Philox4x32.blocks(for: count)
            return start
        }
    }
}

extension Tensor {
    /// A tensor filled from `distribution` with the next values of `generator`.
    public static func random(_ shape: [Int], _ distribution: RandomDistribution, dtype: DType = .float32,
                              device: Device = .default, generator: RandomGenerator = .default) -> Tensor {
        OpCheck.supported(.random(distribution.kind), dtype, on: device)
        let out = uninitialized(shape, dtype: dtype, device: device)
        device.backend.randomFill(out.view, distribution: distribution, stream: generator.reserve(out.count))
        return out
    }

    /// Uniform values on `[low, high)`.
    public static func uniform(_ shape: [Int], low: Double = 0, high: Double = 1, dtype: DType = .float32,
                               device: Device = .default, generator: RandomGenerator = .default) -> Tensor {
        random(shape, .uniform(low: low, high: high), dtype: dtype, device: device, generator: generator)
    }

    /// Normal values with the given mean and standard deviation.
    public static func normal(_ shape: [Int], mean: Double = 0, std: Double = 1, dtype: DType = .float32,
                              device: Device = .default, generator: RandomGenerator = .default) -> Tensor {
        random(shape, .normal(mean: mean, std: std), dtype: dtype, device: device, generator: generator)
    }

    /// 1 with probability `p`, else 0.
    public static func bernoulli(_ shape: [Int], p: Double, dtype: DType = .float32, device: Device = .default,
                                 generator: RandomGenerator = .default) -> Tensor {
        require(p >= 0 && p <= 1, "bernoulli: probability \(p) is outside [0, 1]")
        return random(shape, .bernoulli(p: p), dtype: dtype, device: device, generator: generator)
    }
}
