import Foundation
import KilnCPU

/// The `kiln` command: dispatches to its subcommands and turns errors into one line and exit status 2.
public enum KilnCommand {
    /// The top-level help text.
    public static let usage = """
    usage: kiln <command> [options]

    commands:
      train     train a model: the embedded addition GPT by default, or on --data
      sample    generate text from a trained GPT
      eval      a trained model's held-out accuracy (and confusion matrix for classifiers)
      devices   the devices Kiln can use, and why CUDA cannot when it cannot
      inspect   the tensors and metadata of a safetensors file
      check     cross-check every op on every device against a reference
      bench     time Kiln against NumPy and PyTorch (gemm, ops, training steps)

    Run `kiln COMMAND --help` for a command's options.
    """

    /// Runs the command line `words` (without the program name); returns the exit status.
    public static func main(_ words: [String]) -> Int32 {
        do {
            // Checked before any command runs, so that a bad value is an error here rather than a stop later.
            _ = try CPUBackend.threadCountFromEnvironment()
            switch words.first {
            case "train": return try TrainCommand.run(Array(words.dropFirst()))
            case "sample": return try SampleCommand.run(Array(words.dropFirst()))
            case "eval": return try EvalCommand.run(Array(words.dropFirst()))
            case "devices": return try DevicesCommand.run(Array(words.dropFirst()))
            case "inspect": return try InspectCommand.run(Array(words.dropFirst()))
            case "check": return try CheckCommand.run(Array(words.dropFirst()))
            case "bench": return try BenchCommand.run(Array(words.dropFirst()))
            case "--help", "-h", "help":
                print(usage)
                return 0
            case nil:
                print(usage)
                return 2
            case let other?:
                throw UsageError(description: "unknown command '\(other)'\n\(usage)")
            }
        } catch {
            FileHandle.standardError.write(Data("kiln: \(error)\n".utf8))
            return 2
        }
    }
}
