import Foundation
import Kiln

/// `kiln sample`: text from a trained GPT (or answers from the addition model).
public enum SampleCommand {
    /// The command's help text.
    public static let help = """
    kiln sample — generate from a GPT trained by kiln train

    usage: kiln sample --checkpoint DIR [--prompt TEXT] [--temperature T] [--top-k K] [--tokens N] [--seed N] [--device NAME]

      --checkpoint DIR   a kiln train checkpoint folder of a text or addition model
      --prompt TEXT      the start of the text (default: a newline); for the addition model a problem, A+B
      --temperature T    divides the logits before sampling (default 0.8; 0 picks the most likely character)
      --top-k K          sample among the K most likely characters only
      --tokens N         how many characters to generate (default 300)
      --seed N           seeds the sampling (default 1)
      --device NAME      cpu, cuda or cuda:N (default: KILN_DEVICE, else the best available)
    """

    /// Runs `kiln sample` with the words after `sample`; returns the exit status or throws (status 2).
    public static func run(_ words: [String], print: (String) -> Void = { Swift.print($0) }) throws -> Int32 {
        if words.contains("--help") || words.contains("-h") {
            print(help)
            return 0
        }
        let args = try Arguments(words, valued: ["checkpoint", "prompt", "temperature", "top-k", "tokens", "seed", "device"], flags: [])
        guard let directory = try args.value("checkpoint") else { throw UsageError(description: "kiln sample needs --checkpoint DIR") }
        let device = try args.value("device").map(Device.named) ?? Device.fromEnvironment()
        let temperature = try args.double("temperature", default: 0.8, in: 0...100)
        let topK = try args.value("top-k") == nil ? nil : try args.int("top-k", default: 0, in: 1...1 << 20)
        let count = try args.int("tokens", default: 300, in: 1...1_000_000)
        let generator = RandomGenerator(seed: UInt64(try args.int("seed", default: 1, in: 0...Int.max)))
        guard let task = try CheckpointLoader.load(directory, device: device, loadData: false) as? SamplingTask else {
            throw UsageError(description: "\(directory) holds a classifier or a GAN, not a GPT: use kiln eval")
        }
        let text = try Device.withDefault(device) {
            try task.sample(prompt: try args.value("prompt"), count: count, temperature: temperature, topK: topK, generator: generator)
        }
        print(text)
        return 0
    }
}
