/// A kernel's parameters packed as C lays out a parameter list: each value at its natural alignment. Device
/// pointers are `UInt64` addresses (0 for a null pointer).
struct KernelArguments {
    private(set) var bytes: [UInt8] = []

    /// Appends `value` after padding to its alignment.
    mutating func append<T: BitwiseCopyable>(_ value: T) {
        let alignment = MemoryLayout<T>.alignment
        while bytes.count % alignment != 0 { bytes.append(0) }
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }

    /// Appends each of `values` (integers become `Int32` only when passed as `Int32`).
    mutating func append(_ values: any BitwiseCopyable...) {
        for value in values { append(value) }
    }

    /// The packed size, padded to 8 bytes.
    var paddedBytes: [UInt8] {
        var result = bytes
        while result.count % 8 != 0 { result.append(0) }
        return result
    }
}
