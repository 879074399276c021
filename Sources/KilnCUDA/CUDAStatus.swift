import CCUDA
import KilnCore

/// Turns driver and cuBLAS status codes into errors that name the call, the CUDA error and its description.
enum CUDAStatus {
    /// Throws unless a driver call succeeded.
    static func check(_ status: Int32, _ operation: @autoclosure () -> String, device: String) throws {
        guard status != 0 else { return }
        throw failure(status, operation(), device: device)
    }

    /// The error for a failed driver call: out-of-memory gets its own case.
    static func failure(_ status: Int32, _ operation: String, device: String) -> KilnError {
        let detail = "\(String(cString: kiln_cuda_error_name(status))) (\(status)): \(String(cString: kiln_cuda_error_string(status)))"
        if status == 2 {   // CUDA_ERROR_OUT_OF_MEMORY
            return .outOfMemory(device: device, requestedBytes: 0, detail: "\(operation): \(detail)")
        }
        return .deviceFailure(device: device, operation: operation, detail: detail)
    }

    /// Throws unless a cuBLAS call succeeded.
    static func checkBLAS(_ status: Int32, _ operation: @autoclosure () -> String, device: String) throws {
        guard status != 0 else { return }
        let detail = "\(String(cString: kiln_cublas_status_name(status))) (\(status)): \(String(cString: kiln_cublas_status_string(status)))"
        throw KilnError.deviceFailure(device: device, operation: operation(), detail: detail)
    }

    /// A C string buffer filled by `body`, as a Swift string.
    static func string(capacity: Int = 1024, _ body: (UnsafeMutablePointer<CChar>, Int) -> Void) -> String {
        var buffer = [CChar](repeating: 0, count: capacity)
        buffer.withUnsafeMutableBufferPointer { body($0.baseAddress!, $0.count) }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
