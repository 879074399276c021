/// The element type of a tensor, chosen at run time.
///
/// Floating-point tensors of every width are stored as themselves; the CPU backend computes `float16` and
/// `bfloat16` in `float32` and `float64` in `float64`. Integer and boolean tensors compute in 64-bit integers.
public enum DType: String, Sendable, CaseIterable, CustomStringConvertible {
    /// IEEE 754 binary32.
    case float32
    /// IEEE 754 binary64: the dtype of the numerical reference and of gradient checking.
    case float64
    /// IEEE 754 binary16.
    case float16
    /// Brain floating point: the top 16 bits of a binary32.
    case bfloat16
    /// Signed 32-bit integers.
    case int32
    /// Signed 64-bit integers: the dtype of indices produced by the library (argmax, pooling indices).
    case int64
    /// Unsigned bytes.
    case uint8
    /// Booleans, one byte each (0 or 1): the result of comparisons.
    case bool

    /// The number of bytes one element occupies.
    public var byteSize: Int {
        switch self {
        case .float64, .int64: 8
        case .float32, .int32: 4
        case .float16, .bfloat16: 2
        case .uint8, .bool: 1
        }
    }

    /// Whether the dtype holds floating-point values.
    public var isFloatingPoint: Bool {
        switch self {
        case .float32, .float64, .float16, .bfloat16: true
        default: false
        }
    }

    /// Whether the dtype is a 16-bit floating-point format computed in `float32`.
    public var isHalf: Bool { self == .float16 || self == .bfloat16 }

    /// Whether the dtype can hold indices (`int32` or `int64`).
    public var isIndex: Bool { self == .int32 || self == .int64 }

    /// The dtype's name, as `--dtype` and error messages spell it.
    public var description: String { rawValue }

    /// The dtype that holds the result of a binary operation between `self` and `other`, following PyTorch's
    /// promotion lattice: bool < uint8 < int32 < int64 < bfloat16/float16 < float32 < float64, and
    /// float16 with bfloat16 giving float32.
    public func promoted(with other: DType) -> DType {
        if self == other { return self }
        if isHalf && other.isHalf { return .float32 }
        return rank >= other.rank ? self : other
    }

    private var rank: Int {
        switch self {
        case .bool: 0
        case .uint8: 1
        case .int32: 2
        case .int64: 3
        case .bfloat16, .float16: 4
        case .float32: 5
        case .float64: 6
        }
    }
}
