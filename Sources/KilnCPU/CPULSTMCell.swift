import KilnCore

/// The fused LSTM cell, forward and backward: one pass over each row's gates (i, f, g, o) and cell state,
/// sixteen float32 lanes at a time (`VectorMath.lstmCell`, the last units of a row and Float64 element by element).
enum CPULSTMCell {
    static func forward(gates: BufferView, cell: BufferView, activationsOut: BufferView, hiddenOut: BufferView, cellOut: BufferView) {
        LSTMCellShapes.checkForward(gates: gates, cell: cell, activationsOut: activationsOut, hiddenOut: hiddenOut, cellOut: cellOut)
        if cellOut.dtype == .float64 {
            forward(Double.self, gates, cell, activationsOut, hiddenOut, cellOut)
        } else {
            forward(Float.self, gates, cell, activationsOut, hiddenOut, cellOut)
        }
    }

    static func backward(activations: BufferView, cell: BufferView, cellOut: BufferView, hiddenGradient: BufferView,
                         cellOutGradient: BufferView, gatesGradient: BufferView, cellGradient: BufferView) {
        LSTMCellShapes.checkBackward(activations: activations, states: [cell, cellOut, hiddenGradient, cellOutGradient, cellGradient],
                                     gatesGradient: gatesGradient)
        if gatesGradient.dtype == .float64 {
            backward(Double.self, activations, cell, cellOut, hiddenGradient, cellOutGradient, gatesGradient, cellGradient)
        } else {
            backward(Float.self, activations, cell, cellOut, hiddenGradient, cellOutGradient, gatesGradient, cellGradient)
        }
    }

    private static func forward<F: CPUFloat>(_ type: F.Type, _ gates: BufferView, _ cell: BufferView, _ activationsOut: BufferView,
                                             _ hiddenOut: BufferView, _ cellOut: BufferView) {
        let n = cell.shape[1]
        forEachRow(F.self, inputs: [gates, cell], outputs: [activationsOut, hiddenOut, cellOut], grain: max(1, 1024 / max(n, 1))) { b, input, output in
            forwardRow(b, count: n, gates: input[0], cell: input[1], activations: output[0], hidden: output[1], cellOut: output[2])
        }
    }

    /// Row `b` of the cell over `n` units: its gates and activations at `4·b·n` (the activations may be the gates),
    /// its states at `b·n`.
    @inline(__always)
    static func forwardRow<F: CPUFloat>(_ b: Int, count n: Int, gates: UnsafePointer<F>, cell: UnsafePointer<F>,
                                        activations: UnsafeMutablePointer<F>, hidden: UnsafeMutablePointer<F>,
                                        cellOut: UnsafeMutablePointer<F>) {
        let (ab, cb, sb, hb, c2b) = (gates + 4 * b * n, cell + b * n, activations + 4 * b * n, hidden + b * n, cellOut + b * n)
        let done = F.self == Float.self
            ? VectorMath.lstmCell(gates: rebound(ab), cell: rebound(cb), activations: rebound(sb), hidden: rebound(hb),
                                  cellOut: rebound(c2b), count: n) : 0
        for j in done..<n {
            let (i, f, g, o) = (CPUElementwise.sigmoid(ab[j]), CPUElementwise.sigmoid(ab[n + j]), F.tanh(ab[2 * n + j]),
                                CPUElementwise.sigmoid(ab[3 * n + j]))
            (sb[j], sb[n + j], sb[2 * n + j], sb[3 * n + j]) = (i, f, g, o)
            c2b[j] = f * cb[j] + i * g
            hb[j] = o * F.tanh(c2b[j])
        }
    }

    private static func backward<F: CPUFloat>(_ type: F.Type, _ activations: BufferView, _ cell: BufferView, _ cellOut: BufferView,
                                              _ hiddenGradient: BufferView, _ cellOutGradient: BufferView,
                                              _ gatesGradient: BufferView, _ cellGradient: BufferView) {
        let n = cell.shape[1]
        forEachRow(F.self, inputs: [activations, cell, cellOut, hiddenGradient, cellOutGradient], outputs: [gatesGradient, cellGradient],
                   grain: max(1, 1024 / max(n, 1))) { b, input, output in
            backwardRow(b, count: n, activations: input[0], cell: input[1], cellOut: input[2], hiddenGradient: input[3],
                        cellOutGradient: input[4], gatesGradient: output[0], cellGradient: output[1])
        }
    }

    /// Row `b` of the cell's backward over `n` units: activations and gates' gradients at `4·b·n`, states and their
    /// gradients at `b·n`.
    @inline(__always)
    static func backwardRow<F: CPUFloat>(_ b: Int, count n: Int, activations: UnsafePointer<F>, cell: UnsafePointer<F>,
                                         cellOut: UnsafePointer<F>, hiddenGradient: UnsafePointer<F>,
                                         cellOutGradient: UnsafePointer<F>, gatesGradient: UnsafeMutablePointer<F>,
                                         cellGradient: UnsafeMutablePointer<F>) {
        let (sb, dab) = (activations + 4 * b * n, gatesGradient + 4 * b * n)
        let (cb, c2b, dhb, dc2b, dcb) = (cell + b * n, cellOut + b * n, hiddenGradient + b * n, cellOutGradient + b * n, cellGradient + b * n)
        let done = F.self != Float.self ? 0
            : VectorMath.lstmCellBackward(activations: rebound(sb), cell: rebound(cb), cellOut: rebound(c2b),
                                          hiddenGradient: rebound(dhb), cellOutGradient: rebound(dc2b),
                                          gatesGradient: rebound(dab), cellGradient: rebound(dcb), count: n)
        for j in done..<n {
            let (i, f, g, o) = (sb[j], sb[n + j], sb[2 * n + j], sb[3 * n + j])
            let t = F.tanh(c2b[j])
            let total = dc2b[j] + dhb[j] * o * (1 - t * t)
            dab[j] = total * g * i * (1 - i)
            dab[n + j] = total * cb[j] * f * (1 - f)
            dab[2 * n + j] = total * i * (1 - g * g)
            dab[3 * n + j] = dhb[j] * t * o * (1 - o)
            dcb[j] = total * f
        }
    }

    /// Runs `body(row, inputs, outputs)` for each row (the first axis) in parallel, over contiguous `F` copies of
    /// the inputs and outputs (the views' own memory where they already are).
    private static func forEachRow<F: CPUFloat>(_ type: F.Type, inputs: [BufferView], outputs: [BufferView], grain: Int,
                                                _ body: (Int, [UnsafePointer<F>], [UnsafeMutablePointer<F>]) -> Void) {
        withContiguous(inputs[...]) { (input: [UnsafePointer<F>]) in
            withOutputs(outputs[...]) { output in
                Parallel.forEach(outputs[0].shape[0], grain: grain) { rows in
                    for b in rows { body(b, input, output) }
                }
            }
        }
    }

    private static func withContiguous<F: CPUFloat>(_ views: ArraySlice<BufferView>, _ body: ([UnsafePointer<F>]) -> Void) {
        guard let first = views.first else { return body([]) }
        ElementwiseEngine.withContiguous(first, as: F.self) { p in withContiguous(views.dropFirst()) { body([p] + $0) } }
    }

    private static func withOutputs<F: CPUFloat>(_ views: ArraySlice<BufferView>, _ body: ([UnsafeMutablePointer<F>]) -> Void) {
        guard let first = views.first else { return body([]) }
        ElementwiseEngine.withOutput(first, as: F.self) { p in withOutputs(views.dropFirst()) { body([p] + $0) } }
    }

    /// The same memory as `Float` (for `F` known to be `Float`).
    @inline(__always)
    private static func rebound<F>(_ p: UnsafePointer<F>) -> UnsafePointer<Float> {
        UnsafeRawPointer(p).assumingMemoryBound(to: Float.self)
    }

    /// The same memory as `Float` (for `F` known to be `Float`).
    @inline(__always)
    private static func rebound<F>(_ p: UnsafeMutablePointer<F>) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self)
    }
}
