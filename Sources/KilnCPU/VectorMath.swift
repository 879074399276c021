import CSIMD
import KilnCore

/// Float32 transcendental functions on 16 lanes at a time, for the CPU's elementwise ops and softmax.
///
/// `exp`: Cody–Waite reduction `x = n·ln2 + r` (|r| ≤ ln2/2, ln2 split in two so `n·ln2`
/// is exact), a degree-6 polynomial for `eʳ` by Horner's rule (fitted by least squares weighted to relative error:
/// within 1.04 ulp over [−87, 0] evaluated in float32, where Cephes' degree-7 `expf` form gets 1.00 with two
/// operations more), then `2ⁿ` built in the exponent bits in two halves so results down to the subnormals and up
/// to overflow come out right.
/// NaN propagates; +∞ gives +∞ and −∞ gives 0. The scalar `expf` of libm is 3–4× slower per element.
/// `tanh`, `erf`, the GELUs, sigmoid and SiLU build on it (see each function for its accuracy).
enum VectorMath {
    typealias V = SIMD16<Float>

    /// `eˣ` (see the type's description).
    @inline(__always)
    static func exp(_ x: V) -> V {
        let low = V(repeating: -104), high = V(repeating: 89)
        let (p, n) = expParts(select(x .< low, low, select(x .> high, high, x)))  // NaN passes through to the end
        // 2ⁿ = 2^(n/2) · 2^(n - n/2): each half stays a normal float for n in [-150, 128]. Above
        // ln(Float.greatestFiniteMagnitude) the product overflows to +∞ by itself.
        let half = n &>> 1
        return select(x .!= x, x, p * powerOfTwo(half) * powerOfTwo(n &- half))
    }

    /// `exp(x)` for `x ≤ 0`, as softmax's rows shifted by their maximum have: the same polynomial, but results
    /// below 2⁻¹²⁶ flush to zero, so that `2ⁿ` is one scaling and nothing overflows (−∞ gives 0; NaN propagates
    /// through the polynomial). About a quarter fewer instructions than `exp`.
    @inline(__always)
    static func expOfNonPositive(_ x: V) -> V {
        let low = V(repeating: -88)  // n = -127: the scale's exponent field is 0, so the result is exactly 0
        let (p, n) = expParts(select(x .< low, low, x))
        return p * powerOfTwo(n)
    }

    /// The common part of the exponentials: `eʳ` and `n` for `x = n·ln2 + r`.
    @inline(__always)
    private static func expParts(_ x: V) -> (V, SIMD16<Int32>) {
        let log2e: Float = 1.44269504088896341, ln2High: Float = 0.693359375, ln2Low: Float = -2.12194440e-4
        // Round to the nearest integer with the 1.5·2²³ trick (plain adds: no SSE4.1 `roundps` in portable
        // builds); the same sum holds the integer in its low mantissa bits.
        let shifted = multiplyAdd(x, log2e, 12_582_912)
        let n = shifted - 12_582_912
        let r = multiplyAdd(n, -ln2Low, multiplyAdd(n, -ln2High, x))
        let p = horner(r, [
            1.3858659658e-3, 8.3755925298e-3, 4.1667766869e-2, 1.6666410863e-1, 4.9999994040e-1, 1, 1,
        ])
        return (p, unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000)
    }

    /// `a·b + c`: one fused instruction in a build for a CPU with FMA, a multiply and an add otherwise.
    @inline(__always)
    private static func multiplyAdd(_ a: V, _ b: V, _ c: V) -> V { Float.multiplyAdd(a, b, c) }

    /// `a·b + c` with scalar `b` and `c` (see `multiplyAdd(_:_:_:)`).
    @inline(__always)
    private static func multiplyAdd(_ a: V, _ b: Float, _ c: Float) -> V {
        Float.multiplyAdd(a, V(repeating: b), V(repeating: c))
    }

    /// `a·b + c` with scalar `c` (see `multiplyAdd(_:_:_:)`).
    @inline(__always)
    private static func multiplyAdd(_ a: V, _ b: V, _ c: Float) -> V { Float.multiplyAdd(a, b, V(repeating: c)) }

    /// `a·b + c` with scalar `b` (see `multiplyAdd(_:_:_:)`).
    @inline(__always)
    private static func multiplyAdd(_ a: V, _ b: Float, _ c: V) -> V { Float.multiplyAdd(a, V(repeating: b), c) }

    /// `c₀·xⁿ⁻¹ + c₁·xⁿ⁻² + … + cₙ₋₁` by Horner's rule (coefficients from the highest degree down), one
    /// multiply-add a step; always inlined, so the coefficients are constants in the caller's loop.
    @inline(__always)
    private static func horner<let n: Int>(_ x: V, _ coefficients: InlineArray<n, Float>) -> V {
        var result = V(repeating: coefficients[0])
        for k in 1..<n { result = multiplyAdd(result, x, coefficients[k]) }
        return result
    }

    /// `2ⁿ` for integers `n` in [-127, 128] (−127 gives 0).
    @inline(__always)
    private static func powerOfTwo(_ n: SIMD16<Int32>) -> V { unsafeBitCast((n &+ 127) &<< 23, to: V.self) }

    /// `mask ? a : b` lane by lane, as `b ^ ((a ^ b) & mask)` on the bits (the standard library's
    /// `replace(with:where:)` and `pointwiseMin` go lane by lane in portable builds, and so does `~` on a vector).
    @inline(__always)
    static func select(_ mask: SIMDMask<SIMD16<Int32>>, _ a: V, _ b: V) -> V {
        let m = unsafeBitCast(mask, to: SIMD16<Int32>.self)
        let ai = unsafeBitCast(a, to: SIMD16<Int32>.self), bi = unsafeBitCast(b, to: SIMD16<Int32>.self)
        return unsafeBitCast(bi ^ ((ai ^ bi) & m), to: V.self)
    }

    /// `o[i] = exp(a[i])` for `count` elements.
    static func exp(_ a: UnsafePointer<Float>, into o: UnsafeMutablePointer<Float>, count: Int) {
        map(a, into: o, count: count) { exp($0) }
    }

    /// `o[i] = exp(a[i] - shift)` for `a[i] ≤ shift` (`expOfNonPositive`) over `count` elements; returns `Σ o[i]`.
    static func exp(_ a: UnsafePointer<Float>, minus shift: Float, into o: UnsafeMutablePointer<Float>, count: Int) -> Float {
        var total = V(repeating: 0)
        @inline(__always) func f(_ x: V, _: V) -> V {
            let e = expOfNonPositive(x - shift)
            total += e
            return e
        }
        map(a, a, into: o, count: count, padding: -.infinity, f)
        return total.laneSum
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
        let p = horner(z, [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1])
        let small = multiplyAdd(p * z, x, x)
        let large = 1 - 2 / (exp(t + t) + 1)
        return select(t .< 0.625, small, select(x .!= x, x, signed(large, sign)))
    }

    /// `erf`: `x·P(x²)` below |x| = 1, else `1 - e^{-x²}·R(|x|)` with the sign restored (|x| capped at 4, where
    /// erf rounds to ±1). P (degree 5) is a least-squares fit weighted to relative error (below 2·10⁻⁸ in exact
    /// arithmetic); R approximates `erfc(t)·e^{t²}` on [1, 4] as a degree-12 polynomial in `(t − 2.5)/1.5`, fitted
    /// the same way (relative error 6·10⁻⁹; a rational form in 1/t needs a division, the slowest vector operation).
    /// Within 4 ulp in float32.
    @inline(__always)
    static func erf(_ x: V) -> V {
        let (absolute, sign) = magnitudeAndSign(x)
        let s = x * x
        let p = horner(s, [
            -5.6678734222e-04, 4.9273898810e-03, -2.6720867200e-02, 1.1280577882e-01, -3.7612390529e-01,
            1.1283791470e+00,
        ])
        let small = p * x
        let t = select(absolute .< 4, absolute, V(repeating: 4))
        let w = multiplyAdd(t, 2 / 3, -5 / 3)
        let r = horner(w, [
            1.2445649190e-05, -3.6654946598e-05, 5.9020494518e-05, -1.4469410235e-04, 4.0998935583e-04,
            -1.0163813131e-03, 2.4040043354e-03, -5.5676503107e-03, 1.2489175424e-02, -2.7005670592e-02,
            5.6110516191e-02, -1.1152100563e-01, 2.1080636978e-01,
        ])
        let large = 1 - expOfNonPositive(-(t * t)) * r  // −16 ≤ −t² ≤ 0: no scaling to split
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

    /// The exact GELU, `x·Φ(x)` (`Φ(x) = (1 + erf(x/√2))/2`; see `normal(_:)`).
    static func gelu(_ a: UnsafePointer<Float>, into o: UnsafeMutablePointer<Float>, count: Int) {
        @inline(__always) func f(_ x: V) -> V { x * normal(x).cdf }
        map(a, into: o, count: count, f)
    }

    /// The standard normal distribution at `x`: `Φ(x)`, and the density `e^{-x²/2}/√(2π)`.
    ///
    /// One branch for every `x`: the upper tail `Q(t) = 1 − Φ(t)` at `t = |x|` is `e^{-t²/2}·R(t)`, and `Φ(x)` is
    /// `Q` for negative `x` and `1 − Q` otherwise, so the negative tail keeps its relative accuracy (`1 + erf`
    /// cancels there). R (`erfcx(t/√2)/2`, falling like `1/(t·√(2π))`) is a rational function of degree 4 over 4
    /// on [0, 13.3], fitted to minimax relative error by linear programming (1.2·10⁻⁷ in exact arithmetic,
    /// 3.9·10⁻⁷ evaluated in float32), out to where the exponential flushes to 0 past |x| = 13.2 (the rounding of
    /// x² costs the result up to x²/2 ulp of its own). Eight multiply-adds and a division, where a polynomial needs
    /// fifteen multiply-adds for the same accuracy on less than half the range; the density for GELU's backward
    /// comes from the same exponential.
    @inline(__always)
    static func normal(_ x: V) -> (cdf: V, density: V) {
        let (t, _) = magnitudeAndSign(x)
        let end: Float = 13.3  // keeps R finite for t = ∞; the exponential is 0 beyond
        let u = select(t .< end, t, V(repeating: end))
        let r = horner(u, [2.3104274760e-07, 1.4450802468e-02, 1.0799780488e-01, 3.4058672190e-01, 4.9999994040e-01])
            / horner(u, [3.6250155419e-02, 2.7016231418e-01, 8.9617007971e-01, 1.4790508747e+00, 1])
        let e = expOfNonPositive(x * x * -0.5)
        let q = e * r
        return (select(x .< 0, q, 1 - q), e * 0.39894228040143267794)
    }

    /// GPT-2's GELU, `x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))/2`.
    static func geluTanh(_ a: UnsafePointer<Float>, into o: UnsafeMutablePointer<Float>, count: Int) {
        @inline(__always) func f(_ x: V) -> V { x * (1 + tanh(0.79788456080286535588 * (x + 0.044715 * x * x * x))) / 2 }
        map(a, into: o, count: count, f)
    }

    /// `o[i] = g[i] · op′` for an activation of `UnaryOp.fusedBackward`, `saved` being the op's output for
    /// sigmoid and tanh and its input otherwise (the scalar loops' formulas, sixteen lanes at a time).
    static func backward(_ op: UnaryOp, _ saved: UnsafePointer<Float>, _ g: UnsafePointer<Float>,
                         into o: UnsafeMutablePointer<Float>, count: Int) {
        @inline(__always) func relu(_ x: V, _ g: V) -> V { g * select(x .> 0, V(repeating: 1), V(repeating: 0)) }
        @inline(__always) func sigmoid(_ y: V, _ g: V) -> V { g * y * (1 - y) }
        @inline(__always) func tanh(_ y: V, _ g: V) -> V { g * (1 - y * y) }
        @inline(__always) func gelu(_ x: V, _ g: V) -> V {
            let (cdf, density) = normal(x)
            return g * multiplyAdd(x, density, cdf)
        }
        @inline(__always) func geluTanh(_ x: V, _ g: V) -> V {
            let c: Float = 0.79788456080286535588
            let t = VectorMath.tanh(c * (x + 0.044715 * x * x * x))
            let du = c * (1 + 0.134145 * x * x)
            return g * ((1 + t) * 0.5 + x * 0.5 * (1 - t * t) * du)
        }
        @inline(__always) func silu(_ x: V, _ g: V) -> V {
            let s = VectorMath.sigmoid(x)
            return g * s * (1 + x * (1 - s))
        }
        // Local functions marked to inline rather than closures: `map` then inlines them into its loop.
        switch op {
        case .relu: map(saved, g, into: o, count: count, relu)
        case .sigmoid: map(saved, g, into: o, count: count, sigmoid)
        case .tanh: map(saved, g, into: o, count: count, tanh)
        case .gelu: map(saved, g, into: o, count: count, gelu)
        case .geluTanh: map(saved, g, into: o, count: count, geluTanh)
        case .silu: map(saved, g, into: o, count: count, silu)
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
        @inline(__always) func step(_ best: V, _ x: V, _: V) -> V { larger(best, x) }
        return maximum(of: fold(a, a, count: count, initial: -.infinity, padding: -.infinity, step, merge: larger))
    }

    /// The larger of `best` and `x` lane by lane; a lane that meets a NaN keeps it (`NaN > best` is false, but so
    /// is `NaN == NaN`).
    @inline(__always)
    private static func larger(_ best: V, _ x: V) -> V { select((x .> best) .| (x .!= x), x, best) }

    /// The largest lane, NaN if any is.
    @inline(__always)
    private static func maximum(of lanes: V) -> Float { lanes.hasNaN ? .nan : lanes.laneMaximum }

    /// The sum of `count` elements, in sixty-four running float32 sums.
    static func sum(_ a: UnsafePointer<Float>, count: Int) -> Float {
        @inline(__always) func add(_ total: V, _ x: V, _: V) -> V { total + x }
        return fold(a, a, count: count, initial: 0, padding: 0, add, merge: +).laneSum
    }

    /// `Σ a[i]·b[i]` over `count` elements, in sixty-four running float32 sums.
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        @inline(__always) func add(_ total: V, _ x: V, _ y: V) -> V { multiplyAdd(x, y, total) }
        return fold(a, b, count: count, initial: 0, padding: 0, add, merge: +).laneSum
    }

    /// `Σ(a[i] - c)` and `Σ(a[i] - c)²` over `count` elements, in float32 running sums (sixteen lanes, two chains
    /// each), for moments about a centre `c` near the mean.
    static func deviations(_ a: UnsafePointer<Float>, count: Int, from c: Float) -> (sum: Float, squares: Float) {
        let center = V(repeating: c)
        var d0 = V(repeating: 0), d1 = d0, s0 = d0, s1 = d0
        var i = 0
        while i + 32 <= count {
            let x0 = load(a + i) - center, x1 = load(a + i + 16) - center
            d0 += x0
            d1 += x1
            s0 = multiplyAdd(x0, x0, s0)
            s1 = multiplyAdd(x1, x1, s1)
            i += 32
        }
        while i < count {
            let x = load(a + i, count - i, padding: c) - center  // padded lanes deviate by exactly 0
            d0 += x
            s0 = multiplyAdd(x, x, s0)
            i += 16
        }
        return ((d0 + d1).laneSum, (s0 + s1).laneSum)
    }

    /// `Σ exp(a[i] - shift)` over `count` elements with `a[i] ≤ shift` (`expOfNonPositive`) and, found in the same
    /// loop, the largest of the `count` elements at `next`: given the next row, that row is read from memory while
    /// this one is exponentiated, where two passes would wait for memory in one and compute in the other
    /// (cross-entropy over 4096×4096 float32: 3.6–4.1 → 2.3–2.4 ms here). That maximum leaves NaNs out (one
    /// instruction a vector, where keeping them took four): a NaN reaches the next row's sum through its exponential.
    static func sumExp(_ a: UnsafePointer<Float>, minus shift: Float, count: Int,
                       maximumOf next: UnsafePointer<Float>) -> (sum: Float, nextMaximum: Float) {
        var s0 = V(repeating: 0), s1 = s0, m0 = V(repeating: -.infinity), m1 = m0
        var i = 0
        // Two vectors a step where there are 32 vector registers; with 16 (AVX2), the two exponentials' constants and
        // temporaries spilled to the stack (cross-entropy over 4096×4096 float32 on a Zen 3, one thread: 5.2–7.3 →
        // 7.1–9.4 GB/s; two: 11.6–11.7 → 14.4–14.6).
        while KILN_WIDE_VECTOR_REGISTERS != 0 && i + 32 <= count {
            s0 += expOfNonPositive(load(a + i) - shift)
            s1 += expOfNonPositive(load(a + i + 16) - shift)
            m0 = kiln_greater_float16(load(next + i), m0)
            m1 = kiln_greater_float16(load(next + i + 16), m1)
            prefetchAhead(next + i)
            prefetchAhead(next + i + 16)
            i += 32
        }
        while i + 16 <= count {
            s0 += expOfNonPositive(load(a + i) - shift)
            m0 = kiln_greater_float16(load(next + i), m0)
            prefetchAhead(next + i)
            i += 16
        }
        if i < count {
            s0 += expOfNonPositive(load(a + i, count - i, padding: -.infinity) - shift)
            m0 = kiln_greater_float16(load(next + i, count - i, padding: -.infinity), m0)
        }
        return ((s0 + s1).laneSum, kiln_greater_float16(m0, m1).laneMaximum)
    }

    /// Folds the elements of `a` and `b` sixteen at a time into four running vectors that start at `initial`,
    /// independent chains so that the loop is not bound by the latency of `combine(running, a, b)`, the tails padded
    /// with `padding` (and zeros in `b`); returns the four merged with `merge`. The result must not depend on the
    /// order or grouping of the elements. Callers pass local functions marked `@inline(__always)`, not closures,
    /// so that they are inlined into the loop.
    @inline(__always)
    private static func fold(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int, initial: Float,
                             padding: Float, _ combine: (V, V, V) -> V, merge: (V, V) -> V) -> V {
        let start = V(repeating: initial)
        var r0 = start, r1 = start, r2 = start, r3 = start
        var i = 0
        while i + 64 <= count {
            r0 = combine(r0, load(a + i), load(b + i))
            r1 = combine(r1, load(a + i + 16), load(b + i + 16))
            r2 = combine(r2, load(a + i + 32), load(b + i + 32))
            r3 = combine(r3, load(a + i + 48), load(b + i + 48))
            for line in stride(from: 0, to: 64, by: 16) {
                prefetchAhead(a + i + line)
                if b != a { prefetchAhead(b + i + line) }
            }
            i += 64
        }
        while i < count {
            r0 = combine(r0, load(a + i, count - i, padding: padding), load(b + i, count - i, padding: 0))
            i += 16
        }
        return merge(merge(r0, r1), merge(r2, r3))
    }

    /// `o[i] = f(a[i], b[i])` sixteen at a time, the tail through vectors padded with `padding`. A large `f` is
    /// inlined only when it is a local function marked `@inline(__always)`; a closure is called once per vector.
    @inline(__always)
    private static func map(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into o: UnsafeMutablePointer<Float>,
                            count: Int, padding: Float = 0, _ f: (V, V) -> V) {
        var i = 0
        // Two vectors a step: two independent chains of dependent operations keep more of the units busy.
        while i + 32 <= count {
            let r0 = f(load(a + i), load(b + i)), r1 = f(load(a + i + 16), load(b + i + 16))
            store(r0, o + i)
            store(r1, o + i + 16)
            prefetchAhead(a + i)
            prefetchAhead(a + i + 16)
            if b != a {
                prefetchAhead(b + i)
                prefetchAhead(b + i + 16)
            }
            i += 32
        }
        while i < count {
            let result = f(load(a + i, count - i, padding: padding), load(b + i, count - i, padding: padding))
            if i + 16 <= count {
                store(result, o + i)
            } else {
                withUnsafeBytes(of: result) {
                    (o + i).update(from: $0.assumingMemoryBound(to: Float.self).baseAddress!, count: count - i)
                }
            }
            i += 16
        }
    }

    /// `o[i] = f(a[i])` sixteen at a time, the tail through one zero-padded vector.
    @inline(__always)
    private static func map(_ a: UnsafePointer<Float>, into o: UnsafeMutablePointer<Float>, count: Int, _ f: (V) -> V) {
        map(a, a, into: o, count: count) { x, _ in f(x) }
    }

    /// Asks for the cache line 4 KB past `p`: a loop that reads a stream a line at a time calls it per line, so that
    /// loads stay in flight while it computes (the hardware prefetchers alone left cross-entropy waiting on the
    /// next row's loads). A hint only: a line past the end of the buffer is not an error.
    @inline(__always)
    private static func prefetchAhead(_ p: UnsafePointer<Float>) { kiln_prefetch_for_read(p + 1024) }

    /// Sixteen elements from `p`, or the `available` (< 16) there and `padding`.
    @inline(__always)
    private static func load(_ p: UnsafePointer<Float>, _ available: Int, padding: Float) -> V {
        if available >= 16 { return load(p) }
        // Copied in one go: written a lane at a time, the vector went through the stack and was reloaded after every
        // lane (a softmax's 11-element attention rows spent most of their time there).
        var tail = V(repeating: padding)
        withUnsafeMutableBytes(of: &tail) {
            $0.baseAddress!.copyMemory(from: p, byteCount: available * MemoryLayout<Float>.stride)
        }
        return tail
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
