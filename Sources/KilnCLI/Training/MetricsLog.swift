import Foundation
import KilnNN

/// An append-only JSON-lines file of training metrics: one object per line, written as each step ends so a run
/// stopped at any point leaves a readable log.
final class MetricsLog {
    private let handle: FileHandle
    private let path: String

    /// Opens `path`, truncating it for a new run or appending for a resumed one.
    init(path: String, append: Bool) throws {
        self.path = path
        let manager = FileManager.default
        if !append || !manager.fileExists(atPath: path) {
            guard manager.createFile(atPath: path, contents: nil) else {
                throw SafetensorsError.io(file: path, detail: "cannot create the metrics file")
            }
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw SafetensorsError.io(file: path, detail: "cannot open the metrics file for writing")
        }
        handle.seekToEndOfFile()
        self.handle = handle
    }

    deinit { try? handle.close() }

    /// Writes `record` as one line.
    func append(_ record: [String: Any]) throws {
        var data = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
        data.append(0x0A)
        do {
            try handle.write(contentsOf: data)
        } catch {
            throw SafetensorsError.io(file: path, detail: "cannot append metrics: \(error.localizedDescription)")
        }
    }

    /// The records in the file at `path`, skipping lines that are not JSON objects (a line cut short by a crash).
    static func read(_ path: String) -> [[String: Any]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }
}
