import CCUDA
import Foundation
import KilnCore
import Synchronization

/// The CUDA backend: one NVIDIA GPU, its ops enqueued in order on one stream. Kernels come from Kernels/*.cu
/// (embedded PTX, JIT-compiled by the driver), matrix products from cuBLAS, memory from a caching allocator.
/// Host reads and `synchronize()` wait for the stream and report any failure, naming the op.
public final class CUDABackend: Backend, @unchecked Sendable {
    let context: CUDAContext
    let memory: CUDAMemory
    let blas: CUDABLAS
    /// Three `int64` words the index-checking kernels report a bad index through (see `KilnFaultSite`).
    private let faultWord: CUDABuffer
    /// Whether a kernel that can write the fault word was enqueued since `synchronize()` last read it: only then
    /// does a synchronisation pay for reading it back.
    private let faultWordArmed = Atomic<Bool>(false)
    private let tensorFloat32 = Atomic<Bool>(ProcessInfo.processInfo.environment["KILN_CUDA_TF32"] == "1")

    private static let opened = Mutex<[Int: Result<CUDABackend, KilnError>]>([:])

    /// The backend of GPU `ordinal`, opened once per process; throws with the probe's reason when CUDA or that
    /// device cannot be used.
    public static func device(_ ordinal: Int) throws -> CUDABackend {
        try opened.withLock { opened in
            if let result = opened[ordinal] { return try result.get() }
            let result: Result<CUDABackend, KilnError>
            switch CUDAProbe.availability {
            case .unavailable(let reason):
                result = .failure(.deviceUnavailable(device: "cuda:\(ordinal)", reason: reason))
            case .available(let count) where ordinal < 0 || ordinal >= count:
                result = .failure(.deviceUnavailable(device: "cuda:\(ordinal)",
                                                     reason: "no such device: the driver sees \(count) GPU\(count == 1 ? "" : "s")"))
            case .available:
                do {
                    result = .success(try CUDABackend(ordinal: ordinal))
                } catch let error as KilnError {
                    result = .failure(error)
                } catch {
                    result = .failure(.deviceUnavailable(device: "cuda:\(ordinal)", reason: "\(error)"))
                }
            }
            opened[ordinal] = result
            return try result.get()
        }
    }

    private init(ordinal: Int) throws {
        context = try CUDAContext(ordinal: ordinal)
        memory = CUDAMemory(context: context)
        blas = try CUDABLAS(context: context, memory: memory)
        faultWord = try memory.allocate(byteCount: 3 * 8)
        try CUDAStatus.check(kiln_cuMemsetD8Async(faultWord.address, 0, 24, context.stream), "cuMemsetD8Async", device: context.label)
    }

    /// Always `.cuda`.
    public var kind: DeviceKind { .cuda }
    /// The device's ordinal among the driver's GPUs.
    public var ordinal: Int { context.ordinal }
    /// The GPU's name and compute capability (`"NVIDIA H100 80GB HBM3 (sm_90)"`).
    public var name: String { "\(context.name) (sm_\(context.capability.major)\(context.capability.minor))" }

    /// Whether float32 matrix products may use TensorFloat-32 (10-bit mantissa) tensor cores. Off by default,
    /// so products agree with the CPU to float32 accuracy; `KILN_CUDA_TF32=1` turns it on at start.
    public var allowsTensorFloat32: Bool {
        get { tensorFloat32.load(ordering: .relaxed) }
        set { tensorFloat32.store(newValue, ordering: .relaxed) }
    }

    /// Allocated, reserved (cached) and peak bytes from the caching allocator; the GPU's total memory.
    public func memoryInfo() -> MemoryInfo {
        memory.figures(total: context.totalMemory)
    }

    /// Returns the allocator's wholly free cached memory to the driver.
    public func emptyCache() { memory.emptyCache() }

    /// Every op on every dtype it is defined for, as the CPU.
    public func supports(_ op: Op, dtype: DType) -> Bool { op.isDefined(for: dtype) }

    /// Waits for every enqueued op; throws the first failure (a launch error, a device fault, an out-of-range
    /// index an op met), naming the op.
    public func synchronize() throws {
        try context.synchronize("synchronize")
        guard faultWordArmed.exchange(false, ordering: .acquiringAndReleasing) else { return }
        var words = [Int64](repeating: 0, count: 3)
        try words.withUnsafeMutableBytes { raw in
            try CUDAStatus.check(kiln_cuMemcpyDtoHAsync(raw.baseAddress, faultWord.address, 24, context.stream),
                                 "reading the fault word", device: context.label)
            try context.synchronize("reading the fault word")
        }
        guard words[0] != 0 else { return }
        try CUDAStatus.check(kiln_cuMemsetD8Async(faultWord.address, 0, 24, context.stream), "cuMemsetD8Async", device: context.label)
        throw KilnError.deviceFailure(device: context.label, operation: Self.faultSite(words[0]),
                                      detail: "index \(words[1]) is out of range for an axis of extent \(words[2])")
    }

    /// The fault word's address, for a kernel that validates indices; `synchronize()` then reads the word.
    var faultWordAddress: UInt64 {
        faultWordArmed.store(true, ordering: .releasing)
        return faultWord.address
    }

    /// The op a fault site code stands for.
    static func faultSite(_ code: Int64) -> String {
        switch UInt32(truncatingIfNeeded: code) {
        case KILN_FAULT_INDEX_SELECT.rawValue: "indexSelect"
        case KILN_FAULT_INDEX_ADD.rawValue: "indexAdd"
        case KILN_FAULT_GATHER.rawValue: "gather"
        case KILN_FAULT_SCATTER_ADD.rawValue: "scatterAdd"
        case KILN_FAULT_CROSS_ENTROPY.rawValue: "crossEntropy"
        default: "maxPool2dBackward"
        }
    }

    /// A buffer from the caching allocator.
    public func allocate(byteCount: Int) throws -> any DeviceBuffer {
        require(byteCount >= 0, "allocate: negative size \(byteCount)")
        return try memory.allocate(byteCount: byteCount)
    }

    /// Copies host bytes into a buffer through pinned staging memory (asynchronous after the host copy).
    public func copy(fromHost source: UnsafeRawBufferPointer, to buffer: any DeviceBuffer, byteOffset: Int) throws {
        require(byteOffset >= 0 && byteOffset + source.count <= buffer.byteCount, "copy(fromHost:): range out of bounds")
        try memory.upload(source, to: Self.address(of: buffer) + UInt64(byteOffset))
    }

    /// Copies buffer bytes to the host once every enqueued op has finished.
    public func copy(toHost destination: UnsafeMutableRawBufferPointer, from buffer: any DeviceBuffer, byteOffset: Int) throws {
        require(byteOffset >= 0 && byteOffset + destination.count <= buffer.byteCount, "copy(toHost:): range out of bounds")
        try synchronize()
        try memory.download(destination, from: Self.address(of: buffer) + UInt64(byteOffset))
    }

    /// The device address of a buffer of this backend.
    static func address(of buffer: any DeviceBuffer) -> UInt64 {
        guard let cuda = buffer as? CUDABuffer else {
            fatalError("CUDA backend: a buffer of another device (\(type(of: buffer))) was passed to a CUDA op")
        }
        return cuda.address
    }

    /// A temporary buffer for an op that cannot throw; `nil` (with the failure recorded) when memory runs out.
    func scratch(byteCount: Int, op: String) -> CUDABuffer? {
        do {
            return try memory.allocate(byteCount: byteCount)
        } catch let error as KilnError {
            context.record(error)
        } catch {
            context.record(.deviceFailure(device: context.label, operation: op, detail: "\(error)"))
        }
        return nil
    }
}

extension BufferView {
    /// The device address of the view's buffer (the view's offset not applied).
    var address: UInt64 { CUDABackend.address(of: buffer) }

    /// The dtype as kernels receive it.
    var code: Int32 { dtype.kernelCode }
}

extension DType {
    /// The `KilnDTypeCode` kernels receive.
    var kernelCode: Int32 {
        let code: KilnDTypeCode
        switch self {
        case .float32: code = KILN_F32
        case .float64: code = KILN_F64
        case .float16: code = KILN_F16
        case .bfloat16: code = KILN_BF16
        case .int32: code = KILN_I32
        case .int64: code = KILN_I64
        case .uint8: code = KILN_U8
        case .bool: code = KILN_BOOL
        }
        return Int32(code.rawValue)
    }
}
