/// Memory owned by one backend. The backend's concrete class frees the memory in its `deinit`, so a buffer
/// lives exactly as long as the last tensor (or view) that holds it.
public protocol DeviceBuffer: AnyObject, Sendable {
    /// The buffer's size in bytes.
    var byteCount: Int { get }
}

/// One operand of a backend op: a buffer seen through a layout, with the dtype of its elements.
public struct BufferView: @unchecked Sendable {
    /// The memory.
    public let buffer: any DeviceBuffer
    /// Which elements of the memory the view covers.
    public let layout: Layout
    /// The element type.
    public let dtype: DType

    /// A view; stops when the layout reaches outside the buffer.
    public init(buffer: any DeviceBuffer, layout: Layout, dtype: DType) {
        let span = layout.span
        require(span.isEmpty || (span.lowerBound >= 0 && span.upperBound * dtype.byteSize <= buffer.byteCount),
                     "BufferView: layout \(layout) of \(dtype) reaches outside a buffer of \(buffer.byteCount) bytes")
        self.buffer = buffer
        self.layout = layout
        self.dtype = dtype
    }

    /// The view's shape.
    public var shape: [Int] { layout.shape }

    /// The number of elements.
    public var count: Int { layout.count }

    /// The same memory under another layout.
    public func with(layout: Layout) -> BufferView { BufferView(buffer: buffer, layout: layout, dtype: dtype) }
}

/// The families of devices Kiln knows.
public enum DeviceKind: String, Sendable {
    /// The host processor.
    case cpu
    /// An NVIDIA GPU.
    case cuda
    /// A deliberately simple implementation (naive loops in `float64`) that checks the optimised backends.
    case reference
}

/// A device's memory figures, in bytes.
public struct MemoryInfo: Hashable, Sendable {
    /// Bytes in live buffers.
    public var allocated: Int
    /// Bytes held from the system, live or cached for reuse.
    public var reserved: Int
    /// The largest `allocated` seen.
    public var peak: Int
    /// The device's total memory, when known.
    public var total: Int?
    /// How many buffers were allocated so far (requests served, from the cache or not).
    public var allocations: Int
    /// How many of those reached the system (`cuMemAlloc`, the host allocator) because the cache had no block:
    /// in a steady training loop it stays flat, and a rising count is an allocation storm.
    public var systemAllocations: Int

    /// Memory figures.
    public init(allocated: Int, reserved: Int, peak: Int, total: Int?, allocations: Int = 0, systemAllocations: Int = 0) {
        self.allocated = allocated; self.reserved = reserved; self.peak = peak; self.total = total
        self.allocations = allocations; self.systemAllocations = systemAllocations
    }
}

/// A key into the counter-based random stream: which seed, and how many 128-bit Philox blocks of it were
/// already used. A fill of `n` elements consumes `ceil(n / 4)` blocks.
public struct RandomStream: Hashable, Sendable {
    /// The Philox key, as two 32-bit words (low word first).
    public var seed: UInt64
    /// The index of the first block this fill uses.
    public var offset: UInt64

    /// A position in the stream of `seed`.
    public init(seed: UInt64, offset: UInt64) { self.seed = seed; self.offset = offset }
}

/// A compute device: its memory and every op the library needs, over explicit layouts.
///
/// Conventions every implementation follows:
/// - Operands are `BufferView`s: any strides, including 0 for broadcast axes, and any offset. Outputs
///   (`out`) have the exact shape the op documents and may be strided; they never alias an input unless the op
///   says so. Unless an op says it accumulates, every output element is overwritten (never read).
/// - Operands of one op share one dtype unless the op says otherwise; index operands are `int32` or `int64`.
/// - Ops are enqueued in order on the device; `synchronize()` waits for them. Programmer errors (a shape or
///   dtype the op does not accept) stop with a message that names the op; device faults surface as errors
///   from `synchronize()` and host reads.
/// - `supports(_:dtype:)` is the truth about what the backend implements: the front-end and the harness ask
///   it, and a backend never fakes an op it declines.
public protocol Backend: AnyObject, Sendable {
    /// The device family.
    var kind: DeviceKind { get }
    /// The index among devices of the same kind.
    var ordinal: Int { get }
    /// A human-readable device name (`"cpu (2 threads)"`, `"NVIDIA H100 80GB HBM3"`).
    var name: String { get }
    /// Current memory figures.
    func memoryInfo() -> MemoryInfo
    /// Whether the backend implements `op` for operands of `dtype` (the input dtype for casts and
    /// comparisons, the value dtype for index ops).
    func supports(_ op: Op, dtype: DType) -> Bool
    /// Waits until every enqueued op has finished, reporting any asynchronous fault.
    func synchronize() throws

    // MARK: Memory

    /// A new buffer of `byteCount` bytes with unspecified contents.
    func allocate(byteCount: Int) throws -> any DeviceBuffer
    /// Copies host bytes into `buffer` at `byteOffset`.
    func copy(fromHost source: UnsafeRawBufferPointer, to buffer: any DeviceBuffer, byteOffset: Int) throws
    /// Copies bytes of `buffer` from `byteOffset` to the host (synchronizing first).
    func copy(toHost destination: UnsafeMutableRawBufferPointer, from buffer: any DeviceBuffer, byteOffset: Int) throws
    /// Sets every element of `out` to `value` converted to its dtype.
    func fill(_ out: BufferView, value: Double)
    /// Copies `source` into `out` element by element, converting dtype; shapes must match. Covers
    /// make-contiguous, casts, concat (copies into slices of the result) and slice-assign.
    func copy(_ source: BufferView, to out: BufferView)

    // MARK: Elementwise

    /// `out = op(x)`; `x` is broadcast to `out`'s shape.
    func unary(_ op: UnaryOp, _ x: BufferView, out: BufferView)
    /// `out = gradient · op′` for an activation of `UnaryOp.fusedBackward`: `saved` is the forward op's output
    /// when `op.backwardReadsOutput`, else its input; all three share `out`'s dtype and shape.
    func unaryBackward(_ op: UnaryOp, _ saved: BufferView, gradient: BufferView, out: BufferView)
    /// `out = op(a, b)`; `a` and `b` are broadcast to `out`'s shape (stride 0) by the caller.
    func binary(_ op: BinaryOp, _ a: BufferView, _ b: BufferView, out: BufferView)
    /// `out = op(a, b)` as `bool`; `a` and `b` share a dtype and are broadcast to `out`'s shape.
    func compare(_ op: CompareOp, _ a: BufferView, _ b: BufferView, out: BufferView)
    /// `out = condition ? a : b`; `condition` is `bool`, all broadcast to `out`'s shape.
    func select(_ condition: BufferView, _ a: BufferView, _ b: BufferView, out: BufferView)

    // MARK: Reductions

    /// Reduces `x` over `axes`; `out` has `x`'s shape with each reduced axis of extent 1. Sums accumulate in
    /// at least `float32` with blocked summation; the mean of an empty set is NaN, the sum 0.
    func reduce(_ op: ReduceOp, _ x: BufferView, axes: [Int], out: BufferView)
    /// The `int64` index of the extreme element along `axis` (first on ties; NaN counts as the extreme);
    /// `out` has `x`'s shape with `axis` of extent 1.
    func argReduce(_ op: ArgReduceOp, _ x: BufferView, axis: Int, out: BufferView)
    /// Softmax (or log-softmax) along `axis`, max-subtracted.
    func softmax(_ x: BufferView, axis: Int, log: Bool, out: BufferView)
    /// The gradient of softmax (or log-softmax) given its output `y` and the output's gradient.
    func softmaxBackward(output y: BufferView, gradient: BufferView, axis: Int, log: Bool, out: BufferView)
    /// Softmax along the last axis of `[…, queries, keys]` scores in which query `i` sees keys `0...i` only, the
    /// later ones getting 0 (causal attention, as if masked with −∞); its gradient is `softmaxBackward`'s. Returns
    /// false, writing nothing, where the backend has no fused kernel: the caller then masks and calls `softmax`
    /// (the default).
    func causalSoftmax(_ x: BufferView, out: BufferView) -> Bool

    // MARK: Linear algebra

    /// `out = alpha · a·b + beta · out` for rank-3 operands `[batch, m, k]·[batch, k, n] → [batch, m, n]`.
    /// Transposed operands are layouts with swapped strides; a batch stride of 0 broadcasts. With `beta`
    /// 0, `out` is not read.
    func matmul(_ a: BufferView, _ b: BufferView, out: BufferView, alpha: Double, beta: Double)
    /// `out = a·b + bias` for `matmul`'s rank-3 operands, `bias` (`[n]`) added to every row of every product: a
    /// linear layer's affine map. The default is `matmul` then a broadcast `add`; a backend may add the bias as it
    /// stores the product, saving a pass over `out`.
    func matmul(_ a: BufferView, _ b: BufferView, bias: BufferView, out: BufferView)

    // MARK: Indexing

    /// `out[…, i, …] = x[…, indices[i], …]` along `axis`; `indices` is 1-D.
    func indexSelect(_ x: BufferView, indices: BufferView, axis: Int, out: BufferView)
    /// `out[…, indices[i], …] += source[…, i, …]` along `axis` (accumulates into `out`).
    func indexAdd(_ source: BufferView, indices: BufferView, axis: Int, out: BufferView)
    /// `out[…, j, …] = x[…, indices[…, j, …], …]` along `axis`; `indices` has `out`'s shape.
    func gather(_ x: BufferView, indices: BufferView, axis: Int, out: BufferView)
    /// `out[…, indices[…, j, …], …] += source[…, j, …]` along `axis` (accumulates into `out`).
    func scatterAdd(_ source: BufferView, indices: BufferView, axis: Int, out: BufferView)

    // MARK: Convolution and pooling

    /// Unfolds `x` (`geometry.inputShape`) into `out` (`geometry.columnsShape`), zeros for padding.
    func im2col(_ x: BufferView, geometry: Window2d, out: BufferView)
    /// Folds `columns` (`geometry.columnsShape`) into `out` (`geometry.inputShape`), summing overlaps.
    func col2im(_ columns: BufferView, geometry: Window2d, out: BufferView)
    /// Pools `x` into `out` (`geometry.outputShape`); for max pooling, `indices` (`int64`, same shape)
    /// receives each maximum's flat position within its `height·width` plane.
    func pool2d(_ kind: PoolKind, _ x: BufferView, geometry: Window2d, out: BufferView, indices: BufferView?)
    /// The input gradient of pooling given the output gradient (and max pooling's indices).
    func pool2dBackward(_ kind: PoolKind, gradient: BufferView, indices: BufferView?, geometry: Window2d,
                        out: BufferView)

    // MARK: Fused layers

    /// Normalises each row of the 2-D `x` over its last axis: `out = (x - mean) · rstd · weight + bias`,
    /// saving `mean` and `rstd` (`float32`, one per row; `float64` for `float64` input).
    func layerNorm(_ x: BufferView, weight: BufferView?, bias: BufferView?, epsilon: Double, out: BufferView,
                   mean: BufferView, rstd: BufferView)
    /// The gradients of layer normalisation: `gradInput` overwritten, `gradWeight` and `gradBias` overwritten
    /// with the column sums when present.
    func layerNormBackward(gradient: BufferView, x: BufferView, mean: BufferView, rstd: BufferView,
                           weight: BufferView?, gradInput: BufferView, gradWeight: BufferView?,
                           gradBias: BufferView?)
    /// The LSTM cell, gates in PyTorch's order i, f, g, o: from pre-activation `gates` (`[batch, 4·hidden]`) and
    /// the previous cell state `cell` (`[batch, hidden]`), the gates' activations `activationsOut` (`[batch, 4·hidden]`:
    /// σ(i), σ(f), tanh(g), σ(o); it may be `gates` itself, then overwritten), `cellOut = σ(f)·cell + σ(i)·tanh(g)` and
    /// `hiddenOut = σ(o)·tanh(cellOut)`.
    func lstmCell(gates: BufferView, cell: BufferView, activationsOut: BufferView, hiddenOut: BufferView, cellOut: BufferView)
    /// The LSTM cell's gradients: from the forward's `activations`, `cell` and `cellOut` and the gradients reaching
    /// `hiddenOut` and `cellOut`, overwrites `gatesGradient` (with respect to the pre-activation gates,
    /// `[batch, 4·hidden]`) and `cellGradient` (the previous state's, `[batch, hidden]`).
    func lstmCellBackward(activations: BufferView, cell: BufferView, cellOut: BufferView, hiddenGradient: BufferView,
                          cellOutGradient: BufferView, gatesGradient: BufferView, cellGradient: BufferView)
    /// An LSTM layer's recurrence over `time` steps, in place: for each step `t`, `gates[t] += states[0, t]·W_hhᵀ`
    /// (`transposedWeightHH`, `[1, hidden, 4·hidden]`), then `lstmCell` of `gates[t]` and `states[1, t]`, its activations
    /// over `gates[t]` and its states into `states[·, t + 1]`. `gates` (`[time, batch, 4·hidden]`, holding the input
    /// projections and biases) and `states` (`[2, time + 1, batch, hidden]`, step 0 set) are contiguous. Rows of the
    /// batch never mix, so a backend may run them apart. The default runs one product and one cell per step.
    func lstmRecurrence(gates: BufferView, transposedWeightHH: BufferView, states: BufferView)
    /// The recurrence's backward: from its `activations` (the forward's `gates`), `states`, `weightHH`
    /// (`[1, 4·hidden, hidden]`) and the gradients reaching every state (`stateGradients`, shaped as `states`),
    /// overwrites `gatesGradient` (`[time, batch, 4·hidden]`) and the initial states' gradients `hiddenGradient` and
    /// `cellGradient` (`[batch, hidden]`); `scratch` (`[batch, hidden]`) is overwritten. All but the weight are contiguous.
    func lstmRecurrenceBackward(activations: BufferView, states: BufferView, weightHH: BufferView, stateGradients: BufferView,
                                gatesGradient: BufferView, hiddenGradient: BufferView, cellGradient: BufferView,
                                scratch: BufferView)
    /// Per-row cross-entropy of 2-D `logits` against class indices: `losses[i] = logsumexp(row) - row[t]`
    /// (with label smoothing; 0 for ignored rows).
    func crossEntropy(logits: BufferView, targets: BufferView, options: CrossEntropyOptions, losses: BufferView)
    /// `out = (softmax(logits) - target distribution) · gradient[row]`; 0 for ignored rows.
    func crossEntropyBackward(logits: BufferView, targets: BufferView, gradient: BufferView,
                              options: CrossEntropyOptions, out: BufferView)

    // MARK: Random

    /// Inverted dropout: `mask[i] = u_i ≥ p` (`uint8`) from the Philox stream, `out = mask · x / (1 - p)`.
    func dropout(_ x: BufferView, probability: Double, stream: RandomStream, out: BufferView, mask: BufferView)
    /// Fills `out` (in its row-major order) from the Philox stream; see `Philox4x32`.
    func randomFill(_ out: BufferView, distribution: RandomDistribution, stream: RandomStream)

    // MARK: Optimizer steps

    /// One in-place SGD step on `parameter` (and `momentumBuffer` when momentum is on; `isFirstStep` sets
    /// the buffer to the gradient, as PyTorch does).
    func sgdStep(parameter: BufferView, gradient: BufferView, momentumBuffer: BufferView?,
                 parameters: SGDParameters, isFirstStep: Bool)
    /// One in-place Adam/AdamW step on `parameter`, `firstMoment` and `secondMoment`; `step` counts from 1.
    func adamStep(parameter: BufferView, gradient: BufferView, firstMoment: BufferView, secondMoment: BufferView,
                  parameters: AdamParameters, step: Int)
}
