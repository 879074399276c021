import Foundation

/// What a `--data` path holds, judged from the file system alone.
enum DataKind: Equatable {
    /// A text file or a folder of text files: character-level language modelling.
    case text
    /// A folder with MNIST-layout IDX files: image classification.
    case images
    /// A `label,text` CSV file or a folder with one subfolder of text files per class: text classification.
    case labelledText

    /// The task kind that trains on this data.
    var taskKind: String {
        switch self {
        case .text: "text"
        case .images: "images"
        case .labelledText: "classify"
        }
    }

    /// Classifies `path`; throws when it does not exist or holds nothing usable.
    static func detect(_ path: String) throws -> DataKind {
        let manager = FileManager.default
        var isFolder: ObjCBool = false
        guard manager.fileExists(atPath: path, isDirectory: &isFolder) else { throw UsageError(description: "--data \(path): no such file or folder") }
        guard isFolder.boolValue else { return path.lowercased().hasSuffix(".csv") ? .labelledText : .text }
        guard let entries = try? manager.contentsOfDirectory(atPath: path) else { throw UsageError(description: "--data \(path): cannot list the folder") }
        if entries.contains(where: { $0.hasPrefix("train-images-idx3-ubyte") }) { return .images }
        let subfolders = entries.filter { entry in
            var sub: ObjCBool = false
            return !entry.hasPrefix(".") && manager.fileExists(atPath: path + "/" + entry, isDirectory: &sub) && sub.boolValue
        }
        if subfolders.count >= 2 { return .labelledText }
        guard entries.contains(where: { !$0.hasPrefix(".") }) else { throw UsageError(description: "--data \(path): the folder is empty") }
        return .text
    }
}
