import KilnCore

/// The fused LSTM cell, forward and backward: one pass over each row's gates (i, f, g, o) and cell state,
/// sixteen float32 lanes at a time (`VectorMath.lstmCell`), Float64 element by element.
enum CPULSTMCell {
    static func forward(gates: BufferView, cell: BufferView, hiddenOut: BufferView, cellOut: BufferView) {
        require(gates.shape.count == 2 && cell.shape.count == 2 && gates.shape == [cell.shape[0], 4 * cell.shape[1]]
                && hiddenOut.shape == cell.shape && cellOut.shape == cell.shape,
                "lstmCell: gates \(gates.shape), cell \(cell.shape) -> \(hiddenOut.shape), \(cellOut.shape)")
        if cellOut.dtype == .float64 {
            forward(Double.self, gates, cell, hiddenOut, cellOut)
        } else {
            forward(Float.self, gates, cell, hiddenOut, cellOut)
        }
    }

    static func backward(gates: BufferView, cell: BufferView, cellOut: BufferView, hiddenGradient: BufferView,
                         cellOutGradient: BufferView, gatesGradient: BufferView, cellGradient: BufferView) {
        require(gates.shape.count == 2 && gates.shape == gatesGradient.shape
                && [cell, cellOut, hiddenGradient, cellOutGradient, cellGradient].allSatisfy { $0.shape == [gates.shape[0], gates.shape[1] / 4] },
                "lstmCellBackward: gates \(gates.shape), cell \(cell.shape), gradients \(hiddenGradient.shape), \(cellOutGradient.shape)")
        if gatesGradient.dtype == .float64 {
            backward(Double.self, gates, cell, cellOut, hiddenGradient, cellOutGradient, gatesGradient, cellGradient)
        } else {
            backward(Float.self, gates, cell, cellOut, hiddenGradient, cellOutGradient, gatesGradient, cellGradient)
        }
    }

    private static func forward<F: CPUFloat>(_ type: F.Type, _ gates: BufferView, _ cell: BufferView,
                                             _ hiddenOut: BufferView, _ cellOut: BufferView) {
        let (batch, n) = (cell.shape[0], cell.shape[1])
        ElementwiseEngine.withContiguous(gates, as: F.self) { a in
            ElementwiseEngine.withContiguous(cell, as: F.self) { c in
                ElementwiseEngine.withOutput(hiddenOut, as: F.self) { h in
                    ElementwiseEngine.withOutput(cellOut, as: F.self) { c2 in
                        Parallel.forEach(batch, grain: max(1, 8192 / max(n, 1))) { rows in
                            for b in rows {
                                let (ab, cb, hb, c2b) = (a + 4 * b * n, c + b * n, h + b * n, c2 + b * n)
                                if F.self == Float.self {
                                    VectorMath.lstmCell(gates: rebound(ab), cell: rebound(cb), hidden: rebound(hb),
                                                        cellOut: rebound(c2b), count: n)
                                    continue
                                }
                                for j in 0..<n {
                                    let (i, f, g, o) = activations(ab, j, n)
                                    c2b[j] = f * cb[j] + i * g
                                    hb[j] = o * F.tanh(c2b[j])
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    private static func backward<F: CPUFloat>(_ type: F.Type, _ gates: BufferView, _ cell: BufferView, _ cellOut: BufferView,
                                              _ hiddenGradient: BufferView, _ cellOutGradient: BufferView,
                                              _ gatesGradient: BufferView, _ cellGradient: BufferView) {
        let (batch, n) = (cell.shape[0], cell.shape[1])
        ElementwiseEngine.withContiguous(gates, as: F.self) { a in
            ElementwiseEngine.withContiguous(cell, as: F.self) { c in
                ElementwiseEngine.withContiguous(cellOut, as: F.self) { c2 in
                    ElementwiseEngine.withContiguous(hiddenGradient, as: F.self) { dh in
                        ElementwiseEngine.withContiguous(cellOutGradient, as: F.self) { dc2 in
                            ElementwiseEngine.withOutput(gatesGradient, as: F.self) { da in
                                ElementwiseEngine.withOutput(cellGradient, as: F.self) { dc in
                                    Parallel.forEach(batch, grain: max(1, 4096 / max(n, 1))) { rows in
                                        for b in rows {
                                            let (ab, dab) = (a + 4 * b * n, da + 4 * b * n)
                                            let (cb, c2b, dhb, dc2b, dcb) = (c + b * n, c2 + b * n, dh + b * n, dc2 + b * n, dc + b * n)
                                            if F.self == Float.self {
                                                VectorMath.lstmCellBackward(
                                                    gates: rebound(ab), cell: rebound(cb), cellOut: rebound(c2b),
                                                    hiddenGradient: rebound(dhb), cellOutGradient: rebound(dc2b),
                                                    gatesGradient: rebound(dab), cellGradient: rebound(dcb), count: n)
                                                continue
                                            }
                                            for j in 0..<n {
                                                let (i, f, g, o) = activations(ab, j, n)
                                                let t = F.tanh(c2b[j])
                                                let total = dc2b[j] + dhb[j] * o * (1 - t * t)
                                                dab[j] = total * g * i * (1 - i)
                                                dab[n + j] = total * cb[j] * f * (1 - f)
                                                dab[2 * n + j] = total * i * (1 - g * g)
                                                dab[3 * n + j] = dhb[j] * t * o * (1 - o)
                                                dcb[j] = total * f
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// σ(i), σ(f), tanh(g), σ(o) at position `j` of one row of gates of `n` units each.
    @inline(__always)
    private static func activations<F: CPUFloat>(_ gates: UnsafePointer<F>, _ j: Int, _ n: Int) -> (F, F, F, F) {
        (CPUElementwise.sigmoid(gates[j]), CPUElementwise.sigmoid(gates[n + j]), F.tanh(gates[2 * n + j]),
         CPUElementwise.sigmoid(gates[3 * n + j]))
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
