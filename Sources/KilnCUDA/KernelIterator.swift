import CCUDA
import KilnCore

/// Builds the `KilnIter` a kernel walks: operands that share one shape, their offsets and strides, with
/// extent-1 axes dropped and adjacent axes merged wherever every operand allows it (so contiguous operands
/// arrive as one axis of unit stride).
public struct KernelIterator {
    /// The merged shape, outermost axis first.
    public private(set) var shape: [Int]
    /// Each operand's strides over `shape`.
    public private(set) var strides: [[Int]]
    /// Each operand's offset.
    public let offsets: [Int]

    /// Operands `layouts` walked over `shape`: every layout must have that shape, or any shape when `strides`
    /// are given instead.
    public init(shape: [Int], strides operandStrides: [[Int]], offsets: [Int]) {
        require(operandStrides.count <= KILN_MAX_OPERANDS, "KernelIterator: more than four operands")
        var dims: [(extent: Int, strides: [Int])] = []
        for axis in shape.indices where shape[axis] != 1 {
            dims.append((shape[axis], operandStrides.map { $0[axis] }))
        }
        var merged: [(extent: Int, strides: [Int])] = []
        for dim in dims {
            if let last = merged.last, zip(last.strides, dim.strides).allSatisfy({ $0 == $1 * dim.extent }) {
                merged[merged.count - 1] = (last.extent * dim.extent, dim.strides)
            } else {
                merged.append(dim)
            }
        }
        require(merged.count <= KILN_MAX_RANK,
                "CUDA: a layout of shape \(shape) needs \(merged.count) axes after merging; kernels take \(KILN_MAX_RANK)")
        self.shape = merged.map(\.extent)
        self.strides = operandStrides.indices.map { k in merged.map { $0.strides[k] } }
        self.offsets = offsets
    }

    /// The operands' layouts walked over the shape of the first.
    public init(_ layouts: [Layout]) {
        let shape = layouts.first?.shape ?? []
        for layout in layouts {
            require(layout.shape == shape, "KernelIterator: operand shapes \(layouts.map(\.shape)) differ")
        }
        self.init(shape: shape, strides: layouts.map(\.strides), offsets: layouts.map(\.offset))
    }

    /// The number of positions walked.
    public var count: Int { shape.reduce(1, *) }

    /// The C struct, innermost axis first.
    public var descriptor: KilnIter {
        var it = KilnIter()
        it.count = Int64(count)
        it.rank = Int32(shape.count)
        it.operands = Int32(offsets.count)
        let rank = KILN_MAX_RANK
        withUnsafeMutableBytes(of: &it.shape) { raw in
            let p = raw.bindMemory(to: Int64.self)
            for (d, extent) in shape.reversed().enumerated() { p[d] = Int64(extent) }
        }
        withUnsafeMutableBytes(of: &it.offset) { raw in
            let p = raw.bindMemory(to: Int64.self)
            for (k, offset) in offsets.enumerated() { p[k] = Int64(offset) }
        }
        withUnsafeMutableBytes(of: &it.strides) { raw in
            let p = raw.bindMemory(to: Int64.self)
            for (k, operand) in strides.enumerated() {
                for (d, stride) in operand.reversed().enumerated() { p[k * rank + d] = Int64(stride) }
            }
        }
        withUnsafeMutableBytes(of: &it.magic) { magics in
            withUnsafeMutableBytes(of: &it.shift) { shifts in
                for (d, extent) in shape.reversed().enumerated() where extent >= 1 && extent < 1 << 31 {
                    (magics.bindMemory(to: UInt32.self)[d], shifts.bindMemory(to: UInt32.self)[d]) = Self.divider(extent)
                }
            }
        }
        return it
    }

    /// The multiplier and shift that divide any n < 2³¹ by `divisor` (1 ≤ divisor < 2³¹) as
    /// `(umulhi(n, magic) + n) >> shift` (Granlund and Montgomery's round-up method).
    public static func divider(_ divisor: Int) -> (magic: UInt32, shift: UInt32) {
        var shift = 0
        while 1 << shift < divisor { shift += 1 }
        let magic = (UInt64(1) << 32) * UInt64((1 << shift) - divisor) / UInt64(divisor) + 1
        return (UInt32(truncatingIfNeeded: magic), UInt32(shift))
    }
}

extension Layout {
    /// The layout with `axis` removed (its extent and stride dropped).
    func removing(axis: Int) -> Layout {
        var shape = self.shape, strides = self.strides
        shape.remove(at: axis)
        strides.remove(at: axis)
        return Layout(shape: shape, strides: strides, offset: offset)
    }

    /// The layout with the stride of `axis` set to `stride` (0 to hold that axis fixed).
    func settingStride(of axis: Int, to stride: Int) -> Layout {
        var strides = self.strides
        strides[axis] = stride
        return Layout(shape: shape, strides: strides, offset: offset)
    }
}
