/// The LSTM cell as one device op (PyTorch's gate order i, f, g, o): from pre-activation `gates`
/// (`[batch, 4·hidden]`, i.e. `W_ih x + b_ih + W_hh h + b_hh`) and the previous cell state (`[batch, hidden]`),
/// the new hidden state `σ(o)·tanh(c′)` and cell state `c′ = σ(f)·c + σ(i)·tanh(g)`. Its backward is one op too.
public func lstmCell(gates: Tensor, cell: Tensor) -> (hidden: Tensor, cell: Tensor) {
    OpCheck.floatingPoint("lstmCell", gates)
    OpCheck.sameDevice("lstmCell", [gates, cell])
    require(gates.rank == 2 && cell.rank == 2 && gates.shape == [cell.shape[0], 4 * cell.shape[1]],
            "lstmCell: gates must be [batch, 4·hidden] for a [batch, hidden] cell state, got \(gates.shape) and \(cell.shape)")
    OpCheck.supported(.lstmCell, gates.dtype, on: gates.device)
    let previous = cell.to(gates.dtype)
    let device = gates.device
    // Both states live in one [2, batch, hidden] tensor, so the op has one output for autograd; the two
    // results are views of it, and their gradients meet in it.
    let state = Tensor.uninitialized([2] + cell.shape, dtype: gates.dtype, device: device)
    let part = { (t: Tensor, k: Int) in t.aliasing(t.layout.sliced(axis: 0, start: k, end: k + 1).reshaped(cell.shape)!) }
    let newCell = part(state, 1)
    device.backend.lstmCell(gates: gates.view, cell: previous.view, hiddenOut: part(state, 0).view, cellOut: newCell.view)
    state.recorded("lstmCell", [gates, previous]) { g in
        let g = g.to(state.dtype)
        let (dGates, dCell) = (Tensor.uninitialized(gates.shape, dtype: g.dtype, device: device),
                               Tensor.uninitialized(cell.shape, dtype: g.dtype, device: device))
        device.backend.lstmCellBackward(gates: gates.view, cell: previous.view, cellOut: newCell.view,
                                        hiddenGradient: part(g, 0).view, cellOutGradient: part(g, 1).view,
                                        gatesGradient: dGates.view, cellGradient: dCell.view)
        return [dGates, dCell]
    }
    return (state.sliced(axis: 0, start: 0, end: 1).squeezed(axis: 0), state.sliced(axis: 0, start: 1, end: 2).squeezed(axis: 0))
}

/// A whole LSTM layer's recurrence as one recorded op (gate order i, f, g, o). From every step's input
/// projection `projected` (`[time, batch, 4·hidden]`: `W_ih x_t + b_ih + b_hh`), the recurrent weight `weightHH`
/// (`[4·hidden, hidden]`) and the initial states `hidden` and `cell` (`[batch, hidden]`), returns all states as one
/// `[2, time + 1, batch, hidden]` tensor: hidden states in `[0]`, cell states in `[1]`, step 0 the initial ones.
///
/// A step is one product `h·W_hhᵀ` accumulated into the saved gates and one `lstmCell`, with no tensors made per
/// step. The backward runs the cells' backward in reverse, one product `dgates·W_hh` per step, and forms `W_hh`'s
/// gradient as a single product over all steps (PyTorch's and cuDNN's arrangement).
public func lstmLayer(projected: Tensor, weightHH: Tensor, hidden: Tensor, cell: Tensor) -> Tensor {
    OpCheck.floatingPoint("lstmLayer", projected)
    OpCheck.sameDevice("lstmLayer", [projected, weightHH, hidden, cell])
    let (time, batch) = (projected.shape.first ?? 0, hidden.shape.first ?? 0)
    let width = hidden.shape.last ?? 0
    require(projected.rank == 3 && hidden.rank == 2 && projected.shape[1...] == [batch, 4 * width]
                && weightHH.shape == [4 * width, width] && cell.shape == hidden.shape,
            "lstmLayer: needs projected [time, batch, 4·hidden], weightHH [4·hidden, hidden] and states [batch, hidden], got \(projected.shape), \(weightHH.shape), \(hidden.shape) and \(cell.shape)")
    OpCheck.supported(.lstmCell, projected.dtype, on: projected.device)
    OpCheck.supported(.matmul, projected.dtype, on: projected.device)
    let (dtype, device) = (projected.dtype, projected.device)
    let backend = device.backend
    let (weight, initialHidden, initialCell) = (weightHH.to(dtype), hidden.to(dtype), cell.to(dtype))
    let gates = Tensor.uninitialized(projected.shape, dtype: dtype, device: device)
    let states = Tensor.uninitialized([2, time + 1, batch, width], dtype: dtype, device: device)
    backend.copy(projected.view, to: gates.view)
    backend.copy(initialHidden.view, to: LSTMSteps.state(states, 0, 0))
    backend.copy(initialCell.view, to: LSTMSteps.state(states, 1, 0))
    // W_hhᵀ copied once, row-major, so that every step's product reads it in place.
    let transposedWeight = Tensor.uninitialized([1, width, 4 * width], dtype: dtype, device: device)
    backend.copy(weight.view.with(layout: Layout(shape: [1, width, 4 * width], strides: [0, weight.strides[1], weight.strides[0]],
                                                 offset: weight.layout.offset)), to: transposedWeight.view)
    for t in 0..<time {
        backend.matmul(LSTMSteps.single(LSTMSteps.state(states, 0, t)), transposedWeight.view, out: LSTMSteps.single(LSTMSteps.step(gates, t)), alpha: 1, beta: 1)
        backend.lstmCell(gates: LSTMSteps.step(gates, t), cell: LSTMSteps.state(states, 1, t),
                         hiddenOut: LSTMSteps.state(states, 0, t + 1), cellOut: LSTMSteps.state(states, 1, t + 1))
    }
    return states.recorded("lstmLayer", [projected, weight, initialHidden, initialCell]) { g in
        let g = g.to(dtype).contiguous()
        let gatesGradient = Tensor.uninitialized(gates.shape, dtype: dtype, device: device)
        let hiddenGradient = Tensor.uninitialized(hidden.shape, dtype: dtype, device: device)
        var (cellGradient, previousCellGradient) = (Tensor.uninitialized(hidden.shape, dtype: dtype, device: device),
                                                    Tensor.uninitialized(hidden.shape, dtype: dtype, device: device))
        backend.copy(LSTMSteps.state(g, 0, time), to: hiddenGradient.view)
        backend.copy(LSTMSteps.state(g, 1, time), to: cellGradient.view)
        let weightRows = weight.view.with(layout: Layout(shape: [1] + weight.shape, strides: [0] + weight.strides, offset: weight.layout.offset))
        for t in stride(from: time, to: 0, by: -1) {
            // Step t read gates[t-1] and the states at t-1 and wrote those at t; the gradients reaching the states
            // at t-1 are g's own plus what flows back through the step.
            backend.lstmCellBackward(gates: LSTMSteps.step(gates, t - 1), cell: LSTMSteps.state(states, 1, t - 1),
                                     cellOut: LSTMSteps.state(states, 1, t), hiddenGradient: hiddenGradient.view,
                                     cellOutGradient: cellGradient.view, gatesGradient: LSTMSteps.step(gatesGradient, t - 1),
                                     cellGradient: previousCellGradient.view)
            backend.copy(LSTMSteps.state(g, 0, t - 1), to: hiddenGradient.view)
            backend.matmul(LSTMSteps.single(LSTMSteps.step(gatesGradient, t - 1)), weightRows, out: LSTMSteps.single(hiddenGradient.view), alpha: 1, beta: 1)
            backend.binary(.add, previousCellGradient.view, LSTMSteps.state(g, 1, t - 1), out: previousCellGradient.view)
            swap(&cellGradient, &previousCellGradient)
        }
        var weightGradient: Tensor?
        if weight.requiresGrad {
            // dW_hh = Σ_t dgates_tᵀ·h_{t-1}: the steps' rows stacked, one [4·hidden, time·batch]·[time·batch, hidden] product.
            let rows = time * batch
            let product = Tensor.uninitialized([4 * width, width], dtype: dtype, device: device)
            backend.matmul(gatesGradient.view.with(layout: Layout(shape: [1, 4 * width, rows], strides: [0, 1, 4 * width], offset: gatesGradient.layout.offset)),
                           states.view.with(layout: Layout(contiguous: [1, rows, width], offset: states.layout.offset)),
                           out: product.view.with(layout: Layout(contiguous: [1, 4 * width, width])), alpha: 1, beta: 0)
            weightGradient = product
        }
        return [gatesGradient, weightGradient, hiddenGradient, cellGradient]
    }
}

/// Views of one time step inside `lstmLayer`'s contiguous `[time, batch, columns]` and `[2, time + 1, batch, hidden]`
/// buffers.
private enum LSTMSteps {
    /// Step `t` of a `[time, batch, columns]` tensor, as `[batch, columns]`.
    static func step(_ t3: Tensor, _ t: Int) -> BufferView {
        let (batch, columns) = (t3.shape[1], t3.shape[2])
        return t3.view.with(layout: Layout(contiguous: [batch, columns], offset: t3.layout.offset + t * batch * columns))
    }

    /// State `kind` (0 hidden, 1 cell) at step `t` of a `[2, time + 1, batch, hidden]` tensor, as `[batch, hidden]`.
    static func state(_ states: Tensor, _ kind: Int, _ t: Int) -> BufferView {
        let (steps, batch, width) = (states.shape[1], states.shape[2], states.shape[3])
        return states.view.with(layout: Layout(contiguous: [batch, width], offset: states.layout.offset + (kind * steps + t) * batch * width))
    }

    /// A contiguous matrix view as the rank-3 `[1, rows, columns]` the backend's product takes.
    static func single(_ matrix: BufferView) -> BufferView {
        matrix.with(layout: Layout(contiguous: [1] + matrix.layout.shape, offset: matrix.layout.offset))
    }
}
