/// A size-bucketed caching allocator in the manner of PyTorch's: requests are rounded up to 512 bytes; small ones
/// (up to 1 MiB) are carved from 2 MiB segments, large ones from segments rounded up to 2 MiB. Freed blocks are
/// kept, coalesced with free neighbours, and reused best-fit without returning memory to the driver. When the
/// source is out of memory, every wholly free segment is released and the request retried once.
///
/// Both backends use it: the CUDA backend over `cuMemAlloc` (blocks are reused in stream order, which is safe
/// because every op of a device runs on its one stream), the CPU backend over aligned host memory (ops finish
/// before they return). Not thread-safe: the owner serialises calls.
public final class CachingAllocator: @unchecked Sendable {
    /// One range of a segment, free or in use.
    public final class Block: @unchecked Sendable {
        let segment: UInt64
        /// The block's device address.
        public internal(set) var address: UInt64
        /// The block's size in bytes (the request rounded up).
        public internal(set) var size: Int
        var isFree = true
        weak var previous: Block?
        var next: Block?

        init(segment: UInt64, address: UInt64, size: Int) {
            self.segment = segment; self.address = address; self.size = size
        }
    }

    static let granularity = 512
    static let smallLimit = 1 << 20
    /// The size unit of segments (2 MiB): small blocks share one, large ones take a multiple.
    public static let segmentGranularity = 2 << 20

    private let source: SegmentSource
    private let device: String
    /// Free blocks of each pool, sorted by (size, address).
    private var freeSmall: [Block] = [], freeLarge: [Block] = []
    /// The first block of each segment, by segment address, with the segment's size.
    private var segments: [UInt64: (first: Block, size: Int, small: Bool)] = [:]
    /// Bytes in blocks in use.
    public private(set) var allocated = 0
    /// Bytes held from the source, in use or cached.
    public private(set) var reserved = 0
    /// The largest `allocated` seen.
    public private(set) var peak = 0
    /// Requests served.
    public private(set) var allocations = 0
    /// Segments obtained from the source: the allocations that reached the system.
    public private(set) var segmentAllocations = 0

    /// An empty cache over `source`; errors name `device`.
    public init(source: SegmentSource, device: String) {
        self.source = source
        self.device = device
    }

    /// The bytes a request of `byteCount` occupies.
    static func rounded(_ byteCount: Int) -> Int {
        max(granularity, (byteCount + granularity - 1) / granularity * granularity)
    }

    /// A block of at least `byteCount` bytes; throws `outOfMemory` with the figures when none can be had.
    public func allocate(byteCount: Int) throws -> Block {
        let size = Self.rounded(byteCount), small = size <= Self.smallLimit
        allocations += 1
        let block: Block
        if let found = takeBestFit(size, small: small) {
            block = found
        } else {
            let segmentSize = small ? Self.segmentGranularity
                : (size + Self.segmentGranularity - 1) / Self.segmentGranularity * Self.segmentGranularity
            var address = try source.allocateSegment(byteCount: segmentSize)
            if address == nil {
                releaseCache()
                address = try source.allocateSegment(byteCount: segmentSize)
            }
            guard let address else {
                throw KilnError.outOfMemory(device: device, requestedBytes: byteCount,
                                            detail: "\(allocated) bytes allocated, \(reserved) reserved (cache released and retried)")
            }
            segmentAllocations += 1
            block = Block(segment: address, address: address, size: segmentSize)
            segments[address] = (block, segmentSize, small)
            reserved += segmentSize
        }
        split(block, keeping: size, small: small)
        block.isFree = false
        allocated += block.size
        peak = max(peak, allocated)
        return block
    }

    /// Returns a block to the cache, merging it with free neighbours of its segment.
    public func free(_ block: Block) {
        precondition(!block.isFree, "CachingAllocator: block freed twice")
        allocated -= block.size
        block.isFree = true
        var merged = block
        if let next = merged.next, next.isFree {
            remove(next)
            merged.size += next.size
            merged.next = next.next
            next.next?.previous = merged
        }
        if let previous = merged.previous, previous.isFree {
            remove(previous)
            previous.size += merged.size
            previous.next = merged.next
            merged.next?.previous = previous
            merged = previous
        }
        insert(merged)
    }

    /// Returns every wholly free segment to the source.
    public func releaseCache() {
        for (address, segment) in segments where segment.first.isFree && segment.first.size == segment.size {
            remove(segment.first)
            segments[address] = nil
            reserved -= segment.size
            source.freeSegment(address)
        }
    }

    /// The number of free blocks cached (for tests).
    public var freeBlockCount: Int { freeSmall.count + freeLarge.count }

    private func split(_ block: Block, keeping size: Int, small: Bool) {
        let remainder = block.size - size
        guard remainder >= (small ? Self.granularity : Self.smallLimit) else { return }
        let rest = Block(segment: block.segment, address: block.address + UInt64(size), size: remainder)
        rest.previous = block
        rest.next = block.next
        block.next?.previous = rest
        block.next = rest
        block.size = size
        insert(rest)
    }

    private func takeBestFit(_ size: Int, small: Bool) -> Block? {
        let index = position(of: size, address: 0, in: small ? freeSmall : freeLarge)
        if small {
            guard index < freeSmall.count else { return nil }
            return freeSmall.remove(at: index)
        }
        guard index < freeLarge.count else { return nil }
        return freeLarge.remove(at: index)
    }

    private func position(of size: Int, address: UInt64, in list: [Block]) -> Int {
        var low = 0, high = list.count
        while low < high {
            let middle = (low + high) / 2
            if (list[middle].size, list[middle].address) < (size, address) { low = middle + 1 } else { high = middle }
        }
        return low
    }

    private func isSmall(_ block: Block) -> Bool { segments[block.segment]?.small ?? false }

    private func insert(_ block: Block) {
        if isSmall(block) {
            freeSmall.insert(block, at: position(of: block.size, address: block.address, in: freeSmall))
        } else {
            freeLarge.insert(block, at: position(of: block.size, address: block.address, in: freeLarge))
        }
    }

    private func remove(_ block: Block) {
        let small = isSmall(block)
        let index = position(of: block.size, address: block.address, in: small ? freeSmall : freeLarge)
        if small { freeSmall.remove(at: index) } else { freeLarge.remove(at: index) }
    }
}
