import Foundation
import Testing
import Kiln
import KilnNN

/// The repository's `Tests/Fixtures` folder.
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

func temporaryPath(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("kiln-\(UUID().uuidString)-\(name)").path
}

/// Whether `python3` can import `safetensors` and `numpy` (CI installs them).
let pythonSafetensors: Bool = {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", "import safetensors, numpy"]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return false }
    process.waitUntilExit()
    return process.terminationStatus == 0
}()

@Suite struct SafetensorsTests {
    @Test func readsAFileWrittenByPython() throws {
        let file = try Safetensors.read(fixtures.appendingPathComponent("python.safetensors").path, device: .cpu)
        let t = Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.name, $0.tensor) })
        #expect(file.metadata == ["written_by": "python safetensors", "format": "np"])
        #expect(t["float32_matrix"]!.shape == [2, 3] && t["float32_matrix"]!.toArray(Float.self) == (0..<6).map { Float($0) * 0.5 - 1 })
        #expect(t["float64_vector"]!.toArray(Double.self) == [1.0 / 3, -2.5, 1e-300, 6.02214076e23])
        #expect(t["float16_vector"]!.dtype == .float16 && t["float16_vector"]!.toArray(Float16.self) == [0.1, -65504, 6.1e-5])
        #expect(t["int64_vector"]!.toArray(Int64.self) == [-(1 << 40), 0, 1 << 62])
        #expect(t["int32_cube"]!.shape == [2, 3, 4] && t["int32_cube"]!.toArray(Int32.self) == (0..<24).map { Int32($0 - 12) })
        #expect(t["uint8_bytes"]!.toArray(UInt8.self) == [0, 127, 255])
        #expect(t["bool_mask"]!.toArray(Bool.self) == [true, false, false, true])
        #expect(t["empty"]!.shape == [0, 3] && t["scalar"]!.shape == [] && t["scalar"]!.item(Float.self) == 42)
    }

    @Test func roundTripsEveryDtypeAndMetadata() throws {
        let path = temporaryPath("round.safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let originals: [(String, Tensor)] = DType.allCases.map { dtype in
            (dtype.rawValue, Tensor((0..<6).map { Double($0) - 2 }, shape: [3, 2]).to(dtype))
        } + [("transposed", Tensor((0..<6).map(Float.init), shape: [2, 3]).T)]
        try Safetensors.write(originals, metadata: ["step": "7"], to: path)
        let data = FileManager.default.contents(atPath: path)!
        let headerLength = data.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect((8 + headerLength) % 8 == 0)                              // data 8-byte aligned
        let back = try Safetensors.read(path, device: .cpu)
        #expect(back.metadata == ["step": "7"])
        for (name, tensor) in originals {
            let read = back.tensors.first { $0.name == name }!.tensor
            #expect(read.dtype == tensor.dtype && read.shape == tensor.shape && read.bytes() == tensor.bytes(), "\(name)")
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: FileManager.default.temporaryDirectory.path)
            .filter { $0.contains(URL(fileURLWithPath: path).lastPathComponent) && $0.hasSuffix(".tmp") }
        #expect(leftovers.isEmpty)
    }

    @Test(.enabled(if: pythonSafetensors, "python3 with safetensors and numpy is not installed (pip install safetensors numpy)"))
    func pythonReadsAFileKilnWrote() throws {
        let path = temporaryPath("kiln.safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let model = Sequential([Linear(3, 2), ReLU(), Linear(2, 1)])
        try model.saveWeights(to: path, metadata: ["written_by": "kiln"])
        try Safetensors.write([("f16", Tensor([1.5, -2] as [Float]).to(.float16)), ("i64", Tensor([Int64(1) << 50]))],
                              to: path + ".extra")
        defer { try? FileManager.default.removeItem(atPath: path + ".extra") }
        for (file, expected) in [(path, model.namedTensors().map { ($0.name, $0.tensor) }),
                                 (path + ".extra", [("f16", Tensor([1.5, -2] as [Float]).to(.float16)), ("i64", Tensor([Int64(1) << 50]))])] {
            let process = Process()
            let pipe = Pipe()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", fixtures.appendingPathComponent("check_safetensors.py").path, file]
            process.standardOutput = pipe
            try process.run()
            let output = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0)
            let json = try JSONSerialization.jsonObject(with: output) as! [String: Any]
            for (name, tensor) in expected {
                let entry = json[name] as! [String: Any]
                #expect(entry["shape"] as! [Int] == tensor.shape, "\(name)")
                // Foundation's JSON parser may be an ulp off on doubles; the values are float32 or small integers.
                let values = entry["values"] as! [Double], expected = tensor.toArray(Double.self)
                #expect(values.count == expected.count && zip(values, expected).allSatisfy { Swift.abs($0 - $1) <= 1e-12 * Swift.abs($1) },
                        "\(name): \(values) vs \(expected)")
            }
        }
    }

    /// A valid file with one tensor, then corrupted in one way.
    static func corrupted(_ corruption: (inout [UInt8]) -> Void) throws -> String {
        let path = temporaryPath("bad.safetensors")
        try Safetensors.write([("w", Tensor([1, 2, 3, 4] as [Float]))], to: path)
        var bytes = [UInt8](FileManager.default.contents(atPath: path)!)
        corruption(&bytes)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func header(_ bytes: [UInt8]) -> String {
        let n = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        return String(decoding: bytes[8..<(8 + n)], as: UTF8.self)
    }

    static func replacingHeader(_ bytes: inout [UInt8], _ transform: (String) -> String) {
        let n = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let text = Array(transform(header(bytes)).utf8)
        var length = [UInt8](repeating: 0, count: 8)
        for i in 0..<8 { length[i] = UInt8((text.count >> (8 * i)) & 0xFF) }
        bytes = length + text + bytes[(8 + n)...]
    }

    @Test func corruptFilesGiveClearErrors() throws {
        let cases: [((inout [UInt8]) -> Void, (SafetensorsError) -> Bool)] = [
            ({ $0 = Array($0.prefix(5)) }, { if case .truncated = $0 { true } else { false } }),
            ({ $0 = Array($0.dropLast(4)) }, { if case .invalidOffsets(_, "w", _) = $0 { true } else { false } }),
            ({ $0[0] = 0xFF; $0[1] = 0xFF }, { if case .truncated = $0 { true } else { false } }),
            ({ Self.replacingHeader(&$0) { _ in "not json" } }, { if case .invalidHeader = $0 { true } else { false } }),
            ({ Self.replacingHeader(&$0) { $0.replacingOccurrences(of: "F32", with: "F8_E4M3") } },
             { $0 == .unsupportedDType(file: $0.file, tensor: "w", dtype: "F8_E4M3") }),
            ({ Self.replacingHeader(&$0) { $0.replacingOccurrences(of: "[4]", with: "[5]") } },
             { if case .invalidOffsets(_, "w", _) = $0 { true } else { false } }),
            ({ $0 += [0, 0, 0, 0] }, { if case .invalidOffsets(_, _, let detail) = $0 { detail.contains("cover 16 of 20") } else { false } }),
        ]
        for (i, (corruption, matches)) in cases.enumerated() {
            let path = try Self.corrupted(corruption)
            defer { try? FileManager.default.removeItem(atPath: path) }
            do {
                _ = try Safetensors.read(path, device: .cpu)
                Issue.record("case \(i): a corrupt file was accepted")
            } catch let error as SafetensorsError {
                #expect(matches(error), "case \(i): \(error)")
                #expect(error.description.hasPrefix(path), "case \(i): \(error)")
            }
        }
        #expect(throws: SafetensorsError.io(file: "/nonexistent/x.safetensors", detail: "no such file")) {
            try Safetensors.read("/nonexistent/x.safetensors")
        }
    }

    @Test func loadingChecksShapesBeforeWritingAnything() throws {
        let path = temporaryPath("weights.safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let source = TinyMLP(3, 4, 2), target = TinyMLP(3, 4, 2), wrong = TinyMLP(3, 5, 2)
        try source.saveWeights(to: path)
        try target.loadWeights(from: path)
        #expect(target.parameters().map { $0.toArray(Float.self) } == source.parameters().map { $0.toArray(Float.self) })
        let before = wrong.parameters().map { $0.toArray(Float.self) }
        #expect(throws: SafetensorsError.shapeMismatch(file: path, tensor: "fc1.weight", expected: [5, 3], found: [4, 3])) {
            try wrong.loadWeights(from: path)
        }
        #expect(wrong.parameters().map { $0.toArray(Float.self) } == before)
        #expect(throws: SafetensorsError.missingTensor(file: path, tensor: "0.weight")) {
            try Sequential([Linear(3, 4), ReLU(), Linear(4, 2)]).loadWeights(from: path)
        }
    }
}

extension SafetensorsError {
    /// The file the error names.
    var file: String {
        switch self {
        case .truncated(let f, _), .invalidHeader(let f, _), .unsupportedDType(let f, _, _), .invalidOffsets(let f, _, _),
             .missingTensor(let f, _), .unexpectedTensor(let f, _), .shapeMismatch(let f, _, _, _), .io(let f, _): f
        }
    }
}

@Suite struct CheckpointTests {
    /// Six steps in one go, against three steps, a save, a fresh model, optimizer and generator, a load, and three
    /// more: the losses of the last three steps must be bit-identical (dropout draws from the restored stream).
    @Test func resumingContinuesExactly() throws {
        let directory = temporaryPath("checkpoint")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let x = Tensor.normal([16, 6], generator: RandomGenerator(seed: 1)), labels = Tensor((0..<16).map { Int64($0 % 3) })
        func make(_ generator: RandomGenerator) -> (Sequential, AdamW) {
            let model = Sequential([Linear(6, 12), ReLU(), Dropout(0.2, generator: generator), Linear(12, 3)])
            return (model, AdamW(learningRate: 0.01))
        }
        func train(_ model: Sequential, _ optimizer: AdamW, steps: Int) -> [Float] {
            (0..<steps).map { _ in
                model.zeroGrad()
                let loss = crossEntropy(logits: model(x), targets: labels)
                loss.backward()
                optimizer.update(model: model)
                return loss.item(Float.self)
            }
        }
        let g1 = RandomGenerator(seed: 5)
        let (m1, o1) = make(g1)
        let initial = m1.namedTensors().map { ($0.name, $0.tensor.copied()) }
        let straight = train(m1, o1, steps: 6)

        let g2 = RandomGenerator(seed: 5)
        let (m2, o2) = make(g2)
        noGrad { for ((_, t), (_, v)) in zip(m2.namedTensors().map { ($0.name, $0.tensor) }, initial) { t.assign(v) } }
        let firstHalf = train(m2, o2, steps: 3)
        try Checkpoint.save(model: m2, optimizer: o2, step: 3, generator: g2, metadata: ["note": "half"], to: directory)

        let g3 = RandomGenerator(seed: 999)
        let (m3, o3) = make(g3)
        let (step, metadata) = try Checkpoint.load(model: m3, optimizer: o3, generator: g3, from: directory)
        #expect(step == 3 && metadata == ["note": "half"] && o3.step == 3)
        let secondHalf = train(m3, o3, steps: 3)
        #expect(firstHalf + secondHalf == straight)
    }

    @Test func aCheckpointForAnotherModelIsRejectedUntouched() throws {
        let directory = temporaryPath("checkpoint")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Checkpoint.save(model: TinyMLP(3, 4, 2), optimizer: nil, step: 1, generator: RandomGenerator(seed: 0), to: directory)
        let other = TinyMLP(3, 8, 2)
        let before = other.parameters().map { $0.toArray(Float.self) }
        #expect(throws: SafetensorsError.self) { try Checkpoint.load(model: other, optimizer: nil, from: directory) }
        #expect(other.parameters().map { $0.toArray(Float.self) } == before)
        #expect(throws: SafetensorsError.self) { try Checkpoint.load(model: TinyMLP(3, 4, 2), optimizer: SGD(learningRate: 1), from: directory) }
    }

    @Test func headerOnlyMetadataMatchesTheFullRead() throws {
        let path = temporaryPath("meta.safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: SafetensorsError.self) { try Safetensors.metadata(path) }
        let python = fixtures.appendingPathComponent("python.safetensors").path
        #expect(try Safetensors.metadata(python) == (try Safetensors.read(python, device: .cpu).metadata))
        try Data([200, 0, 0, 0, 0, 0, 0, 0, 123]).write(to: URL(fileURLWithPath: path))
        #expect(throws: SafetensorsError.self) { try Safetensors.metadata(path) }
    }
}
