import Kiln

/// A backend that forwards every op to another one except for one deliberate fault. It proves the harness
/// catches a faulty kernel and reports a declined op; `kiln check` wraps the device under test in it when
/// `KILN_FAULT=<op>` is set.
public final class FaultInjectingBackend: Backend, @unchecked Sendable {
    /// What goes wrong.
    public enum Fault: Sendable {
        /// The op's main output comes out slightly wrong: each element scaled by a factor a few times the
        /// dtype's loosest tolerance away from 1 (1.001 for float32 and float64, 1.01 for float16, 1.0625 for
        /// bfloat16; integers get one added) — the size of a wrong epsilon or a dropped term.
        case wrongResult(String)
        /// The op is declined by `supports(_:dtype:)`.
        case declined(String)
    }

    /// The backend whose results are passed through.
    public let inner: any Backend
    /// The fault.
    public let fault: Fault

    /// Wraps `inner` with `fault` (ops named as `Op.name`).
    public init(wrapping inner: any Backend, fault: Fault) {
        self.inner = inner
        self.fault = fault
    }

    /// A device on `device`'s backend whose op `name` returns slightly wrong results.
    public static func device(wrapping device: Device, faultyOp name: String) -> Device {
        Device(backend: FaultInjectingBackend(wrapping: device.backend, fault: .wrongResult(name)))
    }

    private func corrupt(_ op: Op, _ out: BufferView) {
        guard case .wrongResult(let faultyOp) = fault, op.name == faultyOp, out.count > 0 else { return }
        let scalar = try! inner.allocate(byteCount: out.dtype.byteSize)
        let factorView = BufferView(buffer: scalar, layout: Layout(shape: out.shape, strides: out.shape.map { _ in 0 }), dtype: out.dtype)
        if out.dtype.isFloatingPoint {
            let error: Double = switch out.dtype { case .float16: 1e-2; case .bfloat16: 0.0625; default: 1e-3 }
            inner.fill(factorView.with(layout: Layout(contiguous: [1])), value: 1 + error)
            inner.binary(.mul, out, factorView, out: out)
        } else {
            inner.fill(factorView.with(layout: Layout(contiguous: [1])), value: 1)
            inner.binary(.add, out, factorView, out: out)
        }
    }

    /// The inner backend's kind.
    public var kind: DeviceKind { inner.kind }
    /// The inner backend's ordinal.
    public var ordinal: Int { inner.ordinal }
    /// The inner backend's name, marked.
    public var name: String { "\(inner.name) with the fault \(fault)" }
    /// The inner backend's figures.
    public func memoryInfo() -> MemoryInfo { inner.memoryInfo() }
    /// The inner backend's answer, except for a declined op.
    public func supports(_ op: Op, dtype: DType) -> Bool {
        if case .declined(let name) = fault, op.name == name { return false }
        return inner.supports(op, dtype: dtype)
    }
    /// Forwarded.
    public func synchronize() throws { try inner.synchronize() }
    /// Forwarded.
    public func allocate(byteCount: Int) throws -> any DeviceBuffer { try inner.allocate(byteCount: byteCount) }
    /// Forwarded.
    public func copy(fromHost source: UnsafeRawBufferPointer, to buffer: any DeviceBuffer, byteOffset: Int) throws {
        try inner.copy(fromHost: source, to: buffer, byteOffset: byteOffset)
    }
    /// Forwarded.
    public func copy(toHost destination: UnsafeMutableRawBufferPointer, from buffer: any DeviceBuffer, byteOffset: Int) throws {
        try inner.copy(toHost: destination, from: buffer, byteOffset: byteOffset)
    }
    /// Forwarded, then corrupted when chosen.
    public func fill(_ out: BufferView, value: Double) { inner.fill(out, value: value); corrupt(.fill, out) }
    /// Forwarded, then corrupted when chosen.
    public func copy(_ source: BufferView, to out: BufferView) { inner.copy(source, to: out); corrupt(.copy, out) }
    /// Forwarded, then corrupted when chosen.
    public func unary(_ op: UnaryOp, _ x: BufferView, out: BufferView) { inner.unary(op, x, out: out); corrupt(.unary(op), out) }
    /// Forwarded, then corrupted when chosen.
    public func unaryBackward(_ op: UnaryOp, _ saved: BufferView, gradient: BufferView, out: BufferView) {
        inner.unaryBackward(op, saved, gradient: gradient, out: out); corrupt(.unaryBackward(op), out)
    }
    /// Forwarded, then corrupted when chosen.
    public func binary(_ op: BinaryOp, _ a: BufferView, _ b: BufferView, out: BufferView) {
        inner.binary(op, a, b, out: out); corrupt(.binary(op), out)
    }
    /// Forwarded, then corrupted when chosen.
    public func compare(_ op: CompareOp, _ a: BufferView, _ b: BufferView, out: BufferView) {
        inner.compare(op, a, b, out: out); corrupt(.compare(op), out)
    }
    /// Forwarded, then corrupted when chosen.
    public func select(_ condition: BufferView, _ a: BufferView, _ b: BufferView, out: BufferView) {
        inner.select(condition, a, b, out: out); corrupt(.select, out)
    }
    /// Forwarded, then corrupted when chosen.
    public func reduce(_ op: ReduceOp, _ x: BufferView, axes: [Int], out: BufferView) {
        inner.reduce(op, x, axes: axes, out: out); corrupt(.reduce(op), out)
    }
    /// Forwarded, then corrupted when chosen.
    public func argReduce(_ op: ArgReduceOp, _ x: BufferView, axis: Int, out: BufferView) {
        inner.argReduce(op, x, axis: axis, out: out); corrupt(.argReduce(op), out)
    }
    /// Forwarded, then corrupted when chosen.
    public func softmax(_ x: BufferView, axis: Int, log: Bool, out: BufferView) {
        inner.softmax(x, axis: axis, log: log, out: out); corrupt(log ? .logSoftmax : .softmax, out)
    }
    /// Forwarded, then corrupted when chosen.
    public func softmaxBackward(output y: BufferView, gradient: BufferView, axis: Int, log: Bool, out: BufferView) {
        inner.softmaxBackward(output: y, gradient: gradient, axis: axis, log: log, out: out); corrupt(.softmaxBackward, out)
    }
    /// Forwarded, then corrupted when chosen.
    public func matmul(_ a: BufferView, _ b: BufferView, out: BufferView, alpha: Double, beta: Double) {
        inner.matmul(a, b, out: out, alpha: alpha, beta: beta); corrupt(.matmul, out)
    }
    /// Forwarded, then corrupted when chosen.
    public func indexSelect(_ x: BufferView, indices: BufferView, axis: Int, out: BufferView) {
        inner.indexSelect(x, indices: indices, axis: axis, out: out); corrupt(.indexSelect, out)
    }
    /// Forwarded, then corrupted when chosen.
    public func indexAdd(_ source: BufferView, indices: BufferView, axis: Int, out: BufferView) {
        inner.indexAdd(source, indices: indices, axis: axis, out: out); corrupt(.indexAdd, out)
    }
    /// Forwarded, then corrupted when chosen.
    public func gather(_ x: BufferView, indices: BufferView, axis: Int, out: BufferView) {
        inner.gather(x, indices: indices, axis: axis, out: out); corrupt(.gather, out)
    }
    /// Forwarded, then corrupted when chosen.
    public func scatterAdd(_ source: BufferView, indices: BufferView, axis: Int, out: BufferView) {
        inner.scatterAdd(source, indices: indices, axis: axis, out: out); corrupt(.scatterAdd, out)
    }
    /// Forwarded, then corrupted when chosen.
    public func im2col(_ x: BufferView, geometry: Window2d, out: BufferView) {
        inner.im2col(x, geometry: geometry, out: out); corrupt(.im2col, out)
    }
    /// Forwarded, then corrupted when chosen.
    public func col2im(_ columns: BufferView, geometry: Window2d, out: BufferView) {
        inner.col2im(columns, geometry: geometry, out: out); corrupt(.col2im, out)
    }
    /// Forwarded, then corrupted when chosen.
    public func pool2d(_ kind: PoolKind, _ x: BufferView, geometry: Window2d, out: BufferView, indices: BufferView?) {
        inner.pool2d(kind, x, geometry: geometry, out: out, indices: indices); corrupt(.pool2d(kind), out)
    }
    /// Forwarded, then corrupted when chosen.
    public func pool2dBackward(_ kind: PoolKind, gradient: BufferView, indices: BufferView?, geometry: Window2d, out: BufferView) {
        inner.pool2dBackward(kind, gradient: gradient, indices: indices, geometry: geometry, out: out); corrupt(.pool2dBackward(kind), out)
    }
    /// Forwarded, then corrupted when chosen.
    public func layerNorm(_ x: BufferView, weight: BufferView?, bias: BufferView?, epsilon: Double, out: BufferView,
                          mean: BufferView, rstd: BufferView) {
        inner.layerNorm(x, weight: weight, bias: bias, epsilon: epsilon, out: out, mean: mean, rstd: rstd); corrupt(.layerNorm, out)
    }
    /// Forwarded, then corrupted when chosen.
    public func lstmCell(gates: BufferView, cell: BufferView, activationsOut: BufferView, hiddenOut: BufferView, cellOut: BufferView) {
        inner.lstmCell(gates: gates, cell: cell, activationsOut: activationsOut, hiddenOut: hiddenOut, cellOut: cellOut)
        corrupt(.lstmCell, hiddenOut)
    }
    /// Forwarded, then corrupted when chosen.
    public func lstmCellBackward(activations: BufferView, cell: BufferView, cellOut: BufferView, hiddenGradient: BufferView,
                                 cellOutGradient: BufferView, gatesGradient: BufferView, cellGradient: BufferView) {
        inner.lstmCellBackward(activations: activations, cell: cell, cellOut: cellOut, hiddenGradient: hiddenGradient,
                               cellOutGradient: cellOutGradient, gatesGradient: gatesGradient, cellGradient: cellGradient)
        corrupt(.lstmCellBackward, gatesGradient)
    }
    /// Forwarded, then corrupted when chosen.
    public func layerNormBackward(gradient: BufferView, x: BufferView, mean: BufferView, rstd: BufferView, weight: BufferView?,
                                  gradInput: BufferView, gradWeight: BufferView?, gradBias: BufferView?) {
        inner.layerNormBackward(gradient: gradient, x: x, mean: mean, rstd: rstd, weight: weight, gradInput: gradInput,
                                gradWeight: gradWeight, gradBias: gradBias)
        corrupt(.layerNormBackward, gradInput)
    }
    /// Forwarded, then corrupted when chosen.
    public func crossEntropy(logits: BufferView, targets: BufferView, options: CrossEntropyOptions, losses: BufferView) {
        inner.crossEntropy(logits: logits, targets: targets, options: options, losses: losses); corrupt(.crossEntropy, losses)
    }
    /// Forwarded, then corrupted when chosen.
    public func crossEntropyBackward(logits: BufferView, targets: BufferView, gradient: BufferView, options: CrossEntropyOptions,
                                     out: BufferView) {
        inner.crossEntropyBackward(logits: logits, targets: targets, gradient: gradient, options: options, out: out)
        corrupt(.crossEntropyBackward, out)
    }
    /// Forwarded, then corrupted when chosen.
    public func dropout(_ x: BufferView, probability: Double, stream: RandomStream, out: BufferView, mask: BufferView) {
        inner.dropout(x, probability: probability, stream: stream, out: out, mask: mask); corrupt(.dropout, out)
    }
    /// Forwarded, then corrupted when chosen.
    public func randomFill(_ out: BufferView, distribution: RandomDistribution, stream: RandomStream) {
        inner.randomFill(out, distribution: distribution, stream: stream); corrupt(.random(distribution.kind), out)
    }
    /// Forwarded, then corrupted when chosen.
    public func sgdStep(parameter: BufferView, gradient: BufferView, momentumBuffer: BufferView?, parameters: SGDParameters,
                        isFirstStep: Bool) {
        inner.sgdStep(parameter: parameter, gradient: gradient, momentumBuffer: momentumBuffer, parameters: parameters,
                      isFirstStep: isFirstStep)
        corrupt(.sgdStep, parameter)
    }
    /// Forwarded, then corrupted when chosen.
    public func adamStep(parameter: BufferView, gradient: BufferView, firstMoment: BufferView, secondMoment: BufferView,
                         parameters: AdamParameters, step: Int) {
        inner.adamStep(parameter: parameter, gradient: gradient, firstMoment: firstMoment, secondMoment: secondMoment,
                       parameters: parameters, step: step)
        corrupt(.adamStep, parameter)
    }
}
