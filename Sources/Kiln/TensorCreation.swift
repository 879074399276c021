extension Tensor {
    /// A tensor holding `values` with `shape` (default: 1-D), on `device` (default: `Device.default`).
    public convenience init<T: TensorElement>(_ values: [T], shape: [Int]? = nil, device: Device = .default) {
        let shape = shape ?? [values.count]
        require(shape.reduce(1, *) == values.count,
                     "Tensor: \(values.count) values do not fill shape \(shape) (\(shape.reduce(1, *)) elements)")
        let t = values.withUnsafeBytes { Tensor.fromHost($0, shape: shape, dtype: T.dtype, device: device) }
        self.init(buffer: t.buffer, layout: t.layout, dtype: t.dtype, device: device)
    }

    /// A tensor whose elements are `bytes`: little-endian values of `dtype` in row-major order (as files store them).
    public convenience init(bytes: [UInt8], shape: [Int], dtype: DType, device: Device = .default) {
        require(bytes.count == shape.reduce(1, *) * dtype.byteSize,
                "Tensor: \(bytes.count) bytes do not hold shape \(shape) of \(dtype)")
        let t = bytes.withUnsafeBytes { Tensor.fromHost($0, shape: shape, dtype: dtype, device: device) }
        self.init(buffer: t.buffer, layout: t.layout, dtype: t.dtype, device: device)
    }

    /// A new tensor holding host bytes.
    private static func fromHost(_ bytes: UnsafeRawBufferPointer, shape: [Int], dtype: DType, device: Device) -> Tensor {
        let t = Tensor.uninitialized(shape, dtype: dtype, device: device)
        do {
            try device.backend.copy(fromHost: bytes, to: t.buffer, byteOffset: 0)
        } catch {
            fatalError("Tensor: copying \(shape) \(dtype) to \(device): \(error)")
        }
        return t
    }

    /// A 0-dimensional tensor holding `value`.
    public convenience init<T: TensorElement>(_ value: T, device: Device = .default) {
        self.init([value], shape: [], device: device)
    }

    /// A tensor of `shape` with every element `value`.
    public static func full(_ shape: [Int], value: Double, dtype: DType = .float32, device: Device = .default) -> Tensor {
        let t = uninitialized(shape, dtype: dtype, device: device)
        device.backend.fill(t.view, value: value)
        return t
    }

    /// A tensor of zeros.
    public static func zeros(_ shape: [Int], dtype: DType = .float32, device: Device = .default) -> Tensor {
        full(shape, value: 0, dtype: dtype, device: device)
    }

    /// A tensor of ones.
    public static func ones(_ shape: [Int], dtype: DType = .float32, device: Device = .default) -> Tensor {
        full(shape, value: 1, dtype: dtype, device: device)
    }

    /// Zeros with the shape, dtype and device of `other`.
    public static func zeros(like other: Tensor) -> Tensor {
        zeros(other.shape, dtype: other.dtype, device: other.device)
    }

    /// Ones with the shape, dtype and device of `other`.
    public static func ones(like other: Tensor) -> Tensor {
        ones(other.shape, dtype: other.dtype, device: other.device)
    }

    /// `start, start + step, …` up to but excluding `end`.
    public static func arange(_ start: Double = 0, _ end: Double, step: Double = 1, dtype: DType = .int64,
                              device: Device = .default) -> Tensor {
        require(step != 0, "arange: step must not be zero")
        let count = Swift.max(0, Int(((end - start) / step).rounded(.up)))
        let values = (0..<count).map { start + Double($0) * step }
        return Tensor(values, device: device).to(dtype)
    }

    /// The `n × m` identity (ones on the main diagonal).
    public static func eye(_ n: Int, _ m: Int? = nil, dtype: DType = .float32, device: Device = .default) -> Tensor {
        let columns = m ?? n
        var values = [Double](repeating: 0, count: n * columns)
        for i in 0..<Swift.min(n, columns) { values[i * columns + i] = 1 }
        return Tensor(values, shape: [n, columns], device: device).to(dtype)
    }

    /// A 0-dimensional tensor holding `value` as an operand for `other`: `other`'s dtype when `value` fits it
    /// (any value for floating point, integral values for integers), else `float32` — PyTorch's rule for
    /// Python scalars.
    static func scalar(_ value: Double, for other: Tensor) -> Tensor {
        let fits = other.dtype.isFloatingPoint || value == value.rounded() && other.dtype != .bool
        return full([], value: value, dtype: fits ? other.dtype : .float32, device: other.device)
    }
}
