import Foundation

/// The Philox4x32-10 counter-based generator (Salmon et al., SC'11, as in Random123) and the way Kiln turns its
/// output into numbers. Every backend implements exactly this definition, so a seed gives the same numbers on
/// every device:
///
/// - Element `i` of a fill at `RandomStream(seed, offset)` takes word `i % 4` of block
///   `b = offset + i / 4`, where a block is `philox(counter: [lo32(b), hi32(b), 0, 0], key: [lo32(seed), hi32(seed)])`.
/// - Uniform: `u = ((w >> 9) + 0.5) · 2⁻²³`, exactly representable in `float32`, in [2⁻²⁴, 1 - 2⁻²⁴];
///   `uniform(low, high) = low + (high - low) · u`, computed in `float64` and rounded to the output dtype.
/// - Normal: block words `(w0, w1, w2, w3)` give uniforms `(u0, u1, u2, u3)` and Box–Muller pairs
///   `r·cos θ, r·sin θ` with `r = √(-2 ln u0)`, `θ = 2π u1` (then `u2`, `u3`), in `float64`, then
///   `mean + std · z` rounded to the output dtype.
/// - Bernoulli: `1` if `u < p`, else `0`. Dropout keeps element `i` when `u ≥ p`.
public enum Philox4x32 {
    @usableFromInline static let multiplier0: UInt32 = 0xD251_1F53
    @usableFromInline static let multiplier1: UInt32 = 0xCD9E_8D57
    @usableFromInline static let weyl0: UInt32 = 0x9E37_79B9
    @usableFromInline static let weyl1: UInt32 = 0xBB67_AE85

    /// The ten-round Philox4x32 bijection of `counter` under `key`.
    @inlinable
    public static func block(counter: SIMD4<UInt32>, key: SIMD2<UInt32>) -> SIMD4<UInt32> {
        var c = counter, k = key
        for round in 0..<10 {
            if round > 0 { k &+= SIMD2(weyl0, weyl1) }
            let p0 = UInt64(multiplier0) * UInt64(c[0])
            let p1 = UInt64(multiplier1) * UInt64(c[2])
            c = SIMD4(UInt32(truncatingIfNeeded: p1 >> 32) ^ c[1] ^ k[0], UInt32(truncatingIfNeeded: p1),
                      UInt32(truncatingIfNeeded: p0 >> 32) ^ c[3] ^ k[1], UInt32(truncatingIfNeeded: p0))
        }
        return c
    }

    /// The block at index `index` of the stream of `seed`.
    @inlinable
    public static func block(index: UInt64, seed: UInt64) -> SIMD4<UInt32> {
        block(counter: SIMD4(UInt32(truncatingIfNeeded: index), UInt32(truncatingIfNeeded: index >> 32), 0, 0),
              key: SIMD2(UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32)))
    }

    /// The uniform in (0, 1) that a 32-bit word stands for.
    @inlinable
    public static func uniform(_ word: UInt32) -> Float {
        (Float(word >> 9) + 0.5) * 0x1p-23
    }

    /// The four standard normals a block stands for.
    @inlinable
    public static func normals(_ words: SIMD4<UInt32>) -> SIMD4<Double> {
        let r0 = (-2 * Foundation.log(Double(uniform(words[0])))).squareRoot()
        let r1 = (-2 * Foundation.log(Double(uniform(words[2])))).squareRoot()
        let t0 = 2 * Double.pi * Double(uniform(words[1]))
        let t1 = 2 * Double.pi * Double(uniform(words[3]))
        return SIMD4(r0 * Foundation.cos(t0), r0 * Foundation.sin(t0), r1 * Foundation.cos(t1), r1 * Foundation.sin(t1))
    }

    /// The number of blocks a fill of `count` elements consumes.
    @inlinable
    public static func blocks(for count: Int) -> UInt64 { UInt64((count + 3) / 4) }
}
