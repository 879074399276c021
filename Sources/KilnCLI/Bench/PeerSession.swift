import Foundation

/// A running peer script (`PeerScript`): asked for one case at a time, it answers with each peer's median
/// milliseconds. A peer it could not load is in `missing`, with the reason; once the script has stopped, every
/// later case reports that.
final class PeerSession {
    /// Why a peer (`numpy`, `torch`) is not timed.
    private(set) var missing: [String: String] = [:]
    private let process = Process()
    private let input = Pipe(), output = Pipe()
    private var pending = Data()
    private let python: String

    /// Starts `arguments` (the interpreter first) and reads the script's report of missing peers; a script that
    /// does not start leaves every peer missing.
    init(arguments: [String], environment: [String: String]) {
        python = arguments[0]
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.environment = environment
        process.standardInput = input
        process.standardOutput = output
        // A write to a script that has died must fail with an error, not end Kiln with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        do {
            try process.run()
        } catch {
            markMissing("cannot run \(python): \(error.localizedDescription)")
            return
        }
        guard let report = nextObject() as? [String: Any] else {
            let status = process.isRunning ? "" : ", status \(process.terminationStatus)"
            markMissing("the peer script failed (\(python)\(status))")
            return
        }
        missing = report["missing"] as? [String: String] ?? [:]
    }

    /// Each peer's median milliseconds for `bench`; none once the script has stopped (then `missing` says so).
    func measure(_ bench: BenchCase) -> [String: Double] {
        guard process.isRunning,
              let request = try? JSONSerialization.data(withJSONObject: bench.json),
              (try? input.fileHandleForWriting.write(contentsOf: request + Data("\n".utf8))) != nil,
              let answer = nextObject() as? [String: Double] else {
            markMissing("the peer script stopped at \(bench.suite) \(bench.name) \(bench.shapeText) (\(python))")
            return [:]
        }
        return answer
    }

    /// Gives `reason` for every peer not already missing.
    private func markMissing(_ reason: String) {
        for peer in ["numpy", "torch"] where missing[peer] == nil { missing[peer] = reason }
    }

    /// Ends the script.
    func close() {
        try? input.fileHandleForWriting.close()
        if process.processIdentifier != 0 { process.waitUntilExit() }
    }

    /// The JSON value on the script's next line of output; nil at its end or for a line that is not JSON.
    private func nextObject() -> Any? {
        while true {
            if let newline = pending.firstIndex(of: 0x0A) {
                let line = pending[pending.startIndex..<newline]
                defer { pending.removeSubrange(pending.startIndex...newline) }
                return try? JSONSerialization.jsonObject(with: line)
            }
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { return nil }
            pending.append(chunk)
        }
    }
}
