import Foundation
import KilnCPU
import KilnCUDA
import Synchronization

/// A device tensors live on: a handle on one backend. Code written against tensors names devices, never
/// backend types.
public struct Device: Hashable, Sendable, CustomStringConvertible {
    /// The backend that allocates this device's memory and runs its ops.
    public let backend: any Backend

    /// A device for any backend (how a new backend plugs in).
    public init(backend: any Backend) { self.backend = backend }

    /// The host CPU.
    public static let cpu = Device(backend: CPUBackend.shared)

    /// The NVIDIA GPU with the given ordinal; throws with the probe's reason when it cannot be used (built
    /// without the CUDA headers, no driver library, no GPU, no cuBLAS, kernels that do not load).
    public static func cuda(_ ordinal: Int = 0) throws -> Device {
        Device(backend: try CUDABackend.device(ordinal))
    }

    /// Every device this process can use: the GPUs in ordinal order, then the CPU.
    public static var available: [Device] {
        var devices: [Device] = []
        if case .available(let count) = CUDAProbe.availability {
            devices += (0..<count).compactMap { try? cuda($0) }
        }
        devices.append(.cpu)
        return devices
    }

    /// The best device available: the first GPU if there is one, else the CPU.
    public static var best: Device { available[0] }

    /// The device named `name`: `cpu`, `cuda` (the first GPU) or `cuda:N`.
    public static func named(_ name: String) throws -> Device {
        let text = name.trimmingCharacters(in: .whitespaces).lowercased()
        if text == "cpu" { return .cpu }
        if text == "cuda" { return try cuda(0) }
        if text.hasPrefix("cuda:"), let ordinal = Int(text.dropFirst(5)), ordinal >= 0 { return try cuda(ordinal) }
        throw KilnError.invalidConfiguration(setting: "device", value: name, expected: "cpu, cuda or cuda:N")
    }

    /// The device `KILN_DEVICE` names (`cpu`, `cuda`, `cuda:N`), or the best available when it is unset.
    public static func fromEnvironment() throws -> Device {
        guard let value = ProcessInfo.processInfo.environment["KILN_DEVICE"], !value.isEmpty else { return best }
        do {
            return try named(value)
        } catch KilnError.invalidConfiguration(_, let value, let expected) {
            throw KilnError.invalidConfiguration(setting: "KILN_DEVICE", value: value, expected: expected)
        }
    }

    private static let chosenDefault = Mutex<Device?>(nil)
    @TaskLocal private static var scopedDefault: Device?

    /// The device new tensors go to when none is named: the innermost `withDefault` scope, else the one set
    /// with `setDefault`, else `fromEnvironment()`. An unusable `KILN_DEVICE` stops the program with its
    /// reason; call `fromEnvironment()` first to handle it as an error.
    public static var `default`: Device {
        if let scoped = scopedDefault { return scoped }
        return chosenDefault.withLock { chosen in
            if let chosen { return chosen }
            do {
                let device = try fromEnvironment()
                chosen = device
                return device
            } catch {
                fatalError("\(error)")
            }
        }
    }

    /// Makes `device` the default for the whole process.
    public static func setDefault(_ device: Device) {
        chosenDefault.withLock { $0 = device }
    }

    /// Runs `body` with `device` as the default device (for this task or thread).
    public static func withDefault<R>(_ device: Device, _ body: () throws -> R) rethrows -> R {
        try $scopedDefault.withValue(device, operation: body)
    }

    /// The device family.
    public var kind: DeviceKind { backend.kind }

    /// The backend's description of the hardware.
    public var name: String { backend.name }

    /// Current memory figures.
    public var memory: MemoryInfo { backend.memoryInfo() }

    /// Waits for every op enqueued on the device.
    public func synchronize() throws { try backend.synchronize() }

    /// `cpu` or `cuda:N`: how `named(_:)` and `KILN_DEVICE` spell the device.
    public var description: String { kind == .cuda ? "cuda:\(backend.ordinal)" : kind.rawValue }

    /// Devices are equal when they share a backend instance.
    public static func == (lhs: Device, rhs: Device) -> Bool { lhs.backend === rhs.backend }

    /// Hashes the backend's identity.
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(backend)) }
}
