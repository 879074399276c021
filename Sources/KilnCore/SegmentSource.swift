/// Where a `CachingAllocator` gets its memory from: the driver on a GPU, aligned host memory on the CPU, a fake
/// in the tests.
public protocol SegmentSource: AnyObject {
    /// A new segment of `byteCount` bytes, or `nil` when the device is out of memory; other failures throw.
    func allocateSegment(byteCount: Int) throws -> UInt64?
    /// Returns a segment obtained from `allocateSegment`.
    func freeSegment(_ address: UInt64)
}
