import KilnCore

/// Runs a kernel over the 1-D rows of one axis of several same-shaped views: each row is converted into a
/// contiguous scratch array of the compute type, the kernel fills the output rows, and they are stored back.
enum RowEngine {
    /// For each row along `axis`, loads the rows of `inputs` (all with `outputs[0]`'s shape), calls
    /// `kernel(inputRows, outputRows, length, row)`, and stores the output rows; rows are numbered in row-major
    /// order of the other axes.
    static func forEachRow<T: CPUScalar>(
        _ type: T.Type, axis: Int, inputs: [BufferView], outputs: [BufferView],
        _ kernel: ([UnsafeMutablePointer<T>], [UnsafeMutablePointer<T>], Int, Int) -> Void
    ) {
        let views = inputs + outputs
        let n = views[0].shape[axis]
        let starts = views.map { CPUReduce.outerOffsets(removing: axis, from: $0.layout) }
        let strides = views.map { $0.layout.strides[axis] }
        let rows = starts[0].count
        let direct = views.indices.map { views[$0].dtype == T.storageDType && (strides[$0] == 1 || n <= 1) }
        Parallel.forEach(rows, grain: max(1, 8192 / max(n, 1))) { range in
            let scratch = (0..<views.count).map { _ in UnsafeMutablePointer<T>.allocate(capacity: max(n, 1)) }
            defer { scratch.forEach { $0.deallocate() } }
            var inputRows = Array(scratch[..<inputs.count]), outputRows = Array(scratch[inputs.count...])
            for row in range {
                // Contiguous rows already stored as T are used in place; the rest go through the scratch rows.
                for k in views.indices where direct[k] {
                    let p = views[k].base.assumingMemoryBound(to: T.self) + starts[k][row]
                    if k < inputs.count { inputRows[k] = p } else { outputRows[k - inputs.count] = p }
                }
                for k in inputs.indices where !direct[k] {
                    ElementAccess.load(views[k].dtype, views[k].base, start: starts[k][row], stride: strides[k],
                                       count: n, into: scratch[k])
                }
                kernel(inputRows, outputRows, n, row)
                for k in inputs.count..<views.count where !direct[k] {
                    ElementAccess.store(scratch[k], count: n, as: views[k].dtype, views[k].base,
                                        start: starts[k][row], stride: strides[k])
                }
            }
        }
    }
}

extension CPUReduce {
    /// The offsets of the rows along `axis`: one per position of the other axes, in row-major order.
    static func outerOffsets(removing axis: Int, from layout: Layout) -> [Int] {
        var shape = layout.shape, strides = layout.strides
        shape.remove(at: axis)
        strides.remove(at: axis)
        return outerOffsets(Layout(shape: shape, strides: strides, offset: layout.offset))
    }
}

/// Softmax and log-softmax along an axis, forward and backward.
enum CPUSoftmax {
    static func softmax(_ x: BufferView, axis: Int, log: Bool, out: BufferView) {
        switch ComputeDomain(x.dtype) {
        case .double: softmax(Double.self, x, axis, log, out)
        default: softmax(Float.self, x, axis, log, out)
        }
    }

    private static func softmax<F: CPUFloat>(_ type: F.Type, _ x: BufferView, _ axis: Int, _ log: Bool, _ out: BufferView) {
        RowEngine.forEachRow(F.self, axis: axis, inputs: [x], outputs: [out]) { input, output, n, _ in
            row(input[0], into: output[0], count: n, log: log)
        }
    }

    /// Softmax (or log-softmax) of the `n` values at `a` into `o`.
    @inline(__always)
    private static func row<F: CPUFloat>(_ a: UnsafeMutablePointer<F>, into o: UnsafeMutablePointer<F>, count n: Int, log: Bool) {
        var m = F.maximum(a, count: n)                     // NaN propagates into m
        if m == -F.infinity { m = 0 }                       // a row of -inf stays -inf / NaN, not NaN from inf-inf
        let total = F.exp(a, minus: m, into: o, count: n)
        if log {
            let logTotal = F.log(total)
            for i in 0..<n { o[i] = (a[i] - m) - logTotal }
        } else {
            let scale = 1 / total
            for i in 0..<n { o[i] *= scale }
        }
    }

    /// `Backend.causalSoftmax`: row `i` of each `[queries, keys]` matrix is the softmax of its first `i + 1` values
    /// followed by zeros, so the masked keys are neither read nor exponentiated.
    static func causal(_ x: BufferView, out: BufferView) {
        require(x.shape.count >= 2 && x.shape == out.shape,
                "causalSoftmax: needs [..., queries, keys] scores and an output of their shape, got \(x.shape) -> \(out.shape)")
        switch ComputeDomain(x.dtype) {
        case .double: causal(Double.self, x, out)
        default: causal(Float.self, x, out)
        }
    }

    private static func causal<F: CPUFloat>(_ type: F.Type, _ x: BufferView, _ out: BufferView) {
        let axis = x.shape.count - 1, queries = x.shape[axis - 1]
        RowEngine.forEachRow(F.self, axis: axis, inputs: [x], outputs: [out]) { input, output, n, index in
            let seen = min(index % queries + 1, n), o = output[0]
            row(input[0], into: o, count: seen, log: false)
            (o + seen).update(repeating: 0, count: n - seen)
        }
    }

    static func backward(output y: BufferView, gradient: BufferView, axis: Int, log: Bool, out: BufferView) {
        switch ComputeDomain(y.dtype) {
        case .double: backward(Double.self, y, gradient, axis, log, out)
        default: backward(Float.self, y, gradient, axis, log, out)
        }
    }

    private static func backward<F: CPUFloat>(_ type: F.Type, _ y: BufferView, _ gradient: BufferView, _ axis: Int,
                                              _ log: Bool, _ out: BufferView) {
        RowEngine.forEachRow(F.self, axis: axis, inputs: [y, gradient], outputs: [out]) { input, output, n, _ in
            let y = input[0], g = input[1], o = output[0]
            if log {
                // d x = g - softmax · Σg, with softmax = exp(y).
                let total = F.sum(g, count: n)
                F.exp(y, minus: 0, into: o, count: n)
                for i in 0..<n { o[i] = g[i] - o[i] * total }
            } else {
                // d x = y · (g - Σ y·g).
                let dot = F.dot(y, g, count: n)
                for i in 0..<n { o[i] = y[i] * (g[i] - dot) }
            }
        }
    }
}
