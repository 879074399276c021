import CMultiplyAdd

extension Float {
    @inline(__always)
    static func multiplyAdd(_ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>) -> SIMD16<Float> {
        kiln_multiply_add_float16(a, b, c)
    }
}

extension Double {
    @inline(__always)
    static func multiplyAdd(_ a: SIMD16<Double>, _ b: SIMD16<Double>, _ c: SIMD16<Double>) -> SIMD16<Double> {
        kiln_multiply_add_double16(a, b, c)
    }
}
