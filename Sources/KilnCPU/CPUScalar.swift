import Foundation
import KilnCore

/// The types CPU kernels compute in: `Float` (float32, float16, bfloat16), `Double` (float64) and `Int64`
/// (integers and booleans). Conversions follow C: float to integer truncates toward zero (NaN gives 0,
/// out-of-range values saturate); anything to bool is "not zero".
protocol CPUScalar: Comparable, Numeric {
    /// The dtype stored exactly as this type, read and written without conversion.
    static var storageDType: DType { get }
    init(float value: Float)
    init(double value: Double)
    init(integer value: Int64)
    var asFloat: Float { get }
    var asDouble: Double { get }
    var asInt64: Int64 { get }
    static var zero: Self { get }
    static var one: Self { get }
}

extension Float: CPUScalar {
    static var storageDType: DType { .float32 }
    init(float value: Float) { self = value }
    init(double value: Double) { self = Float(value) }
    init(integer value: Int64) { self = Float(value) }
    var asFloat: Float { self }
    var asDouble: Double { Double(self) }
    var asInt64: Int64 { Double(self).asInt64 }
    static var one: Float { 1 }
}

extension Double: CPUScalar {
    static var storageDType: DType { .float64 }
    init(float value: Float) { self = Double(value) }
    init(double value: Double) { self = value }
    init(integer value: Int64) { self = Double(value) }
    var asFloat: Float { Float(self) }
    var asDouble: Double { self }
    var asInt64: Int64 {
        if isNaN { return 0 }
        if self >= 9.223372036854775807e18 { return .max }
        if self <= -9.223372036854775808e18 { return .min }
        return Int64(self)
    }
    static var one: Double { 1 }
}

extension Int64: CPUScalar {
    static var storageDType: DType { .int64 }
    init(float value: Float) { self = value.asInt64 }
    init(double value: Double) { self = value.asInt64 }
    init(integer value: Int64) { self = value }
    var asFloat: Float { Float(self) }
    var asDouble: Double { Double(self) }
    var asInt64: Int64 { self }
    static var one: Int64 { 1 }
}

/// The floating-point compute types, with the math the kernels need.
protocol CPUFloat: CPUScalar, BinaryFloatingPoint, SIMDScalar, Codable {
    /// `a·b + c` lane by lane: one fused instruction where the build targets a CPU with fused multiply-add
    /// (`-target-cpu native`), a multiply and an add otherwise (see `CSIMD`).
    static func multiplyAdd(_ a: SIMD16<Self>, _ b: SIMD16<Self>, _ c: SIMD16<Self>) -> SIMD16<Self>
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func sin(_ x: Self) -> Self
    static func cos(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
    static func erf(_ x: Self) -> Self
    static func pow(_ x: Self, _ y: Self) -> Self
    /// `o[i] = exp(a[i] - shift)` over `count` elements with `a[i] ≤ shift` (a row shifted by at least its
    /// maximum), returning `Σ o[i]`; vectorised for `Float`, where results below 2⁻¹²⁶ flush to zero.
    @discardableResult
    static func exp(_ a: UnsafePointer<Self>, minus shift: Self, into o: UnsafeMutablePointer<Self>, count: Int) -> Self
    /// `o[i] = 1 / (1 + exp(-a[i]))` over `count` elements, stable in both tails (vectorised for `Float`).
    static func sigmoid(_ a: UnsafePointer<Self>, into o: UnsafeMutablePointer<Self>, count: Int)
    /// The largest of `count` elements (NaN if any is NaN, −∞ for none), vectorised for `Float`.
    static func maximum(_ a: UnsafePointer<Self>, count: Int) -> Self
    /// The sum of `count` elements (vectorised for `Float`, in sixty-four running sums).
    static func sum(_ a: UnsafePointer<Self>, count: Int) -> Self
    /// `Σ a[i]·b[i]` over `count` elements (vectorised for `Float`, in sixty-four running sums).
    static func dot(_ a: UnsafePointer<Self>, _ b: UnsafePointer<Self>, count: Int) -> Self
    /// `Σ exp(a[i] - shift)` over `count` elements with `a[i] ≤ shift`, and the largest of the `count` elements at
    /// `next` (as `maximum`), found in the same loop; vectorised for `Float`, where the next row is read from memory
    /// while this one is exponentiated. A caller with no next row passes `a`.
    static func sumExp(_ a: UnsafePointer<Self>, minus shift: Self, count: Int,
                       maximumOf next: UnsafePointer<Self>) -> (sum: Self, nextMaximum: Self)
    /// Runs `op` over `count` elements with a vectorised kernel and returns `true`, or returns `false` when the
    /// type has none for `op` (the caller then loops over the scalar functions).
    static func vectorised(_ op: UnaryOp, _ a: UnsafePointer<Self>, into o: UnsafeMutablePointer<Self>, count: Int) -> Bool
    /// Runs the fused backward of `op` (`o = g · op′`, from `saved` as `Backend.unaryBackward` defines it) with a
    /// vectorised kernel and returns `true`, or returns `false` when the type has none.
    static func vectorisedBackward(_ op: UnaryOp, _ saved: UnsafePointer<Self>, _ g: UnsafePointer<Self>,
                                   into o: UnsafeMutablePointer<Self>, count: Int) -> Bool
}

extension Float: CPUFloat {
    static func exp(_ x: Float) -> Float { Foundation.expf(x) }
    static func log(_ x: Float) -> Float { Foundation.logf(x) }
    static func sin(_ x: Float) -> Float { Foundation.sinf(x) }
    static func cos(_ x: Float) -> Float { Foundation.cosf(x) }
    static func tanh(_ x: Float) -> Float { Foundation.tanhf(x) }
    static func erf(_ x: Float) -> Float { Foundation.erff(x) }
    static func pow(_ x: Float, _ y: Float) -> Float { Foundation.powf(x, y) }
    static func exp(_ a: UnsafePointer<Float>, minus shift: Float, into o: UnsafeMutablePointer<Float>, count: Int) -> Float {
        VectorMath.exp(a, minus: shift, into: o, count: count)
    }
    static func sigmoid(_ a: UnsafePointer<Float>, into o: UnsafeMutablePointer<Float>, count: Int) {
        VectorMath.sigmoid(a, into: o, count: count)
    }
    static func maximum(_ a: UnsafePointer<Float>, count: Int) -> Float { VectorMath.maximum(a, count: count) }
    static func sum(_ a: UnsafePointer<Float>, count: Int) -> Float { VectorMath.sum(a, count: count) }
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        VectorMath.dot(a, b, count: count)
    }
    static func sumExp(_ a: UnsafePointer<Float>, minus shift: Float, count: Int,
                       maximumOf next: UnsafePointer<Float>) -> (sum: Float, nextMaximum: Float) {
        VectorMath.sumExp(a, minus: shift, count: count, maximumOf: next)
    }
    static func vectorised(_ op: UnaryOp, _ a: UnsafePointer<Float>, into o: UnsafeMutablePointer<Float>, count: Int) -> Bool {
        switch op {
        case .exp: VectorMath.exp(a, into: o, count: count)
        case .sigmoid: VectorMath.sigmoid(a, into: o, count: count)
        case .tanh: VectorMath.tanh(a, into: o, count: count)
        case .erf: VectorMath.erf(a, into: o, count: count)
        case .gelu: VectorMath.gelu(a, into: o, count: count)
        case .geluTanh: VectorMath.geluTanh(a, into: o, count: count)
        default: return false
        }
        return true
    }
    static func vectorisedBackward(_ op: UnaryOp, _ saved: UnsafePointer<Float>, _ g: UnsafePointer<Float>,
                                   into o: UnsafeMutablePointer<Float>, count: Int) -> Bool {
        VectorMath.backward(op, saved, g, into: o, count: count)
        return true
    }
}

extension Double: CPUFloat {
    static func exp(_ x: Double) -> Double { Foundation.exp(x) }
    static func log(_ x: Double) -> Double { Foundation.log(x) }
    static func sin(_ x: Double) -> Double { Foundation.sin(x) }
    static func cos(_ x: Double) -> Double { Foundation.cos(x) }
    static func tanh(_ x: Double) -> Double { Foundation.tanh(x) }
    static func erf(_ x: Double) -> Double { Foundation.erf(x) }
    static func exp(_ a: UnsafePointer<Double>, minus shift: Double, into o: UnsafeMutablePointer<Double>, count: Int) -> Double {
        var total = 0.0
        for i in 0..<count {
            o[i] = Foundation.exp(a[i] - shift)
            total += o[i]
        }
        return total
    }
    static func sigmoid(_ a: UnsafePointer<Double>, into o: UnsafeMutablePointer<Double>, count: Int) {
        for i in 0..<count { o[i] = a[i] >= 0 ? 1 / (1 + Foundation.exp(-a[i])) : Foundation.exp(a[i]) / (1 + Foundation.exp(a[i])) }
    }
    static func pow(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
    static func vectorised(_ op: UnaryOp, _ a: UnsafePointer<Double>, into o: UnsafeMutablePointer<Double>, count: Int) -> Bool {
        false
    }
    static func vectorisedBackward(_ op: UnaryOp, _ saved: UnsafePointer<Double>, _ g: UnsafePointer<Double>,
                                   into o: UnsafeMutablePointer<Double>, count: Int) -> Bool {
        false
    }
    static func maximum(_ a: UnsafePointer<Double>, count: Int) -> Double {
        var best = -Double.infinity
        for i in 0..<count where !(a[i] <= best) {
            if a[i].isNaN { return a[i] }
            best = a[i]
        }
        return best
    }
    static func sum(_ a: UnsafePointer<Double>, count: Int) -> Double {
        var total = 0.0
        for i in 0..<count { total += a[i] }
        return total
    }
    static func dot(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, count: Int) -> Double {
        var total = 0.0
        for i in 0..<count { total += a[i] * b[i] }
        return total
    }
    static func sumExp(_ a: UnsafePointer<Double>, minus shift: Double, count: Int,
                       maximumOf next: UnsafePointer<Double>) -> (sum: Double, nextMaximum: Double) {
        var total = 0.0
        for i in 0..<count { total += Foundation.exp(a[i] - shift) }
        return (total, maximum(next, count: count))
    }
}

/// Which compute type a dtype uses on the CPU.
enum ComputeDomain {
    case float, double, integer

    init(_ dtype: DType) {
        switch dtype {
        case .float32, .float16, .bfloat16: self = .float
        case .float64: self = .double
        case .int32, .int64, .uint8, .bool: self = .integer
        }
    }
}
