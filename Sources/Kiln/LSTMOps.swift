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
    let activations = Tensor.uninitialized(gates.shape, dtype: gates.dtype, device: device)
    device.backend.lstmCell(gates: gates.view, cell: previous.view, activationsOut: activations.view, hiddenOut: part(state, 0).view,
                            cellOut: newCell.view)
    state.recorded("lstmCell", [gates, previous]) { g in
        let g = g.to(gates.dtype)
        let (dGates, dCell) = (Tensor.uninitialized(gates.shape, dtype: g.dtype, device: device),
                               Tensor.uninitialized(cell.shape, dtype: g.dtype, device: device))
        device.backend.lstmCellBackward(activations: activations.view, cell: previous.view, cellOut: newCell.view,
                                        hiddenGradient: part(g, 0).view, cellOutGradient: part(g, 1).view,
                                        gatesGradient: dGates.view, cellGradient: dCell.view)
        return [dGates, dCell]
    }
    return (state.sliced(axis: 0, start: 0, end: 1).squeezed(axis: 0), state.sliced(axis: 0, start: 1, end: 2).squeezed(axis: 0))
}

/// A whole LSTM layer as one recorded op (PyTorch's `nn.LSTM` layer, gate order i, f, g, o). From the batch-first
/// `input` (`[batch, time, features]`), the weights `weightIH` (`[4·hidden, features]`) and `weightHH`
/// (`[4·hidden, hidden]`), the optional biases (`[4·hidden]` each) and the initial states `hidden` and `cell`
/// (`[batch, hidden]`), returns all states as one `[2, time + 1, batch, hidden]` tensor: hidden states in `[0]`,
/// cell states in `[1]`, step 0 the initial ones.
///
/// The input projections of all steps are one product written into the gates (over the biases); the backend's
/// `lstmRecurrence` then runs the steps, each one product `h·W_hhᵀ` accumulated into its gates and one cell, with no
/// tensors made per step (the CPU runs each thread's rows of the batch through all steps on their own). The
/// backward runs the cells' backward in reverse with one product `dgates·W_hh` per step (`lstmRecurrenceBackward`),
/// then forms each weight's gradient and the input's as single products over all steps (PyTorch's and cuDNN's
/// arrangement).
public func lstmLayer(_ input: Tensor, weightIH: Tensor, weightHH: Tensor, biasIH: Tensor? = nil, biasHH: Tensor? = nil,
                      hidden: Tensor, cell: Tensor) -> Tensor {
    OpCheck.floatingPoint("lstmLayer", input)
    OpCheck.sameDevice("lstmLayer", [input, weightIH, weightHH, hidden, cell] + [biasIH, biasHH].compactMap { $0 })
    let (batch, time, features) = input.rank == 3 ? (input.shape[0], input.shape[1], input.shape[2]) : (0, 0, 0)
    let width = hidden.shape.last ?? 0
    require(input.rank == 3 && weightIH.shape == [4 * width, features] && weightHH.shape == [4 * width, width]
                && hidden.shape == [batch, width] && cell.shape == hidden.shape
                && [biasIH, biasHH].allSatisfy { $0 == nil || $0!.shape == [4 * width] },
            "lstmLayer: needs input [batch, time, features], weights [4·hidden, features] and [4·hidden, hidden], biases [4·hidden] and states [batch, hidden]; got input \(input.shape), weights \(weightIH.shape) and \(weightHH.shape), biases \(biasIH?.shape ?? []) and \(biasHH?.shape ?? []), states \(hidden.shape) and \(cell.shape)")
    let (dtype, device) = (input.dtype, input.device)
    OpCheck.supported(.lstmCell, dtype, on: device)
    OpCheck.supported(.matmul, dtype, on: device)
    let backend = device.backend
    let (x, wIH, wHH, h0, c0) = (input.to(dtype), weightIH.to(dtype), weightHH.to(dtype), hidden.to(dtype), cell.to(dtype))
    let (bIH, bHH) = (biasIH?.to(dtype), biasHH?.to(dtype))
    let rows = time * batch
    // The input time-major, [time·batch, features], so that a step's rows are contiguous.
    let steps = Tensor.uninitialized([time, batch, features], dtype: dtype, device: device)
    backend.copy(x.view.with(layout: x.layout.transposed(0, 1)), to: steps.view)
    let gates = Tensor.uninitialized([time, batch, 4 * width], dtype: dtype, device: device)
    let gateRows = LSTMSteps.rows(gates)
    let biases = [bIH, bHH].compactMap { $0 }.map { $0.view.with(layout: Layout(shape: [rows, 4 * width], strides: [0, $0.strides[0]], offset: $0.layout.offset)) }
    switch biases.count {
    case 2: backend.binary(.add, biases[0], biases[1], out: gateRows)
    case 1: backend.copy(biases[0], to: gateRows)
    default: break
    }
    backend.matmul(LSTMSteps.single(LSTMSteps.rows(steps)), LSTMSteps.transposed(wIH), out: LSTMSteps.single(gateRows),
                   alpha: 1, beta: biases.isEmpty ? 0 : 1)
    let states = Tensor.uninitialized([2, time + 1, batch, width], dtype: dtype, device: device)
    backend.copy(h0.view, to: LSTMSteps.state(states.view, 0, 0))
    backend.copy(c0.view, to: LSTMSteps.state(states.view, 1, 0))
    // W_hhᵀ copied once, row-major, so that every step's product reads it in place.
    let transposedHH = Tensor.uninitialized([1, width, 4 * width], dtype: dtype, device: device)
    backend.copy(LSTMSteps.transposed(wHH), to: transposedHH.view)
    backend.lstmRecurrence(gates: gates.view, transposedWeightHH: transposedHH.view, states: states.view)
    let inputs: [Tensor?] = [x, wIH, wHH, bIH, bHH, h0, c0]
    // The backward reads the states through an alias: capturing `states` itself would make its graph own it.
    let saved = states.detached()
    return states.recorded("lstmLayer", inputs.compactMap { $0 }) { g in
        let g = g.to(dtype).contiguous()
        let gatesGradient = Tensor.uninitialized(gates.shape, dtype: dtype, device: device)
        let (hiddenGradient, cellGradient, scratch) = (Tensor.uninitialized(hidden.shape, dtype: dtype, device: device),
                                                       Tensor.uninitialized(hidden.shape, dtype: dtype, device: device),
                                                       Tensor.uninitialized(hidden.shape, dtype: dtype, device: device))
        backend.lstmRecurrenceBackward(activations: gates.view, states: saved.view, weightHH: LSTMSteps.single(wHH.view),
                                       stateGradients: g.view, gatesGradient: gatesGradient.view, hiddenGradient: hiddenGradient.view,
                                       cellGradient: cellGradient.view, scratch: scratch.view)
        // The gates' gradients of all steps as rows: dX = dG·W_ih, dW_ih = dGᵀ·X, dW_hh = dGᵀ·H_{t-1}, db = Σ rows.
        let gradientRows = LSTMSteps.rows(gatesGradient)
        let transposedRows = LSTMSteps.single(gradientRows.with(layout: gradientRows.layout.transposed(0, 1)))
        func product(_ a: BufferView, _ b: BufferView, _ shape: [Int]) -> Tensor {
            let out = Tensor.uninitialized(shape, dtype: dtype, device: device)
            backend.matmul(a, b, out: LSTMSteps.single(out.view), alpha: 1, beta: 0)
            return out
        }
        let dx = !x.requiresGrad ? nil
            : product(LSTMSteps.single(gradientRows), LSTMSteps.single(wIH.view), [rows, features]).reshaped([time, batch, features]).transposed(0, 1)
        let dwIH = !wIH.requiresGrad ? nil : product(transposedRows, LSTMSteps.single(LSTMSteps.rows(steps)), [4 * width, features])
        // The hidden states at 0..<time, read as [time·batch, hidden] rows of `states`.
        let previousHidden = saved.view.with(layout: Layout(contiguous: [1, rows, width], offset: saved.layout.offset))
        let dwHH = !wHH.requiresGrad ? nil : product(transposedRows, previousHidden, [4 * width, width])
        var db: Tensor?
        if bIH?.requiresGrad == true || bHH?.requiresGrad == true {
            let sums = Tensor.uninitialized([1, 4 * width], dtype: dtype, device: device)
            backend.reduce(.sum, gradientRows, axes: [0], out: sums.view)
            db = sums.reshaped([4 * width])
        }
        // Both biases have the gradient db; each gets its own buffer, as a leaf's gradient may be updated in place.
        let gradients: [Tensor?] = [dx, dwIH, dwHH, bIH == nil ? nil : db, bHH == nil ? nil : db?.copied(), hiddenGradient, cellGradient]
        return zip(inputs, gradients).compactMap { input, gradient in input == nil ? nil : .some(gradient) }
    }
}

/// `lstmLayer`'s views of its weights and of its contiguous `[time, batch, columns]` buffers as matrices.
private extension LSTMSteps {
    /// A matrix's transpose as the rank-3 `[1, columns, rows]` view the backend's product takes.
    static func transposed(_ matrix: Tensor) -> BufferView {
        matrix.view.with(layout: Layout(shape: [1, matrix.shape[1], matrix.shape[0]], strides: [0, matrix.strides[1], matrix.strides[0]],
                                        offset: matrix.layout.offset))
    }

    /// A contiguous `[time, batch, columns]` tensor as `[time·batch, columns]` rows.
    static func rows(_ t3: Tensor) -> BufferView {
        t3.view.with(layout: Layout(contiguous: [t3.shape[0] * t3.shape[1], t3.shape[2]], offset: t3.layout.offset))
    }
}
