import KilnCore

/// Reading and writing strided runs of elements of any dtype as a compute type, and moving contiguous runs of bytes.
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

    /// Zeroes `count` bytes, a multiple of 4: up to 64 inline, as two stores that may overlap, instead of through
    /// a `memset` call (a loop of stores would be turned back into one).
    @inline(__always)
    static func zeroBytes(at to: UnsafeMutableRawPointer, count: Int) {
        typealias Half = SIMD8<UInt32>
        typealias Quarter = SIMD4<UInt32>
        if count > 64 {
            to.initializeMemory(as: UInt8.self, repeating: 0, count: count)
        } else if count >= 32 {
            to.storeBytes(of: Half(), as: Half.self)
            to.storeBytes(of: Half(), toByteOffset: count &- 32, as: Half.self)
        } else if count >= 16 {
            to.storeBytes(of: Quarter(), as: Quarter.self)
            to.storeBytes(of: Quarter(), toByteOffset: count &- 16, as: Quarter.self)
        } else if count > 0 {
            // 4, 8 or 12 bytes: the first word, the last, and the one after the first.
            to.storeBytes(of: UInt32(0), as: UInt32.self)
            to.storeBytes(of: UInt32(0), toByteOffset: count &- 4, as: UInt32.self)
            to.storeBytes(of: UInt32(0), toByteOffset: min(4, count &- 4), as: UInt32.self)
        }
    }

    /// Copies `count` bytes between disjoint ranges; runs up to 1 KB move inline as vectors, the last one
    /// overlapping the one before it, instead of through a `memmove` call.
    @inline(__always)
    static func copyBytes(from: UnsafeRawPointer, to: UnsafeMutableRawPointer, count: Int) {
        @inline(__always) func move<V: SIMD>(_ type: V.Type, at offset: Int) {
            to.storeBytes(of: from.loadUnaligned(fromByteOffset: offset, as: V.self), toByteOffset: offset, as: V.self)
        }
        typealias Line = SIMD16<UInt32>
        typealias Quarter = SIMD4<UInt32>
        if count > 1024 {
            to.copyMemory(from: from, byteCount: count)
        } else if count >= 64 {
            var i = 0
            while i &+ 64 < count { move(Line.self, at: i); i &+= 64 }
            move(Line.self, at: count &- 64)
        } else if count >= 16 {
            var i = 0
            while i &+ 16 < count { move(Quarter.self, at: i); i &+= 16 }
            move(Quarter.self, at: count &- 16)
        } else {
            for i in 0..<count { to.storeBytes(of: from.load(fromByteOffset: i, as: UInt8.self), toByteOffset: i, as: UInt8.self) }
        }
    }
}
