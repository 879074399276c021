extension Tensor {
    /// The matrix product with NumPy semantics: 1-D operands are promoted to a row (left) or column (right)
    /// vector and the extra axis dropped again; leading batch axes broadcast.
    public func matmul(_ other: Tensor) -> Tensor {
        OpCheck.sameDevice("matmul", [self, other])
        require(rank >= 1 && other.rank >= 1, "matmul: scalars have no matrix product (shapes \(shape) and \(other.shape))")
        if rank == 1 && other.rank == 1 {
            require(count == other.count, "matmul: vectors of lengths \(count) and \(other.count)")
            return unsqueezed(axis: 0).matmul(other.unsqueezed(axis: 1)).reshaped([])
        }
        if rank == 1 { return unsqueezed(axis: 0).matmul(other).squeezed(axis: -2) }
        if other.rank == 1 { return matmul(other.unsqueezed(axis: 1)).squeezed(axis: -1) }
        let (m, k) = (shape[rank - 2], shape[rank - 1])
        let (k2, n) = (other.shape[other.rank - 2], other.shape[other.rank - 1])
        require(k == k2, "matmul: shapes \(shape) and \(other.shape) are incompatible (inner dimensions \(k) and \(k2))")
        guard let batch = Shape.broadcast(Array(shape.dropLast(2)), Array(other.shape.dropLast(2))) else {
            fatalError("matmul: batch dimensions of \(shape) and \(other.shape) cannot be broadcast")
        }
        let dtype = self.dtype.promoted(with: other.dtype)
        require(dtype.isFloatingPoint, "matmul: needs floating-point operands, got \(self.dtype) and \(other.dtype)")
        let (a, b) = (to(dtype), other.to(dtype))
        OpCheck.supported(.matmul, dtype, on: device)
        let out = Tensor.uninitialized(batch + [m, n], dtype: dtype, device: device)
        Tensor.gemm(a, b, batch: batch, m: m, n: n, k: k, out: out)
        return out.recorded("matmul", [a, b]) { g in
            // Both products below read `g`: one whose batch axes do not merge (the permuted gradient of attention's
            // heads) is copied once here rather than by each.
            let g = g.layout.reshaped([batch.reduce(1, *), m, n]) == nil ? g.contiguous() : g
            // dA = g·Bᵀ, dB = Aᵀ·g, each only when it flows somewhere (a network's input takes none); a 2-D
            // right operand takes the whole batch as rows of one product. A gradient for a transposed view
            // (a Linear layer's Wᵀ) is computed transposed, (Bᵀ)ᵀ-wise, so that it reaches the weight contiguous.
            let ga = !a.requiresGrad ? nil : a.isTransposedView ? b.matmul(g.T).T : g.matmul(b.T)
            let (rows, columns) = b.rank == 2 && a.rank > 2 ? (a.reshaped([-1, k]), g.reshaped([-1, n])) : (a, g)
            let gb = !b.requiresGrad ? nil : b.isTransposedView ? columns.T.matmul(rows).T : rows.T.matmul(columns)
            return [ga, gb]
        }
    }

    /// Runs the backend's rank-3 product for broadcast batch dimensions, folding a batch that only the left
    /// operand has into its rows when the layout allows (one large GEMM instead of many small ones).
    private static func gemm(_ a: Tensor, _ b: Tensor, batch: [Int], m: Int, n: Int, k: Int, out: Tensor) {
        let count = batch.reduce(1, *)
        let backend = a.device.backend
        if b.rank == 2, let rows = a.layout.reshaped([count * m, k]) {
            let left = a.view.with(layout: Layout(shape: [1] + rows.shape, strides: [0] + rows.strides, offset: rows.offset))
            let right = b.view.with(layout: Layout(shape: [1, k, n], strides: [0] + b.strides, offset: b.layout.offset))
            backend.matmul(left, right, out: out.view.with(layout: Layout(contiguous: [1, count * m, n])), alpha: 1, beta: 0)
            return
        }
        // An operand whose batch axes do not fold into one stride (a head of a permuted `[batch, time, heads, size]`)
        // is copied. A transposed one (an attention's `kᵀ`) is copied as the matrix it transposes, so that the
        // copy moves contiguous runs rather than gathering each element, and the backend reads it transposed.
        func folded(_ t: Tensor, _ rows: Int, _ columns: Int) -> BufferView {
            let full = t.layout.broadcast(to: batch + [rows, columns])!
            if let layout = full.reshaped([count, rows, columns]) { return t.view.with(layout: layout) }
            if t.isTransposedView {
                let copy = noGrad { t.T.expanded(to: batch + [columns, rows]).contiguous() }
                return copy.view.with(layout: Layout(shape: [count, rows, columns], strides: [rows * columns, 1, rows], offset: 0))
            }
            let copy = noGrad { t.expanded(to: batch + [rows, columns]).contiguous() }
            return copy.view.with(layout: Layout(contiguous: [count, rows, columns]))
        }
        backend.matmul(folded(a, m, k), folded(b, k, n), out: out.view.with(layout: Layout(contiguous: [count, m, n])),
                       alpha: 1, beta: 0)
    }
}

/// The matrix product of `a` and `b` (see `Tensor.matmul(_:)`).
public func matmul(_ a: Tensor, _ b: Tensor) -> Tensor { a.matmul(b) }

/// The affine map `x·weightᵀ + bias` over the last axis of `x`, as PyTorch's `F.linear`: `weight` is
/// `[outputFeatures, inputFeatures]`, `bias` `[outputFeatures]`. When the operands share a floating-point dtype and
/// `x`'s rows are one strided matrix, the backend adds the bias as it stores the product (one pass over the output
/// instead of two); otherwise it is `x.matmul(weight.T) + bias`.
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
    guard let bias, x.rank >= 2, weight.rank == 2, bias.shape == [weight.shape[0]], x.shape[x.rank - 1] == weight.shape[1],
          x.dtype.isFloatingPoint, x.dtype == weight.dtype, x.dtype == bias.dtype,
          let rows = x.layout.reshaped([x.count / max(weight.shape[1], 1), weight.shape[1]]) else {
        let y = x.matmul(weight.T)
        return bias.map { y + $0 } ?? y
    }
    OpCheck.sameDevice("linear", [x, weight, bias])
    OpCheck.supported(.matmul, x.dtype, on: x.device)
    let (k, n) = (weight.shape[1], weight.shape[0])
    let out = Tensor.uninitialized(Array(x.shape.dropLast()) + [n], dtype: x.dtype, device: x.device)
    func single(_ t: Tensor, _ layout: Layout) -> BufferView {
        t.view.with(layout: Layout(shape: [1] + layout.shape, strides: [0] + layout.strides, offset: layout.offset))
    }
    x.device.backend.matmul(single(x, rows), single(weight, weight.T.layout), bias: bias.view,
                            out: out.view.with(layout: Layout(contiguous: [1, rows.shape[0], n])))
    return out.recorded("linear", [x, weight, bias]) { g in
        // As `matmul`'s backward for x·Wᵀ: dx = g·W, dW = gᵀ·x over all rows (contiguous, as W is); db sums g's rows.
        let gradientRows = g.reshaped([-1, n])
        return [x.requiresGrad ? g.matmul(weight) : nil,
                weight.requiresGrad ? gradientRows.T.matmul(x.reshaped([-1, k])) : nil,
                bias.requiresGrad ? gradientRows.sum(axes: [0]) : nil]
    }
}

extension Tensor {
    /// Whether the last two axes are stored column-major (a transpose of a row-major matrix), so that a gradient
    /// laid out the same way is its source's row-major gradient.
    fileprivate var isTransposedView: Bool {
        rank >= 2 && strides[rank - 2] == 1 && strides[rank - 1] != 1 && shape[rank - 1] > 1 && shape[rank - 2] > 1
    }
}
