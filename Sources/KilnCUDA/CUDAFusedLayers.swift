import CCUDA
import KilnCore

extension BufferView {
    /// The view as a 2-D (`[rows, columns]`) or 1-D (`[columns]`) kernel operand.
    var matrix: KilnMatrix {
        switch layout.rank {
        case 2: KilnMatrix(offset: Int64(layout.offset), row: Int64(layout.strides[0]), column: Int64(layout.strides[1]))
        case 1: KilnMatrix(offset: Int64(layout.offset), row: 0, column: Int64(layout.strides[0]))
        default: fatalError("CUDA: a \(layout.rank)-D view where a matrix or vector was expected: \(shape)")
        }
    }
}

extension Optional where Wrapped == BufferView {
    /// The device address, or 0 for a missing operand.
    var address: UInt64 { self?.address ?? 0 }
    /// The kernel operand, or a zero one for a missing operand.
    var matrix: KilnMatrix { self?.matrix ?? KilnMatrix() }
}

extension CUDABackend {
    /// Layer normalisation over the last axis of 2-D `x`, saving `mean` and `rstd`.
    public func layerNorm(_ x: BufferView, weight: BufferView?, bias: BufferView?, epsilon: Double, out: BufferView,
                          mean: BufferView, rstd: BufferView) {
        require(x.shape.count == 2 && out.shape == x.shape, "layerNorm: the backend takes 2-D input, got \(x.shape) -> \(out.shape)")
        let (rows, n) = (x.shape[0], x.shape[1])
        var arguments = KernelArguments()
        arguments.append(Int64(rows)); arguments.append(Int64(n)); arguments.append(epsilon); arguments.append(x.code)
        arguments.append(x.address); arguments.append(x.matrix)
        arguments.append(weight.address); arguments.append(weight.matrix)
        arguments.append(bias.address); arguments.append(bias.matrix)
        arguments.append(out.address); arguments.append(out.matrix)
        arguments.append(mean.address); arguments.append(rstd.address); arguments.append(mean.code)
        arguments.append(mean.matrix); arguments.append(rstd.matrix)
        let unit = x.layout.strides[1] == 1 && out.layout.strides[1] == 1
        launchRows("kiln_layer_norm", op: "layerNorm", rows: rows, length: rowWork(n, dtype: x.dtype, unitStride: unit), arguments)
    }

    /// The LSTM cell, one thread per (row, unit).
    public func lstmCell(gates: BufferView, cell: BufferView, activationsOut: BufferView, hiddenOut: BufferView, cellOut: BufferView) {
        LSTMCellShapes.checkForward(gates: gates, cell: cell, activationsOut: activationsOut, hiddenOut: hiddenOut, cellOut: cellOut)
        var arguments = KernelArguments()
        arguments.append(Int64(cell.shape[0])); arguments.append(Int64(cell.shape[1])); arguments.append(gates.code)
        for view in [gates, cell, activationsOut, hiddenOut, cellOut] { arguments.append(view.address); arguments.append(view.matrix) }
        let (grid, block) = context.elementwiseConfiguration(count: cell.count)
        context.launch("kiln_lstm_cell", op: "lstmCell", grid: grid, block: block, arguments: arguments)
    }

    /// The LSTM cell's gradients, one thread per (row, unit).
    public func lstmCellBackward(activations: BufferView, cell: BufferView, cellOut: BufferView, hiddenGradient: BufferView,
                                 cellOutGradient: BufferView, gatesGradient: BufferView, cellGradient: BufferView) {
        LSTMCellShapes.checkBackward(activations: activations, states: [cell, cellOut, hiddenGradient, cellOutGradient, cellGradient],
                                     gatesGradient: gatesGradient)
        var arguments = KernelArguments()
        arguments.append(Int64(cell.shape[0])); arguments.append(Int64(cell.shape[1])); arguments.append(activations.code)
        for view in [activations, cell, cellOut, hiddenGradient, cellOutGradient, gatesGradient, cellGradient] {
            arguments.append(view.address); arguments.append(view.matrix)
        }
        let (grid, block) = context.elementwiseConfiguration(count: cell.count)
        context.launch("kiln_lstm_cell_backward", op: "lstmCellBackward", grid: grid, block: block, arguments: arguments)
    }

    /// The gradients of layer normalisation.
    public func layerNormBackward(gradient: BufferView, x: BufferView, mean: BufferView, rstd: BufferView,
                                  weight: BufferView?, gradInput: BufferView, gradWeight: BufferView?,
                                  gradBias: BufferView?) {
        require(x.shape.count == 2 && gradient.shape == x.shape && gradInput.shape == x.shape,
                "layerNormBackward: shapes \(gradient.shape), \(x.shape) -> \(gradInput.shape)")
        let (rows, n) = (x.shape[0], x.shape[1])
        var common = KernelArguments()
        common.append(Int64(rows)); common.append(Int64(n)); common.append(x.code)
        common.append(gradient.address); common.append(gradient.matrix); common.append(x.address); common.append(x.matrix)
        common.append(mean.address); common.append(rstd.address); common.append(mean.code)
        common.append(mean.matrix); common.append(rstd.matrix)
        var input = common
        input.append(weight.address); input.append(weight.matrix); input.append(gradInput.address); input.append(gradInput.matrix)
        let unit = [gradient, x, gradInput].allSatisfy { $0.layout.strides[1] == 1 }
        launchRows("kiln_layer_norm_backward", op: "layerNormBackward", rows: rows,
                   length: rowWork(n, dtype: x.dtype, unitStride: unit), input)
        guard gradWeight != nil || gradBias != nil else { return }
        var parameters = common
        parameters.append(gradWeight.address); parameters.append(gradWeight.matrix)
        parameters.append(gradBias.address); parameters.append(gradBias.matrix)
        // One thread per column would leave a GPU nearly idle for a few hundred columns: split the rows into
        // up to 32 parts of at least 16 rows, towards 2048 threads per multiprocessor, and sum the parts after
        // (one warp per column).
        let parts = max(1, min((context.multiprocessors * 2048 + n - 1) / max(n, 1), rows / 16, 32))
        let partials = parts > 1 ? scratch(byteCount: parts * n * 16, op: "layerNormBackward") : nil
        if parts > 1 && partials == nil { return }
        parameters.append(Int64(parts)); parameters.append(partials?.address ?? 0)
        let (grid, block) = context.elementwiseConfiguration(count: n * parts)
        context.launch("kiln_layer_norm_parameter_gradients", op: "layerNormBackward", grid: grid, block: block, arguments: parameters)
        guard let partials else { return }
        var combine = KernelArguments()
        combine.append(Int64(n)); combine.append(x.code); combine.append(Int64(parts)); combine.append(partials.address)
        combine.append(gradWeight.address); combine.append(gradWeight.matrix); combine.append(gradBias.address); combine.append(gradBias.matrix)
        let (combineGrid, combineBlock) = context.elementwiseConfiguration(count: n * 32)
        context.launch("kiln_layer_norm_parameter_combine", op: "layerNormBackward", grid: combineGrid, block: combineBlock, arguments: combine)
    }

    /// Per-row cross-entropy of 2-D `logits` against class indices.
    public func crossEntropy(logits: BufferView, targets: BufferView, options: CrossEntropyOptions, losses: BufferView) {
        crossEntropy(logits, targets, options, gradient: nil, out: losses)
    }

    /// The gradient of the fused cross-entropy with respect to the logits.
    public func crossEntropyBackward(logits: BufferView, targets: BufferView, gradient: BufferView,
                                     options: CrossEntropyOptions, out: BufferView) {
        crossEntropy(logits, targets, options, gradient: gradient, out: out)
    }

    private func crossEntropy(_ logits: BufferView, _ targets: BufferView, _ options: CrossEntropyOptions,
                              gradient: BufferView?, out: BufferView) {
        require(logits.shape.count == 2, "crossEntropy: the backend takes 2-D logits, got \(logits.shape)")
        require(targets.dtype.isIndex && targets.shape == [logits.shape[0]],
                "crossEntropy: targets must be \(logits.shape[0]) int32 or int64 indices, got \(targets.shape) \(targets.dtype)")
        if let gradient { require(gradient.dtype == logits.dtype, "crossEntropyBackward: gradient \(gradient.dtype), logits \(logits.dtype)") }
        let (rows, classes) = (logits.shape[0], logits.shape[1])
        var arguments = KernelArguments()
        arguments.append(Int64(rows)); arguments.append(Int64(classes)); arguments.append(logits.code)
        arguments.append(logits.address); arguments.append(logits.matrix)
        arguments.append(targets.address); arguments.append(targets.code); arguments.append(targets.matrix)
        arguments.append(Int32(options.ignoreIndex == nil ? 0 : 1)); arguments.append(Int64(options.ignoreIndex ?? 0))
        arguments.append(options.labelSmoothing)
        arguments.append(gradient.address); arguments.append(gradient.matrix)
        arguments.append(out.address); arguments.append(out.matrix); arguments.append(faultWordAddress)
        let unit = logits.layout.strides[1] == 1 && (gradient == nil || out.layout.strides[1] == 1)
        launchRows("kiln_cross_entropy", op: gradient == nil ? "crossEntropy" : "crossEntropyBackward",
                   rows: rows, length: rowWork(classes, dtype: logits.dtype, unitStride: unit), arguments)
    }
}
