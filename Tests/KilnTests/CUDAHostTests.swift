import Foundation
import Testing
import Kiln
import KilnCore
import CCUDA
import KilnCUDA

/// The parts of the CUDA backend that run without a GPU: the probe, the kernel iterator and argument packing, the cuBLAS plan (checked by interpreting it on the CPU), and the embedded PTX.
@Suite struct CUDAHostTests {
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
        // An empty walk (a reduction over nothing) still makes a descriptor: no divider for extent 0.
        #expect(KernelIterator(shape: [0, 3], strides: [[3, 1]], offsets: [0]).descriptor.count == 0)
    }

    /// The kernels' multiply-and-shift division, as the device computes it in 32 bits, against `/`.
    @Test(arguments: [1, 2, 3, 7, 28, 56, 128, 3136, 50304, 1 << 20 | 1, (1 << 30) - 1, 1 << 30, (1 << 31) - 1])
    func dividerMatchesDivision(_ divisor: Int) {
        let (magic, shift) = KernelIterator.divider(divisor)
        var generator = SystemRandomNumberGenerator()
        let samples = [0, 1, divisor - 1, divisor, divisor + 1, 2 * divisor - 1, (1 << 31) - 1, (1 << 31) - 2]
            + (0..<2000).map { _ in Int.random(in: 0..<(1 << 31), using: &generator) }
        for n in samples where n >= 0 && n < 1 << 31 {
            let high = UInt32((UInt64(n) * UInt64(magic)) >> 32)
            let quotient = (high &+ UInt32(n)) >> shift
            #expect(Int(quotient) == n / divisor, "\(n) / \(divisor)")
        }
    }

    @Test func argumentsFollowCAlignment() {
        var arguments = KernelArguments()
        arguments.append(Int32(7))
        arguments.append(UInt64(0x1122))
        arguments.append(Int32(3))
        arguments.append(2.5)
        // int at 0, pointer at 8, int at 16, double at 24 (after 4 bytes of padding).
        #expect(arguments.bytes.count == 32 && arguments.offsets == [0, 8, 16, 24])
        #expect(arguments.bytes[8] == 0x22 && arguments.bytes[16] == 3)
        #expect(arguments.bytes[24...].elementsEqual(withUnsafeBytes(of: 2.5) { Array($0) }))
        #expect(MemoryLayout<KilnIter>.size == 432 && MemoryLayout<KilnAdam>.size == 80)
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
        let launched = ["kiln_fill", "kiln_copy", "kiln_unary", "kiln_unary_backward", "kiln_binary", "kiln_compare", "kiln_select", "kiln_reduce",
                        "kiln_reduce_combine", "kiln_arg_reduce", "kiln_softmax", "kiln_softmax_backward", "kiln_layer_norm", "kiln_layer_norm_backward",
                        "kiln_layer_norm_parameter_gradients", "kiln_layer_norm_parameter_combine", "kiln_lstm_cell", "kiln_lstm_cell_backward",
                        "kiln_cross_entropy", "kiln_index_read", "kiln_index_add",
                        "kiln_im2col", "kiln_col2im", "kiln_pool", "kiln_pool_backward", "kiln_random", "kiln_dropout",
                        "kiln_sgd_step", "kiln_adam_step"]
        #expect(Set(launched).isSubset(of: names), "missing: \(Set(launched).subtracting(names).sorted())")
        // Every kernel of Kernels/*.cu is launched by some op, so none is dead.
        let sources = try FileManager.default.contentsOfDirectory(atPath: Self.kernelsFolder).filter { $0.hasSuffix(".cu") }
        var defined: Set<String> = []
        for file in sources {
            let text = try String(contentsOfFile: Self.kernelsFolder + "/" + file, encoding: .utf8)
            for match in text.matches(of: /__global__ void (?:[A-Z_]+ )?(kiln_\w+)/) { defined.insert(String(match.1)) }
        }
        #expect(defined == Set(launched))
        #expect(names == defined, "the embedded PTX is stale: rebuild it with CMakeLists.txt")
    }

    static let kernelsFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Kernels").path
}
