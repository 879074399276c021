/// The recoverable failures of Kiln: what went wrong and with what, for a person to read.
public enum KilnError: Error, CustomStringConvertible, Equatable {
    /// A device was asked for that this machine cannot provide; the text says why.
    case deviceUnavailable(device: String, reason: String)
    /// A device could not allocate memory.
    case outOfMemory(device: String, requestedBytes: Int, detail: String)
    /// A device reported a failure in an operation.
    case deviceFailure(device: String, operation: String, detail: String)
    /// A user setting (environment variable, option) has a value Kiln cannot use.
    case invalidConfiguration(setting: String, value: String, expected: String)

    /// The one-line message.
    public var description: String {
        switch self {
        case .deviceUnavailable(let device, let reason):
            "device \(device) is unavailable: \(reason)"
        case .outOfMemory(let device, let bytes, let detail):
            "out of memory on \(device): requested \(bytes) bytes (\(detail))"
        case .deviceFailure(let device, let operation, let detail):
            "\(operation) failed on \(device): \(detail)"
        case .invalidConfiguration(let setting, let value, let expected):
            "\(setting)=\"\(value)\" is not valid: expected \(expected)"
        }
    }
}
