/// The operand shapes of `Backend.lstmCell` and `Backend.lstmCellBackward`, checked the same way by every backend:
/// gates and their activations `[batch, 4·hidden]`, states and their gradients `[batch, hidden]`.
package enum LSTMCellShapes {
    /// Stops with the shapes unless the forward's operands agree.
    package static func checkForward(gates: BufferView, cell: BufferView, activationsOut: BufferView, hiddenOut: BufferView,
                                     cellOut: BufferView) {
        require(gates.shape.count == 2 && cell.shape.count == 2 && gates.shape == [cell.shape[0], 4 * cell.shape[1]]
                && activationsOut.shape == gates.shape && hiddenOut.shape == cell.shape && cellOut.shape == cell.shape,
                "lstmCell: gates \(gates.shape), cell \(cell.shape) -> \(activationsOut.shape), \(hiddenOut.shape), \(cellOut.shape)")
    }

    /// Stops with the shapes unless the backward's operands agree.
    package static func checkBackward(activations: BufferView, states: [BufferView], gatesGradient: BufferView) {
        require(activations.shape.count == 2 && activations.shape == gatesGradient.shape
                && states.allSatisfy { $0.shape == [activations.shape[0], activations.shape[1] / 4] },
                "lstmCellBackward: activations \(activations.shape), gates' gradient \(gatesGradient.shape), states and their gradients \(states.map(\.shape))")
    }
}
