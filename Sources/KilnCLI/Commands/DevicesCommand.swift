import Foundation
import Kiln
import KilnCUDA

/// `kiln devices`: the devices this process can use, and why CUDA cannot be used when it cannot.
public enum DevicesCommand {
    /// The command's help text.
    public static let help = """
    kiln devices — list the devices Kiln can use

    usage: kiln devices

    Prints each device with its name and memory (for GPUs also the compute capability, driver and cuBLAS
    versions), marks the default one, and when CUDA cannot be used says why (no driver, no GPU, no cuBLAS, …).
    """

    /// Runs `kiln devices`; returns the exit status or throws (status 2).
    public static func run(_ words: [String], print: (String) -> Void = { Swift.print($0) }) throws -> Int32 {
        if words.contains("--help") || words.contains("-h") {
            print(help)
            return 0
        }
        guard words.isEmpty else { throw UsageError(description: "kiln devices takes no arguments, got '\(words[0])'") }
        let chosen = try Device.fromEnvironment()
        for device in Device.available {
            let memory = device.memory.total.map { String(format: "%.1f GB", Double($0) / 1e9) } ?? "unknown"
            print("\(device)\(device == chosen ? " (default)" : ""): \(device.name), memory \(memory)")
        }
        if let driver = CUDAProbe.driverDescription { print("cuda: \(driver)") }
        do {
            _ = try Device.cuda(0)
        } catch {
            print("cuda: unavailable — \(error)")
        }
        return 0
    }
}
