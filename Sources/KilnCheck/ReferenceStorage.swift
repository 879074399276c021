import KilnCore

/// Host memory of the reference backend.
final class ReferenceBuffer: DeviceBuffer, @unchecked Sendable {
    let byteCount: Int
    let bytes: UnsafeMutableRawPointer

    init(byteCount: Int) {
        self.byteCount = byteCount
        bytes = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 16)
    }

    deinit { bytes.deallocate() }
}

/// Element access one index at a time, as `Double`: slow on purpose, and obviously right.
extension BufferView {
    private var memory: UnsafeMutableRawPointer {
        guard let buffer = buffer as? ReferenceBuffer else {
            fatalError("reference backend: a buffer of another device (\(type(of: buffer))) was passed to a reference op")
        }
        return buffer.bytes
    }

    /// The element at a multi-index.
    subscript(_ index: [Int]) -> Double {
        get { self[element: layout.bufferIndex(index)] }
        nonmutating set { self[element: layout.bufferIndex(index)] = newValue }
    }

    /// The element at a buffer position, converted to `Double` (integers exactly up to 2⁵³).
    subscript(element position: Int) -> Double {
        get {
            let p = memory
            switch dtype {
            case .float32: return Double(p.load(fromByteOffset: position * 4, as: Float.self))
            case .float64: return p.load(fromByteOffset: position * 8, as: Double.self)
            case .float16: return Double(Float(p.load(fromByteOffset: position * 2, as: Float16.self)))
            case .bfloat16: return Double(HalfPrecision.float(fromBFloat16: p.load(fromByteOffset: position * 2, as: UInt16.self)))
            case .int32: return Double(p.load(fromByteOffset: position * 4, as: Int32.self))
            case .int64: return Double(p.load(fromByteOffset: position * 8, as: Int64.self))
            case .uint8, .bool: return Double(p.load(fromByteOffset: position, as: UInt8.self))
            }
        }
        nonmutating set {
            let p = memory
            switch dtype {
            case .float32: p.storeBytes(of: Float(newValue), toByteOffset: position * 4, as: Float.self)
            case .float64: p.storeBytes(of: newValue, toByteOffset: position * 8, as: Double.self)
            case .float16: p.storeBytes(of: Float16(Float(newValue)), toByteOffset: position * 2, as: Float16.self)
            case .bfloat16:
                p.storeBytes(of: HalfPrecision.bfloat16(from: Float(newValue)), toByteOffset: position * 2, as: UInt16.self)
            case .int32: p.storeBytes(of: Int32(truncatingIfNeeded: integer(newValue)), toByteOffset: position * 4, as: Int32.self)
            case .int64: p.storeBytes(of: integer(newValue), toByteOffset: position * 8, as: Int64.self)
            case .uint8: p.storeBytes(of: UInt8(truncatingIfNeeded: integer(newValue)), toByteOffset: position, as: UInt8.self)
            case .bool: p.storeBytes(of: newValue != 0 ? 1 : 0, toByteOffset: position, as: UInt8.self)
            }
        }
    }

    /// C's conversion: truncation toward zero, NaN to 0, saturation at the `Int64` range.
    private func integer(_ value: Double) -> Int64 {
        if value.isNaN { return 0 }
        if value >= 9.223372036854775807e18 { return .max }
        if value <= -9.223372036854775808e18 { return .min }
        return Int64(value)
    }
}

/// Every multi-index of `shape`, in row-major order.
func indices(of shape: [Int]) -> [[Int]] {
    let count = shape.reduce(1, *)
    guard count > 0 else { return [] }
    var result: [[Int]] = []
    result.reserveCapacity(count)
    var index = [Int](repeating: 0, count: shape.count)
    for _ in 0..<count {
        result.append(index)
        Shape.increment(&index, within: shape)
    }
    return result
}
