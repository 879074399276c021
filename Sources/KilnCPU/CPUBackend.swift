import Foundation
import KilnCore

/// The pure-Swift CPU backend: the numerical reference of Kiln and a real backend of its own — multithreaded,
/// with a packed GEMM and contiguous fast paths. Ops run synchronously on the calling thread and the pool.
public final class CPUBackend: Backend {
    /// The one CPU backend of the process.
    public static let shared = CPUBackend()

    private let memory = HostMemory()

    private init() {}

    /// Always `.cpu`.
    public var kind: DeviceKind { .cpu }
    /// Always 0.
    public var ordinal: Int { 0 }
    /// The worker threads ops run on (`KILN_NUM_THREADS`, else the active processor count).
    public var threadCount: Int { Parallel.threadCount }
    /// `"cpu (N threads)"`, or `"cpu (1 thread)"`.
    public var name: String { "cpu (\(threadCount) thread\(threadCount == 1 ? "" : "s"))" }

    /// The thread count `KILN_NUM_THREADS` asks for, or nil when it is unset or empty. The backend reads it once,
    /// at its first parallel op, and stops the program when it is invalid; call this first to handle that as an
    /// error.
    /// - Throws: `KilnError.invalidConfiguration` when it is set to anything but a positive number.
    public static func threadCountFromEnvironment() throws -> Int? {
        guard let text = ProcessInfo.processInfo.environment["KILN_NUM_THREADS"], !text.isEmpty else { return nil }
        guard let count = Int(text), count > 0 else {
            throw KilnError.invalidConfiguration(setting: "KILN_NUM_THREADS", value: text,
                                                 expected: "a positive number of threads")
        }
        return count
    }

    /// Bytes in live buffers, bytes held by the cache (live or free), the peak, and the request and system
    /// allocation counts.
    public func memoryInfo() -> MemoryInfo { memory.figures() }

    /// Returns the cache's wholly free memory to the system.
    public func emptyCache() { memory.emptyCache() }

    /// Every op on every dtype it is defined for (`Op.isDefined(for:)`).
    public func supports(_ op: Op, dtype: DType) -> Bool { op.isDefined(for: dtype) }

    /// Nothing to wait for: CPU ops complete before they return.
    public func synchronize() throws {}

    /// A new host buffer.
    public func allocate(byteCount: Int) throws -> any DeviceBuffer {
        require(byteCount >= 0, "allocate: negative size \(byteCount)")
        return try memory.allocate(byteCount: byteCount)
    }

    /// Copies host bytes into a buffer.
    public func copy(fromHost source: UnsafeRawBufferPointer, to buffer: any DeviceBuffer, byteOffset: Int) throws {
        let target = CPUBuffer.address(of: buffer)
        require(byteOffset >= 0 && byteOffset + source.count <= buffer.byteCount, "copy(fromHost:): range out of bounds")
        if let address = source.baseAddress { (target + byteOffset).copyMemory(from: address, byteCount: source.count) }
    }

    /// Copies buffer bytes to the host.
    public func copy(toHost destination: UnsafeMutableRawBufferPointer, from buffer: any DeviceBuffer, byteOffset: Int) throws {
        let source = CPUBuffer.address(of: buffer)
        require(byteOffset >= 0 && byteOffset + destination.count <= buffer.byteCount, "copy(toHost:): range out of bounds")
        if let address = destination.baseAddress { address.copyMemory(from: source + byteOffset, byteCount: destination.count) }
    }

    /// The CPU implementation of `Backend.fill`.
    public func fill(_ out: BufferView, value: Double) { CPUElementwise.fill(out, value: value) }
    /// The CPU implementation of `Backend.copy`.
    public func copy(_ source: BufferView, to out: BufferView) { CPUElementwise.copy(source, to: out) }
    /// The CPU implementation of `Backend.unary`.
    public func unary(_ op: UnaryOp, _ x: BufferView, out: BufferView) { CPUElementwise.unary(op, x, out: out) }
    /// The CPU implementation of `Backend.unaryBackward`.
    public func unaryBackward(_ op: UnaryOp, _ saved: BufferView, gradient: BufferView, out: BufferView) {
        CPUElementwise.unaryBackward(op, saved, gradient, out: out)
    }
    /// The CPU implementation of `Backend.binary`.
    public func binary(_ op: BinaryOp, _ a: BufferView, _ b: BufferView, out: BufferView) {
        CPUElementwise.binary(op, a, b, out: out)
    }
    /// The CPU implementation of `Backend.compare`.
    public func compare(_ op: CompareOp, _ a: BufferView, _ b: BufferView, out: BufferView) {
        CPUElementwise.compare(op, a, b, out: out)
    }
    /// The CPU implementation of `Backend.select`.
    public func select(_ condition: BufferView, _ a: BufferView, _ b: BufferView, out: BufferView) {
        CPUElementwise.select(condition, a, b, out: out)
    }
    /// The CPU implementation of `Backend.reduce`.
    public func reduce(_ op: ReduceOp, _ x: BufferView, axes: [Int], out: BufferView) {
        CPUReduce.reduce(op, x, axes: axes, out: out)
    }
    /// The CPU implementation of `Backend.argReduce`.
    public func argReduce(_ op: ArgReduceOp, _ x: BufferView, axis: Int, out: BufferView) {
        CPUReduce.argReduce(op, x, axis: axis, out: out)
    }
    /// The CPU implementation of `Backend.softmax`.
    public func softmax(_ x: BufferView, axis: Int, log: Bool, out: BufferView) {
        CPUSoftmax.softmax(x, axis: axis, log: log, out: out)
    }
    /// The CPU implementation of `Backend.causalSoftmax`: each row's masked tail is skipped, not exponentiated.
    public func causalSoftmax(_ x: BufferView, out: BufferView) -> Bool {
        CPUSoftmax.causal(x, out: out)
        return true
    }
    /// The CPU implementation of `Backend.softmaxBackward`.
    public func softmaxBackward(output y: BufferView, gradient: BufferView, axis: Int, log: Bool, out: BufferView) {
        CPUSoftmax.backward(output: y, gradient: gradient, axis: axis, log: log, out: out)
    }
    /// The CPU implementation of `Backend.matmul`.
    public func matmul(_ a: BufferView, _ b: BufferView, out: BufferView, alpha: Double, beta: Double) {
        CPUGemm.matmul(a, b, out: out, alpha: alpha, beta: beta)
    }
    /// The CPU implementation of `Backend.matmul(_:_:bias:out:)`: the bias is added as the product's tiles are
    /// stored.
    public func matmul(_ a: BufferView, _ b: BufferView, bias: BufferView, out: BufferView) {
        BiasedProduct.check(bias: bias, out: out)
        CPUGemm.matmul(a, b, out: out, alpha: 1, beta: 0, bias: bias)
    }
    /// The CPU implementation of `Backend.indexSelect`.
    public func indexSelect(_ x: BufferView, indices: BufferView, axis: Int, out: BufferView) {
        CPUIndexing.indexSelect(x, indices: indices, axis: axis, out: out)
    }
    /// The CPU implementation of `Backend.indexAdd`.
    public func indexAdd(_ source: BufferView, indices: BufferView, axis: Int, out: BufferView) {
        CPUIndexing.indexAdd(source, indices: indices, axis: axis, out: out)
    }
    /// The CPU implementation of `Backend.gather`.
    public func gather(_ x: BufferView, indices: BufferView, axis: Int, out: BufferView) {
        CPUIndexing.gather(x, indices: indices, axis: axis, out: out)
    }
    /// The CPU implementation of `Backend.scatterAdd`.
    public func scatterAdd(_ source: BufferView, indices: BufferView, axis: Int, out: BufferView) {
        CPUIndexing.scatterAdd(source, indices: indices, axis: axis, out: out)
    }
    /// The CPU implementation of `Backend.im2col`.
    public func im2col(_ x: BufferView, geometry: Window2d, out: BufferView) {
        CPUWindow.im2col(x, geometry: geometry, out: out)
    }
    /// The CPU implementation of `Backend.col2im`.
    public func col2im(_ columns: BufferView, geometry: Window2d, out: BufferView) {
        CPUWindow.col2im(columns, geometry: geometry, out: out)
    }
    /// The CPU implementation of `Backend.pool2d`.
    public func pool2d(_ kind: PoolKind, _ x: BufferView, geometry: Window2d, out: BufferView, indices: BufferView?) {
        CPUPooling.forward(kind, x, geometry: geometry, out: out, indices: indices)
    }
    /// The CPU implementation of `Backend.pool2dBackward`.
    public func pool2dBackward(_ kind: PoolKind, gradient: BufferView, indices: BufferView?, geometry: Window2d,
                               out: BufferView) {
        CPUPooling.backward(kind, gradient: gradient, indices: indices, geometry: geometry, out: out)
    }
    /// The CPU implementation of `Backend.layerNorm`.
    public func layerNorm(_ x: BufferView, weight: BufferView?, bias: BufferView?, epsilon: Double, out: BufferView,
                          mean: BufferView, rstd: BufferView) {
        CPUFusedLayers.layerNorm(x, weight: weight, bias: bias, epsilon: epsilon, out: out, mean: mean, rstd: rstd)
    }
    /// The CPU implementation of `Backend.layerNormBackward`.
    public func layerNormBackward(gradient: BufferView, x: BufferView, mean: BufferView, rstd: BufferView,
                                  weight: BufferView?, gradInput: BufferView, gradWeight: BufferView?,
                                  gradBias: BufferView?) {
        CPUFusedLayers.layerNormBackward(gradient: gradient, x: x, mean: mean, rstd: rstd, weight: weight,
                                         gradInput: gradInput, gradWeight: gradWeight, gradBias: gradBias)
    }
    /// The CPU implementation of `Backend.lstmCell`.
    public func lstmCell(gates: BufferView, cell: BufferView, activationsOut: BufferView, hiddenOut: BufferView, cellOut: BufferView) {
        CPULSTMCell.forward(gates: gates, cell: cell, activationsOut: activationsOut, hiddenOut: hiddenOut, cellOut: cellOut)
    }
    /// The CPU implementation of `Backend.lstmCellBackward`.
    public func lstmCellBackward(activations: BufferView, cell: BufferView, cellOut: BufferView, hiddenGradient: BufferView,
                                 cellOutGradient: BufferView, gatesGradient: BufferView, cellGradient: BufferView) {
        CPULSTMCell.backward(activations: activations, cell: cell, cellOut: cellOut, hiddenGradient: hiddenGradient,
                             cellOutGradient: cellOutGradient, gatesGradient: gatesGradient, cellGradient: cellGradient)
    }
    /// The CPU implementation of `Backend.lstmRecurrence`: each thread runs every step on its own rows of the batch.
    public func lstmRecurrence(gates: BufferView, transposedWeightHH: BufferView, states: BufferView) {
        CPULSTMRecurrence.forward(on: self, gates: gates, transposedWeightHH: transposedWeightHH, states: states)
    }
    /// The CPU implementation of `Backend.lstmRecurrenceBackward`: each thread runs every step on its own rows.
    public func lstmRecurrenceBackward(activations: BufferView, states: BufferView, weightHH: BufferView, stateGradients: BufferView,
                                       gatesGradient: BufferView, hiddenGradient: BufferView, cellGradient: BufferView,
                                       scratch: BufferView) {
        CPULSTMRecurrence.backward(on: self, activations: activations, states: states, weightHH: weightHH,
                                   stateGradients: stateGradients, gatesGradient: gatesGradient, hiddenGradient: hiddenGradient,
                                   cellGradient: cellGradient, scratch: scratch)
    }
    /// The CPU implementation of `Backend.crossEntropy`.
    public func crossEntropy(logits: BufferView, targets: BufferView, options: CrossEntropyOptions, losses: BufferView) {
        CPUFusedLayers.crossEntropy(logits: logits, targets: targets, options: options, losses: losses)
    }
    /// The CPU implementation of `Backend.crossEntropyBackward`.
    public func crossEntropyBackward(logits: BufferView, targets: BufferView, gradient: BufferView,
                                     options: CrossEntropyOptions, out: BufferView) {
        CPUFusedLayers.crossEntropyBackward(logits: logits, targets: targets, gradient: gradient, options: options, out: out)
    }
    /// The CPU implementation of `Backend.dropout`.
    public func dropout(_ x: BufferView, probability: Double, stream: RandomStream, out: BufferView, mask: BufferView) {
        CPURandom.dropout(x, probability: probability, stream: stream, out: out, mask: mask)
    }
    /// The CPU implementation of `Backend.randomFill`.
    public func randomFill(_ out: BufferView, distribution: RandomDistribution, stream: RandomStream) {
        CPURandom.fill(out, distribution: distribution, stream: stream)
    }
    /// The CPU implementation of `Backend.sgdStep`.
    public func sgdStep(parameter: BufferView, gradient: BufferView, momentumBuffer: BufferView?,
                        parameters: SGDParameters, isFirstStep: Bool) {
        CPUOptimizer.sgd(parameter: parameter, gradient: gradient, momentumBuffer: momentumBuffer, parameters: parameters,
                         isFirstStep: isFirstStep)
    }
    /// The CPU implementation of `Backend.adamStep`.
    public func adamStep(parameter: BufferView, gradient: BufferView, firstMoment: BufferView, secondMoment: BufferView,
                         parameters: AdamParameters, step: Int) {
        CPUOptimizer.adam(parameter: parameter, gradient: gradient, firstMoment: firstMoment, secondMoment: secondMoment,
                          parameters: parameters, step: step)
    }
}
