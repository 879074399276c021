/// `exp` on 16 floats at a time: Cody–Waite reduction `x = n·ln2 + r` (|r| ≤ ln2/2, ln2 split in two so `n·ln2`
/// is exact), a degree-7 minimax polynomial for `eʳ` (Cephes' `expf` coefficients, about 1 ulp), then `2ⁿ` built
/// in the exponent bits in two halves so results down to the subnormals and up to overflow come out right.
/// NaN propagates; +∞ gives +∞ and −∞ gives 0. The scalar `expf` of libm is 3–4× slower per element.
enum VectorExp {
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

    /// `mask ? a : b` lane by lane, with bit operations (the standard library's `replace(with:where:)` and
    /// `pointwiseMin` go lane by lane in scalar code).
    @inline(__always)
    static func select(_ mask: SIMDMask<SIMD16<Int32>>, _ a: V, _ b: V) -> V {
        let m = unsafeBitCast(mask, to: SIMD16<Int32>.self)
        let bits = (unsafeBitCast(a, to: SIMD16<Int32>.self) & m) | (unsafeBitCast(b, to: SIMD16<Int32>.self) & ~m)
        return unsafeBitCast(bits, to: V.self)
    }

    /// `o[i] = exp(a[i] - shift)` for `count` elements.
    static func exp(_ a: UnsafePointer<Float>, minus shift: Float, into o: UnsafeMutablePointer<Float>, count: Int) {
        map(a, into: o, count: count) { exp($0 - shift) }
    }

    /// `o[i] = 1 / (1 + exp(-a[i]))`, from `e = exp(-|x|)` so neither tail overflows.
    static func sigmoid(_ a: UnsafePointer<Float>, into o: UnsafeMutablePointer<Float>, count: Int) {
        map(a, into: o, count: count) { x in
            let negative = x .< 0
            let e = exp(select(negative, x, -x))
            let s = 1 / (1 + e)
            return select(x .!= x, x, select(negative, e * s, s))
        }
    }

    /// `o[i] = f(a[i])` sixteen at a time, the tail through one zero-padded vector.
    @inline(__always)
    private static func map(_ a: UnsafePointer<Float>, into o: UnsafeMutablePointer<Float>, count: Int, _ f: (V) -> V) {
        let raw = UnsafeRawPointer(a), out = UnsafeMutableRawPointer(o)
        var i = 0
        while i + 16 <= count {
            out.storeBytes(of: f(raw.loadUnaligned(fromByteOffset: i * 4, as: V.self)), toByteOffset: i * 4, as: V.self)
            i += 16
        }
        guard i < count else { return }
        var tail = V(repeating: 0)
        for j in 0..<(count - i) { tail[j] = a[i + j] }
        let result = f(tail)
        for j in 0..<(count - i) { o[i + j] = result[j] }
    }
}
