import KilnCore
import Synchronization

/// Host memory owned by the CPU backend, 64-byte aligned, freed when the last reference goes.
final class CPUBuffer: DeviceBuffer, @unchecked Sendable {
    let byteCount: Int
    let pointer: UnsafeMutableRawPointer
    private let statistics: MemoryStatistics

    init(byteCount: Int, statistics: MemoryStatistics) {
        self.byteCount = byteCount
        self.pointer = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
        self.statistics = statistics
        statistics.allocated(byteCount)
    }

    deinit {
        pointer.deallocate()
        statistics.freed(byteCount)
    }
}

/// Live and peak byte counts and the number of allocations, updated from any thread.
final class MemoryStatistics: Sendable {
    private let live = Atomic<Int>(0)
    private let peakLive = Atomic<Int>(0)
    private let allocationCount = Atomic<Int>(0)

    func allocated(_ bytes: Int) {
        allocationCount.add(1, ordering: .relaxed)
        let now = live.add(bytes, ordering: .relaxed).newValue
        var peak = peakLive.load(ordering: .relaxed)
        while now > peak {
            let (exchanged, original) = peakLive.compareExchange(expected: peak, desired: now, ordering: .relaxed)
            if exchanged { break }
            peak = original
        }
    }

    func freed(_ bytes: Int) { live.subtract(bytes, ordering: .relaxed) }

    var current: Int { live.load(ordering: .relaxed) }
    var peak: Int { peakLive.load(ordering: .relaxed) }
    var allocations: Int { allocationCount.load(ordering: .relaxed) }
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
