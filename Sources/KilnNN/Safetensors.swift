import Foundation
import Kiln

/// What can be wrong with a safetensors file or with loading one into a model; every case names the file and,
/// where there is one, the tensor.
public enum SafetensorsError: Error, CustomStringConvertible, Equatable {
    /// The file is shorter than its header says, or than 8 bytes.
    case truncated(file: String, detail: String)
    /// The JSON header is not valid, or an entry lacks a field.
    case invalidHeader(file: String, detail: String)
    /// A tensor's dtype is not one Kiln stores.
    case unsupportedDType(file: String, tensor: String, dtype: String)
    /// A tensor's data offsets do not match its shape and dtype, overlap, or leave gaps.
    case invalidOffsets(file: String, tensor: String, detail: String)
    /// A model's tensor is missing from the file.
    case missingTensor(file: String, tensor: String)
    /// The file has a tensor the model does not (in strict loading).
    case unexpectedTensor(file: String, tensor: String)
    /// A tensor's shape differs from the model's.
    case shapeMismatch(file: String, tensor: String, expected: [Int], found: [Int])
    /// Reading or writing failed.
    case io(file: String, detail: String)

    /// A one-line message.
    public var description: String {
        switch self {
        case .truncated(let file, let detail): "\(file): truncated safetensors file: \(detail)"
        case .invalidHeader(let file, let detail): "\(file): invalid safetensors header: \(detail)"
        case .unsupportedDType(let file, let tensor, let dtype): "\(file): tensor '\(tensor)' has unsupported dtype \(dtype)"
        case .invalidOffsets(let file, let tensor, let detail): "\(file): tensor '\(tensor)': \(detail)"
        case .missingTensor(let file, let tensor): "\(file): no tensor '\(tensor)'"
        case .unexpectedTensor(let file, let tensor): "\(file): unexpected tensor '\(tensor)'"
        case .shapeMismatch(let file, let tensor, let expected, let found):
            "\(file): tensor '\(tensor)' has shape \(found), expected \(expected)"
        case .io(let file, let detail): "\(file): \(detail)"
        }
    }
}

/// The safetensors format (huggingface/safetensors): an 8-byte little-endian header length, a JSON header
/// `{name: {"dtype", "shape", "data_offsets"}, "__metadata__": {string: string}}` padded with spaces so the data
/// starts 8-byte aligned, then the little-endian, row-major tensor bytes, back to back.
public enum Safetensors {
    static let codes: [DType: String] = [.float64: "F64", .float32: "F32", .float16: "F16", .bfloat16: "BF16",
                                         .int64: "I64", .int32: "I32", .uint8: "U8", .bool: "BOOL"]

    /// Writes `tensors` (in the order given) and `metadata` to `path` atomically: a temporary file in the same
    /// folder, flushed to disk, then renamed over `path`, so a crash never leaves a half-written file there.
    public static func write(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:], to path: String) throws {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        var blobs: [[UInt8]] = []
        for (name, tensor) in tensors {
            require(header[name] == nil && name != "__metadata__", "Safetensors.write: duplicate or reserved tensor name '\(name)'")
            let bytes = tensor.bytes()
            header[name] = ["dtype": codes[tensor.dtype]!, "shape": tensor.shape, "data_offsets": [offset, offset + bytes.count]]
            offset += bytes.count
            blobs.append(bytes)
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))
        var data = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for blob in blobs { data.append(contentsOf: blob) }
        try AtomicFile.write(data, to: path)
    }

    /// The `__metadata__` of the file at `path`, reading only its header (a checkpoint's settings without
    /// loading its tensors).
    public static func metadata(_ path: String) throws -> [String: String] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw SafetensorsError.io(file: path, detail: FileManager.default.fileExists(atPath: path) ? "cannot be read" : "no such file")
        }
        defer { try? handle.close() }
        let size = handle.seekToEndOfFile()
        handle.seek(toFileOffset: 0)
        let prefix = handle.readData(ofLength: 8)
        guard prefix.count == 8 else { throw SafetensorsError.truncated(file: path, detail: "\(size) bytes, the header length alone needs 8") }
        let length = prefix.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard length <= size - 8 else { throw SafetensorsError.truncated(file: path, detail: "header of \(length) bytes in a file of \(size)") }
        return try parseHeader(handle.readData(ofLength: Int(length)), file: path).metadata
    }

    /// The header's JSON object and its `__metadata__` strings.
    private static func parseHeader(_ bytes: Data, file path: String) throws -> (header: [String: Any], metadata: [String: String]) {
        guard bytes.first == UInt8(ascii: "{"),
              let object = try? JSONSerialization.jsonObject(with: bytes), let header = object as? [String: Any] else {
            throw SafetensorsError.invalidHeader(file: path, detail: "not a JSON object")
        }
        guard let meta = header["__metadata__"] else { return (header, [:]) }
        guard let strings = meta as? [String: String] else {
            throw SafetensorsError.invalidHeader(file: path, detail: "__metadata__ must map strings to strings")
        }
        return (header, strings)
    }

    /// Reads every tensor of the file at `path` onto `device`, checking everything a reader must: the header
    /// length against the file size, the JSON, each entry's dtype, shape and offsets (which must match the
    /// shape's byte count and tile the data region exactly, without overlaps or gaps).
    public static func read(_ path: String, device: Device = .default) throws -> (tensors: [(name: String, tensor: Tensor)], metadata: [String: String]) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SafetensorsError.io(file: path, detail: FileManager.default.fileExists(atPath: path) ? "cannot be read" : "no such file")
        }
        guard data.count >= 8 else { throw SafetensorsError.truncated(file: path, detail: "\(data.count) bytes, the header length alone needs 8") }
        let length = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard length <= UInt64(data.count - 8) else {
            throw SafetensorsError.truncated(file: path, detail: "header of \(length) bytes in a file of \(data.count)")
        }
        let (header, metadata) = try parseHeader(data.subdata(in: 8..<(8 + Int(length))), file: path)
        let dataStart = 8 + Int(length), dataSize = data.count - dataStart
        var entries: [(name: String, dtype: DType, shape: [Int], range: Range<Int>)] = []
        for (name, value) in header where name != "__metadata__" {
            guard let entry = value as? [String: Any], let code = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2 else {
                throw SafetensorsError.invalidHeader(file: path, detail: "tensor '\(name)' needs dtype, shape and two data_offsets")
            }
            guard let dtype = codes.first(where: { $0.value == code })?.key else {
                throw SafetensorsError.unsupportedDType(file: path, tensor: name, dtype: code)
            }
            guard shape.allSatisfy({ $0 >= 0 }) else {
                throw SafetensorsError.invalidHeader(file: path, detail: "tensor '\(name)' has a negative extent in \(shape)")
            }
            let (begin, end) = (offsets[0], offsets[1])
            let expected = shape.reduce(1, *) * dtype.byteSize
            guard begin >= 0, end >= begin, end <= dataSize else {
                throw SafetensorsError.invalidOffsets(file: path, tensor: name, detail: "offsets [\(begin), \(end)] outside the \(dataSize)-byte data region")
            }
            guard end - begin == expected else {
                throw SafetensorsError.invalidOffsets(file: path, tensor: name, detail: "\(end - begin) bytes for shape \(shape) of \(dtype), expected \(expected)")
            }
            entries.append((name, dtype, shape, begin..<end))
        }
        entries.sort { ($0.range.lowerBound, $0.range.upperBound) < ($1.range.lowerBound, $1.range.upperBound) }
        var covered = 0
        for entry in entries {
            guard entry.range.lowerBound == covered else {
                throw SafetensorsError.invalidOffsets(file: path, tensor: entry.name,
                                                      detail: entry.range.lowerBound < covered ? "overlaps the previous tensor" : "leaves a gap before it")
            }
            covered = entry.range.upperBound
        }
        guard covered == dataSize else {
            throw SafetensorsError.invalidOffsets(file: path, tensor: entries.last?.name ?? "(none)",
                                                  detail: "the tensors cover \(covered) of \(dataSize) data bytes")
        }
        let tensors = entries.map { entry in
            let bytes = [UInt8](data[(dataStart + entry.range.lowerBound)..<(dataStart + entry.range.upperBound)])
            return (entry.name, Tensor(bytes: bytes, shape: entry.shape, dtype: entry.dtype, device: device))
        }
        return (tensors.sorted { $0.0 < $1.0 }, metadata)
    }
}

/// Writing a file so that readers see the old contents or the new, never a mixture.
public enum AtomicFile {
    /// Writes `data` to a temporary file beside `path`, flushes it to disk, renames it over `path` and flushes
    /// the folder; on any failure the previous file at `path` is untouched and the temporary file removed.
    public static func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        let temporary = folder + "/.\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw SafetensorsError.io(file: path, detail: "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var ok = false
        defer { if !ok { unlink(temporary) } }
        let written = data.withUnsafeBytes { raw -> Bool in
            var done = 0
            while done < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + done, raw.count - done)
                if n <= 0 { return false }
                done += n
            }
            return true
        }
        let synced = fsync(fd) == 0
        close(fd)
        guard written && synced else { throw SafetensorsError.io(file: path, detail: "writing failed: \(String(cString: strerror(errno)))") }
        guard rename(temporary, path) == 0 else {
            throw SafetensorsError.io(file: path, detail: "cannot replace: \(String(cString: strerror(errno)))")
        }
        ok = true
        let dir = open(folder, O_RDONLY)
        if dir >= 0 { fsync(dir); close(dir) }
    }
}

extension Module {
    /// Saves every parameter and buffer under its dotted name (atomically).
    public func saveWeights(to path: String, metadata: [String: String] = [:]) throws {
        try Safetensors.write(namedTensors().map { ($0.name, $0.tensor) }, metadata: metadata, to: path)
    }

    /// Loads tensors by dotted name into this module's parameters and buffers, in place, converting dtypes.
    /// Every shape is checked before anything is written; with `strict`, missing and unexpected names are errors.
    public func loadWeights(from path: String, strict: Bool = true) throws {
        let file = try Safetensors.read(path, device: .cpu)
        let stored = Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.name, $0.tensor) })
        let plan = try assignments(from: stored, prefix: "", file: path, strict: strict)
        if strict, let extra = stored.keys.sorted().first(where: { name in !plan.contains { $0.name == name } }) {
            throw SafetensorsError.unexpectedTensor(file: path, tensor: extra)
        }
        Module.apply(plan)
    }

    /// Pairs each of this module's tensors with `stored["\(prefix)\(name)"]`, checking every shape; a missing
    /// name is an error when `strict`, else skipped. Nothing is written.
    func assignments(from stored: [String: Tensor], prefix: String, file: String, strict: Bool) throws
        -> [(name: String, target: Tensor, value: Tensor)] {
        try namedTensors().compactMap { name, tensor, _ in
            let key = prefix + name
            guard let value = stored[key] else {
                if strict { throw SafetensorsError.missingTensor(file: file, tensor: key) }
                return nil
            }
            guard value.shape == tensor.shape else {
                throw SafetensorsError.shapeMismatch(file: file, tensor: key, expected: tensor.shape, found: value.shape)
            }
            return (key, tensor, value)
        }
    }

    /// Writes planned values into their tensors, on the tensors' devices and in their dtypes.
    static func apply(_ plan: [(name: String, target: Tensor, value: Tensor)]) {
        noGrad { for (_, target, value) in plan { target.assign(value.to(target.device).to(target.dtype)) } }
    }
}
