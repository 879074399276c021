import Foundation
import Kiln
import KilnCheck

/// A Float64 n-dimensional array computed with naive loops: the independent reference the tests compare
/// tensors against.
struct Ref: CustomStringConvertible {
    var shape: [Int]
    var values: [Double]

    init(_ shape: [Int], _ values: [Double]) {
        precondition(shape.reduce(1, *) == values.count, "Ref: \(values.count) values for \(shape)")
        self.shape = shape
        self.values = values
    }

    /// Uniform random values in [low, high), never exactly zero.
    static func random(_ shape: [Int], seed: UInt64, low: Double = -2, high: Double = 2) -> Ref {
        var rng = SplitMix64(seed)
        return Ref(shape, (0..<shape.reduce(1, *)).map { _ in
            var v = 0.0
            while v == 0 { v = rng.uniform(low, high) }
            return v
        })
    }

    var count: Int { values.count }
    var description: String { "Ref(\(shape))" }

    static func strides(_ shape: [Int]) -> [Int] { Layout.contiguousStrides(shape) }

    func index(_ flat: Int) -> [Int] {
        var rest = flat
        var result = [Int](repeating: 0, count: shape.count)
        for axis in shape.indices.reversed() {
            result[axis] = rest % shape[axis]
            rest /= shape[axis]
        }
        return result
    }

    subscript(_ index: [Int]) -> Double {
        var flat = 0
        for (i, s) in Swift.zip(index, Ref.strides(shape)) { flat += i * s }
        return values[flat]
    }

    /// NumPy broadcasting, element by element.
    func broadcast(to target: [Int]) -> Ref {
        let lead = target.count - shape.count
        let result = Ref(target, [Double](repeating: 0, count: target.reduce(1, *)))
        return Ref(target, (0..<result.count).map { flat in
            let full = result.index(flat)
            return self[shape.indices.map { shape[$0] == 1 ? 0 : full[lead + $0] }]
        })
    }

    func map(_ f: (Double) -> Double) -> Ref { Ref(shape, values.map(f)) }

    static func zip(_ a: Ref, _ b: Ref, _ f: (Double, Double) -> Double) -> Ref {
        let shape = Shape.broadcast(a.shape, b.shape)!
        let (x, y) = (a.broadcast(to: shape), b.broadcast(to: shape))
        return Ref(shape, (0..<x.count).map { f(x.values[$0], y.values[$0]) })
    }

    /// Reduces `axes` with `f` over the values of each output position (in row-major order of the axes).
    func reduce(_ axes: [Int], keepDims: Bool = false, _ f: ([Double]) -> Double) -> Ref {
        let axes = axes.isEmpty ? Array(shape.indices) : axes.map { $0 < 0 ? $0 + shape.count : $0 }
        var kept = shape
        for a in axes { kept[a] = 1 }
        var groups = [[Double]](repeating: [], count: kept.reduce(1, *))
        let keptStrides = Ref.strides(kept)
        for flat in 0..<count {
            let i = index(flat)
            var o = 0
            for axis in shape.indices where !axes.contains(axis) { o += i[axis] * keptStrides[axis] }
            groups[o].append(values[flat])
        }
        let out = groups.map(f)
        return Ref(keepDims ? kept : shape.indices.filter { !axes.contains($0) }.map { shape[$0] }, out)
    }

    func permuted(_ axes: [Int]) -> Ref {
        let newShape = axes.map { shape[$0] }
        let out = Ref(newShape, [Double](repeating: 0, count: count))
        return Ref(newShape, (0..<count).map { flat in
            let i = out.index(flat)
            var source = [Int](repeating: 0, count: shape.count)
            for (k, a) in axes.enumerated() { source[a] = i[k] }
            return self[source]
        })
    }

    func reshaped(_ newShape: [Int]) -> Ref { Ref(newShape, values) }

    /// `[..., m, k] x [..., k, n]` with broadcast batch axes.
    static func matmul(_ a: Ref, _ b: Ref) -> Ref {
        let (m, k, n) = (a.shape[a.shape.count - 2], a.shape[a.shape.count - 1], b.shape[b.shape.count - 1])
        let batch = Shape.broadcast(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2)))!
        let x = a.broadcast(to: batch + [m, k]), y = b.broadcast(to: batch + [k, n])
        let count = batch.reduce(1, *)
        var out = [Double](repeating: 0, count: count * m * n)
        for bi in 0..<count {
            for i in 0..<m {
                for j in 0..<n {
                    var s = 0.0
                    for p in 0..<k { s += x.values[bi * m * k + i * k + p] * y.values[bi * k * n + p * n + j] }
                    out[bi * m * n + i * n + j] = s
                }
            }
        }
        return Ref(batch + [m, n], out)
    }
}

/// How a test lays out an input tensor's memory.
enum Storage: String, CaseIterable, CustomStringConvertible {
    case contiguous
    /// Axes stored in reverse order (a transposed view).
    case transposed
    /// Every other element of a larger buffer, at an offset (a strided slice).
    case strided

    var description: String { rawValue }

    /// A tensor with `ref`'s values in this storage.
    func tensor(_ ref: Ref, dtype: DType = .float32) -> Tensor {
        switch self {
        case .contiguous:
            return Tensor(ref.values, shape: ref.shape).to(dtype)
        case .transposed:
            let reversed = Array(ref.shape.indices.reversed())
            let stored = ref.permuted(reversed)
            return Tensor(stored.values, shape: stored.shape).to(dtype).permuted(reversed)
        case .strided:
            guard let first = ref.shape.first else { return Tensor(ref.values, shape: ref.shape).to(dtype) }
            // Interleave with junk along axis 0 and slice out the real rows from offset 1.
            let inner = ref.shape.dropFirst().reduce(1, *)
            var padded: [Double] = []
            padded.append(contentsOf: [Double](repeating: 9999, count: inner))
            for r in 0..<first {
                padded.append(contentsOf: ref.values[(r * inner)..<((r + 1) * inner)])
                padded.append(contentsOf: [Double](repeating: -9999, count: inner))
            }
            let big = Tensor(padded, shape: [2 * first + 1] + ref.shape.dropFirst()).to(dtype)
            return big.sliced(axis: 0, start: 1, end: 2 * first + 1, step: 2)
        }
    }
}

/// The tolerance a dtype gets when compared with a Float64 reference.
func tolerance(_ dtype: DType) -> (rtol: Double, atol: Double) {
    switch dtype {
    case .float64: (1e-12, 1e-12)
    case .float32: (1e-5, 1e-6)
    case .float16: (2e-3, 1e-3)
    case .bfloat16: (1.6e-2, 1e-2)
    default: (0, 0)
    }
}

/// The reference values rounded to `dtype` (so comparisons measure the op, not the input rounding).
func rounded(_ ref: Ref, to dtype: DType) -> Ref {
    Ref(ref.shape, Tensor(ref.values, shape: ref.shape).to(dtype).toArray(Double.self))
}

/// The first element where `actual` and `expected` differ beyond `rtol`/`atol` (NaN and ±Inf must match), or
/// nil; the shapes must match too.
func mismatch(_ actual: Tensor, _ expected: Ref, rtol: Double, atol: Double) -> String? {
    if actual.shape != expected.shape { return "shape \(actual.shape) != expected \(expected.shape)" }
    let values = actual.toArray(Double.self)
    for (i, (a, e)) in Swift.zip(values, expected.values).enumerated() {
        if a.isNaN || e.isNaN {
            if a.isNaN != e.isNaN { return "element \(i): \(a) vs \(e)" }
            continue
        }
        if a.isInfinite || e.isInfinite {
            if a != e { return "element \(i): \(a) vs \(e)" }
            continue
        }
        if Swift.abs(a - e) > atol + rtol * Swift.abs(e) { return "element \(i) of \(values.count): \(a) vs expected \(e)" }
    }
    return nil
}
