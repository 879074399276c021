import Foundation
import Testing
import Kiln
import KilnCheck
import KilnCore
import KilnCUDA

/// Why the GPU suite is skipped, or `nil` when a CUDA device can be used.
let cudaSkipReason: String? = {
    if case .unavailable(let reason) = CUDAProbe.availability { return reason }
    return nil
}()

/// The CUDA backend on a real GPU, against the CPU: every registry op forward and backward through the
/// harness, the four harness models, bit-identical random streams, errors naming the op, and memory figures.
/// Enabled only when a CUDA device is present; otherwise every test says why it was skipped.
@Suite(.enabled(if: cudaSkipReason == nil, "no CUDA device: \(cudaSkipReason ?? "")"))
struct CUDATests {
    var gpu: Device { try! Device.cuda(0) }

    @Test(arguments: Registry.opNames)
    func forwardMatchesCPU(_ op: String) {
        for r in Checker(devices: [gpu], mode: .test, ops: [op]).run() { #expect(r.status == .pass, "\(CheckReport.line(r))") }
    }

    @Test(arguments: Set(Registry.cases.filter(\.differentiable).map(\.op)).sorted())
    func gradientsMatchCPU(_ op: String) {
        for r in Checker(devices: [gpu], mode: .grad, ops: [op]).run() { #expect(r.status == .pass, "\(CheckReport.line(r))") }
    }

    @Test func modelsTrainAsOnTheCPU() {
        for r in ModelCheck.run(on: gpu) { #expect(r.passed, "\(r.model): \(r.losses) vs \(r.referenceLosses)") }
    }

    @Test(arguments: [RandomDistribution.uniform(low: -2, high: 3), .normal(mean: 1, std: 2), .bernoulli(p: 0.3)])
    func randomStreamsAreTheCPUs(_ distribution: RandomDistribution) {
        // An odd count and a non-zero offset exercise partial Philox blocks.
        let cpu = Tensor.random([1001, 33], distribution, device: .cpu, generator: RandomGenerator(seed: 77)).toArray(Float.self)
        let cuda = Tensor.random([1001, 33], distribution, device: gpu, generator: RandomGenerator(seed: 77)).toArray(Float.self)
        let differing = zip(cpu, cuda).filter { $0.bitPattern != $1.bitPattern }
        if case .normal = distribution {
            // Box–Muller uses the GPU's double log/sin/cos (1 ulp in double), which can move a float32 rounding
            // only when a value lies within 2⁻²⁹ of a rounding boundary.
            #expect(differing.count <= 2 && differing.allSatisfy { abs($0 - $1) <= abs($0).ulp })
        } else {
            #expect(differing.isEmpty, "\(differing.count) of \(cpu.count) values differ")
        }
        let masks = [Device.cpu, gpu].map { device in
            dropout(Tensor.ones([4099], device: device), p: 0.4, generator: RandomGenerator(seed: 5)).toArray(Float.self)
        }
        #expect(masks[0] == masks[1])
    }

    @Test func anOutOfRangeIndexIsReportedWithTheOp() async {
        // In a child process: the fault word is the device's, and the suites running beside this one would read
        // the planted fault at their own synchronisation.
        await #expect(processExitsWith: .success) {
            let gpu = try Device.cuda(0)
            let x = Tensor([Float](repeating: 1, count: 12), shape: [3, 4], device: gpu)
            let indices = Tensor([Int64](arrayLiteral: 0, 7, 1), shape: [3, 1], device: gpu)
            _ = x.gather(axis: 1, indices: indices)
            do {
                try gpu.synchronize()
                exit(1)   // not reported
            } catch KilnError.deviceFailure(_, let operation, let detail)
                where operation == "gather" && detail.contains("index 7") && detail.contains("extent 4") {}
            try gpu.synchronize()   // the fault is reported once
        }
    }

    @Test func memoryIsCachedAndCounted() throws {
        do {
            let t = Tensor.zeros([1 << 20], device: gpu)
            try gpu.synchronize()
            #expect(gpu.memory.allocated >= t.count * 4)
        }
        // Other suites run concurrently on the same device, so only relations that hold under their traffic.
        let after = gpu.memory
        #expect(after.reserved >= after.allocated && after.peak >= 1 << 22)
        #expect(after.total ?? 0 > 1 << 30)
        #expect(throws: KilnError.self) { _ = try gpu.backend.allocate(byteCount: 1 << 52) }
    }

    @Test func float32ProductsAreNotTF32ByDefault() throws {
        let backend = try #require(gpu.backend as? CUDABackend)
        #expect(!backend.allowsTensorFloat32)
        let a = Tensor.normal([256, 512], device: .cpu, generator: RandomGenerator(seed: 1))
        let b = Tensor.normal([512, 128], device: .cpu, generator: RandomGenerator(seed: 2))
        let exact = matmul(a.to(.float64), b.to(.float64)).toArray(Double.self)
        let product = matmul(a.to(gpu), b.to(gpu)).toArray(Float.self)
        let error = zip(product, exact).map { abs(Double($0) - $1) }.max() ?? 0
        #expect(error < 1e-3, "float32 product off by \(error): TF32 would give ~1e-2")
    }
}
