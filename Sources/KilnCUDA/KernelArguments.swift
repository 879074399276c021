/// A kernel's parameters laid out as C lays out a parameter list (each value at its natural alignment), with
/// where each one starts. Device pointers are `UInt64` addresses (0 for a null pointer).
public struct KernelArguments {
    /// The packed bytes.
    public private(set) var bytes: [UInt8] = []
    /// The byte offset of each parameter in `bytes`, in order.
    public private(set) var offsets: [Int] = []

    /// No arguments yet.
    public init() {}

    /// Appends `value` after padding to its alignment.
    public mutating func append<T: BitwiseCopyable>(_ value: T) {
        let alignment = MemoryLayout<T>.alignment
        while bytes.count % alignment != 0 { bytes.append(0) }
        offsets.append(bytes.count)
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }

    /// Calls `body` with one pointer per parameter, as `cuLaunchKernel`'s `kernelParams` takes them. The driver
    /// copies each parameter by the size the kernel declares, so no buffer size has to match the kernel's
    /// (a packed buffer of the wrong size is refused with CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES).
    func withParameterPointers<R>(_ body: (UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> R) -> R {
        bytes.withUnsafeBytes { raw in
            // The driver only reads through these pointers.
            let base = UnsafeMutableRawPointer(mutating: raw.baseAddress!)
            return withUnsafeTemporaryAllocation(of: UnsafeMutableRawPointer?.self, capacity: offsets.count) { pointers in
                for (k, offset) in offsets.enumerated() { pointers[k] = base + offset }
                return body(pointers.baseAddress!)
            }
        }
    }
}
