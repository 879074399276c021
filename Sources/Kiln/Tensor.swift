/// An n-dimensional array on a device, with a runtime dtype, that records the ops applied to it when it takes
/// part in gradient computation.
///
/// Tensors are references, as in PyTorch: views share the buffer of the tensor they come from, and `grad`
/// accumulates on the tensor object itself. A tensor's values never change behind its back except through the
/// explicitly in-place methods (`assign(_:)`, the fused optimizer updates). Tensors may be read and used as op
/// inputs from several threads at once; setting `grad` or `requiresGrad`, `backward()` on a shared graph and
/// in-place writes need one thread at a time.
public final class Tensor: @unchecked Sendable {
    /// The device the tensor's memory is on.
    public private(set) var device: Device
    /// The memory (shared by views).
    private(set) var buffer: any DeviceBuffer
    /// Where the elements sit in the buffer.
    public private(set) var layout: Layout
    /// The element type.
    public private(set) var dtype: DType
    /// Whether gradients flow into this tensor: set on leaves you want `grad` for; outputs of ops on such
    /// tensors get it automatically while gradient recording is on.
    public var requiresGrad: Bool {
        didSet {
            require(!requiresGrad || dtype.isFloatingPoint, "requiresGrad: only floating-point tensors take gradients, this one is \(dtype)")
        }
    }
    /// The gradient accumulated by `backward()` (leaves only).
    public var grad: Tensor?
    /// The op that produced this tensor, when it was recorded for autograd.
    var gradNode: GradNode?

    init(buffer: any DeviceBuffer, layout: Layout, dtype: DType, device: Device) {
        self.buffer = buffer
        self.layout = layout
        self.dtype = dtype
        self.device = device
        self.requiresGrad = false
    }

    /// A tensor with uninitialised contents (every op writes its whole output), poisoned inside
    /// `Diagnostics.withPoisonedOutputs` so that an element an op forgets to write shows up.
    static func uninitialized(_ shape: [Int], dtype: DType, device: Device) -> Tensor {
        let count = shape.reduce(1, *)
        do {
            let buffer = try device.backend.allocate(byteCount: count * dtype.byteSize)
            let t = Tensor(buffer: buffer, layout: Layout(contiguous: shape), dtype: dtype, device: device)
            if Diagnostics.poisonsOutputs { device.backend.fill(t.view, value: dtype.isFloatingPoint ? .nan : -98_765) }
            return t
        } catch {
            fatalError("allocating \(shape) \(dtype) on \(device): \(error)")
        }
    }

    /// Another tensor object over the same memory with a new layout (no autograd history).
    func aliasing(_ layout: Layout) -> Tensor {
        Tensor(buffer: buffer, layout: layout, dtype: dtype, device: device)
    }

    /// Makes this tensor object hold `other`'s memory, layout, dtype and device, keeping its identity (so
    /// modules and optimizers that hold it see the change): how a module moves its parameters between devices
    /// and dtypes, as PyTorch's `param.data = …`. Its gradient is dropped.
    package func replaceStorage(with other: Tensor) {
        buffer = other.buffer
        layout = other.layout
        dtype = other.dtype
        device = other.device
        grad = nil
    }

    /// The backend operand for this tensor.
    var view: BufferView { BufferView(buffer: buffer, layout: layout, dtype: dtype) }

    /// The operand for this tensor broadcast to `shape`.
    func view(broadcastTo shape: [Int], op: String) -> BufferView {
        guard let broadcast = layout.broadcast(to: shape) else {
            fatalError("\(op): shape \(self.shape) cannot be broadcast to \(shape)")
        }
        return BufferView(buffer: buffer, layout: broadcast, dtype: dtype)
    }

    /// The extent of each axis.
    public var shape: [Int] { layout.shape }
    /// The number of axes.
    public var rank: Int { layout.rank }
    /// The number of elements.
    public var count: Int { layout.count }
    /// The element steps of each axis in the buffer.
    public var strides: [Int] { layout.strides }
    /// Whether the elements are stored in row-major order without gaps.
    public var isContiguous: Bool { layout.isContiguous }
    /// Whether the tensor was created by the user rather than recorded as the output of an op.
    public var isLeaf: Bool { gradNode == nil }
}

/// Checks shared by the op front-end.
enum OpCheck {
    /// Stops unless every tensor is on the same device, naming the op and the devices.
    static func sameDevice(_ op: String, _ tensors: [Tensor]) {
        guard let first = tensors.first else { return }
        for t in tensors where t.device != first.device {
            fatalError("\(op): tensors are on different devices (\(first.device) and \(t.device)); move one with to(_:)")
        }
    }

    /// Stops unless the tensor's dtype is floating point.
    static func floatingPoint(_ op: String, _ t: Tensor) {
        require(t.dtype.isFloatingPoint, "\(op): needs a floating-point tensor, got \(t.dtype) \(t.shape)")
    }

    /// Stops unless `device` implements `op` for `dtype`, naming both.
    static func supported(_ op: Op, _ dtype: DType, on device: Device) {
        require(device.backend.supports(op, dtype: dtype), "\(op): not supported for \(dtype) on \(device)")
    }

    /// The non-negative, distinct, sorted form of `axes` for a tensor of `rank` axes.
    static func axes(_ axes: [Int], rank: Int, op: String) -> [Int] {
        let normalized = axes.map { Shape.normalize(axis: $0, rank: rank, op: op) }
        require(Set(normalized).count == normalized.count, "\(op): repeated axis in \(axes)")
        return normalized.sorted()
    }
}

/// Switches for people verifying backends.
public enum Diagnostics {
    @TaskLocal static var poisonsOutputs = false

    /// Runs `body` with every op output filled with NaN (integers: -98765) before the op writes it, so an element
    /// the op leaves unwritten fails a comparison instead of passing with stale memory.
    public static func withPoisonedOutputs<R>(_ body: () throws -> R) rethrows -> R {
        try $poisonsOutputs.withValue(true, operation: body)
    }
}
