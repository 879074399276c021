import Foundation
import Testing
import Kiln
import KilnCore

/// The caching allocator both backends use, against a fake segment source, and on the CPU backend.
@Suite struct CachingAllocatorTests {
    /// A segment source over a pretend address space with a capacity, counting what it hands out.
    final class FakeSegments: SegmentSource {
        var capacity: Int
        var next: UInt64 = 1 << 32
        var live: [UInt64: Int] = [:]
        var freed: [UInt64] = []
        init(capacity: Int) { self.capacity = capacity }
        func allocateSegment(byteCount: Int) throws -> UInt64? {
            guard live.values.reduce(0, +) + byteCount <= capacity else { return nil }
            defer { next += UInt64(byteCount) + 4096 }
            live[next] = byteCount
            return next
        }
        func freeSegment(_ address: UInt64) { live[address] = nil; freed.append(address) }
    }

    @Test func allocatorSplitsReusesAndCoalesces() throws {
        let source = FakeSegments(capacity: 64 << 20)
        let cache = CachingAllocator(source: source, device: "test")
        let a = try cache.allocate(byteCount: 1000), b = try cache.allocate(byteCount: 3000)
        // Both small requests come from one 2 MiB segment, rounded up to 512 bytes, side by side.
        #expect(source.live.count == 1 && cache.reserved == 2 << 20)
        #expect(a.size == 1024 && b.size == 3072 && b.address == a.address + 1024)
        #expect(cache.allocated == 4096 && cache.peak == 4096)
        cache.free(a)
        let c = try cache.allocate(byteCount: 600)
        #expect(c.address == a.address, "the freed block is reused best-fit")
        cache.free(c); cache.free(b)
        // Everything free again coalesces into one block spanning the segment.
        #expect(cache.freeBlockCount == 1 && cache.allocated == 0)
        let whole = try cache.allocate(byteCount: 1 << 20)
        #expect(whole.address == a.address && source.live.count == 1)
        cache.free(whole)
        // Large requests get their own segment, rounded to 2 MiB, and are never served from the small pool.
        let large = try cache.allocate(byteCount: 3 << 20)
        #expect(source.live.count == 2 && large.size == 3 << 20 && cache.reserved == 2 << 20 + 4 << 20)
        cache.free(large)
        #expect(cache.allocations == 5)
    }

    @Test func allocatorReleasesItsCacheOnOutOfMemoryThenReportsTheFigures() throws {
        let source = FakeSegments(capacity: 7 << 20)
        let cache = CachingAllocator(source: source, device: "test")
        let first = try cache.allocate(byteCount: 6 << 20)
        cache.free(first)
        // A small request needs a 2 MiB segment; with 6 MiB cached the 7 MiB device is full, so the cached
        // segment goes back and the retry succeeds.
        let second = try cache.allocate(byteCount: 1000)
        #expect(source.freed.count == 1 && cache.reserved == 2 << 20 && cache.allocated == 1024)
        do {
            _ = try cache.allocate(byteCount: 6 << 20)
            Issue.record("allocation beyond capacity succeeded")
        } catch KilnError.outOfMemory(let device, let requested, let detail) {
            #expect(device == "test" && requested == 6 << 20)
            #expect(detail.contains("1024 bytes allocated") && detail.contains("\(2 << 20) reserved"))
        }
        cache.free(second)
    }

    @Test func theCPUBackendReusesFreedMemory() throws {
        let backend = Device.cpu.backend
        // Other tests allocate concurrently and may reach the system in between, so a few tries are allowed.
        var reused = false
        for _ in 0..<5 where !reused {
            _ = try backend.allocate(byteCount: 3_333_333)   // freed at once, into the cache
            let before = backend.memoryInfo()
            let again = try backend.allocate(byteCount: 3_333_333)
            reused = backend.memoryInfo().systemAllocations == before.systemAllocations
            withExtendedLifetime(again) {}
        }
        #expect(reused)
        let figures = backend.memoryInfo()
        #expect(figures.reserved >= figures.allocated && figures.systemAllocations <= figures.allocations)
    }
}
