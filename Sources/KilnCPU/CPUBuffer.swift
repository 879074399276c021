import Foundation
#if canImport(Glibc)
import Glibc
#endif
import KilnCore
import Synchronization

/// Host memory owned by the CPU backend, 64-byte aligned, from the backend's caching allocator; its block goes
/// back to the cache when the last reference goes.
final class CPUBuffer: DeviceBuffer, @unchecked Sendable {
    let byteCount: Int
    let pointer: UnsafeMutableRawPointer
    private let block: CachingAllocator.Block
    private let memory: HostMemory

    init(byteCount: Int, block: CachingAllocator.Block, memory: HostMemory) {
        self.byteCount = byteCount
        self.pointer = UnsafeMutableRawPointer(bitPattern: UInt(block.address))!
        self.block = block
        self.memory = memory
    }

    deinit { memory.release(block) }
}

/// The CPU backend's memory: a `CachingAllocator` over 64-byte-aligned host segments, so a training loop
/// reuses its buffers instead of asking the system (and faulting fresh pages in) on every step.
/// `KILN_CPU_CACHE=0` returns every wholly free segment at once instead of caching it.
final class HostMemory: SegmentSource, @unchecked Sendable {
    private let cache = Mutex<CachingAllocator?>(nil)
    private let caching = ProcessInfo.processInfo.environment["KILN_CPU_CACHE"] != "0"

    init() {
        cache.withLock { $0 = CachingAllocator(source: self, device: "cpu") }
    }

    /// A segment (a multiple of 2 MiB) aligned to 2 MiB and marked for transparent huge pages, as NumPy does
    /// for its large arrays: a GEMM's operands and a training step's activations then take one TLB entry per
    /// 2 MiB instead of one per 4 KiB, where the kernel has THP in `madvise` mode.
    func allocateSegment(byteCount: Int) throws -> UInt64? {
        let segment = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: CachingAllocator.segmentGranularity)
        #if canImport(Glibc)
        _ = madvise(segment, byteCount, MADV_HUGEPAGE)
        #endif
        return UInt64(UInt(bitPattern: segment))
    }

    func freeSegment(_ address: UInt64) {
        UnsafeMutableRawPointer(bitPattern: UInt(address))!.deallocate()
    }

    /// A buffer of `byteCount` bytes.
    func allocate(byteCount: Int) throws -> CPUBuffer {
        let block = try cache.withLock { try $0!.allocate(byteCount: max(byteCount, 1)) }
        return CPUBuffer(byteCount: byteCount, block: block, memory: self)
    }

    func release(_ block: CachingAllocator.Block) {
        cache.withLock { cache in
            cache!.free(block)
            if !caching { cache!.releaseCache() }
        }
    }

    /// Returns every wholly free segment to the system.
    func emptyCache() { cache.withLock { $0!.releaseCache() } }

    /// The allocator's figures, with the machine's memory as the total.
    func figures() -> MemoryInfo {
        cache.withLock {
            MemoryInfo(allocated: $0!.allocated, reserved: $0!.reserved, peak: $0!.peak,
                       total: Int(clamping: ProcessInfo.processInfo.physicalMemory),
                       allocations: $0!.allocations, systemAllocations: $0!.segmentAllocations)
        }
    }
}

extension CPUBuffer {
    /// The host address of `buffer`, which must belong to the CPU backend.
    static func address(of buffer: any DeviceBuffer) -> UnsafeMutableRawPointer {
        guard let cpu = buffer as? CPUBuffer else {
            fatalError("CPU backend: a buffer of another device (\(type(of: buffer))) was passed to a CPU op")
        }
        return cpu.pointer
    }
}

extension BufferView {
    /// The host address of the view's buffer (the view must belong to the CPU backend).
    var base: UnsafeMutableRawPointer { CPUBuffer.address(of: buffer) }
}
