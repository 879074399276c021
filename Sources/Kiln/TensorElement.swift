/// Swift types that can carry tensor elements to and from the host.
public protocol TensorElement: Sendable {
    /// The dtype that stores this type.
    static var dtype: DType { get }
}

extension Float: TensorElement {
    /// `float32`.
    public static var dtype: DType { .float32 }
}

extension Double: TensorElement {
    /// `float64`.
    public static var dtype: DType { .float64 }
}

extension Float16: TensorElement {
    /// `float16`.
    public static var dtype: DType { .float16 }
}

extension Int32: TensorElement {
    /// `int32`.
    public static var dtype: DType { .int32 }
}

extension Int64: TensorElement {
    /// `int64`.
    public static var dtype: DType { .int64 }
}

extension UInt8: TensorElement {
    /// `uint8`.
    public static var dtype: DType { .uint8 }
}

extension Bool: TensorElement {
    /// `bool` (one byte, 0 or 1).
    public static var dtype: DType { .bool }
}
