import KilnCore

/// The CPU's LSTM recurrence (`Backend.lstmRecurrence`): the batch is split into one block of rows per thread, and
/// each thread runs every step on its own rows, its product into its gates and then its cells, single-threaded. The
/// threads meet once per layer and direction instead of after each step's product and cell, four times per step.
/// A batch too small to split goes step by step, with each product and cell threaded.
enum CPULSTMRecurrence {
    static func forward(on backend: CPUBackend, gates: BufferView, transposedWeightHH: BufferView, states: BufferView) {
        LSTMSteps.check(gates: gates, weight: transposedWeightHH, states: states, transposed: true)
        guard let blocks = blocks(states) else {
            return LSTMSteps.forward(on: backend, gates: gates, transposedWeightHH: transposedWeightHH, states: states)
        }
        if states.dtype == .float64 {
            forward(Double.self, gates, transposedWeightHH, states, blocks)
        } else {
            forward(Float.self, gates, transposedWeightHH, states, blocks)
        }
    }

    static func backward(on backend: CPUBackend, activations: BufferView, states: BufferView, weightHH: BufferView,
                         stateGradients: BufferView, gatesGradient: BufferView, hiddenGradient: BufferView,
                         cellGradient: BufferView, scratch: BufferView) {
        LSTMSteps.check(gates: activations, weight: weightHH, states: states, transposed: false)
        let outputs = [gatesGradient, hiddenGradient, cellGradient, scratch]
        guard let blocks = blocks(states), stateGradients.shape == states.shape,
              ([stateGradients] + outputs).allSatisfy({ $0.dtype == states.dtype && $0.layout.isContiguous }) else {
            return LSTMSteps.backward(on: backend, activations: activations, states: states, weightHH: weightHH,
                                      stateGradients: stateGradients, gatesGradient: gatesGradient, hiddenGradient: hiddenGradient,
                                      cellGradient: cellGradient, scratch: scratch)
        }
        if states.dtype == .float64 {
            backward(Double.self, activations, states, weightHH, stateGradients, outputs, blocks)
        } else {
            backward(Float.self, activations, states, weightHH, stateGradients, outputs, blocks)
        }
    }

    /// The number of row blocks, one per thread, when the states are float32 or float64 (the gates share their dtype)
    /// and the batch has at least two rows per thread; else `nil`.
    private static func blocks(_ states: BufferView) -> Int? {
        let batch = states.shape[2]
        guard states.dtype == .float32 || states.dtype == .float64, Parallel.threadCount > 1,
              batch >= 2 * Parallel.threadCount else { return nil }
        return Parallel.threadCount
    }

    /// Runs `body(rows)` for each of `count` blocks of the batch's rows, one per thread.
    private static func forEachBlock(_ count: Int, batch: Int, _ body: (Range<Int>) -> Void) {
        Parallel.forEach(count, grain: 1) { blocks in
            for block in blocks { body(batch * block / count ..< batch * (block + 1) / count) }
        }
    }

    /// A `[rows, columns]` block of contiguous `F` elements at `p` as the GEMM's matrix.
    private static func matrix<F: CPUFloat>(_ p: UnsafeMutablePointer<F>, columns: Int) -> CPUGemm.Matrix {
        CPUGemm.Matrix(base: UnsafeMutableRawPointer(p), dtype: F.storageDType, offset: 0, rowStride: columns, columnStride: 1)
    }

    /// A rank-3 `[1, rows, columns]` weight view as the GEMM's matrix.
    private static func matrix(_ weight: BufferView) -> CPUGemm.Matrix {
        CPUGemm.Matrix(base: weight.base, dtype: weight.dtype, offset: weight.layout.offset,
                       rowStride: weight.layout.strides[1], columnStride: weight.layout.strides[2])
    }

    private static func forward<F: CPUFloat>(_ type: F.Type, _ gatesView: BufferView, _ weightView: BufferView,
                                             _ statesView: BufferView, _ blocks: Int) {
        let (time, batch, n) = (gatesView.shape[0], gatesView.shape[1], statesView.shape[3])
        let weight = matrix(weightView)
        ElementwiseEngine.withOutput(gatesView, as: F.self, preserving: true) { gates in
            ElementwiseEngine.withOutput(statesView, as: F.self, preserving: true) { states in
                // Hidden state t at `hidden + t·batch·n`, cell state t at `cell + t·batch·n`, gates of step t at
                // `gates + t·batch·4n`.
                let hidden = states, cell = states + (time + 1) * batch * n
                forEachBlock(blocks, batch: batch) { rows in
                    for t in 0..<time {
                        let stepGates = gates + t * batch * 4 * n
                        CPUGemm.gemm(F.self, m: rows.count, n: 4 * n, k: n, alpha: 1,
                                     a: matrix(hidden + (t * batch + rows.lowerBound) * n, columns: n), b: weight, beta: 1,
                                     c: stepGates + rows.lowerBound * 4 * n, threaded: false)
                        for b in rows {
                            CPULSTMCell.forwardRow(b, count: n, gates: stepGates, cell: cell + t * batch * n, activations: stepGates,
                                                   hidden: hidden + (t + 1) * batch * n, cellOut: cell + (t + 1) * batch * n)
                        }
                    }
                }
            }
        }
    }

    private static func backward<F: CPUFloat>(_ type: F.Type, _ activationsView: BufferView, _ statesView: BufferView,
                                              _ weightView: BufferView, _ gradientsView: BufferView, _ outputs: [BufferView],
                                              _ blocks: Int) {
        let (time, batch, n) = (activationsView.shape[0], activationsView.shape[1], statesView.shape[3])
        let weight = matrix(weightView)
        @inline(__always) func pointer(_ view: BufferView) -> UnsafeMutablePointer<F> {
            view.base.assumingMemoryBound(to: F.self) + view.layout.offset
        }
        let (gatesGradient, hiddenGradient, cellGradient, scratch) = (pointer(outputs[0]), pointer(outputs[1]), pointer(outputs[2]),
                                                                       pointer(outputs[3]))
        ElementwiseEngine.withContiguous(activationsView, as: F.self) { activations in
            ElementwiseEngine.withContiguous(statesView, as: F.self) { states in
                let stateGradients = UnsafePointer(pointer(gradientsView))
                let cell = states + (time + 1) * batch * n
                let (hiddenGradients, cellGradients) = (stateGradients, stateGradients + (time + 1) * batch * n)
                forEachBlock(blocks, batch: batch) { rows in
                    let (first, count) = (rows.lowerBound * n, rows.count * n)
                    // The cell's gradient alternates between two buffers, starting so that it ends in `cellGradient`.
                    var (current, previous) = time % 2 == 0 ? (cellGradient, scratch) : (scratch, cellGradient)
                    (hiddenGradient + first).update(from: hiddenGradients + time * batch * n + first, count: count)
                    (current + first).update(from: cellGradients + time * batch * n + first, count: count)
                    for t in stride(from: time, to: 0, by: -1) {
                        let stepGradient = gatesGradient + (t - 1) * batch * 4 * n
                        for b in rows {
                            CPULSTMCell.backwardRow(b, count: n, activations: activations + (t - 1) * batch * 4 * n,
                                                    cell: cell + (t - 1) * batch * n, cellOut: cell + t * batch * n,
                                                    hiddenGradient: hiddenGradient, cellOutGradient: current,
                                                    gatesGradient: stepGradient, cellGradient: previous)
                        }
                        (hiddenGradient + first).update(from: hiddenGradients + (t - 1) * batch * n + first, count: count)
                        CPUGemm.gemm(F.self, m: rows.count, n: n, k: 4 * n, alpha: 1,
                                     a: matrix(stepGradient + rows.lowerBound * 4 * n, columns: 4 * n), b: weight, beta: 1,
                                     c: hiddenGradient + first, threaded: false)
                        (previous + first).add(cellGradients + (t - 1) * batch * n + first, count: count)
                        swap(&current, &previous)
                    }
                }
            }
        }
    }
}
