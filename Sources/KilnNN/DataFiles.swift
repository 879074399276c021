import CZlib
import Foundation
import Kiln

/// What is wrong with a data file; every case names the file.
public enum DataFileError: Error, CustomStringConvertible, Equatable {
    /// The file cannot be read.
    case unreadable(file: String, detail: String)
    /// The contents are not in the expected format.
    case malformed(file: String, detail: String)

    /// A one-line message.
    public var description: String {
        switch self {
        case .unreadable(let file, let detail): "\(file): \(detail)"
        case .malformed(let file, let detail): "\(file): \(detail)"
        }
    }
}

/// Readers for the data formats Kiln trains on. Gzip-compressed files (`.gz`, or any file starting with the gzip
/// magic bytes) are decompressed with the system zlib.
public enum DataFiles {
    /// The bytes of `path`, decompressed when they are gzip.
    public static func contents(of path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataFileError.unreadable(file: path, detail: FileManager.default.fileExists(atPath: path) ? "cannot be read" : "no such file")
        }
        let bytes = [UInt8](data)
        guard bytes.count >= 2, bytes[0] == 0x1F, bytes[1] == 0x8B else { return bytes }
        return try gunzip(bytes, file: path)
    }

    /// Inflates gzip data (all members) with zlib.
    static func gunzip(_ input: [UInt8], file: String) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DataFileError.malformed(file: file, detail: "zlib could not start inflating")
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var source = input
        let status: Int32 = source.withUnsafeMutableBufferPointer { inBuffer in
            stream.next_in = inBuffer.baseAddress
            stream.avail_in = uInt(inBuffer.count)
            var result = Z_OK
            repeat {
                result = chunk.withUnsafeMutableBufferPointer { outBuffer in
                    stream.next_out = outBuffer.baseAddress
                    stream.avail_out = uInt(outBuffer.count)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                output += chunk[0..<(chunk.count - Int(stream.avail_out))]
                if result == Z_STREAM_END && stream.avail_in > 0 { result = inflateReset(&stream) }
            } while result == Z_OK
            return result
        }
        guard status == Z_STREAM_END else {
            throw DataFileError.malformed(file: file, detail: "corrupt or truncated gzip data (zlib status \(status))")
        }
        return output
    }

    /// An IDX file (the MNIST format: magic `0 0 type rank`, big-endian extents, then the values) as a tensor:
    /// unsigned bytes stay `uint8`, other types become `float32` or integers.
    public static func readIDX(_ path: String, device: Device = .default) throws -> Tensor {
        let bytes = try contents(of: path)
        guard bytes.count >= 4, bytes[0] == 0, bytes[1] == 0 else {
            throw DataFileError.malformed(file: path, detail: "not an IDX file (the magic number must start with two zero bytes)")
        }
        let rank = Int(bytes[3])
        guard bytes.count >= 4 + 4 * rank else { throw DataFileError.malformed(file: path, detail: "truncated: the header needs \(4 + 4 * rank) bytes") }
        let shape = (0..<rank).map { r in (0..<4).reduce(0) { $0 << 8 | Int(bytes[4 + 4 * r + $1]) } }
        let (dtype, size): (DType, Int) = switch bytes[2] {
        case 0x08: (.uint8, 1)
        case 0x09: (.int32, 1)    // signed byte, widened
        case 0x0B: (.int32, 2)
        case 0x0C: (.int32, 4)
        case 0x0D: (.float32, 4)
        case 0x0E: (.float64, 8)
        default: throw DataFileError.malformed(file: path, detail: String(format: "unknown IDX element type 0x%02X", bytes[2]))
        }
        let start = 4 + 4 * rank, count = shape.reduce(1, *)
        guard bytes.count - start == count * size else {
            throw DataFileError.malformed(file: path, detail: "\(bytes.count - start) data bytes for shape \(shape), expected \(count * size)")
        }
        let data = bytes[start...]
        func bigEndian(_ i: Int) -> UInt64 { (0..<size).reduce(UInt64(0)) { $0 << 8 | UInt64(data[start + i * size + $1]) } }
        switch bytes[2] {
        case 0x08: return Tensor(Array(data), shape: shape, device: device)
        case 0x09: return Tensor((0..<count).map { Int32(Int8(bitPattern: data[start + $0])) }, shape: shape, device: device)
        case 0x0B: return Tensor((0..<count).map { Int32(Int16(truncatingIfNeeded: bigEndian($0))) }, shape: shape, device: device)
        case 0x0C: return Tensor((0..<count).map { Int32(truncatingIfNeeded: bigEndian($0)) }, shape: shape, device: device)
        case 0x0D: return Tensor((0..<count).map { Float(bitPattern: UInt32(bigEndian($0))) }, shape: shape, device: device)
        default: _ = dtype; return Tensor((0..<count).map { Double(bitPattern: bigEndian($0)) }, shape: shape, device: device)
        }
    }

    /// A numeric CSV file as a `[rows, columns]` float32 tensor; with `header`, the first line is skipped. A cell
    /// that is not a number, or a row of another width, is an error naming its line.
    public static func readCSV(_ path: String, header: Bool = false, separator: Character = ",", device: Device = .default) throws -> Tensor {
        let text = String(decoding: try contents(of: path), as: UTF8.self)
        var values: [Float] = [], width: Int?
        var rows = 0
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if header && number == 0 { continue }
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            let cells = trimmed.split(separator: separator, omittingEmptySubsequences: false)
            if let width, cells.count != width {
                throw DataFileError.malformed(file: path, detail: "line \(number + 1) has \(cells.count) columns, expected \(width)")
            }
            width = cells.count
            for cell in cells {
                guard let v = Float(cell.trimmingCharacters(in: .whitespaces)) else {
                    throw DataFileError.malformed(file: path, detail: "line \(number + 1): '\(cell)' is not a number")
                }
                values.append(v)
            }
            rows += 1
        }
        return Tensor(values, shape: [rows, width ?? 0], device: device)
    }

    /// The text of a file, or of every regular file under a folder (sorted by path, joined with newlines).
    public static func readText(_ path: String) throws -> String {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw DataFileError.unreadable(file: path, detail: "no such file or folder")
        }
        guard isFolder.boolValue else { return String(decoding: try contents(of: path), as: UTF8.self) }
        let files = (FileManager.default.enumerator(atPath: path)?.compactMap { $0 as? String } ?? []).sorted()
            .map { path + "/" + $0 }
            .filter { var folder: ObjCBool = false; return FileManager.default.fileExists(atPath: $0, isDirectory: &folder) && !folder.boolValue }
        guard !files.isEmpty else { throw DataFileError.malformed(file: path, detail: "the folder holds no files") }
        return try files.map { String(decoding: try contents(of: $0), as: UTF8.self) }.joined(separator: "\n")
    }
}
