import CCUDA
import KilnCore
import Synchronization

/// Device memory from the caching allocator; returns its block to the cache when the last reference goes.
final class CUDABuffer: DeviceBuffer, @unchecked Sendable {
    let byteCount: Int
    /// The device address.
    let address: UInt64
    private let block: CachingAllocator.Block
    private let memory: CUDAMemory

    init(byteCount: Int, block: CachingAllocator.Block, memory: CUDAMemory) {
        self.byteCount = byteCount
        self.address = block.address
        self.block = block
        self.memory = memory
    }

    deinit { memory.release(block) }
}

/// The pinned host buffer transfers go through, and the event marking the end of its last use.
struct Staging: @unchecked Sendable {
    var pointer: UnsafeMutableRawPointer?
    var size = 0
    var event: UnsafeMutableRawPointer?
}

/// A device's memory: the caching allocator over `cuMemAlloc`, and a pinned host buffer that transfers are
/// staged through.
final class CUDAMemory: SegmentSource, @unchecked Sendable {
    private let context: CUDAContext
    private let cache = Mutex<CachingAllocator?>(nil)
    private let staging = Mutex(Staging())
    /// The largest pinned staging buffer; larger transfers go through it in pieces.
    static let stagingLimit = 8 << 20

    init(context: CUDAContext) {
        self.context = context
        cache.withLock { $0 = CachingAllocator(source: self, device: context.label) }
    }

    func allocateSegment(byteCount: Int) throws -> UInt64? {
        context.makeCurrent()
        var address: UInt64 = 0
        let status = kiln_cuMemAlloc(&address, byteCount)
        if status == 2 { return nil }   // CUDA_ERROR_OUT_OF_MEMORY: the allocator releases its cache and retries
        try CUDAStatus.check(status, "cuMemAlloc(\(byteCount) bytes)", device: context.label)
        return address
    }

    func freeSegment(_ address: UInt64) {
        context.makeCurrent()
        // Freed blocks may still be read by enqueued kernels: wait for them before the memory goes back.
        for (status, call) in [(kiln_cuStreamSynchronize(context.stream), "cuStreamSynchronize"), (kiln_cuMemFree(address), "cuMemFree")]
        where status != 0 {
            context.record(CUDAStatus.failure(status, "\(call) (returning cached memory)", device: context.label))
        }
    }

    /// A buffer of `byteCount` bytes from the cache.
    func allocate(byteCount: Int) throws -> CUDABuffer {
        let block = try cache.withLock { try $0!.allocate(byteCount: max(byteCount, 1)) }
        return CUDABuffer(byteCount: byteCount, block: block, memory: self)
    }

    func release(_ block: CachingAllocator.Block) { cache.withLock { $0!.free(block) } }

    /// The allocator's figures.
    func figures(total: Int) -> MemoryInfo {
        cache.withLock {
            MemoryInfo(allocated: $0!.allocated, reserved: $0!.reserved, peak: $0!.peak, total: total,
                       allocations: $0!.allocations, systemAllocations: $0!.segmentAllocations)
        }
    }

    /// Returns every wholly free cached segment to the driver.
    func emptyCache() { cache.withLock { $0!.releaseCache() } }

    /// Runs `body` with the pinned staging buffer (at least `byteCount` bytes, at most `stagingLimit`), after
    /// the previous transfer through it has finished.
    private func withStaging<R>(_ byteCount: Int, _ body: (UnsafeMutableRawPointer, UnsafeMutableRawPointer) throws -> R) throws -> R {
        try staging.withLock { staging in
            context.makeCurrent()
            if staging.event == nil {
                var event: UnsafeMutableRawPointer?
                try CUDAStatus.check(kiln_cuEventCreate(&event), "cuEventCreate", device: context.label)
                staging.event = event
            }
            try CUDAStatus.check(kiln_cuEventSynchronize(staging.event), "cuEventSynchronize (staging)", device: context.label)
            let wanted = min(max(byteCount, 1 << 16), Self.stagingLimit)
            if staging.size < wanted {
                if let old = staging.pointer { _ = kiln_cuMemFreeHost(old) }
                staging.pointer = nil
                staging.size = 0
                var pointer: UnsafeMutableRawPointer?
                try CUDAStatus.check(kiln_cuMemAllocHost(&pointer, wanted), "cuMemAllocHost(\(wanted) bytes)", device: context.label)
                staging.pointer = pointer
                staging.size = wanted
            }
            return try body(staging.pointer!, staging.event!)
        }
    }

    /// Copies host bytes to `address`, piece by piece through the pinned buffer; returns once the last piece
    /// is enqueued (the bytes are already copied out of `source`).
    func upload(_ source: UnsafeRawBufferPointer, to address: UInt64) throws {
        guard let base = source.baseAddress, source.count > 0 else { return }
        var done = 0
        while done < source.count {
            let piece = min(source.count - done, Self.stagingLimit)
            try withStaging(piece) { pinned, event in
                pinned.copyMemory(from: base + done, byteCount: piece)
                try CUDAStatus.check(kiln_cuMemcpyHtoDAsync(address + UInt64(done), pinned, piece, context.stream),
                                     "cuMemcpyHtoDAsync(\(piece) bytes)", device: context.label)
                try CUDAStatus.check(kiln_cuEventRecord(event, context.stream), "cuEventRecord", device: context.label)
            }
            done += piece
        }
    }

    /// Copies bytes at `address` to the host after every enqueued op has finished.
    func download(_ destination: UnsafeMutableRawBufferPointer, from address: UInt64) throws {
        try context.synchronize("copy to host")
        guard let base = destination.baseAddress, destination.count > 0 else { return }
        var done = 0
        while done < destination.count {
            let piece = min(destination.count - done, Self.stagingLimit)
            try withStaging(piece) { pinned, _ in
                try CUDAStatus.check(kiln_cuMemcpyDtoHAsync(pinned, address + UInt64(done), piece, context.stream),
                                     "cuMemcpyDtoHAsync(\(piece) bytes)", device: context.label)
                try context.synchronize("cuMemcpyDtoHAsync(\(piece) bytes)")
                (base + done).copyMemory(from: pinned, byteCount: piece)
            }
            done += piece
        }
    }
}
