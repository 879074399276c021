import Foundation
import Kiln
import KilnNN

/// Builds tasks from their settings: the same path for a new run (settings from the command line) and for a
/// checkpoint (settings from its metadata), so `sample`, `eval` and `--resume` rebuild exactly what was trained.
enum TaskFactory {
    /// The task of `kind` with `settings`, on `device`. `loadData` false builds only what sampling needs (a
    /// text model's vocabulary comes from the settings).
    static func make(kind: String, settings: [String: String], device: Device, loadData: Bool = true) throws -> TrainingTask {
        let s = Settings(values: settings, kind: kind)
        switch kind {
        case "addition":
            return AdditionTask(digits: try s.int("digits", in: 1...9), dimensions: try s.dimensions(),
                                layers: try s.int("layers", in: 1...256), heads: try s.heads(), seed: try s.seed(), device: device)
        case "text":
            return try TextTask(dataPath: try s.string("data"), vocabulary: settings["vocabulary"], context: try s.int("context", in: 1...65536),
                                dimensions: try s.dimensions(), layers: try s.int("layers", in: 1...256), heads: try s.heads(),
                                seed: try s.seed(), loadData: loadData, device: device)
        case "images":
            return try ImageTask(dataPath: try s.string("data"), architecture: try s.string("model"), dimensions: try s.dimensions(),
                                 seed: try s.seed(), device: device)
        case "classify":
            return try TextClassificationTask(dataPath: try s.string("data"), architecture: try s.string("model"), dimensions: try s.dimensions(),
                                              context: try s.int("context", in: 1...65536), seed: try s.seed(), device: device)
        case "gan":
            return GANTask(dimensions: try s.dimensions(), seed: try s.seed(), device: device)
        default:
            throw UsageError(description: "unknown task '\(kind)'")
        }
    }

    /// The default loop for each task kind: steps, batch size and peak learning rate.
    static func defaultPlan(kind: String) -> (steps: Int, batchSize: Int, learningRate: Double) {
        switch kind {
        case "addition": (1500, 128, 2e-3)
        case "text": (2000, 32, 1e-3)
        case "images": (1000, 64, 1e-3)
        case "classify": (600, 32, 2e-3)
        default: (3000, 128, 1e-3)
        }
    }

    /// The model sizes of each preset, per task kind.
    static func preset(kind: String, size: String) -> [String: String] {
        let index = ["tiny": 0, "small": 1, "base": 2][size] ?? 1
        func pick(_ values: [Int]) -> String { String(values[index]) }
        switch kind {
        case "addition": return ["dimensions": pick([32, 64, 128]), "layers": pick([2, 2, 4]), "heads": pick([4, 4, 4]), "digits": "3"]
        case "text": return ["dimensions": pick([64, 128, 384]), "layers": pick([2, 4, 6]), "heads": pick([4, 4, 6]), "context": pick([64, 128, 256])]
        case "images": return ["dimensions": pick([128, 512, 1024])]
        case "classify": return ["dimensions": pick([32, 64, 128]), "context": "64"]
        default: return ["dimensions": pick([64, 128, 256])]
        }
    }

    /// The task kind and settings the command line asks for: the kind from `--model` and what `--data` holds,
    /// the sizes from `--size` and the explicit size options.
    static func settings(from args: Arguments) throws -> (kind: String, settings: [String: String]) {
        let model = try args.value("model"), data = try args.value("data")
        let kind: String
        switch (model, data) {
        case ("gan", nil): kind = "gan"
        case ("gan", _?): throw UsageError(description: "--model gan draws its own data: drop --data")
        case (nil, nil), ("gpt", nil): kind = "addition"
        case (let name?, nil): throw UsageError(description: "--model \(name) needs --data")
        case (_, let path?): kind = try DataKind.detect(path).taskKind
        }
        let size = try args.choice("size", ["tiny", "small", "base"], default: "small")
        var settings = preset(kind: kind, size: size)
        settings["seed"] = String(try args.int("seed", default: 1, in: 0...Int.max))
        if let data { settings["data"] = URL(fileURLWithPath: data).standardizedFileURL.path }
        let models = ["addition": ["gpt"], "text": ["gpt"], "images": ["mlp", "cnn"], "classify": ["lstm", "bag"], "gan": ["gan"]][kind]!
        if let model, !models.contains(model) {
            throw UsageError(description: "--model \(model) does not fit this data (\(kind)): expected \(models.joined(separator: " or "))")
        }
        settings["model"] = model ?? models[0]
        for (option, key) in [("width", "dimensions"), ("layers", "layers"), ("heads", "heads"), ("context", "context"), ("digits", "digits")] {
            guard let text = try args.value(option) else { continue }
            guard settings[key] != nil else { throw UsageError(description: "--\(option) does not apply to the \(kind) task") }
            settings[key] = text
        }
        return (kind, settings)
    }

    /// Throws when the task's parameters, optimizer state and activations would not fit the device's memory.
    static func checkMemory(kind: String, settings: [String: String], batchSize: Int, device: Device) throws {
        let d = Double(settings["dimensions"] ?? "0") ?? 0, layers = Double(settings["layers"] ?? "1") ?? 1
        let context = Double(settings["context"] ?? "") ?? 3 * (Double(settings["digits"] ?? "3") ?? 3) + 2
        let heads = Double(settings["heads"] ?? "1") ?? 1
        let parameters = kind == "addition" || kind == "text" ? 12 * layers * d * d + (2 * 256 + context) * d : 4 * d * d + 1e6
        let activations = Double(batchSize) * context * layers * (20 * d + 3 * heads * context) + Double(batchSize) * context * 256
        let bytes = 16 * parameters + 4 * activations
        let available = Double(device.memory.total ?? Int(ProcessInfo.processInfo.physicalMemory))
        if bytes > 0.8 * available {
            throw UsageError(description: String(format: "the model and batch need about %.1f GB on %@, which has %.1f GB: use a smaller --size, --width or --batch-size",
                                                 bytes / 1e9, device.description, available / 1e9))
        }
    }

    /// The settings stored in a checkpoint's metadata: its task kind and the `task.*` values.
    static func settings(fromCheckpointMetadata metadata: [String: String], file: String) throws -> (kind: String, settings: [String: String]) {
        guard let kind = metadata["task"] else {
            throw UsageError(description: "\(file) was not written by kiln train (no task in its metadata)")
        }
        var settings: [String: String] = [:]
        for (key, value) in metadata where key.hasPrefix("task.") { settings[String(key.dropFirst(5))] = value }
        return (kind, settings)
    }
}

/// Typed, validated reads of a task's string settings.
struct Settings {
    let values: [String: String]
    let kind: String

    func string(_ key: String) throws -> String {
        guard let value = values[key] else { throw UsageError(description: "\(kind): missing setting '\(key)'") }
        return value
    }

    func int(_ key: String, in range: ClosedRange<Int>) throws -> Int {
        let text = try string(key)
        guard let value = Int(text), range.contains(value) else {
            throw UsageError(description: "\(kind): \(key) must be an integer in \(range.lowerBound)…\(range.upperBound), got '\(text)'")
        }
        return value
    }

    func dimensions() throws -> Int { try int("dimensions", in: 4...65536) }

    func heads() throws -> Int {
        let heads = try int("heads", in: 1...256), width = try dimensions()
        guard width % heads == 0 else { throw UsageError(description: "\(kind): width \(width) does not split into \(heads) heads") }
        return heads
    }

    func seed() throws -> UInt64 {
        let text = try string("seed")
        guard let value = UInt64(text) else { throw UsageError(description: "\(kind): seed must be a non-negative integer, got '\(text)'") }
        return value
    }
}
