/// Views of one time step inside `Backend.lstmRecurrence`'s contiguous `[time, batch, columns]` gates and
/// `[2, time + 1, batch, hidden]` states.
package enum LSTMSteps {
    /// Step `t` of a contiguous `[time, batch, columns]` view, as `[batch, columns]`.
    package static func step(_ v: BufferView, _ t: Int) -> BufferView {
        let (batch, columns) = (v.shape[1], v.shape[2])
        return v.with(layout: Layout(contiguous: [batch, columns], offset: v.layout.offset + t * batch * columns))
    }

    /// State `kind` (0 hidden, 1 cell) at step `t` of a contiguous `[2, time + 1, batch, hidden]` view, as
    /// `[batch, hidden]`.
    package static func state(_ v: BufferView, _ kind: Int, _ t: Int) -> BufferView {
        let (steps, batch, width) = (v.shape[1], v.shape[2], v.shape[3])
        return v.with(layout: Layout(contiguous: [batch, width], offset: v.layout.offset + (kind * steps + t) * batch * width))
    }

    /// A matrix view as the rank-3 `[1, rows, columns]` the backend's product takes.
    package static func single(_ matrix: BufferView) -> BufferView {
        matrix.with(layout: Layout(shape: [1] + matrix.layout.shape, strides: [0] + matrix.layout.strides, offset: matrix.layout.offset))
    }

    /// Stops with the shapes unless the recurrence's operands agree.
    package static func check(gates: BufferView, weight: BufferView, states: BufferView, transposed: Bool) {
        let (time, batch, width) = states.shape.count == 4 ? (states.shape[1] - 1, states.shape[2], states.shape[3]) : (0, 0, 0)
        require(states.shape.count == 4 && states.shape[0] == 2 && gates.shape == [time, batch, 4 * width]
                && weight.shape == (transposed ? [1, width, 4 * width] : [1, 4 * width, width])
                && gates.layout.isContiguous && states.layout.isContiguous,
                "lstmRecurrence: needs contiguous gates [time, batch, 4·hidden] and states [2, time + 1, batch, hidden] and a weight \(transposed ? "[1, hidden, 4·hidden]" : "[1, 4·hidden, hidden]"); got gates \(gates.shape), weight \(weight.shape), states \(states.shape)")
    }

    /// `Backend.lstmRecurrence` step by step: one product and one cell per step, each of them one backend op.
    package static func forward(on backend: some Backend, gates: BufferView, transposedWeightHH: BufferView, states: BufferView) {
        check(gates: gates, weight: transposedWeightHH, states: states, transposed: true)
        for t in 0..<gates.shape[0] {
            backend.matmul(single(state(states, 0, t)), transposedWeightHH, out: single(step(gates, t)), alpha: 1, beta: 1)
            // The gates are overwritten with their activations, which are what the backward reads.
            backend.lstmCell(gates: step(gates, t), cell: state(states, 1, t), activationsOut: step(gates, t),
                             hiddenOut: state(states, 0, t + 1), cellOut: state(states, 1, t + 1))
        }
    }

    /// `Backend.lstmRecurrenceBackward` step by step: per step, the cell's backward, then one product `dgates·W_hh`
    /// added to the hidden state's own gradient.
    package static func backward(on backend: some Backend, activations: BufferView, states: BufferView, weightHH: BufferView,
                                 stateGradients g: BufferView, gatesGradient: BufferView, hiddenGradient: BufferView,
                                 cellGradient: BufferView, scratch: BufferView) {
        check(gates: activations, weight: weightHH, states: states, transposed: false)
        let time = activations.shape[0]
        // The cell's gradient alternates between two buffers, one swap per step, starting so that it ends in
        // `cellGradient`.
        var (current, previous) = time % 2 == 0 ? (cellGradient, scratch) : (scratch, cellGradient)
        backend.copy(state(g, 0, time), to: hiddenGradient)
        backend.copy(state(g, 1, time), to: current)
        for t in stride(from: time, to: 0, by: -1) {
            // Step t read the gates at t-1 and the states at t-1 and wrote those at t; the gradients reaching the states
            // at t-1 are g's own plus what flows back through the step.
            backend.lstmCellBackward(activations: step(activations, t - 1), cell: state(states, 1, t - 1),
                                     cellOut: state(states, 1, t), hiddenGradient: hiddenGradient, cellOutGradient: current,
                                     gatesGradient: step(gatesGradient, t - 1), cellGradient: previous)
            backend.copy(state(g, 0, t - 1), to: hiddenGradient)
            backend.matmul(single(step(gatesGradient, t - 1)), weightHH, out: single(hiddenGradient), alpha: 1, beta: 1)
            backend.binary(.add, previous, state(g, 1, t - 1), out: previous)
            swap(&current, &previous)
        }
    }
}

extension Backend {
    /// `Backend.lstmRecurrence` as one product and one cell per step.
    public func lstmRecurrence(gates: BufferView, transposedWeightHH: BufferView, states: BufferView) {
        LSTMSteps.forward(on: self, gates: gates, transposedWeightHH: transposedWeightHH, states: states)
    }

    /// `Backend.lstmRecurrenceBackward` as one cell backward and one product per step.
    public func lstmRecurrenceBackward(activations: BufferView, states: BufferView, weightHH: BufferView, stateGradients: BufferView,
                                       gatesGradient: BufferView, hiddenGradient: BufferView, cellGradient: BufferView,
                                       scratch: BufferView) {
        LSTMSteps.backward(on: self, activations: activations, states: states, weightHH: weightHH, stateGradients: stateGradients,
                           gatesGradient: gatesGradient, hiddenGradient: hiddenGradient, cellGradient: cellGradient, scratch: scratch)
    }
}
