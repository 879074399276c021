import KilnCore

/// Float32 transcendental functions on 16 lanes at a time, for the CPU's elementwise ops and softmax.
///
/// `exp`: Cody–Waite reduction `x = n·ln2 + r` (|r| ≤ ln2/2, ln2 split in two so `n·ln2`
/// is exact), a degree-7 minimax polynomial for `eʳ` (Cephes' `expf` coefficients, about 1 ulp), then `2ⁿ` built
/// in the exponent bits in two halves so results down to the subnormals and up to overflow come out right.
/// NaN propagates; +∞ gives +∞ and −∞ gives 0. The scalar `expf` of libm is 3–4× slower per element.
/// `tanh`, `erf`, the GELUs, sigmoid and SiLU build on it (see each function for its accuracy).
enum VectorMath {
    typealias V = SIMD16<Float>

    @inline(__always)
    static func exp(_ x: V) -> V {
        let log2e: Float = 1.44269504088896341, ln2High: Float = 0.693359375, ln2Low: Float = -2.12194440e-4
        let low = V(repeating: -104), high = V(repeating: 89)
        let clamped = select(x .< low, low, select(x .> high, high, x))  // NaN passes through to the end
        // Round to the nearest integer with the 1.5·2²³ trick (plain adds: no SSE4.1 `roundps` in portable
        // builds); the same sum holds the integer in its low mantissa bits.
        let shifted = clamped * log2e + 12_582_912
        let n = shifted - 12_582_912
        let r = (clamped - n * ln2High) - n * ln2Low
        var p = V(repeating: 1.9875691500e-4)
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        p = p * (r * r) + r + 1
        // 2ⁿ = 2^(n/2) · 2^(n - n/2): each half stays a normal float for n in [-150, 128].
        let ni = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000
        let half = ni &>> 1
        let s1 = unsafeBitCast((half &+ 127) &<< 23, to: V.self)
        let s2 = unsafeBitCast((ni &- half &+ 127) &<< 23, to: V.self)
        // Above ln(Float.greatestFiniteMagnitude) the product overflows to +∞ by itself.
        return select(x .!= x, x, p * s1 * s2)
    }

    /// `mask ? a : b` lane by lane, as `b ^ ((a ^ b) & mask)` on the bits (the standard library's
    /// `replace(with:where:)` and `pointwiseMin` go lane by lane in portable builds, and so does `~` on a vector).
    @inline(__always)
    static func select(_ mask: SIMDMask<SIMD16<Int32>>, _ a: V, _ b: V) -> V {
        let m = unsafeBitCast(mask, to: SIMD16<Int32>.self)
        let ai = unsafeBitCast(a, to: SIMD16<Int32>.self), bi = unsafeBitCast(b, to: SIMD16<Int32>.self)
        return unsafeBitCast(bi ^ ((ai ^ bi) & m), to: V.self)
    }

    /// `o[i] = exp(a[i] - shift)` for `count` elements.
    static func exp(_ a: UnsafePointer<Float>, minus shift: Float, into o: UnsafeMutablePointer<Float>, count: Int) {
        map(a, into: o, count: count) { exp($0 - shift) }
    }

    /// `1 / (1 + exp(-x))`, from `e = exp(-|x|)` so neither tail overflows.
    @inline(__always)
    static func sigmoid(_ x: V) -> V {
        let negative = x .< 0
        let e = exp(select(negative, x, -x))
        let s = 1 / (1 + e)
        return select(x .!= x, x, select(negative, e * s, s))
    }

    /// `o[i] = sigmoid(a[i])`.
    static func sigmoid(_ a: UnsafePointer<Float>, into o: UnsafeMutablePointer<Float>, count: Int) {
        map(a, into: o, count: count) { sigmoid($0) }
    }

    /// `tanh`: `x + x³·P(x²)` below |x| = 0.625 (Cephes' `tanhf` polynomial), else `1 - 2/(e^{2|x|} + 1)` with the
    /// sign restored; within 3 ulp.
    @inline(__always)
    static func tanh(_ x: V) -> V {
        let (t, sign) = magnitudeAndSign(x)
        let z = x * x
        var p = V(repeating: -5.70498872745e-3)
        p = p * z + 2.06390887954e-2
        p = p * z - 5.37397155531e-2
        p = p * z + 1.33314422036e-1
        p = p * z - 3.33332819422e-1
        let small = p * z * x + x
        let large = 1 - 2 / (exp(t + t) + 1)
        return select(t .< 0.625, small, select(x .!= x, x, signed(large, sign)))
    }

    /// `erf`: `x·P(x²)` below |x| = 1, else `1 - e^{-x²}·R(1/|x|)` with the sign restored (|x| capped at 4, where
    /// erf rounds to ±1); P (degree 5) and R (degree 9) are least-squares fits weighted to relative error
    /// (below 2·10⁻⁸ in exact arithmetic); within 4 ulp in float32.
    @inline(__always)
    static func erf(_ x: V) -> V {
        let (absolute, sign) = magnitudeAndSign(x)
        let s = x * x
        var p = V(repeating: -5.6678734222e-04)
        p = p * s + 4.9273898810e-03
        p = p * s - 2.6720867200e-02
        p = p * s + 1.1280577882e-01
        p = p * s - 3.7612390529e-01
        p = p * s + 1.1283791470e+00
        let small = p * x
        let t = select(absolute .< 4, absolute, V(repeating: 4))
        let u = 1 / t
        var r = V(repeating: 3.2063788806e-02)
        r = r * u - 1.8718474377e-01
        r = r * u + 4.5619119790e-01
        r = r * u - 5.6147565832e-01
        r = r * u + 2.5930492372e-01
        r = r * u + 2.1877616554e-01
        r = r * u - 3.7169698493e-01
        r = r * u + 1.9604565435e-02
        r = r * u + 5.6188565670e-01
        r = r * u + 1.1467243431e-04
        let large = 1 - exp(-(t * t)) * r
        return select(absolute .< 1, small, select(x .!= x, x, signed(large, sign)))
    }

    /// `o[i] = tanh(a[i])`.
    static func tanh(_ a: UnsafePointer<Float>, into o: UnsafeMutablePointer<Float>, count: Int) {
        map(a, into: o, count: count) { tanh($0) }
    }

    /// `o[i] = erf(a[i])`.
    static func erf(_ a: UnsafePointer<Float>, into o: UnsafeMutablePointer<Float>, count: Int) {
        map(a, into: o, count: count) { erf($0) }
    }

    /// The exact GELU, `x·(1 + erf(x/√2))/2`.
    static func gelu(_ a: UnsafePointer<Float>, into o: UnsafeMutablePointer<Float>, count: Int) {
        map(a, into: o, count: count) { x in x * (1 + erf(x * 0.70710678118654752440)) / 2 }
    }

    /// GPT-2's GELU, `x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))/2`.
    static func geluTanh(_ a: UnsafePointer<Float>, into o: UnsafeMutablePointer<Float>, count: Int) {
        map(a, into: o, count: count) { x in
            x * (1 + tanh(0.79788456080286535588 * (x + 0.044715 * x * x * x))) / 2
        }
    }

    /// `o[i] = g[i] · op′` for an activation of `UnaryOp.fusedBackward`, `saved` being the op's output for
    /// sigmoid and tanh and its input otherwise (the scalar loops' formulas, sixteen lanes at a time).
    static func backward(_ op: UnaryOp, _ saved: UnsafePointer<Float>, _ g: UnsafePointer<Float>,
                         into o: UnsafeMutablePointer<Float>, count: Int) {
        switch op {
        case .relu: map(saved, g, into: o, count: count) { x, g in g * select(x .> 0, V(repeating: 1), V(repeating: 0)) }
        case .sigmoid: map(saved, g, into: o, count: count) { y, g in g * y * (1 - y) }
        case .tanh: map(saved, g, into: o, count: count) { y, g in g * (1 - y * y) }
        case .gelu:
            map(saved, g, into: o, count: count) { x, g in
                let cdf = (1 + erf(x * 0.70710678118654752440)) * 0.5
                let pdf = exp(x * x * -0.5) * 0.39894228040143267794
                return g * (cdf + x * pdf)
            }
        case .geluTanh:
            map(saved, g, into: o, count: count) { x, g in
                let c: Float = 0.79788456080286535588
                let t = tanh(c * (x + 0.044715 * x * x * x))
                let du = c * (1 + 0.134145 * x * x)
                return g * ((1 + t) * 0.5 + x * 0.5 * (1 - t * t) * du)
            }
        case .silu:
            map(saved, g, into: o, count: count) { x, g in
                let s = sigmoid(x)
                return g * s * (1 + x * (1 - s))
            }
        default: fatalError("\(op)Backward: not a fused backward")
        }
    }

    /// One row of the LSTM cell, sixteen units at a time over the first `count / 16 · 16` of `count` units (gates
    /// i, f, g, o at `gates`, `gates + count`, …, their activations stored alike, possibly over them); returns how many
    /// units it did, the caller does the rest.
    static func lstmCell(gates: UnsafePointer<Float>, cell: UnsafePointer<Float>, activations: UnsafeMutablePointer<Float>,
                         hidden: UnsafeMutablePointer<Float>, cellOut: UnsafeMutablePointer<Float>, count: Int) -> Int {
        let full = count / 16 * 16
        for j in stride(from: 0, to: full, by: 16) {
            let i = sigmoid(load(gates + j)), f = sigmoid(load(gates + count + j))
            let g = tanh(load(gates + 2 * count + j)), o = sigmoid(load(gates + 3 * count + j))
            store(i, activations + j); store(f, activations + count + j)
            store(g, activations + 2 * count + j); store(o, activations + 3 * count + j)
            let c = f * load(cell + j) + i * g
            store(c, cellOut + j)
            store(o * tanh(c), hidden + j)
        }
        return full
    }

    /// One row of the LSTM cell's backward from the forward's activations (see `Backend.lstmCellBackward`), sixteen
    /// units at a time over the first `count / 16 · 16` units; returns how many units it did, the caller does the rest.
    static func lstmCellBackward(activations: UnsafePointer<Float>, cell: UnsafePointer<Float>, cellOut: UnsafePointer<Float>,
                                 hiddenGradient: UnsafePointer<Float>, cellOutGradient: UnsafePointer<Float>,
                                 gatesGradient: UnsafeMutablePointer<Float>, cellGradient: UnsafeMutablePointer<Float>,
                                 count: Int) -> Int {
        let full = count / 16 * 16
        for j in stride(from: 0, to: full, by: 16) {
            let i = load(activations + j), f = load(activations + count + j)
            let g = load(activations + 2 * count + j), o = load(activations + 3 * count + j)
            let t = tanh(load(cellOut + j)), dh = load(hiddenGradient + j)
            let total = load(cellOutGradient + j) + dh * o * (1 - t * t)
            store(total * g * i * (1 - i), gatesGradient + j)
            store(total * load(cell + j) * f * (1 - f), gatesGradient + count + j)
            store(total * i * (1 - g * g), gatesGradient + 2 * count + j)
            store(dh * t * o * (1 - o), gatesGradient + 3 * count + j)
            store(total * f, cellGradient + j)
        }
        return full
    }

    @inline(__always)
    private static func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }

    @inline(__always)
    private static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }

    /// The largest of `count` elements: NaN if any is NaN, −∞ for none.
    static func maximum(_ a: UnsafePointer<Float>, count: Int) -> Float {
        var best = V(repeating: -.infinity), nan = SIMD16<Int32>(repeating: 0)
        reduce(a, count: count, padding: -.infinity) { x in
            best = select(x .> best, x, best)
            nan |= unsafeBitCast(x .!= x, to: SIMD16<Int32>.self)
        }
        return nan != SIMD16(repeating: 0) ? .nan : best.max()
    }

    /// The sum of `count` elements, in sixteen running float32 sums.
    static func sum(_ a: UnsafePointer<Float>, count: Int) -> Float {
        var total = V(repeating: 0)
        reduce(a, count: count, padding: 0) { total += $0 }
        return total.sum()
    }

    /// `Σ a[i]·b[i]` over `count` elements, in sixteen running float32 sums.
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var total = V(repeating: 0), i = 0
        while i + 16 <= count {
            total += load(a + i) * load(b + i)
            i += 16
        }
        var tail: Float = 0
        for j in i..<count { tail += a[j] * b[j] }
        return total.sum() + tail
    }

    /// `Σ exp(a[i] - shift)` over `count` elements, in sixteen running float32 sums.
    static func sumExp(_ a: UnsafePointer<Float>, minus shift: Float, count: Int) -> Float {
        var total = V(repeating: 0)
        reduce(a, count: count, padding: -.infinity) { total += exp($0 - shift) }
        return total.sum()
    }

    /// Calls `body` on the elements sixteen at a time, the tail padded with `padding`.
    @inline(__always)
    private static func reduce(_ a: UnsafePointer<Float>, count: Int, padding: Float, _ body: (V) -> Void) {
        let raw = UnsafeRawPointer(a)
        var i = 0
        while i + 16 <= count {
            body(raw.loadUnaligned(fromByteOffset: i * 4, as: V.self))
            i += 16
        }
        guard i < count else { return }
        var tail = V(repeating: padding)
        for j in 0..<(count - i) { tail[j] = a[i + j] }
        body(tail)
    }

    /// `o[i] = f(a[i], b[i])` sixteen at a time, the tail through zero-padded vectors.
    @inline(__always)
    private static func map(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into o: UnsafeMutablePointer<Float>,
                            count: Int, _ f: (V, V) -> V) {
        let rawA = UnsafeRawPointer(a), rawB = UnsafeRawPointer(b), out = UnsafeMutableRawPointer(o)
        var i = 0
        while i + 16 <= count {
            let result = f(rawA.loadUnaligned(fromByteOffset: i * 4, as: V.self), rawB.loadUnaligned(fromByteOffset: i * 4, as: V.self))
            out.storeBytes(of: result, toByteOffset: i * 4, as: V.self)
            i += 16
        }
        guard i < count else { return }
        var tailA = V(repeating: 0), tailB = V(repeating: 0)
        for j in 0..<(count - i) { tailA[j] = a[i + j]; tailB[j] = b[i + j] }
        let result = f(tailA, tailB)
        for j in 0..<(count - i) { o[i + j] = result[j] }
    }

    /// `o[i] = f(a[i])` sixteen at a time, the tail through one zero-padded vector.
    @inline(__always)
    private static func map(_ a: UnsafePointer<Float>, into o: UnsafeMutablePointer<Float>, count: Int, _ f: (V) -> V) {
        map(a, a, into: o, count: count) { x, _ in f(x) }
    }

    /// `|x|` and the sign bits of `x`, for odd functions evaluated on the magnitude.
    @inline(__always)
    private static func magnitudeAndSign(_ x: V) -> (V, SIMD16<Int32>) {
        let bits = unsafeBitCast(x, to: SIMD16<Int32>.self)
        return (unsafeBitCast(bits & 0x7FFF_FFFF, to: V.self), bits & Int32(bitPattern: 0x8000_0000))
    }

    /// `v` (non-negative) with the sign bits `sign` restored.
    @inline(__always)
    private static func signed(_ v: V, _ sign: SIMD16<Int32>) -> V {
        unsafeBitCast(unsafeBitCast(v, to: SIMD16<Int32>.self) | sign, to: V.self)
    }
}
