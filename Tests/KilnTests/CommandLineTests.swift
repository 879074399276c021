import Foundation
import Testing
import Kiln
import KilnCLI
import KilnNN

/// The `kiln` command through its library entry points (and, for exit statuses and Ctrl-C, the executable):
/// argument parsing, every command, checkpoints and resume, and bad input.
@Suite struct CommandLineTests {
    /// A fresh temporary folder path (not created).
    static func temporary(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("kiln-\(name)-\(UUID())").path
    }

    /// Runs `body` with a collector for the printed lines.
    static func captured(_ body: (@escaping (String) -> Void) throws -> Int32) rethrows -> (status: Int32, output: String) {
        let lines = Lines()
        let status = try body { lines.append($0) }
        return (status, lines.text)
    }

    final class Lines: @unchecked Sendable {
        private var all: [String] = []
        func append(_ line: String) { all.append(line) }
        var text: String { all.joined(separator: "\n") }
    }

    /// A tiny addition run's options.
    static let tiny = ["--width", "16", "--layers", "1", "--heads", "2", "--batch-size", "8", "--schedule", "constant", "--warmup", "0"]

    @Test func argumentsParseValuesFlagsAndErrors() throws {
        let args = try Arguments(["--steps", "5", "--lr=0.5", "--resume", "--op", "a,b", "--op", "c"], valued: ["steps", "lr", "op"], flags: ["resume"])
        #expect(try args.int("steps", default: 1, in: 1...10) == 5)
        #expect(try args.double("lr", default: 1, in: 0...1) == 0.5)
        #expect(args.flag("resume"))
        #expect(args.list("op") == ["a", "b", "c"])
        #expect(try args.int("absent", default: 7, in: 0...9) == 7)
        #expect(throws: UsageError.self) { try args.int("steps", default: 1, in: 6...10) }
        #expect(throws: UsageError.self) { try args.value("op") }
        #expect(throws: UsageError.self) { try Arguments(["--unknown"], valued: [], flags: []) }
        #expect(throws: UsageError.self) { try Arguments(["--steps"], valued: ["steps"], flags: []) }
        #expect(throws: UsageError.self) { try Arguments(["stray"], valued: [], flags: []) }
        let choice = try Arguments(["--optimizer", "lion"], valued: ["optimizer"], flags: [])
        #expect(throws: UsageError.self) { try choice.choice("optimizer", ["adamw", "sgd"], default: "adamw") }
    }

    @Test func everyTrainOptionIsDocumented() {
        for option in ["data", "model", "size", "width", "layers", "heads", "context", "digits", "device", "steps", "epochs",
                       "batch-size", "lr", "optimizer", "weight-decay", "schedule", "warmup", "clip", "precision", "seed",
                       "eval-every", "checkpoint-dir", "resume"] {
            #expect(TrainCommand.help.contains("--\(option)"), "kiln train --help does not mention --\(option)")
        }
        for option in ["device", "json", "peer-python", "no-peers", "only", "rounds"] { #expect(BenchCommand.help.contains("--\(option)")) }
        for command in ["train", "sample", "eval", "devices", "inspect", "check", "bench"] {
            #expect(KilnCommand.usage.contains("  \(command) "), "kiln --help does not list \(command)")
        }
    }

    /// `kiln bench gemm --only MxKxN` (or `BxMxKxN`) times a shape outside the suite's list and writes it to the
    /// JSON; a size that is not positive names no benchmark.
    @Test func benchTimesAnyGemmShape() throws {
        let json = Self.temporary("bench") + ".json"
        defer { try? FileManager.default.removeItem(atPath: json) }
        let run = try Self.captured {
            try BenchCommand.run(["gemm", "--device", "cpu", "--only", "24x16x8,3x24x16x8", "--no-peers", "--json", json],
                                 print: $0)
        }
        #expect(run.status == 0 && run.output.contains("3x24x16x8"))
        let results = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json)))
            as? [String: Any])["results"] as? [[String: Any]]
        #expect(results?.map { $0["shape"] as? String } == ["24x16x8", "3x24x16x8"])
        #expect(results?.allSatisfy { ($0["gflops"] as? Double ?? 0) > 0 } == true)
        #expect(throws: UsageError.self) { try BenchCommand.run(["gemm", "--only", "24x0x8", "--no-peers"]) { _ in } }
    }

    /// `kiln bench` asks the peer script for one case at a time, after each of Kiln's rounds of it. A stand-in
    /// interpreter answers with 2 ms for torch the first time, 4 ms the second and 6 ms the third, reports NumPy
    /// missing, and then stops: the medians, the ratio's range over the rounds, and the notes of a missing and a
    /// stopped peer come from what it said.
    @Test func benchTimesPeersCaseByCaseOverRounds() throws {
        let folder = Self.temporary("peer")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let fake = folder + "/python", json = folder + "/bench.json"
        try """
            #!/bin/sh
            echo '{"missing": {"numpy": "numpy left out by the stand-in"}}'
            for ms in 2 4 6; do read case || exit 0; echo "{\\"torch\\": $ms}"; done
            """.write(toFile: fake, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: fake)
        let run = try Self.captured {
            try BenchCommand.run(["gemm", "--device", "cpu", "--only", "24x16x8,8x8x8", "--rounds", "3", "--peer-python", fake,
                                  "--json", json], print: $0)
        }
        #expect(run.status == 0)
        let results = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json)))
            as? [String: Any])["results"] as? [[String: Any]] ?? []
        try #require(results.count == 2)
        let timed = results[0], kiln = try #require(timed["median_ms"] as? Double)
        #expect(timed["peer"] as? String == "torch" && timed["peer_median_ms"] as? Double == 4)
        #expect(abs((timed["ratio"] as? Double ?? 0) - 4 / kiln) < 1e-12)
        let (low, high) = (try #require(timed["ratio_low"] as? Double), try #require(timed["ratio_high"] as? Double))
        #expect(low <= 4 / kiln && 4 / kiln <= high && low < high, "ratios \(low)…\(high) around \(4 / kiln)")
        #expect((timed["peer_note"] as? String)?.contains("numpy missing") == true)
        let stopped = results[1]["peer_note"] as? String ?? ""
        #expect(stopped.contains("numpy left out by the stand-in") && stopped.contains("the peer script stopped at gemm gemm 8x8x8"),
                "\(stopped)")
    }

    @Test func trainingWritesCheckpointMetricsAndPlot() throws {
        let directory = Self.temporary("train")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (status, output) = try Self.captured { try TrainCommand.run(Self.tiny + ["--steps", "4", "--checkpoint-dir", directory], print: $0) }
        #expect(status == 0)
        #expect(output.contains("final held-out: loss"))
        let records = try String(contentsOfFile: directory + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(records.filter { $0["loss"] != nil }.map { $0["step"] as! Int } == [1, 2, 3, 4])
        #expect(records.contains { ($0["eval"] as? [String: Double])?["accuracy"] != nil })
        let svg = try String(contentsOfFile: directory + "/loss.svg", encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.contains("<polyline"))
        let checkpoint = try Safetensors.read(directory + "/" + Checkpoint.fileName, device: .cpu)
        #expect(checkpoint.metadata["task"] == "addition" && checkpoint.metadata["kiln.step"] == "4")
        #expect(checkpoint.tensors.contains { $0.name == "model.blocks.0.attn.qkv.weight" })
    }

    @Test func anExistingCheckpointIsNeverOverwritten() throws {
        let directory = Self.temporary("keep")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try Self.captured { try TrainCommand.run(Self.tiny + ["--steps", "2", "--checkpoint-dir", directory], print: $0) }
        let before = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + Checkpoint.fileName))
        #expect(throws: UsageError.self) { try TrainCommand.run(Self.tiny + ["--steps", "2", "--checkpoint-dir", directory], print: { _ in }) }
        #expect(throws: UsageError.self) { try TrainCommand.run(["--resume", "--width", "32", "--checkpoint-dir", directory], print: { _ in }) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/" + Checkpoint.fileName)) == before)
    }

    @Test func resumingContinuesExactly() throws {
        let (straight, split) = (Self.temporary("straight"), Self.temporary("split"))
        defer { for d in [straight, split] { try? FileManager.default.removeItem(atPath: d) } }
        // Bit-for-bit on the CPU. On CUDA the embedding's gradient adds with atomics, whose order (and so the
        // last bit of a sum) varies from run to run, resumed or not.
        let cpu = ["--device", "cpu"]
        _ = try Self.captured { try TrainCommand.run(Self.tiny + cpu + ["--steps", "6", "--checkpoint-dir", straight], print: $0) }
        _ = try Self.captured { try TrainCommand.run(Self.tiny + cpu + ["--steps", "3", "--checkpoint-dir", split], print: $0) }
        let (status, output) = try Self.captured { try TrainCommand.run(cpu + ["--resume", "--steps", "6", "--checkpoint-dir", split], print: $0) }
        #expect(status == 0 && output.contains("resuming addition from step 3 of 6"))
        let a = try Safetensors.read(straight + "/" + Checkpoint.fileName, device: .cpu).tensors
        let b = try Safetensors.read(split + "/" + Checkpoint.fileName, device: .cpu).tensors
        #expect(a.map(\.name) == b.map(\.name))
        for (x, y) in zip(a, b) {
            let same = x.tensor.bytes() == y.tensor.bytes()
            #expect(same, "\(x.name) differs after resuming")
        }
    }

    @Test func twoDigitAdditionIsLearned() throws {
        let directory = Self.temporary("digits")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (_, output) = try Self.captured {
                try TrainCommand.run(["--digits", "2", "--width", "64", "--layers", "2", "--heads", "4", "--steps", "800", "--batch-size", "64",
                                      "--lr", "3e-3", "--eval-every", "0", "--checkpoint-dir", directory], print: $0)
        }
        let line = try #require(output.split(separator: "\n").first { $0.hasPrefix("final held-out") })
        let accuracy = try #require(Double(line.split(separator: " ")[5].trimmingCharacters(in: .punctuationCharacters)))
        #expect(accuracy >= 0.9, "held-out accuracy \(accuracy) on two-digit addition: \(line)")
        let (_, answer) = try Self.captured { try SampleCommand.run(["--checkpoint", directory, "--prompt", "38+47"], print: $0) }
        #expect(answer == "38+47=85")
    }

    @Test func textModelTrainsAndSamples() throws {
        let (file, directory) = (Self.temporary("text") + ".txt", Self.temporary("textrun"))
        defer { for p in [file, directory] { try? FileManager.default.removeItem(atPath: p) } }
        try String(repeating: "the cat sat on the mat. ", count: 60).write(toFile: file, atomically: true, encoding: .utf8)
        let (status, output) = try Self.captured {
            try TrainCommand.run(["--data", file, "--size", "tiny", "--context", "16", "--steps", "40", "--batch-size", "8", "--lr", "3e-3",
                                  "--checkpoint-dir", directory], print: $0)
        }
        #expect(status == 0 && output.contains("bits_per_char"))
        let (_, text) = try Self.captured { try SampleCommand.run(["--checkpoint", directory, "--prompt", "the ", "--tokens", "20"], print: $0) }
        #expect(text.hasPrefix("the ") && text.count == 24)
        #expect(throws: UsageError.self) { try SampleCommand.run(["--checkpoint", directory, "--prompt", "QQ"], print: { _ in }) }
    }

    /// IDX bytes: magic, extents, unsigned bytes.
    static func idx(_ values: [UInt8], shape: [Int]) -> Data {
        var bytes: [UInt8] = [0, 0, 0x08, UInt8(shape.count)]
        for extent in shape { bytes += [UInt8(extent >> 24 & 255), UInt8(extent >> 16 & 255), UInt8(extent >> 8 & 255), UInt8(extent & 255)] }
        return Data(bytes + values)
    }

    @Test(arguments: ["mlp", "cnn"])
    func imageClassifierLearnsAndEvaluates(_ architecture: String) throws {
        let (folder, directory) = (Self.temporary("idx"), Self.temporary("imgrun"))
        defer { for p in [folder, directory] { try? FileManager.default.removeItem(atPath: p) } }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // Class 0 lights the left half of an 8×8 image, class 1 the right half, with seeded noise.
        var rng = SystemRandomNumberGenerator()
        var pixels: [UInt8] = [], labels: [UInt8] = []
        for i in 0..<200 {
            let label = UInt8(i % 2)
            labels.append(label)
            for p in 0..<64 { pixels.append((p % 8 < 4) == (label == 0) ? UInt8.random(in: 150...255, using: &rng) : UInt8.random(in: 0...100, using: &rng)) }
        }
        try Self.idx(pixels, shape: [200, 8, 8]).write(to: URL(fileURLWithPath: folder + "/train-images-idx3-ubyte"))
        try Self.idx(labels, shape: [200]).write(to: URL(fileURLWithPath: folder + "/train-labels-idx1-ubyte"))
        let (status, _) = try Self.captured {
            try TrainCommand.run(["--data", folder, "--model", architecture, "--size", "tiny", "--steps", "40", "--batch-size", "16",
                                  "--checkpoint-dir", directory], print: $0)
        }
        #expect(status == 0)
        let (_, report) = try Self.captured { try EvalCommand.run(["--checkpoint", directory], print: $0) }
        #expect(report.contains("accuracy: 1.0000"), "\(report)")
        #expect(report.contains("true\\pred"))
    }

    @Test func confusionMatrixCountsTrueAgainstPredicted() {
        let (_, table) = Self.captured { print in
            print(EvalCommand.confusionMatrix(predicted: [0, 1, 1, 2, 2, 2], actual: [0, 0, 1, 2, 2, 1], classes: ["a", "b", "c"]))
            return 0
        }
        let rows = table.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(rows[1] == ["a", "1", "1", "0"] && rows[2] == ["b", "0", "1", "1"] && rows[3] == ["c", "0", "0", "2"])
    }

    @Test func textClassifierReadsCSVAndFolders() throws {
        let (csv, directory) = (Self.temporary("labels") + ".csv", Self.temporary("clsrun"))
        defer { for p in [csv, directory] { try? FileManager.default.removeItem(atPath: p) } }
        let rows = (0..<60).map { $0 % 2 == 0 ? "pos,\"a good, fine film \($0)\"" : "neg,a dull bad film \($0)" }
        try (["label,text"] + rows).joined(separator: "\n").write(toFile: csv, atomically: true, encoding: .utf8)
        let (status, output) = try Self.captured {
            try TrainCommand.run(["--data", csv, "--model", "lstm", "--size", "tiny", "--steps", "60", "--lr", "1e-2", "--checkpoint-dir", directory], print: $0)
        }
        #expect(status == 0 && output.contains("final held-out: loss"))
        #expect(output.contains("accuracy 1.0000"), "\(output)")
        try "pos,fine\nthis line has no label separator\n".write(toFile: csv, atomically: true, encoding: .utf8)
        #expect(throws: DataFileError.self) { try TrainCommand.run(["--data", csv, "--checkpoint-dir", directory + "-bad"], print: { _ in }) }
    }

    @Test func ganRunsAndReportsModes() throws {
        let directory = Self.temporary("gan")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (status, output) = try Self.captured {
            try TrainCommand.run(["--model", "gan", "--size", "tiny", "--steps", "20", "--checkpoint-dir", directory], print: $0)
        }
        #expect(status == 0 && output.contains("modes_covered") && output.contains("generated points"))
    }

    @Test func inspectListsTensorsAndRejectsCorruptFiles() throws {
        let path = Self.temporary("inspect") + ".safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Safetensors.write([("w", Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3]))], metadata: ["note": "x"], to: path)
        let (_, output) = try Self.captured { try InspectCommand.run([path], print: $0) }
        #expect(output.contains("note: x") && output.contains("w") && output.contains("[2, 3]") && output.contains("1 tensors, 6 elements, 24 bytes"))
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path))
        #expect(throws: SafetensorsError.self) { try InspectCommand.run([path], print: { _ in }) }
        #expect(throws: UsageError.self) { try InspectCommand.run([], print: { _ in }) }
    }

    @Test func devicesListsTheCPUAndSaysWhyNotCUDA() throws {
        let (status, output) = try Self.captured { try DevicesCommand.run([], print: $0) }
        #expect(status == 0 && output.contains("cpu"))
        if (try? Device.cuda(0)) == nil { #expect(output.contains("cuda: unavailable — ")) }
    }

    @Test(arguments: [
        ["train", "--frobnicate"], ["train", "--data", "/nonexistent/kiln"], ["train", "--steps", "zero"],
        ["train", "--width", "30", "--heads", "4"], ["train", "--width", "65536", "--layers", "256"],
        ["train", "--model", "cnn"], ["train", "--device", "cuda:7"], ["train", "--precision", "fp8"],
        ["train", "--resume"], ["sample"], ["eval", "--checkpoint", "/nonexistent/kiln"], ["inspect", "/nonexistent.safetensors"],
        ["frobnicate"], ["bench", "fastest"], ["bench", "gemm", "--device", "cuda:3"],
    ])
    func badInputExitsWithStatusTwo(_ words: [String]) {
        #expect(KilnCommand.main(words) == 2)
    }

    /// A bad `KILN_NUM_THREADS` is one line and status 2 before the command runs (in a child process: the variable
    /// is the whole process's).
    @Test func invalidThreadCountExitsWithStatusTwo() async {
        await #expect(processExitsWith: .exitCode(2), observing: [\.standardErrorContent]) {
            setenv("KILN_NUM_THREADS", "0", 1)
            exit(KilnCommand.main(["devices"]))
        }.map { result in
            let text = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(text == "kiln: KILN_NUM_THREADS=\"0\" is not valid: expected a positive number of threads\n", "\(text)")
        }
    }

    /// The built `kiln` executable beside the test runner, when present.
    static var executable: String? {
        let folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [folder, folder.deletingLastPathComponent()].map { $0.appendingPathComponent("kiln").path }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test func controlCSavesACheckpointAndResumeFinishes() throws {
        let binary = try #require(Self.executable, "the kiln executable is not beside the test runner")
        let directory = Self.temporary("interrupt")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["train", "--steps", "100000", "--checkpoint-dir", directory] + Self.tiny
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let metrics = directory + "/metrics.jsonl"
        let deadline = Date().addingTimeInterval(60)
        while (try? String(contentsOfFile: metrics, encoding: .utf8))?.split(separator: "\n").count ?? 0 < 3 && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        process.interrupt()
        process.waitUntilExit()
        #expect(process.terminationStatus == 130)
        let saved = try Safetensors.read(directory + "/" + Checkpoint.fileName, device: .cpu).metadata
        let step = try #require(saved["kiln.step"].flatMap(Int.init))
        #expect(step >= 3)
        let (status, output) = try Self.captured { try TrainCommand.run(["--resume", "--steps", String(step + 2), "--checkpoint-dir", directory], print: $0) }
        #expect(status == 0 && output.contains("resuming addition from step \(step)"))
    }
}
