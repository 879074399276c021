/// Where the elements of a tensor sit in its buffer: a shape, a stride per axis (in elements, 0 for a
/// broadcast axis) and an offset (in elements) of the first element.
///
/// Views — reshape, permute, slice, expand, squeeze — are new layouts over the same buffer, never copies.
public struct Layout: Hashable, Sendable, CustomStringConvertible {
    /// The extent of each axis.
    public let shape: [Int]
    /// The distance in elements between neighbours along each axis.
    public let strides: [Int]
    /// The index of element `[0, 0, …]` in the buffer, in elements.
    public let offset: Int

    /// A layout with explicit strides and offset.
    public init(shape: [Int], strides: [Int], offset: Int = 0) {
        require(shape.count == strides.count, "Layout: shape \(shape) and strides \(strides) differ in rank")
        require(shape.allSatisfy { $0 >= 0 }, "Layout: negative extent in shape \(shape)")
        self.shape = shape
        self.strides = strides
        self.offset = offset
    }

    /// The row-major (C order) layout of `shape`.
    public init(contiguous shape: [Int], offset: Int = 0) {
        self.init(shape: shape, strides: Layout.contiguousStrides(shape), offset: offset)
    }

    /// Row-major strides for `shape`.
    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var step = 1
        for axis in shape.indices.reversed() {
            strides[axis] = step
            step *= max(shape[axis], 1)
        }
        return strides
    }

    /// The number of axes.
    public var rank: Int { shape.count }

    /// The number of elements.
    public var count: Int { shape.reduce(1, *) }

    /// Whether the elements are in row-major order with no gaps, starting anywhere (axes of extent 1 may
    /// have any stride).
    public var isContiguous: Bool {
        var expected = 1
        for axis in shape.indices.reversed() where shape[axis] != 1 {
            if strides[axis] != expected { return false }
            expected *= shape[axis]
        }
        return true
    }

    /// The range of buffer elements the layout can touch (empty for a layout with no elements).
    public var span: Range<Int> {
        if count == 0 { return offset..<offset }
        var low = offset, high = offset
        for (extent, stride) in zip(shape, strides) {
            let reach = (extent - 1) * stride
            if reach < 0 { low += reach } else { high += reach }
        }
        return low..<(high + 1)
    }

    /// The buffer index of the element at `index`.
    public func bufferIndex(_ index: [Int]) -> Int {
        var position = offset
        for (i, stride) in zip(index, strides) { position += i * stride }
        return position
    }

    /// The layout with axes reordered: axis `i` of the result is axis `axes[i]` of `self`.
    public func permuted(_ axes: [Int]) -> Layout {
        require(axes.count == rank && Set(axes) == Set(0..<rank),
                     "permute: \(axes) is not a permutation of the axes of shape \(shape)")
        return Layout(shape: axes.map { shape[$0] }, strides: axes.map { strides[$0] }, offset: offset)
    }

    /// The layout with axes `a` and `b` swapped.
    public func transposed(_ a: Int, _ b: Int) -> Layout {
        var axes = Array(0..<rank)
        axes.swapAt(a, b)
        return permuted(axes)
    }

    /// The layout restricted to `start..<end` along `axis`, taking every `step`-th element.
    public func sliced(axis: Int, start: Int, end: Int, step: Int = 1) -> Layout {
        require(step > 0, "slice: step must be positive, got \(step)")
        require(0 <= start && start <= end && end <= shape[axis],
                     "slice: range \(start)..<\(end) is outside axis \(axis) of shape \(shape)")
        var newShape = shape, newStrides = strides
        newShape[axis] = (end - start + step - 1) / step
        newStrides[axis] = strides[axis] * step
        return Layout(shape: newShape, strides: newStrides, offset: offset + start * strides[axis])
    }

    /// The layout broadcast to `target` under NumPy rules (new leading axes and extent-1 axes get stride 0),
    /// or `nil` when the shapes are not compatible.
    public func broadcast(to target: [Int]) -> Layout? {
        guard target.count >= rank else { return nil }
        let lead = target.count - rank
        var newStrides = [Int](repeating: 0, count: target.count)
        for axis in 0..<rank {
            let extent = shape[axis]
            if extent == target[lead + axis] {
                newStrides[lead + axis] = extent == 1 ? 0 : strides[axis]
            } else if extent == 1 {
                newStrides[lead + axis] = 0
            } else {
                return nil
            }
        }
        return Layout(shape: target, strides: newStrides, offset: offset)
    }

    /// The same elements under a new shape without copying, or `nil` when the strides cannot express it
    /// (then the data must be made contiguous first).
    public func reshaped(_ newShape: [Int]) -> Layout? {
        require(newShape.reduce(1, *) == count,
                     "reshape: cannot view shape \(shape) (\(count) elements) as \(newShape)")
        if isContiguous || count == 0 { return Layout(contiguous: newShape, offset: offset) }
        // Group the old axes into runs that are contiguous among themselves; each run can be split freely.
        let old = zip(shape, strides).filter { $0.0 != 1 }
        var newStrides = [Int](repeating: 0, count: newShape.count)
        var oi = 0, ni = 0
        while ni < newShape.count {
            if newShape[ni] == 1 { newStrides[ni] = 0; ni += 1; continue }
            guard oi < old.count else { return nil }
            // Collect old axes until their product matches the product of the next new axes.
            var oldProduct = old[oi].0, newProduct = newShape[ni]
            var oEnd = oi + 1, nEnd = ni + 1
            while oldProduct != newProduct {
                if oldProduct < newProduct {
                    guard oEnd < old.count, old[oEnd - 1].1 == old[oEnd].1 * old[oEnd].0 else { return nil }
                    oldProduct *= old[oEnd].0; oEnd += 1
                } else {
                    guard nEnd < newShape.count else { return nil }
                    newProduct *= newShape[nEnd]; nEnd += 1
                }
            }
            var stride = old[oEnd - 1].1
            for k in (ni..<nEnd).reversed() {
                newStrides[k] = stride
                stride *= newShape[k]
            }
            oi = oEnd; ni = nEnd
        }
        guard oi == old.count else { return nil }
        return Layout(shape: newShape, strides: newStrides, offset: offset)
    }

    /// The description used in messages: the shape, and the strides and offset when not contiguous.
    public var description: String {
        isContiguous && offset == 0 ? "\(shape)" : "\(shape) strides \(strides) offset \(offset)"
    }
}

/// Shape arithmetic shared by every op.
public enum Shape {
    /// The NumPy broadcast of two shapes, or `nil` when an axis differs and neither extent is 1.
    public static func broadcast(_ a: [Int], _ b: [Int]) -> [Int]? {
        let rank = max(a.count, b.count)
        var result = [Int](repeating: 1, count: rank)
        for i in 0..<rank {
            let x = i < rank - a.count ? 1 : a[i - (rank - a.count)]
            let y = i < rank - b.count ? 1 : b[i - (rank - b.count)]
            if x == y || y == 1 { result[i] = x } else if x == 1 { result[i] = y } else { return nil }
        }
        return result
    }

    /// Steps a row-major multi-index to the next position of `shape` (wrapping to all zeros after the last).
    @inlinable
    public static func increment(_ index: inout [Int], within shape: [Int]) {
        var axis = shape.count - 1
        while axis >= 0 {
            index[axis] += 1
            if index[axis] < shape[axis] { return }
            index[axis] = 0
            axis -= 1
        }
    }

    /// `axis` made non-negative for a tensor of `rank` axes (Python-style negative axes count from the end).
    public static func normalize(axis: Int, rank: Int, op: String) -> Int {
        let a = axis < 0 ? axis + rank : axis
        require(a >= 0 && a < rank,
                     "\(op): axis \(axis) is out of range for a tensor of rank \(rank)")
        return a
    }
}
