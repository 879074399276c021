import Foundation
import Testing
import Kiln
import KilnCore
import CCUDA
import KilnCUDA

/// The parts of the CUDA backend that run without a GPU: the probe, the caching allocator, the kernel
/// iterator and argument packing, the cuBLAS plan (checked by interpreting it on the CPU), and the embedded PTX.
@Suite struct CUDAHostTests {
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

    @Test func probeSaysWhyCUDAIsUnavailableWithoutCrashing() throws {
        guard case .unavailable(let reason) = CUDAProbe.availability else { return }   // a GPU machine: see CUDATests
        #expect(!reason.isEmpty)
        if !CUDAProbe.isBuilt { #expect(reason.contains("install nvidia-cuda-dev")) }
        do {
            _ = try Device.cuda(0)
            Issue.record("Device.cuda(0) succeeded although the probe said: \(reason)")
        } catch let error as KilnError {
            #expect("\(error)".contains(reason))
        }
        #expect(Device.available == [.cpu])
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

    @Test func iteratorMergesAxesEveryOperandAllows() {
        let contiguous = KernelIterator([Layout(contiguous: [4, 5, 6]), Layout(contiguous: [4, 5, 6], offset: 7)])
        #expect(contiguous.shape == [120] && contiguous.strides == [[1], [1]] && contiguous.offsets == [0, 7])
        // A broadcast row: the operand with stride 0 on axis 0 keeps the axes apart.
        let row = Layout(shape: [4, 6], strides: [0, 1])
        let broadcast = KernelIterator([Layout(contiguous: [4, 6]), row])
        #expect(broadcast.shape == [4, 6] && broadcast.strides == [[6, 1], [0, 1]])
        // A transposed operand blocks merging; extent-1 axes disappear.
        let transposed = Layout(contiguous: [6, 1, 4]).permuted([2, 1, 0])
        let walk = KernelIterator([Layout(contiguous: [4, 1, 6]), transposed])
        #expect(walk.shape == [4, 6] && walk.strides == [[6, 1], [1, 4]])
        // The C struct is innermost-first.
        let descriptor = walk.descriptor
        #expect(descriptor.rank == 2 && descriptor.count == 24 && descriptor.operands == 2)
        #expect(descriptor.shape.0 == 6 && descriptor.shape.1 == 4)
        #expect(descriptor.strides.1.0 == 4 && descriptor.strides.1.1 == 1)
    }

    @Test func argumentsFollowCAlignment() {
        var arguments = KernelArguments()
        arguments.append(Int32(7))
        arguments.append(UInt64(0x1122))
        arguments.append(Int32(3))
        arguments.append(2.5)
        // int at 0, pointer at 8, int at 16, double at 24 (after 4 bytes of padding).
        #expect(arguments.bytes.count == 32 && arguments.paddedBytes.count == 32)
        #expect(arguments.bytes[8] == 0x22 && arguments.bytes[16] == 3)
        #expect(arguments.bytes[24...].elementsEqual(withUnsafeBytes(of: 2.5) { Array($0) }))
        #expect(MemoryLayout<KilnIter>.size == 368 && MemoryLayout<KilnAdam>.size == 80)
    }

    /// Runs a plan the way cuBLAS defines `cublasGemmStridedBatchedEx` (column-major, op flags, leading
    /// dimensions, batch strides) on host arrays indexed like the device buffers.
    static func interpret(_ plan: GemmPlan, a: [Double], b: [Double], out: inout [Double], offsets: (Int, Int, Int), batch: Int) {
        let sources = [(a, offsets.0), (b, offsets.1)]
        func element(_ operand: GemmPlan.Operand, _ row: Int, _ column: Int, _ batchIndex: Int) -> Double {
            let (data, offset) = sources[operand.source]
            let (r, c) = operand.transposed ? (column, row) : (row, column)
            return data[offset + batchIndex * operand.batchStride + r + c * operand.leading]
        }
        for p in 0..<batch {
            for i in 0..<plan.m {
                for j in 0..<plan.n {
                    var total = 0.0
                    for l in 0..<plan.k { total += element(plan.first, i, l, p) * element(plan.second, l, j, p) }
                    out[offsets.2 + p * plan.batchStrideC + i + j * plan.leadingC] = total
                }
            }
        }
    }

    static let gemmLayouts: [(String, Layout, Layout, Layout)] = {
        let (batch, m, k, n) = (2, 3, 4, 5)
        return [
            ("contiguous", Layout(contiguous: [batch, m, k]), Layout(contiguous: [batch, k, n]), Layout(contiguous: [batch, m, n])),
            ("a transposed", Layout(contiguous: [batch, k, m]).transposed(1, 2), Layout(contiguous: [batch, k, n]), Layout(contiguous: [batch, m, n])),
            ("b transposed", Layout(contiguous: [batch, m, k]), Layout(contiguous: [batch, n, k]).transposed(1, 2), Layout(contiguous: [batch, m, n])),
            ("both transposed, offset", Layout(contiguous: [batch, k, m], offset: 3).transposed(1, 2),
             Layout(contiguous: [batch, n, k], offset: 5).transposed(1, 2), Layout(contiguous: [batch, m, n], offset: 2)),
            ("b broadcast over the batch", Layout(contiguous: [batch, m, k]), Layout(shape: [batch, k, n], strides: [0, n, 1]),
             Layout(contiguous: [batch, m, n])),
            ("column-major output", Layout(contiguous: [batch, m, k]), Layout(contiguous: [batch, k, n]),
             Layout(contiguous: [batch, n, m]).transposed(1, 2)),
            ("padded rows", Layout(shape: [batch, m, k], strides: [m * 8, 8, 1]), Layout(shape: [batch, k, n], strides: [k * 7, 7, 1]),
             Layout(shape: [batch, m, n], strides: [m * 9, 9, 1])),
            ("vector times matrix", Layout(contiguous: [batch, 1, k]), Layout(contiguous: [batch, k, n]), Layout(contiguous: [batch, 1, n])),
        ]
    }()

    @Test(arguments: gemmLayouts.indices)
    func gemmPlanComputesTheRowMajorProduct(_ index: Int) throws {
        let (name, a, b, out) = Self.gemmLayouts[index]
        let plan = try #require(GemmPlan(a: a, b: b, out: out), "\(name): no plan")
        var generator = SystemRandomNumberGenerator()
        let aData = (0..<(a.span.upperBound + 1)).map { _ in Double(Int.random(in: -5...5, using: &generator)) }
        let bData = (0..<(b.span.upperBound + 1)).map { _ in Double(Int.random(in: -5...5, using: &generator)) }
        var result = [Double](repeating: .nan, count: out.span.upperBound + 1)
        Self.interpret(plan, a: aData, b: bData, out: &result, offsets: (a.offset, b.offset, out.offset), batch: out.shape[0])
        for p in 0..<out.shape[0] {
            for i in 0..<out.shape[1] {
                for j in 0..<out.shape[2] {
                    var expected = 0.0
                    for l in 0..<a.shape[2] { expected += aData[a.bufferIndex([p, i, l])] * bData[b.bufferIndex([p, l, j])] }
                    #expect(result[out.bufferIndex([p, i, j])] == expected, "\(name) [\(p), \(i), \(j)]")
                }
            }
        }
    }

    @Test func gemmPlanRefusesStridesCuBLASCannotRead() {
        let strided = Layout(shape: [1, 3, 4], strides: [24, 8, 2])   // neither axis contiguous
        #expect(GemmPlan(a: strided, b: Layout(contiguous: [1, 4, 2]), out: Layout(contiguous: [1, 3, 2])) == nil)
        let overlapping = Layout(shape: [2, 3, 2], strides: [0, 2, 1])   // every batch writes the same output
        #expect(GemmPlan(a: Layout(contiguous: [2, 3, 4]), b: Layout(contiguous: [2, 4, 2]), out: overlapping) == nil)
    }

    @Test func embeddedPTXHoldsEveryKernelTheBackendLaunches() throws {
        let names = Set(CUDAProbe.embeddedKernels)
        let launched = ["kiln_fill", "kiln_copy", "kiln_unary", "kiln_binary", "kiln_compare", "kiln_select", "kiln_reduce",
                        "kiln_arg_reduce", "kiln_softmax", "kiln_softmax_backward", "kiln_layer_norm", "kiln_layer_norm_backward",
                        "kiln_layer_norm_parameter_gradients", "kiln_cross_entropy", "kiln_index_read", "kiln_index_add",
                        "kiln_im2col", "kiln_col2im", "kiln_pool", "kiln_pool_backward", "kiln_random", "kiln_dropout",
                        "kiln_sgd_step", "kiln_adam_step"]
        #expect(Set(launched).isSubset(of: names), "missing: \(Set(launched).subtracting(names).sorted())")
        // Every kernel of Kernels/*.cu is launched by some op, so none is dead.
        let sources = try FileManager.default.contentsOfDirectory(atPath: Self.kernelsFolder).filter { $0.hasSuffix(".cu") }
        var defined: Set<String> = []
        for file in sources {
            let text = try String(contentsOfFile: Self.kernelsFolder + "/" + file, encoding: .utf8)
            for match in text.matches(of: /__global__ void (kiln_\w+)/) { defined.insert(String(match.1)) }
        }
        #expect(defined == Set(launched))
        #expect(names == defined, "the embedded PTX is stale: rebuild it with CMakeLists.txt")
    }

    static let kernelsFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Kernels").path
}
