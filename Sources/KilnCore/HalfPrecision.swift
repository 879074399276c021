/// Conversions between `Float` and the bit patterns of the 16-bit floating-point formats.
///
/// Both conversions to 16 bits round to nearest, ties to even, as CUDA's `__float2bfloat16` and
/// `__float2half` do, so the CPU and GPU backends store identical bits.
public enum HalfPrecision {
    /// The `Float` whose top 16 bits are `bits` (exact).
    @inlinable
    public static func float(fromBFloat16 bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// `value` rounded to the nearest bfloat16, ties to even; NaN stays a quiet NaN of the same sign.
    @inlinable
    public static func bfloat16(from value: Float) -> UInt16 {
        let u = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: (u >> 16) | 0x0040) }
        let rounding = 0x7FFF + ((u >> 16) & 1)
        return UInt16(truncatingIfNeeded: (u &+ rounding) >> 16)
    }

    /// The `Float` value of the binary16 whose bits are `bits` (exact).
    @inlinable
    public static func float(fromFloat16 bits: UInt16) -> Float {
        Float(Float16(bitPattern: bits))
    }

    /// `value` rounded to the nearest binary16, ties to even.
    @inlinable
    public static func float16(from value: Float) -> UInt16 {
        Float16(value).bitPattern
    }
}
