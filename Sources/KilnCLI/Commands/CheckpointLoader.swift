import Foundation
import Kiln
import KilnNN

/// Rebuilds the task a `kiln train` checkpoint folder holds, with its trained weights.
enum CheckpointLoader {
    /// The task in `directory` on `device`: built from the checkpoint's settings (with `overrides` applied, such
    /// as another `data` path), then given the saved weights.
    static func load(_ directory: String, device: Device, loadData: Bool, overrides: [String: String] = [:]) throws -> TrainingTask {
        let file = directory + "/" + Checkpoint.fileName
        guard FileManager.default.fileExists(atPath: file) else {
            throw UsageError(description: "no checkpoint in \(directory): \(file) does not exist")
        }
        var (kind, settings) = try TaskFactory.settings(fromCheckpointMetadata: try Safetensors.metadata(file), file: file)
        settings.merge(overrides) { $1 }
        return try Device.withDefault(device) {
            let task = try TaskFactory.make(kind: kind, settings: settings, device: device, loadData: loadData)
            _ = try Checkpoint.load(model: task.model, optimizer: nil, from: directory)
            task.model.eval()
            return task
        }
    }
}
