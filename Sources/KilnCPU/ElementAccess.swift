import KilnCore

/// Reading and writing strided runs of elements of any dtype as a compute type.
enum ElementAccess {
    /// Reads `count` elements of `dtype` starting at element `start` of `base`, `stride` apart (0: one element
    /// repeated), into `out`.
    @inline(__always)
    static func load<T: CPUScalar>(_ dtype: DType, _ base: UnsafeRawPointer, start: Int, stride: Int, count: Int,
                                   into out: UnsafeMutablePointer<T>) {
        if stride == 0 && count > 1 {
            // A broadcast run (a scalar operand): one conversion, then a fill.
            load(dtype, base, start: start, stride: 1, count: 1, into: out)
            (out + 1).update(repeating: out[0], count: count - 1)
            return
        }
        switch dtype {
        case .float32:
            let p = base.assumingMemoryBound(to: Float.self) + start
            for i in 0..<count { out[i] = T(float: p[i * stride]) }
        case .float64:
            let p = base.assumingMemoryBound(to: Double.self) + start
            for i in 0..<count { out[i] = T(double: p[i * stride]) }
        case .float16:
            let p = base.assumingMemoryBound(to: Float16.self) + start
            for i in 0..<count { out[i] = T(float: Float(p[i * stride])) }
        case .bfloat16:
            let p = base.assumingMemoryBound(to: UInt16.self) + start
            for i in 0..<count { out[i] = T(float: HalfPrecision.float(fromBFloat16: p[i * stride])) }
        case .int32:
            let p = base.assumingMemoryBound(to: Int32.self) + start
            for i in 0..<count { out[i] = T(integer: Int64(p[i * stride])) }
        case .int64:
            let p = base.assumingMemoryBound(to: Int64.self) + start
            for i in 0..<count { out[i] = T(integer: p[i * stride]) }
        case .uint8, .bool:
            let p = base.assumingMemoryBound(to: UInt8.self) + start
            for i in 0..<count { out[i] = T(integer: Int64(p[i * stride])) }
        }
    }

    /// Writes `count` values from `values` as `dtype` at element `start` of `base`, `stride` apart.
    @inline(__always)
    static func store<T: CPUScalar>(_ values: UnsafePointer<T>, count: Int, as dtype: DType,
                                    _ base: UnsafeMutableRawPointer, start: Int, stride: Int) {
        switch dtype {
        case .float32:
            let p = base.assumingMemoryBound(to: Float.self) + start
            for i in 0..<count { p[i * stride] = values[i].asFloat }
        case .float64:
            let p = base.assumingMemoryBound(to: Double.self) + start
            for i in 0..<count { p[i * stride] = values[i].asDouble }
        case .float16:
            let p = base.assumingMemoryBound(to: Float16.self) + start
            for i in 0..<count { p[i * stride] = Float16(values[i].asFloat) }
        case .bfloat16:
            let p = base.assumingMemoryBound(to: UInt16.self) + start
            for i in 0..<count { p[i * stride] = HalfPrecision.bfloat16(from: values[i].asFloat) }
        case .int32:
            let p = base.assumingMemoryBound(to: Int32.self) + start
            for i in 0..<count { p[i * stride] = Int32(truncatingIfNeeded: values[i].asInt64) }
        case .int64:
            let p = base.assumingMemoryBound(to: Int64.self) + start
            for i in 0..<count { p[i * stride] = values[i].asInt64 }
        case .uint8:
            let p = base.assumingMemoryBound(to: UInt8.self) + start
            for i in 0..<count { p[i * stride] = UInt8(truncatingIfNeeded: values[i].asInt64) }
        case .bool:
            let p = base.assumingMemoryBound(to: UInt8.self) + start
            for i in 0..<count { p[i * stride] = values[i] != .zero ? 1 : 0 }
        }
    }
}
