import CCUDA
import Foundation
import KilnCore
import Synchronization

/// One GPU's driver state: its primary context, the one stream every op is enqueued on, the kernels loaded
/// from the embedded PTX, the launch limits read from the device, and the first asynchronous failure seen.
final class CUDAContext: @unchecked Sendable {
    let ordinal: Int
    let name: String
    let label: String
    let totalMemory: Int
    let multiprocessors: Int
    let maxThreadsPerBlock: Int
    let maxThreadsPerMultiprocessor: Int
    let capability: (major: Int, minor: Int)
    let context: UnsafeMutableRawPointer
    let stream: UnsafeMutableRawPointer
    /// `KILN_CUDA_SYNC=1`: wait after every launch so a fault is reported at the op that caused it.
    let synchronizesEveryLaunch: Bool
    private var functions: [String: UnsafeMutableRawPointer] = [:]
    private let pending = Mutex<KilnError?>(nil)

    /// Opens device `ordinal`: retains its primary context, creates the stream and loads every kernel module.
    init(ordinal: Int) throws {
        self.ordinal = ordinal
        label = "cuda:\(ordinal)"
        var device: Int32 = 0
        try CUDAStatus.check(kiln_cuDeviceGet(&device, Int32(ordinal)), "cuDeviceGet(\(ordinal))", device: label)
        name = CUDAStatus.string(capacity: 256) { _ = kiln_cuDeviceGetName($0, Int32($1), device) }
        var bytes = 0
        try CUDAStatus.check(kiln_cuDeviceTotalMem(&bytes, device), "cuDeviceTotalMem", device: label)
        totalMemory = bytes
        func attribute(_ attribute: KilnDeviceAttribute) throws -> Int {
            var value: Int32 = 0
            try CUDAStatus.check(kiln_cuDeviceGetAttribute(&value, Int32(attribute.rawValue), device),
                                 "cuDeviceGetAttribute(\(attribute.rawValue))", device: "cuda:\(ordinal)")
            return Int(value)
        }
        multiprocessors = try attribute(KILN_ATTRIBUTE_MULTIPROCESSOR_COUNT)
        maxThreadsPerBlock = try attribute(KILN_ATTRIBUTE_MAX_THREADS_PER_BLOCK)
        maxThreadsPerMultiprocessor = try attribute(KILN_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR)
        capability = (try attribute(KILN_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR), try attribute(KILN_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR))
        var context: UnsafeMutableRawPointer?
        try CUDAStatus.check(kiln_cuDevicePrimaryCtxRetain(&context, device), "cuDevicePrimaryCtxRetain", device: label)
        self.context = context!
        try CUDAStatus.check(kiln_cuCtxSetCurrent(context), "cuCtxSetCurrent", device: label)
        var stream: UnsafeMutableRawPointer?
        try CUDAStatus.check(kiln_cuStreamCreate(&stream), "cuStreamCreate", device: label)
        self.stream = stream!
        synchronizesEveryLaunch = ProcessInfo.processInfo.environment["KILN_CUDA_SYNC"] == "1"
        try loadKernels()
    }

    /// Loads each embedded PTX module and records its `kiln_` entry points by name.
    private func loadKernels() throws {
        for index in 0..<kiln_kernel_module_count() {
            let moduleName = String(cString: kiln_kernel_module_name(index))
            let image = kiln_kernel_module(index)!
            var module: UnsafeMutableRawPointer?
            var status: Int32 = 0
            let log = CUDAStatus.string(capacity: 8192) { status = kiln_cuModuleLoadData(&module, image, $0, $1) }
            if status != 0 {
                throw KilnError.deviceUnavailable(
                    device: label,
                    reason: "kernels failed to load: module \(moduleName): \(CUDAStatus.failure(status, "cuModuleLoadData", device: label))"
                        + (log.isEmpty ? "" : "; JIT log: \(log)"))
            }
            for name in Self.entryPoints(in: String(cString: image)) {
                var function: UnsafeMutableRawPointer?
                try CUDAStatus.check(kiln_cuModuleGetFunction(&function, module, name), "cuModuleGetFunction(\(name))", device: label)
                functions[name] = function
            }
        }
    }

    /// The names of every kernel in the embedded PTX.
    static var embeddedEntryPoints: [String] {
        (0..<kiln_kernel_module_count()).flatMap { entryPoints(in: String(cString: kiln_kernel_module($0))) }
    }

    /// The names of the kernels a PTX module defines (its `.entry` directives).
    static func entryPoints(in ptx: String) -> [String] {
        ptx.split(separator: "\n").compactMap { line in
            guard let range = line.range(of: ".entry ") else { return nil }
            let rest = line[range.upperBound...]
            return String(rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" })
        }
    }

    /// Makes this context current on the calling thread (a cheap thread-local switch).
    func makeCurrent() { _ = kiln_cuCtxSetCurrent(context) }

    /// The threads per block for elementwise kernels and a grid that fills the device a few times over (the
    /// kernels stride over the rest).
    func elementwiseConfiguration(count: Int) -> (grid: Int, block: Int) {
        let block = min(256, maxThreadsPerBlock)
        let resident = multiprocessors * max(1, maxThreadsPerMultiprocessor / block)
        return (max(1, min((count + block - 1) / block, resident * 4)), block)
    }

    /// One block per row, the block a power of two of at least one warp and at most 512 threads, sized to the row.
    func rowConfiguration(rows: Int, length: Int) -> (grid: Int, block: Int) {
        var block = 32
        while block < length && block < min(512, maxThreadsPerBlock) { block *= 2 }
        return (max(1, min(rows, multiprocessors * 64)), block)
    }

    /// Enqueues kernel `name`; a launch failure (or, with `KILN_CUDA_SYNC=1`, a fault) is recorded for `op`.
    func launch(_ name: String, op: String, grid: Int, block: Int, arguments: KernelArguments) {
        guard let function = functions[name] else {
            fatalError("CUDA: kernel \(name) is not in the embedded PTX (rebuild the kernels with CMakeLists.txt)")
        }
        guard grid > 0 else { return }
        makeCurrent()
        let status = arguments.withParameterPointers { parameters in
            kiln_cuLaunchKernel(function, UInt32(min(grid, Int(Int32.max))), 1, UInt32(block), 0, stream, parameters)
        }
        if status != 0 {
            record(CUDAStatus.failure(status, "\(op) (launching \(name))", device: label))
        } else if synchronizesEveryLaunch {
            let status = kiln_cuStreamSynchronize(stream)
            if status != 0 { record(CUDAStatus.failure(status, "\(op) (\(name), KILN_CUDA_SYNC=1)", device: label)) }
        }
    }

    /// Keeps the first failure of an op that cannot throw; `synchronize()` reports it.
    func record(_ error: KilnError) {
        pending.withLock { if $0 == nil { $0 = error } }
    }

    /// Waits for the stream and throws the first recorded or asynchronous failure.
    func synchronize(_ operation: String) throws {
        makeCurrent()
        let status = kiln_cuStreamSynchronize(stream)
        if let error = pending.withLock({ error in defer { error = nil }; return error }) { throw error }
        try CUDAStatus.check(status, operation, device: label)
    }
}
