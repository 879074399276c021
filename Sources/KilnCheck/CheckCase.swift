import Foundation
import Kiln

extension Device {
    /// The reference device: naive `float64` loops that check the optimised CPU backend.
    public static let reference = Device(backend: ReferenceBackend.shared)
}

/// How an operand's memory is laid out on the device, so kernels see non-contiguous inputs too.
public enum OperandLayout: String, Sendable, CaseIterable {
    /// Row-major.
    case contiguous
    /// Axes stored in reverse order (a permuted view).
    case transposed
    /// Every other row of a larger buffer, at an offset (a strided slice).
    case strided
    /// Axis 0 broadcast from extent 1 with stride 0 (an expanded view).
    case expanded
}

/// One input of a case: its shape, dtype, layout and the values it is filled with.
public struct Operand: Sendable {
    /// What the operand holds.
    public enum Values: Sendable {
        /// Uniform values in the range, never exactly zero.
        case uniform(Double, Double)
        /// Whole numbers in `0..<bound` (indices, targets).
        case indices(Int)
        /// Booleans, about half true.
        case booleans
    }

    /// The logical shape.
    public var shape: [Int]
    /// The element type.
    public var dtype: DType
    /// The memory layout.
    public var layout: OperandLayout = .contiguous
    /// The values.
    public var values: Values = .uniform(-2, 2)

    /// An operand.
    public init(_ shape: [Int], _ dtype: DType, layout: OperandLayout = .contiguous, values: Values = .uniform(-2, 2)) {
        self.shape = shape; self.dtype = dtype; self.layout = layout; self.values = values
    }

    /// The values as stored (the shape with axis 0 of extent 1 for an expanded operand), from `seed`.
    func hostValues(seed: UInt64) -> [Double] {
        var stored = shape
        if layout == .expanded, !stored.isEmpty { stored[0] = 1 }
        var rng = SplitMix64(seed)
        return (0..<stored.reduce(1, *)).map { _ in
            switch values {
            case .uniform(let low, let high):
                var v = 0.0
                while v == 0 { v = rng.uniform(low, high) }
                return v
            case .indices(let bound): return Double(rng.next() % UInt64(Swift.max(bound, 1)))
            case .booleans: return Double(rng.next() & 1)
            }
        }
    }

    /// The operand's memory on `device`: the tensor that gradients land in (see `view(of:)`).
    func storage(on device: Device, seed: UInt64) -> Tensor {
        let values = hostValues(seed: seed)
        guard let first = shape.first else { return Tensor(values, shape: shape, device: device).to(dtype) }
        switch layout {
        case .contiguous:
            return Tensor(values, shape: shape, device: device).to(dtype)
        case .transposed:
            // Store the values so that the reversed-axes view reads them in logical order.
            let reversedShape = Array(shape.reversed())
            let strides = Layout.contiguousStrides(reversedShape)
            var host = [Double](repeating: 0, count: values.count)
            for (flat, v) in values.enumerated() {
                var rest = flat, position = 0
                for axis in shape.indices.reversed() {
                    position += (rest % shape[axis]) * strides[shape.count - 1 - axis]
                    rest /= shape[axis]
                }
                host[position] = v
            }
            return Tensor(host, shape: reversedShape, device: device).to(dtype)
        case .strided:
            let inner = shape.dropFirst().reduce(1, *)
            var host = [Double](repeating: 1e30, count: (2 * first + 1) * inner)
            for r in 0..<first { for c in 0..<inner { host[(2 * r + 1) * inner + c] = values[r * inner + c] } }
            return Tensor(host, shape: [2 * first + 1] + shape.dropFirst(), device: device).to(dtype)
        case .expanded:
            return Tensor(values, shape: [1] + shape.dropFirst(), device: device).to(dtype)
        }
    }

    /// The view of `storage` the op sees, with the operand's logical shape.
    func view(of storage: Tensor) -> Tensor {
        guard !shape.isEmpty else { return storage }
        switch layout {
        case .contiguous: return storage
        case .transposed: return storage.permuted(Array(shape.indices.reversed()))
        case .strided: return storage.sliced(axis: 0, start: 1, end: storage.shape[0], step: 2)
        case .expanded: return storage.expanded(to: shape)
        }
    }
}

/// SplitMix64: the harness's (and the tests') input generator, independent of the library's Philox stream.
public struct SplitMix64: Sendable {
    private var state: UInt64

    /// A generator starting from `seed`.
    public init(_ seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform value in `[low, high)` with 53 random bits.
    public mutating func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * Double(next() >> 11) * 0x1p-53 }
}

/// An output brought back to the host.
public struct Output: Sendable {
    /// Its shape.
    public let shape: [Int]
    /// Its values, row-major.
    public let values: [Double]
}

/// One op applied to one set of operands: what the registry generates and the checker runs on each device.
public struct CheckCase: Sendable, CustomStringConvertible {
    /// The op's name, as `kiln check --op` takes it.
    public let op: String
    /// The dtype under test.
    public let dtype: DType
    /// The operands (their shapes and layouts are part of the case's description).
    public let operands: [Operand]
    /// Op parameters worth printing (`axes=[0]`, `stride=2`).
    public let parameters: String
    /// How outputs are compared.
    public let family: Tolerance.Family
    /// Whether the op has a gradient to check.
    public let differentiable: Bool
    /// The seed of the operands' values.
    public let seed: UInt64
    let body: @Sendable ([Tensor]) -> [Tensor]

    /// A case.
    public init(op: String, dtype: DType, operands: [Operand], parameters: String = "", family: Tolerance.Family,
                differentiable: Bool, seed: UInt64, _ body: @escaping @Sendable ([Tensor]) -> [Tensor]) {
        self.op = op; self.dtype = dtype; self.operands = operands; self.parameters = parameters; self.family = family
        self.differentiable = differentiable; self.seed = seed; self.body = body
    }

    /// The same case with `offset` added to its seed.
    public func reseeded(by offset: UInt64) -> CheckCase {
        offset == 0 ? self : CheckCase(op: op, dtype: dtype, operands: operands, parameters: parameters, family: family,
                                       differentiable: differentiable, seed: seed &+ offset, body)
    }

    /// The comparison bound from the tolerance table for the forward results.
    public var tolerance: Tolerance { Tolerance.for(family, dtype: dtype) }

    /// The bound for gradients: always the accumulated family's, since backward passes sum (repeated indices,
    /// overlapping windows, broadcast reductions) in an order each backend chooses.
    public var gradientTolerance: Tolerance { Tolerance.for(.accumulated, dtype: dtype) }

    /// The operand shapes (with non-contiguous layouts named) and parameters.
    public var shapes: String {
        let parts = operands.map { o in o.layout == .contiguous ? "\(o.shape)" : "\(o.shape)\(o.layout.rawValue.prefix(1).uppercased())" }
        return parts.joined(separator: " ") + (parameters.isEmpty ? "" : " " + parameters)
    }

    /// `op dtype shapes seed`.
    public var description: String { "\(op) \(dtype) \(shapes) seed=\(seed)" }

    private func inputs(on device: Device, trackingGradients: Bool) -> (leaves: [Tensor], views: [Tensor]) {
        let leaves = operands.enumerated().map { i, operand in
            let storage = operand.storage(on: device, seed: seed &+ UInt64(i) &* 0x9E37)
            return trackingGradients && operand.dtype.isFloatingPoint ? storage.requiringGrad() : storage
        }
        return (leaves, zip(operands, leaves).map { $0.view(of: $1) })
    }

    /// The op's outputs on `device` (also the default device while the body runs, for ops that create
    /// tensors), with outputs poisoned before each op writes them.
    public func forward(on device: Device) -> [Output] {
        Device.withDefault(device) { Diagnostics.withPoisonedOutputs {
            let (_, views) = inputs(on: device, trackingGradients: false)
            return body(views).map { Output(shape: $0.shape, values: $0.toArray(Double.self)) }
        } }
    }

    /// Milliseconds of each of `repeats` runs of the op on `device` after one warm-up, inputs prepared
    /// beforehand and the device synchronised after each run (no host transfers timed); and the bytes of the
    /// operands and outputs.
    public func timings(on device: Device, repeats: Int) -> (milliseconds: [Double], bytes: Int) {
        Device.withDefault(device) {
            let (_, views) = inputs(on: device, trackingGradients: false)
            let outputs = noGrad { body(views) }
            let bytes = views.map { $0.count * $0.dtype.byteSize }.reduce(0, +) + outputs.map { $0.count * $0.dtype.byteSize }.reduce(0, +)
            return ((0..<repeats).map { _ in
                let start = DispatchTime.now().uptimeNanoseconds
                _ = noGrad { body(views) }
                try? device.synchronize()
                return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            }, bytes)
        }
    }

    /// The gradients of `Σ_k Σ output_k · w_k` (fixed pseudo-random weights) with respect to every
    /// floating-point operand, on `device`.
    public func gradients(on device: Device) -> [Output] {
        Device.withDefault(device) { Diagnostics.withPoisonedOutputs {
            let (leaves, views) = inputs(on: device, trackingGradients: true)
            let outputs = body(views)
            var rng = SplitMix64(seed ^ 0xC0FFEE)
            var objective: Tensor?
            for out in outputs where out.requiresGrad {
                let weights = Tensor((0..<out.count).map { _ in rng.uniform(-1, 1) }, shape: out.shape, device: device)
                let term = (out * weights.to(out.dtype)).sum().to(.float64)
                objective = objective.map { $0 + term } ?? term
            }
            objective?.backward()
            return leaves.filter(\.requiresGrad).map { leaf in
                let g = leaf.grad ?? Tensor.zeros(like: leaf)
                return Output(shape: g.shape, values: g.toArray(Double.self))
            }
        } }
    }
}
