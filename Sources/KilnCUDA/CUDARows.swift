import CCUDA
import KilnCore

extension CUDABackend {
    /// Launches a one-block-per-row kernel.
    func launchRows(_ kernel: String, op: String, rows: Int, length: Int, _ arguments: KernelArguments) {
        guard rows > 0 else { return }
        let (grid, block) = context.rowConfiguration(rows: rows, length: length)
        context.launch(kernel, op: op, grid: grid, block: block, arguments: arguments)
    }

    /// The length `rowConfiguration` sizes a row kernel's block by. A float32 row of unit stride whose length
    /// is a multiple of four is held in registers as float4 groups, `KILN_ROW_GROUPS` a thread: small blocks with
    /// many loads each keep more rows and more bytes in flight per multiprocessor than a thread per group.
    func rowWork(_ length: Int, dtype: DType, unitStride: Bool) -> Int {
        let perThread = 4 * Int(KILN_ROW_GROUPS)
        return dtype == .float32 && unitStride && length % 4 == 0 ? (length + perThread - 1) / perThread : length
    }

    /// Reduces `x` over `axes` into `out` (the reduced axes of extent 1).
    public func reduce(_ op: ReduceOp, _ x: BufferView, axes: [Int], out: BufferView) {
        require(out.shape.count == x.shape.count, "\(op.name): output \(out.shape) for input \(x.shape)")
        let kept = (0..<x.shape.count).filter { !axes.contains($0) }
        let keptShape = kept.map { x.shape[$0] }
        let outer = KernelIterator(shape: keptShape, strides: [kept.map { x.layout.strides[$0] }, kept.map { out.layout.strides[$0] }],
                                   offsets: [x.layout.offset, out.layout.offset])
        let inner = KernelIterator(shape: axes.map { x.shape[$0] }, strides: [axes.map { x.layout.strides[$0] }], offsets: [0])
        let (code, correction): (KilnReduceCode, Int) = switch op {
        case .sum: (KILN_SUM, 0)
        case .mean: (KILN_MEAN, 0)
        case .max: (KILN_MAX, 0)
        case .min: (KILN_MIN, 0)
        case .variance(let correction): (KILN_VARIANCE, correction)
        }
        // Few long rows would leave most multiprocessors idle: cut each row into shares of at least 8192
        // elements until there are about two blocks per multiprocessor (as many 512-thread blocks as fit at
        // once, so that no second wave runs on a few), and combine the shares' partials after.
        let (rows, n) = (outer.count, inner.count)
        let parts = max(1, min((context.multiprocessors * 2 + rows - 1) / max(rows, 1), n / 8192))
        let partials = parts > 1 ? scratch(byteCount: rows * parts * 3 * 8, op: op.name) : nil
        if parts > 1 && partials == nil { return }
        var arguments = KernelArguments()
        arguments.append(outer.descriptor); arguments.append(inner.descriptor)
        arguments.append(Int32(code.rawValue)); arguments.append(Int32(correction)); arguments.append(Int64(parts))
        arguments.append(x.address); arguments.append(x.code); arguments.append(out.address); arguments.append(out.code)
        arguments.append(partials?.address ?? 0)
        launchRows("kiln_reduce", op: op.name, rows: rows * parts, length: (n + parts - 1) / parts, arguments)
        guard let partials else { return }
        var combine = KernelArguments()
        combine.append(outer.descriptor); combine.append(Int32(code.rawValue)); combine.append(Int32(correction))
        combine.append(Int64(parts)); combine.append(Int64(n)); combine.append(partials.address)
        combine.append(out.address); combine.append(out.code)
        let (grid, block) = context.elementwiseConfiguration(count: rows * 32)
        context.launch("kiln_reduce_combine", op: op.name, grid: grid, block: block, arguments: combine)
    }

    /// The int64 index of the first extreme element along `axis`.
    public func argReduce(_ op: ArgReduceOp, _ x: BufferView, axis: Int, out: BufferView) {
        require(out.dtype == .int64, "\(op.rawValue): the output must be int64, got \(out.dtype)")
        let rows = KernelIterator([x.layout.removing(axis: axis), out.layout.removing(axis: axis)])
        var arguments = KernelArguments()
        arguments.append(rows.descriptor)
        arguments.append(Int32((op == .argmax ? KILN_ARGMAX : KILN_ARGMIN).rawValue))
        arguments.append(Int64(x.shape[axis])); arguments.append(Int64(x.layout.strides[axis]))
        arguments.append(x.address); arguments.append(x.code); arguments.append(out.address)
        launchRows("kiln_arg_reduce", op: op.rawValue, rows: rows.count, length: x.shape[axis], arguments)
    }

    /// Softmax or log-softmax along `axis`.
    public func softmax(_ x: BufferView, axis: Int, log: Bool, out: BufferView) {
        require(x.shape == out.shape && x.dtype == out.dtype, "softmax: \(x.shape) \(x.dtype) -> \(out.shape) \(out.dtype)")
        let rows = KernelIterator([x.layout.removing(axis: axis), out.layout.removing(axis: axis)])
        var arguments = KernelArguments()
        arguments.append(rows.descriptor)
        arguments.append(Int64(x.shape[axis])); arguments.append(Int64(x.layout.strides[axis]))
        arguments.append(Int64(out.layout.strides[axis])); arguments.append(Int32(log ? 1 : 0))
        arguments.append(x.address); arguments.append(out.address); arguments.append(x.code)
        let work = rowWork(x.shape[axis], dtype: x.dtype, unitStride: x.layout.strides[axis] == 1 && out.layout.strides[axis] == 1)
        launchRows("kiln_softmax", op: log ? "logSoftmax" : "softmax", rows: rows.count, length: work, arguments)
    }

    /// The gradient of softmax or log-softmax along `axis`.
    public func softmaxBackward(output y: BufferView, gradient: BufferView, axis: Int, log: Bool, out: BufferView) {
        require(y.shape == gradient.shape && y.shape == out.shape, "softmaxBackward: shapes \(y.shape), \(gradient.shape) -> \(out.shape)")
        let rows = KernelIterator([y.layout.removing(axis: axis), gradient.layout.removing(axis: axis), out.layout.removing(axis: axis)])
        var arguments = KernelArguments()
        arguments.append(rows.descriptor)
        arguments.append(Int64(y.shape[axis])); arguments.append(Int64(y.layout.strides[axis]))
        arguments.append(Int64(gradient.layout.strides[axis])); arguments.append(Int64(out.layout.strides[axis]))
        arguments.append(Int32(log ? 1 : 0))
        arguments.append(y.address); arguments.append(gradient.address); arguments.append(out.address); arguments.append(out.code)
        let unit = [y, gradient, out].allSatisfy { $0.layout.strides[axis] == 1 }
        launchRows("kiln_softmax_backward", op: "softmaxBackward", rows: rows.count,
                   length: rowWork(y.shape[axis], dtype: y.dtype, unitStride: unit), arguments)
    }
}
