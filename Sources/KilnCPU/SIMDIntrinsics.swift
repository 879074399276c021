import CSIMD

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

extension SIMD8 where Scalar == Double {
    /// Eight floats widened exactly, in one conversion instruction where the target has one.
    @inline(__always)
    init(widening a: SIMD8<Float>) { self = kiln_widen_float8(a) }

    /// The eight floats at `p` (any alignment), widened.
    @inline(__always)
    init(wideningFloatsAt p: UnsafeRawPointer) { self.init(widening: p.loadUnaligned(as: SIMD8<Float>.self)) }

    /// The sum of the lanes in lane order (as `sum()`), always inlined.
    @inline(__always)
    var laneSum: Double { kiln_sum_double8(self) }
}

extension SIMD16 where Scalar == Float {
    /// The sum of the lanes in lane order (as `sum()`), always inlined.
    @inline(__always)
    var laneSum: Float { kiln_sum_float16(self) }

    /// The largest lane of a vector that holds no NaN, found as a tree over halves, always inlined.
    @inline(__always)
    var laneMaximum: Float { kiln_max_float16(self) }

    /// Whether any lane is NaN, always inlined (`any(v .!= v)` compiles to an out-of-line call).
    @inline(__always)
    var hasNaN: Bool { kiln_has_nan_float16(self) != 0 }
}

extension UnsafeMutablePointer where Pointee: CPUFloat {
    /// `self[i] += source[i]` for `count` elements: sixteen lanes at a time, then four, then one (the compiler
    /// leaves such a loop scalar when the two may overlap).
    @inline(__always)
    func add(_ source: UnsafePointer<Pointee>, count: Int) {
        @inline(__always) func lanes<V: SIMD>(_ type: V.Type, _ i: inout Int) where V.Scalar == Pointee {
            while i + V.scalarCount <= count {
                let target = UnsafeMutableRawPointer(self + i)
                target.storeBytes(of: target.loadUnaligned(as: V.self) + UnsafeRawPointer(source + i).loadUnaligned(as: V.self),
                                  as: V.self)
                i += V.scalarCount
            }
        }
        var i = 0
        lanes(SIMD16<Pointee>.self, &i)
        lanes(SIMD4<Pointee>.self, &i)
        while i < count {
            self[i] += source[i]
            i += 1
        }
    }
}

/// A vector of `CPUFloat` lanes that the GEMM micro-kernel's tile rows are made of (`CPUGemm.nr`).
protocol TileVector: SIMD where Scalar: CPUFloat {
    /// `a·b + c` lane by lane.
    static func multiplyAdd(_ a: Self, _ b: Self, _ c: Self) -> Self

    /// `p[0]` in every lane, where `p` holds `CPUGemm.leftCopies(Scalar.self)` copies of it (a 16-byte register's
    /// worth for float32 rows of eight): one load, where `Self(repeating:)` is a load and a shuffle without AVX.
    static func broadcast(copiesAt p: UnsafePointer<Scalar>) -> Self
}

extension TileVector {
    /// `Self(repeating: p[0])`, for the vectors whose scalars are stored once (`leftCopies` 1).
    @inline(__always)
    static func broadcast(copiesAt p: UnsafePointer<Scalar>) -> Self { Self(repeating: p[0]) }
}

extension SIMD16: TileVector where Scalar: CPUFloat {
    /// One fused instruction on a target with fused multiply-add (`CPUFloat.multiplyAdd`).
    @inline(__always)
    static func multiplyAdd(_ a: Self, _ b: Self, _ c: Self) -> Self { Scalar.multiplyAdd(a, b, c) }
}

extension SIMD8: TileVector where Scalar: CPUFloat {
    /// A multiply and an add: rows of eight are taken only by targets without AVX, so without fused multiply-add.
    @inline(__always)
    static func multiplyAdd(_ a: Self, _ b: Self, _ c: Self) -> Self { a * b + c }

    /// Float32's four copies loaded into both halves; another scalar, which has one copy, repeated.
    @inline(__always)
    static func broadcast(copiesAt p: UnsafePointer<Scalar>) -> Self {
        guard Scalar.self == Float.self else { return Self(repeating: p[0]) }
        let copies = UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Float>.self)
        return unsafeBitCast(SIMD8<Float>(lowHalf: copies, highHalf: copies), to: Self.self)
    }
}
