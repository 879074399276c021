import CCUDA
import KilnCore

/// Whether CUDA can be used, and why not: the probe opens the libraries and asks the driver, never crashing.
public enum CUDAProbe {
    /// What the probe found.
    public enum Availability: Sendable, Equatable {
        /// `count` devices can be used.
        case available(count: Int)
        /// CUDA cannot be used, for the reason given (built without headers, no driver library, `cuInit` failed,
        /// no device, no cuBLAS).
        case unavailable(reason: String)
    }

    /// Whether this build was compiled against the CUDA headers.
    public static var isBuilt: Bool { kiln_cuda_built() != 0 }

    /// Probes the driver and cuBLAS (once per process; later calls return the same answer).
    public static var availability: Availability {
        var reason = CUDAStatus.string { _ = kiln_cuda_load($0, $1) }
        guard reason.isEmpty else { return .unavailable(reason: reason) }
        var count: Int32 = 0
        let status = kiln_cuDeviceGetCount(&count)
        if status != 0 {
            return .unavailable(reason: "cuDeviceGetCount failed: \(CUDAStatus.failure(status, "cuDeviceGetCount", device: "cuda"))")
        }
        if count == 0 { return .unavailable(reason: "the CUDA driver sees no device") }
        reason = CUDAStatus.string { _ = kiln_cublas_load($0, $1) }
        guard reason.isEmpty else { return .unavailable(reason: reason) }
        return .available(count: Int(count))
    }

    /// The names of the kernels in the embedded PTX (what `CMakeLists.txt` built from Kernels/*.cu).
    public static var embeddedKernels: [String] { CUDAContext.embeddedEntryPoints }

    /// The driver's CUDA version as `major.minor` and the library files in use, when the driver loaded.
    public static var driverDescription: String? {
        guard case .available = availability else { return nil }
        var version: Int32 = 0
        _ = kiln_cuDriverGetVersion(&version)
        return "driver CUDA \(version / 1000).\(version % 1000 / 10) (\(String(cString: kiln_cuda_library_path()))), cuBLAS \(String(cString: kiln_cublas_library_path()))"
    }
}
