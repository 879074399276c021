extension Tensor {
    /// The slices `indices[i]` of `axis`, in order: `out[…, i, …] = self[…, indices[i], …]` for 1-D integer
    /// `indices` (repeats allowed). The gradient adds back into the selected slices.
    public func indexSelect(axis: Int, indices: Tensor) -> Tensor {
        let a = Shape.normalize(axis: axis, rank: rank, op: "indexSelect")
        require(indices.rank == 1 && indices.dtype.isIndex, "indexSelect: indices must be 1-D int32 or int64, got \(indices.dtype) \(indices.shape)")
        OpCheck.sameDevice("indexSelect", [self, indices])
        OpCheck.supported(.indexSelect, dtype, on: device)
        var shape = self.shape
        shape[a] = indices.count
        let out = Tensor.uninitialized(shape, dtype: dtype, device: device)
        device.backend.indexSelect(view, indices: indices.view, axis: a, out: out.view)
        let inputShape = self.shape
        return out.recorded("indexSelect", [self]) { g in
            let dx = Tensor.zeros(inputShape, dtype: g.dtype, device: g.device)
            g.device.backend.indexAdd(g.view, indices: indices.view, axis: a, out: dx.view)
            return [dx]
        }
    }

    /// Elements picked along `axis` by `indices` (same rank, no larger elsewhere):
    /// `out[i][j] = self[i][indices[i][j]]` for `axis` 1. The gradient scatters back with addition.
    public func gather(axis: Int, indices: Tensor) -> Tensor {
        let a = Shape.normalize(axis: axis, rank: rank, op: "gather")
        require(indices.dtype.isIndex, "gather: indices must be int32 or int64, got \(indices.dtype)")
        OpCheck.sameDevice("gather", [self, indices])
        OpCheck.supported(.gather, dtype, on: device)
        let out = Tensor.uninitialized(indices.shape, dtype: dtype, device: device)
        device.backend.gather(view, indices: indices.view, axis: a, out: out.view)
        let inputShape = shape
        return out.recorded("gather", [self]) { g in
            let dx = Tensor.zeros(inputShape, dtype: g.dtype, device: g.device)
            g.device.backend.scatterAdd(g.view, indices: indices.view, axis: a, out: dx.view)
            return [dx]
        }
    }

    /// `self` with `source` added at `indices` along `axis` (`out[…][indices[i][j]] += source[i][j]`), out of
    /// place. Gradients flow to `self` unchanged and to `source` by gathering.
    public func scatterAdd(axis: Int, indices: Tensor, source: Tensor) -> Tensor {
        let a = Shape.normalize(axis: axis, rank: rank, op: "scatterAdd")
        require(indices.shape == source.shape, "scatterAdd: indices \(indices.shape) and source \(source.shape) differ")
        OpCheck.sameDevice("scatterAdd", [self, indices, source])
        OpCheck.supported(.scatterAdd, dtype, on: device)
        let src = source.to(dtype)
        let out = copied().detached()
        device.backend.scatterAdd(src.view, indices: indices.view, axis: a, out: out.view)
        return out.recorded("scatterAdd", [self, src]) { g in [g, g.gather(axis: a, indices: indices)] }
    }
}

/// Rows of `weight` (`[vocabulary, features]`) for each index: the result has shape `indices.shape +
/// [features]`. The backward pass adds gradients into the rows used (repeats accumulate).
public func embedding(_ indices: Tensor, weight: Tensor) -> Tensor {
    require(weight.rank == 2, "embedding: weight must be [vocabulary, features], got \(weight.shape)")
    let flat = indices.reshaped([indices.count])
    return weight.indexSelect(axis: 0, indices: flat).reshaped(indices.shape + [weight.shape[1]])
}
