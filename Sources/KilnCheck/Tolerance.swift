import Kiln

/// How closely a device's result must match the reference, with the one table that assigns a tolerance to every
/// op and dtype (`Tolerance.for(_:dtype:)`).
public enum Tolerance: Sendable, Equatable, CustomStringConvertible {
    /// Every element equal (integers, indices, comparisons, copies, random bits).
    case exact
    /// Every element within `atol + rtol·|expected|`, as PyTorch's `assert_close`.
    case close(rtol: Double, atol: Double)
    /// Normalised mean squared error `Σ(a-e)² / Σe²` at most `limit`, as ggml's `test-backend-ops`: for
    /// results summed over many terms, where single elements may cancel.
    case nmse(Double)

    /// A short description for reports (`exact`, `rtol=1.3e-06 atol=1e-05`, `nmse<=1e-09`).
    public var description: String {
        switch self {
        case .exact: "exact"
        case .close(let rtol, let atol): "rtol=\(rtol) atol=\(atol)"
        case .nmse(let limit): "nmse<=\(limit)"
        }
    }

    /// How an op's outputs are compared.
    public enum Family: Sendable {
        /// Bit-for-bit results: integer maths, comparisons, selection, copies, indexing, argmax, random fills.
        case exact
        /// One rounding per element: elementwise maths.
        case elementwise
        /// Sums over many terms: reductions, softmax, matmul, convolution, normalisation, losses, gradients.
        case accumulated
    }

    /// The tolerance table. Elementwise bounds are PyTorch's `assert_close` defaults per dtype (float16 and
    /// bfloat16 one rounding of the format; float64 a few ulps); accumulated results use NMSE bounds a little
    /// above the format's squared unit roundoff.
    public static func `for`(_ family: Family, dtype: DType) -> Tolerance {
        if family == .exact || !dtype.isFloatingPoint { return .exact }
        switch (family, dtype) {
        case (.elementwise, .float64): return .close(rtol: 1e-12, atol: 1e-14)
        case (.elementwise, .float16): return .close(rtol: 1e-3, atol: 1e-5)
        case (.elementwise, .bfloat16): return .close(rtol: 1.6e-2, atol: 1e-5)
        case (.elementwise, _): return .close(rtol: 1.3e-6, atol: 1e-5)
        case (_, .float64): return .nmse(1e-24)
        case (_, .float16): return .nmse(1e-5)
        case (_, .bfloat16): return .nmse(2e-4)
        default: return .nmse(1e-9)
        }
    }
}

/// The outcome of comparing one output with its reference.
public struct Comparison: Sendable {
    /// The error in the tolerance's own measure: the largest `|a-e| / (atol + rtol·|e|)` for `close`, the NMSE
    /// for `nmse`, the number of differing elements for `exact`.
    public let error: Double
    /// Whether the output is within tolerance.
    public let passed: Bool
    /// What differed, for a failure.
    public let detail: String

    /// Compares `actual` with `expected` element by element. NaN and ±∞ must match in position and sign under
    /// every tolerance.
    public static func of(_ actual: [Double], _ expected: [Double], tolerance: Tolerance) -> Comparison {
        guard actual.count == expected.count else {
            return Comparison(error: .infinity, passed: false, detail: "\(actual.count) elements, expected \(expected.count)")
        }
        var finiteActual: [Double] = [], finiteExpected: [Double] = []
        for (i, (a, e)) in zip(actual, expected).enumerated() {
            if a.isNaN || e.isNaN || a.isInfinite || e.isInfinite {
                let same = (a.isNaN && e.isNaN) || a == e
                if !same { return Comparison(error: .infinity, passed: false, detail: "element \(i): \(a), expected \(e)") }
            } else {
                finiteActual.append(a)
                finiteExpected.append(e)
            }
        }
        switch tolerance {
        case .exact:
            let differing = zip(finiteActual, finiteExpected).enumerated().filter { $0.element.0 != $0.element.1 }
            guard let first = differing.first else { return Comparison(error: 0, passed: true, detail: "") }
            return Comparison(error: Double(differing.count), passed: false,
                              detail: "\(differing.count) elements differ; first: \(first.element.0), expected \(first.element.1)")
        case .close(let rtol, let atol):
            var worst = 0.0, worstAt = -1
            for (i, (a, e)) in zip(finiteActual, finiteExpected).enumerated() {
                let ratio = Swift.abs(a - e) / (atol + rtol * Swift.abs(e))
                if ratio > worst { (worst, worstAt) = (ratio, i) }
            }
            let detail = worstAt < 0 ? "" : "worst: \(finiteActual[worstAt]), expected \(finiteExpected[worstAt])"
            return Comparison(error: worst, passed: worst <= 1, detail: detail)
        case .nmse(let limit):
            var num = 0.0, den = 0.0
            for (a, e) in zip(finiteActual, finiteExpected) {
                num += (a - e) * (a - e)
                den += e * e
            }
            let value = num == 0 ? 0 : num / Swift.max(den, .leastNormalMagnitude)
            return Comparison(error: value, passed: value <= limit, detail: value <= limit ? "" : "nmse \(value) > \(limit)")
        }
    }
}
