import Foundation
import Kiln
import KilnNN

/// `kiln inspect`: what a safetensors file holds, after validating it.
public enum InspectCommand {
    /// The command's help text.
    public static let help = """
    kiln inspect — list the tensors and metadata of a safetensors file, validating it

    usage: kiln inspect FILE.safetensors (or a kiln train checkpoint folder)

    Prints the metadata, then each tensor's name, dtype, shape and size in bytes, and the totals. A malformed
    file (bad header, unknown dtype, offsets that do not tile the data) is an error naming the problem.
    """

    /// Runs `kiln inspect` with the words after `inspect`; returns the exit status or throws (status 2).
    public static func run(_ words: [String], print: (String) -> Void = { Swift.print($0) }) throws -> Int32 {
        if words.contains("--help") || words.contains("-h") {
            print(help)
            return 0
        }
        guard words.count == 1, !words[0].hasPrefix("--") else { throw UsageError(description: "kiln inspect needs exactly one FILE.safetensors") }
        var path = words[0]
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue { path += "/" + Checkpoint.fileName }
        let file = try Safetensors.read(path, device: .cpu)
        print(path)
        for key in file.metadata.keys.sorted() {
            let value = file.metadata[key]!
            print("  \(key): \(value.count > 100 ? String(value.prefix(97)).debugDescription + "…" : value)")
        }
        let nameWidth = Swift.max(4, file.tensors.map(\.name.count).max() ?? 0)
        func pad(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: Swift.max(0, width - text.count)) }
        print(pad("name", nameWidth) + "  " + pad("dtype", 9) + "  " + pad("shape", 18) + "  bytes")
        var bytes = 0, elements = 0
        for (name, tensor) in file.tensors {
            let size = tensor.count * tensor.dtype.byteSize
            bytes += size
            elements += tensor.count
            print(pad(name, nameWidth) + "  " + pad("\(tensor.dtype)", 9) + "  " + pad("\(tensor.shape)", 18) + "  \(size)")
        }
        print("\(file.tensors.count) tensors, \(elements) elements, \(bytes) bytes")
        return 0
    }
}
