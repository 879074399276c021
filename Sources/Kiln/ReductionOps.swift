extension Tensor {
    /// Runs a reduction on the device over `axes` (all when empty), keeping reduced axes as extent 1.
    private func reduceOp(_ op: ReduceOp, _ axes: [Int]) -> (kept: Tensor, axes: [Int]) {
        let axes = axes.isEmpty ? Array(0..<rank) : OpCheck.axes(axes, rank: rank, op: op.name)
        let input = dtype.isFloatingPoint || op == .sum || op == .max || op == .min ? self : to(.float32)
        OpCheck.supported(.reduce(op), input.dtype, on: device)
        var keptShape = shape
        for a in axes { keptShape[a] = 1 }
        let resultType: DType = op == .sum && !dtype.isFloatingPoint ? .int64 : input.dtype
        let out = Tensor.uninitialized(keptShape, dtype: resultType, device: device)
        device.backend.reduce(op, input.view, axes: axes, out: out.view)
        return (out, axes)
    }

    /// The reduced result with or without the reduced axes, recorded with `backward` (which receives the
    /// gradient reshaped to the kept-axes form).
    private func finish(_ kept: Tensor, _ axes: [Int], keepDims: Bool, _ op: String,
                        _ backward: @escaping (Tensor) -> Tensor) -> Tensor {
        let keptShape = kept.shape
        let recorded = kept.recorded(op, [self]) { g in [backward(g)] }
        if keepDims { return recorded }
        return recorded.reshaped(keptShape.enumerated().filter { !axes.contains($0.offset) }.map(\.element))
    }

    /// The sum over `axes` (every axis when empty); integers sum as `int64`.
    public func sum(axes: [Int] = [], keepDims: Bool = false) -> Tensor {
        let (kept, axes) = reduceOp(.sum, axes)
        return finish(kept, axes, keepDims: keepDims, "sum") { [shape] g in g.expanded(to: shape) }
    }

    /// The sum over one axis.
    public func sum(axis: Int, keepDims: Bool = false) -> Tensor { sum(axes: [axis], keepDims: keepDims) }

    /// The mean over `axes` (every axis when empty); integers average as `float32`.
    public func mean(axes: [Int] = [], keepDims: Bool = false) -> Tensor {
        let (kept, axes) = reduceOp(.mean, axes)
        let n = Double(axes.map { shape[$0] }.reduce(1, *))
        return finish(kept, axes, keepDims: keepDims, "mean") { [shape] g in g.expanded(to: shape) / n }
    }

    /// The mean over one axis.
    public func mean(axis: Int, keepDims: Bool = false) -> Tensor { mean(axes: [axis], keepDims: keepDims) }

    /// The largest element over `axes` (every axis when empty); the gradient is shared among ties.
    public func max(axes: [Int] = [], keepDims: Bool = false) -> Tensor { extreme(.max, axes, keepDims) }

    /// The largest element along one axis.
    public func max(axis: Int, keepDims: Bool = false) -> Tensor { max(axes: [axis], keepDims: keepDims) }

    /// The smallest element over `axes` (every axis when empty); the gradient is shared among ties.
    public func min(axes: [Int] = [], keepDims: Bool = false) -> Tensor { extreme(.min, axes, keepDims) }

    /// The smallest element along one axis.
    public func min(axis: Int, keepDims: Bool = false) -> Tensor { min(axes: [axis], keepDims: keepDims) }

    private func extreme(_ op: ReduceOp, _ axes: [Int], _ keepDims: Bool) -> Tensor {
        require(count > 0, "\(op.name): reducing an empty tensor of shape \(shape) has no identity")
        let (kept, axes) = reduceOp(op, axes)
        let input = self, result = kept.detached()
        return finish(kept, axes, keepDims: keepDims, op.name) { g in
            let mask = (input .== result).to(g.dtype)
            return g * mask / mask.sum(axes: axes, keepDims: true)
        }
    }

    /// The variance over `axes` (every axis when empty), dividing by `count - ddof`.
    public func variance(axes: [Int] = [], keepDims: Bool = false, ddof: Int = 0) -> Tensor {
        let (kept, axes) = reduceOp(.variance(correction: ddof), axes)
        let n = Double(axes.map { shape[$0] }.reduce(1, *))
        let input = self
        return finish(kept, axes, keepDims: keepDims, "variance") { g in
            let centered = input - input.mean(axes: axes, keepDims: true)
            return g * centered * (2 / (n - Double(ddof)))
        }
    }

    /// The standard deviation over `axes`, dividing by `count - ddof`.
    public func std(axes: [Int] = [], keepDims: Bool = false, ddof: Int = 0) -> Tensor {
        variance(axes: axes, keepDims: keepDims, ddof: ddof).sqrt()
    }

    /// The `int64` index of the largest element along `axis` (the first on ties; NaN counts as largest).
    public func argMax(axis: Int, keepDims: Bool = false) -> Tensor { argReduce(.argmax, axis, keepDims) }

    /// The `int64` index of the smallest element along `axis` (the first on ties; NaN counts as smallest).
    public func argMin(axis: Int, keepDims: Bool = false) -> Tensor { argReduce(.argmin, axis, keepDims) }

    private func argReduce(_ op: ArgReduceOp, _ axis: Int, _ keepDims: Bool) -> Tensor {
        let a = Shape.normalize(axis: axis, rank: rank, op: op.rawValue)
        require(shape[a] > 0, "\(op.rawValue): axis \(axis) of shape \(shape) is empty")
        OpCheck.supported(.argReduce(op), dtype, on: device)
        var keptShape = shape
        keptShape[a] = 1
        let out = Tensor.uninitialized(keptShape, dtype: .int64, device: device)
        device.backend.argReduce(op, view, axis: a, out: out.view)
        return keepDims ? out : out.squeezed(axis: a)
    }

    /// Softmax along `axis`, max-subtracted.
    public func softmax(axis: Int = -1) -> Tensor { softmaxOp(axis, log: false) }

    /// Log-softmax along `axis`.
    public func logSoftmax(axis: Int = -1) -> Tensor { softmaxOp(axis, log: true) }

    /// Softmax over the last axis of attention scores `[…, queries, keys]` in which query `i` attends to keys
    /// `0...i` only, the later keys getting weight 0 (PyTorch's `is_causal`, aligned at the first key). A backend
    /// with a fused kernel (the CPU's) neither masks nor exponentiates the hidden keys; on another the scores are
    /// masked with `causalMask` and passed to `softmax`.
    public func causalSoftmax() -> Tensor {
        require(rank >= 2, "causalSoftmax: needs [..., queries, keys] scores, got shape \(shape)")
        OpCheck.floatingPoint("causalSoftmax", self)
        OpCheck.supported(.softmax, dtype, on: device)
        // The output offered to the backend is released before the masked path runs where it goes unused, so that
        // path holds no extra scores-sized buffer.
        let fused: Tensor? = {
            let out = Tensor.uninitialized(shape, dtype: dtype, device: device)
            return device.backend.causalSoftmax(view, out: out.view) ? out : nil
        }()
        guard let fused else {
            return (self + Tensor.causalMask(queries: shape[rank - 2], keys: shape[rank - 1], dtype: dtype, device: device))
                .softmax(axis: -1)
        }
        return fused.recordedSoftmax("causalSoftmax", of: self, axis: rank - 1, log: false)
    }

    /// `[queries, keys]`: 0 where key `j ≤ offset +` query `i`, −∞ after (the mask `causalSoftmax` applies, with
    /// `offset` 0; with `offset` cached positions before the first query, the mask of attention through a `KVCache`).
    public static func causalMask(queries: Int, keys: Int, offset: Int = 0, dtype: DType = .float32,
                                  device: Device = .default) -> Tensor {
        let values = (0..<(queries * keys)).map { $0 % keys > $0 / keys + offset ? -Double.infinity : 0 }
        return Tensor(values, shape: [queries, keys], device: device).to(dtype)
    }

    private func softmaxOp(_ axis: Int, log: Bool) -> Tensor {
        let a = Shape.normalize(axis: axis, rank: rank, op: log ? "logSoftmax" : "softmax")
        OpCheck.floatingPoint(log ? "logSoftmax" : "softmax", self)
        OpCheck.supported(log ? .logSoftmax : .softmax, dtype, on: device)
        let out = Tensor.uninitialized(shape, dtype: dtype, device: device)
        device.backend.softmax(view, axis: a, log: log, out: out.view)
        return out.recordedSoftmax(log ? "logSoftmax" : "softmax", of: self, axis: a, log: log)
    }

    /// This softmax (or log-softmax) output of `input` along `axis`, recorded with its backward.
    private func recordedSoftmax(_ op: String, of input: Tensor, axis: Int, log: Bool) -> Tensor {
        let y = detached()
        return recorded(op, [input]) { g in
            OpCheck.supported(.softmaxBackward, g.dtype, on: g.device)
            let dx = Tensor.uninitialized(g.shape, dtype: g.dtype, device: g.device)
            g.device.backend.softmaxBackward(output: y.view, gradient: g.view, axis: axis, log: log, out: dx.view)
            return [dx]
        }
    }
}

/// Softmax along `axis`.
public func softmax(_ x: Tensor, axis: Int = -1) -> Tensor { x.softmax(axis: axis) }

/// Log-softmax along `axis`.
public func logSoftmax(_ x: Tensor, axis: Int = -1) -> Tensor { x.logSoftmax(axis: axis) }
