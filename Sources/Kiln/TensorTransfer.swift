extension Tensor {
    /// The tensor on `device`: `self` when it is already there, else a copy (differentiable).
    public func to(_ device: Device) -> Tensor {
        if device == self.device { return self }
        let source = contiguous()
        let result = Tensor.uninitialized(shape, dtype: dtype, device: device)
        var bytes = [UInt8](repeating: 0, count: count * dtype.byteSize)
        bytes.withUnsafeMutableBytes { host in
            do {
                try source.device.backend.copy(toHost: host, from: source.buffer, byteOffset: source.layout.offset * dtype.byteSize)
                try device.backend.copy(fromHost: UnsafeRawBufferPointer(host), to: result.buffer, byteOffset: 0)
            } catch {
                fatalError("to(\(device)): copying \(shape) \(dtype) from \(self.device): \(error)")
            }
        }
        let origin = self.device
        return result.recorded("to", [self]) { g in [g.to(origin)] }
    }

    /// The tensor converted to `dtype`: `self` when it already has it, else a converted copy
    /// (differentiable between floating-point dtypes).
    public func to(_ dtype: DType) -> Tensor {
        if dtype == self.dtype { return self }
        OpCheck.supported(.copy, self.dtype, on: device)
        let result = Tensor.uninitialized(shape, dtype: dtype, device: device)
        device.backend.copy(view, to: result.view)
        guard dtype.isFloatingPoint else { return result }
        let origin = self.dtype
        return result.recorded("to", [self]) { g in [g.to(origin)] }
    }

    /// The elements in row-major order, converted to `T`.
    public func toArray<T: TensorElement>(_ type: T.Type = T.self) -> [T] {
        (dtype == T.dtype ? self : noGrad { to(T.dtype) }).hostCopy(T.self, count: count)
    }

    /// The elements' bytes in row-major order, little-endian, as files store them.
    public func bytes() -> [UInt8] { hostCopy(UInt8.self, count: count * dtype.byteSize) }

    /// The contiguous form's memory read to the host as `count` values of `T`.
    private func hostCopy<T>(_ type: T.Type, count: Int) -> [T] {
        let source = noGrad { contiguous() }
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            do {
                try source.device.backend.copy(toHost: UnsafeMutableRawBufferPointer(buffer), from: source.buffer,
                                               byteOffset: source.layout.offset * source.dtype.byteSize)
            } catch {
                fatalError("toArray: reading \(shape) \(dtype) from \(device): \(error)")
            }
            initialized = count
        }
    }

    /// The value of a one-element tensor, converted to `T`.
    public func item<T: TensorElement>(_ type: T.Type = T.self) -> T {
        require(count == 1, "item: the tensor has \(count) elements (shape \(shape)); item needs exactly one")
        return toArray(T.self)[0]
    }
}
