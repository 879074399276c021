import KilnCore

/// Index-select, index-add, gather and scatter-add. Indices are checked; one out of range stops with the op,
/// the index and the extent.
enum CPUIndexing {
    /// The indices as `Int64`, each checked against `extent`.
    static func loadIndices(_ indices: BufferView, extent: Int, op: String) -> [Int64] {
        require(indices.dtype.isIndex, "\(op): indices must be int32 or int64, got \(indices.dtype)")
        var result = [Int64](repeating: 0, count: indices.count)
        result.withUnsafeMutableBufferPointer { ElementwiseEngine.gather(indices, into: $0.baseAddress!) }
        for i in result where i < 0 || i >= extent {
            fatalError("\(op): index \(i) is out of range for an axis of extent \(extent)")
        }
        return result
    }

    static func indexSelect(_ x: BufferView, indices: BufferView, axis: Int, out: BufferView) {
        switch ComputeDomain(out.dtype) {
        case .float: indexSelect(Float.self, x, indices, axis, out)
        case .double: indexSelect(Double.self, x, indices, axis, out)
        case .integer: indexSelect(Int64.self, x, indices, axis, out)
        }
    }

    private static func indexSelect<T: CPUScalar>(_ type: T.Type, _ x: BufferView, _ indices: BufferView, _ axis: Int,
                                                  _ out: BufferView) {
        let extent = x.shape[axis]
        let index = loadIndices(indices, extent: extent, op: "indexSelect")
        let outer = x.shape[..<axis].reduce(1, *), inner = x.shape[(axis + 1)...].reduce(1, *)
        let count = index.count
        ElementwiseEngine.withContiguous(x, as: T.self) { src in
            ElementwiseEngine.withOutput(out, as: T.self) { dst in
                Parallel.forEach(outer * count, grain: max(1, 16_384 / max(inner, 1))) { range in
                    for row in range {
                        let o = row / count, i = row % count
                        (dst + row * inner).update(from: src + (o * extent + Int(index[i])) * inner, count: inner)
                    }
                }
            }
        }
    }

    static func indexAdd(_ source: BufferView, indices: BufferView, axis: Int, out: BufferView) {
        switch ComputeDomain(out.dtype) {
        case .float: indexAdd(Float.self, source, indices, axis, out)
        case .double: indexAdd(Double.self, source, indices, axis, out)
        case .integer: indexAdd(Int64.self, source, indices, axis, out)
        }
    }

    private static func indexAdd<T: CPUScalar>(_ type: T.Type, _ source: BufferView, _ indices: BufferView, _ axis: Int,
                                               _ out: BufferView) {
        let extent = out.shape[axis]
        let index = loadIndices(indices, extent: extent, op: "indexAdd")
        let outer = out.shape[..<axis].reduce(1, *), inner = out.shape[(axis + 1)...].reduce(1, *)
        let count = index.count
        ElementwiseEngine.withContiguous(source, as: T.self) { src in
            ElementwiseEngine.withOutput(out, as: T.self, preserving: true) { dst in
                // Each task owns a range of (outer, inner) columns, so repeated indices never race.
                Parallel.forEach(outer * inner, grain: max(1, 16_384 / max(count, 1))) { range in
                    var column = range.lowerBound
                    while column < range.upperBound {
                        let o = column / inner, c0 = column % inner
                        let c1 = min(inner, c0 + range.upperBound - column)
                        for i in 0..<count {
                            let s = src + (o * count + i) * inner, d = dst + (o * extent + Int(index[i])) * inner
                            for c in c0..<c1 { d[c] += s[c] }
                        }
                        column += c1 - c0
                    }
                }
            }
        }
    }

    static func gather(_ x: BufferView, indices: BufferView, axis: Int, out: BufferView) {
        switch ComputeDomain(out.dtype) {
        case .float: gather(Float.self, x, indices, axis, out)
        case .double: gather(Double.self, x, indices, axis, out)
        case .integer: gather(Int64.self, x, indices, axis, out)
        }
    }

    /// Stops unless `indices` fits inside `target` on every axis but `axis`.
    private static func checkShapes(_ op: String, _ indices: [Int], _ target: [Int], _ axis: Int) {
        require(indices.count == target.count && indices.indices.allSatisfy { $0 == axis || indices[$0] <= target[$0] },
                     "\(op): index shape \(indices) does not fit shape \(target) outside axis \(axis)")
    }

    private static func gather<T: CPUScalar>(_ type: T.Type, _ x: BufferView, _ indices: BufferView, _ axis: Int,
                                             _ out: BufferView) {
        checkShapes("gather", out.shape, x.shape, axis)
        let index = loadIndices(indices, extent: x.shape[axis], op: "gather")
        let xStrides = Layout.contiguousStrides(x.shape), shape = out.shape
        ElementwiseEngine.withContiguous(x, as: T.self) { src in
            ElementwiseEngine.withOutput(out, as: T.self) { dst in
                var position = [Int](repeating: 0, count: shape.count)
                for j in 0..<index.count {
                    var offset = 0
                    for d in shape.indices { offset += (d == axis ? Int(index[j]) : position[d]) * xStrides[d] }
                    dst[j] = src[offset]
                    Shape.increment(&position, within: shape)
                }
            }
        }
    }

    static func scatterAdd(_ source: BufferView, indices: BufferView, axis: Int, out: BufferView) {
        switch ComputeDomain(out.dtype) {
        case .float: scatterAdd(Float.self, source, indices, axis, out)
        case .double: scatterAdd(Double.self, source, indices, axis, out)
        case .integer: scatterAdd(Int64.self, source, indices, axis, out)
        }
    }

    private static func scatterAdd<T: CPUScalar>(_ type: T.Type, _ source: BufferView, _ indices: BufferView,
                                                 _ axis: Int, _ out: BufferView) {
        require(source.shape == indices.shape, "scatterAdd: source \(source.shape) and indices \(indices.shape) differ")
        let index = loadIndices(indices, extent: out.shape[axis], op: "scatterAdd")
        checkShapes("scatterAdd", indices.shape, out.shape, axis)
        let outStrides = Layout.contiguousStrides(out.shape), shape = indices.shape
        ElementwiseEngine.withContiguous(source, as: T.self) { src in
            ElementwiseEngine.withOutput(out, as: T.self, preserving: true) { dst in
                var position = [Int](repeating: 0, count: shape.count)
                for j in 0..<index.count {
                    var offset = 0
                    for d in shape.indices { offset += (d == axis ? Int(index[j]) : position[d]) * outStrides[d] }
                    dst[offset] += src[j]
                    Shape.increment(&position, within: shape)
                }
            }
        }
    }
}
