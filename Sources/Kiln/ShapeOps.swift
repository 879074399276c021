/// The tensors joined along an existing `axis`; all other extents must agree.
public func concat(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
    require(!tensors.isEmpty, "concat: no tensors")
    let first = tensors[0]
    OpCheck.sameDevice("concat", tensors)
    let a = Shape.normalize(axis: axis, rank: first.rank, op: "concat")
    let dtype = tensors.dropFirst().reduce(first.dtype) { $0.promoted(with: $1.dtype) }
    for t in tensors {
        var expected = first.shape, found = t.shape
        guard t.rank == first.rank else { fatalError("concat: shapes \(first.shape) and \(t.shape) differ in rank") }
        expected[a] = 0; found[a] = 0
        require(expected == found, "concat: shapes \(first.shape) and \(t.shape) differ outside axis \(a)")
    }
    var shape = first.shape
    shape[a] = tensors.map { $0.shape[a] }.reduce(0, +)
    let out = Tensor.uninitialized(shape, dtype: dtype, device: first.device)
    var start = 0
    var bounds: [Range<Int>] = []
    for t in tensors {
        let range = start..<(start + t.shape[a])
        out.device.backend.copy(t.view, to: out.view.with(layout: out.layout.sliced(axis: a, start: range.lowerBound, end: range.upperBound)))
        bounds.append(range)
        start = range.upperBound
    }
    return out.recorded("concat", tensors) { g in
        bounds.map { g.sliced(axis: a, start: $0.lowerBound, end: $0.upperBound) }
    }
}

/// The tensors (all of one shape) stacked along a new `axis`.
public func stack(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
    require(!tensors.isEmpty, "stack: no tensors")
    for t in tensors where t.shape != tensors[0].shape {
        fatalError("stack: shapes \(tensors[0].shape) and \(t.shape) differ")
    }
    return concat(tensors.map { $0.unsqueezed(axis: axis) }, axis: axis)
}

extension Tensor {
    /// Views of consecutive pieces along `axis` with the given extents (which must add up to the axis).
    public func split(sizes: [Int], axis: Int = 0) -> [Tensor] {
        let a = Shape.normalize(axis: axis, rank: rank, op: "split")
        require(sizes.allSatisfy { $0 >= 0 } && sizes.reduce(0, +) == shape[a],
                     "split: sizes \(sizes) do not add up to extent \(shape[a]) of axis \(axis) in \(shape)")
        var start = 0
        return sizes.map { size in
            defer { start += size }
            return sliced(axis: a, start: start, end: start + size)
        }
    }

    /// `parts` equal views along `axis` (the extent must divide evenly).
    public func split(parts: Int, axis: Int = 0) -> [Tensor] {
        let a = Shape.normalize(axis: axis, rank: rank, op: "split")
        require(parts > 0 && shape[a] % parts == 0, "split: axis \(axis) of extent \(shape[a]) does not split into \(parts) equal parts")
        return split(sizes: Array(repeating: shape[a] / parts, count: parts), axis: a)
    }
}

/// One-hot rows: `indices` of any shape become `indices.shape + [classes]`, 1 at each index and 0 elsewhere.
public func oneHot(_ indices: Tensor, classes: Int, dtype: DType = .float32) -> Tensor {
    require(!indices.dtype.isFloatingPoint, "oneHot: indices must be integers, got \(indices.dtype)")
    if indices.count > 0 {
        let (low, high) = (indices.min().item(Int64.self), indices.max().item(Int64.self))
        require(low >= 0 && high < classes, "oneHot: indices span \(low)...\(high), outside 0..<\(classes)")
    }
    let range = Tensor.arange(0, Double(classes), dtype: indices.dtype, device: indices.device)
    return (indices.unsqueezed(axis: -1) .== range).to(dtype)
}
