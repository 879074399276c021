/// A kernel's parameters packed as C lays out a parameter list: each value at its natural alignment. Device
/// pointers are `UInt64` addresses (0 for a null pointer).
public struct KernelArguments {
    /// The packed bytes.
    public private(set) var bytes: [UInt8] = []

    /// No arguments yet.
    public init() {}

    /// Appends `value` after padding to its alignment.
    public mutating func append<T: BitwiseCopyable>(_ value: T) {
        let alignment = MemoryLayout<T>.alignment
        while bytes.count % alignment != 0 { bytes.append(0) }
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }

    /// The packed size, padded to 8 bytes.
    public var paddedBytes: [UInt8] {
        var result = bytes
        while result.count % 8 != 0 { result.append(0) }
        return result
    }
}
