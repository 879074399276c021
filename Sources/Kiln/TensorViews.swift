extension Tensor {
    /// The same elements under `shape` (one extent may be -1, inferred): a view when the strides allow it,
    /// else a contiguous copy.
    public func reshaped(_ shape: [Int]) -> Tensor {
        let newShape = inferShape(shape)
        if newShape == self.shape { return self }
        let source = layout.reshaped(newShape) == nil ? contiguous() : self
        let original = self.shape
        return source.aliasing(source.layout.reshaped(newShape)!)
            .recorded("reshape", [source]) { g in [g.reshaped(original)] }
    }

    private func inferShape(_ shape: [Int]) -> [Int] {
        let unknown = shape.indices.filter { shape[$0] == -1 }
        require(unknown.count <= 1 && shape.allSatisfy { $0 >= -1 }, "reshape: invalid target shape \(shape)")
        guard let axis = unknown.first else { return shape }
        let known = shape.filter { $0 != -1 }.reduce(1, *)
        require(known > 0 && count % known == 0, "reshape: cannot infer -1 in \(shape) for \(count) elements of \(self.shape)")
        var result = shape
        result[axis] = count / known
        return result
    }

    /// The axes `start...end` merged into one (negative axes count from the end).
    public func flattened(start: Int = 0, end: Int = -1) -> Tensor {
        if rank == 0 { return reshaped([1]) }
        let s = Shape.normalize(axis: start, rank: rank, op: "flattened")
        let e = Shape.normalize(axis: end, rank: rank, op: "flattened")
        require(s <= e, "flattened: start axis \(start) is after end axis \(end)")
        return reshaped(Array(shape[..<s]) + [shape[s...e].reduce(1, *)] + Array(shape[(e + 1)...]))
    }

    /// A view with the axes reordered: axis `i` of the result is axis `axes[i]` of `self`.
    public func permuted(_ axes: [Int]) -> Tensor {
        let axes = axes.map { Shape.normalize(axis: $0, rank: rank, op: "permuted") }
        var inverse = [Int](repeating: 0, count: axes.count)
        for (i, a) in axes.enumerated() { inverse[a] = i }
        return aliasing(layout.permuted(axes)).recorded("permute", [self]) { g in [g.permuted(inverse)] }
    }

    /// A view with two axes swapped.
    public func transposed(_ a: Int, _ b: Int) -> Tensor {
        var axes = Array(0..<rank)
        axes.swapAt(Shape.normalize(axis: a, rank: rank, op: "transposed"), Shape.normalize(axis: b, rank: rank, op: "transposed"))
        return permuted(axes)
    }

    /// The matrix transpose: the last two axes swapped (a 1-D tensor is returned as is).
    public var T: Tensor { rank < 2 ? self : transposed(-1, -2) }

    /// A view of `start..<end` (every `step`-th element) along `axis`; negative bounds count from the end.
    public func sliced(axis: Int, start: Int = 0, end: Int? = nil, step: Int = 1) -> Tensor {
        let a = Shape.normalize(axis: axis, rank: rank, op: "sliced")
        let extent = shape[a]
        let lower = start < 0 ? start + extent : start
        let upper = end.map { $0 < 0 ? $0 + extent : $0 } ?? extent
        let input = self
        let part = { (full: Tensor) in full.aliasing(full.layout.sliced(axis: a, start: lower, end: upper, step: step)) }
        return aliasing(layout.sliced(axis: a, start: lower, end: upper, step: step))
            .recorded("slice", [self], viewedPart: part) { g in
                let full = Tensor.zeros(like: input)
                part(full).assign(g)
                return [full]
            }
    }

    /// A view broadcast to `shape` (extent-1 and missing leading axes repeat with stride 0).
    public func expanded(to shape: [Int]) -> Tensor {
        if shape == self.shape { return self }
        return aliasing(view(broadcastTo: shape, op: "expanded").layout)
            .recorded("expand", [self]) { [original = self.shape] g in [g.sumToShape(original)] }
    }

    /// A view without the axes of extent 1 (only `axis` when given).
    public func squeezed(axis: Int? = nil) -> Tensor {
        if let axis {
            let a = Shape.normalize(axis: axis, rank: rank, op: "squeezed")
            require(shape[a] == 1, "squeezed: axis \(axis) has extent \(shape[a]), not 1, in shape \(shape)")
            var newShape = shape
            newShape.remove(at: a)
            return reshaped(newShape)
        }
        return reshaped(shape.filter { $0 != 1 })
    }

    /// A view with a new axis of extent 1 at `axis` (which may be `rank`, or negative from the end).
    public func unsqueezed(axis: Int) -> Tensor {
        let a = axis < 0 ? axis + rank + 1 : axis
        require(a >= 0 && a <= rank, "unsqueezed: axis \(axis) is out of range for rank \(rank)")
        var newShape = shape
        newShape.insert(1, at: a)
        return reshaped(newShape)
    }

    /// The tensor with its elements in row-major order without gaps: `self` when it already is, else a copy.
    public func contiguous() -> Tensor {
        if isContiguous { return self }
        let result = Tensor.uninitialized(shape, dtype: dtype, device: device)
        device.backend.copy(view, to: result.view)
        return result.recorded("contiguous", [self]) { g in [g] }
    }

    /// A contiguous copy that shares nothing with `self` (differentiable).
    public func copied() -> Tensor {
        let result = Tensor.uninitialized(shape, dtype: dtype, device: device)
        device.backend.copy(view, to: result.view)
        return result.recorded("copy", [self]) { g in [g] }
    }

    /// Overwrites this tensor's elements (a view writes into the tensor it views) with `source`, broadcast to
    /// this shape and converted to this dtype. Not recorded: use on tensors outside gradient computation.
    public func assign(_ source: Tensor) {
        OpCheck.sameDevice("assign", [self, source])
        require(!(requiresGrad && Autograd.isEnabled && isLeaf),
                     "assign: in-place write to a leaf that requires a gradient; wrap it in noGrad { }")
        device.backend.copy(source.view(broadcastTo: shape, op: "assign"), to: view)
    }

    /// The gradient `g` (of a broadcast result) summed back to `shape`.
    func sumToShape(_ target: [Int]) -> Tensor {
        if shape == target { return self }
        let lead = rank - target.count
        require(lead >= 0, "sumToShape: \(shape) cannot reduce to \(target)")
        var axes = Array(0..<lead)
        for (i, extent) in target.enumerated() where extent == 1 && shape[lead + i] != 1 { axes.append(lead + i) }
        let summed = axes.isEmpty ? self : sum(axes: axes, keepDims: true)
        return summed.reshaped(target)
    }
}
