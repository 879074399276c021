import Foundation
import Kiln

/// `kiln eval`: a trained model's held-out metrics; for classifiers also the confusion matrix.
public enum EvalCommand {
    /// The command's help text.
    public static let help = """
    kiln eval — evaluate a model trained by kiln train on its held-out data

    usage: kiln eval --checkpoint DIR [--data PATH] [--device NAME]

      --checkpoint DIR   a kiln train checkpoint folder
      --data PATH        evaluate on this data instead of the data the model was trained on (same layout; for
                         images, the t10k files, else the last 10% of the training files, are the held-out set)
      --device NAME      cpu, cuda or cuda:N (default: KILN_DEVICE, else the best available)

    Classifiers print accuracy, loss and the confusion matrix (rows: true class, columns: predicted); the
    addition model its exact-match accuracy; text models loss and bits per character; the GAN its mode coverage.
    """

    /// Runs `kiln eval` with the words after `eval`; returns the exit status or throws (status 2).
    public static func run(_ words: [String], print: (String) -> Void = { Swift.print($0) }) throws -> Int32 {
        if words.contains("--help") || words.contains("-h") {
            print(help)
            return 0
        }
        let args = try Arguments(words, valued: ["checkpoint", "data", "device"], flags: [])
        guard let directory = try args.value("checkpoint") else { throw UsageError(description: "kiln eval needs --checkpoint DIR") }
        let device = try args.value("device").map(Device.named) ?? Device.fromEnvironment()
        var overrides: [String: String] = [:]
        if let data = try args.value("data") {
            guard FileManager.default.fileExists(atPath: data) else { throw UsageError(description: "--data \(data): no such file or folder") }
            overrides["data"] = URL(fileURLWithPath: data).standardizedFileURL.path
        }
        let task = try CheckpointLoader.load(directory, device: device, loadData: true, overrides: overrides)
        Device.withDefault(device) {
            print("\(task.kind) model from \(directory) on \(device): \(task.summary)")
            for (name, value) in task.evaluate() { print("\(name): \(String(format: "%.4f", value))") }
            if let classifier = task as? any ClassificationTask {
                let (predicted, actual, _) = classifier.predictions()
                print("")
                print(confusionMatrix(predicted: predicted, actual: actual, classes: classifier.classNames))
            }
        }
        return 0
    }

    /// The confusion matrix as a table: a row per true class, a column per predicted class.
    public static func confusionMatrix(predicted: [Int], actual: [Int], classes: [String]) -> String {
        var counts = Array(repeating: Array(repeating: 0, count: classes.count), count: classes.count)
        for (p, a) in zip(predicted, actual) { counts[a][p] += 1 }
        let names = classes.map { String($0.prefix(12)) }
        let width = Swift.max(names.map(\.count).max() ?? 1, String(predicted.count).count, 5)
        func cell(_ text: String) -> String { String(repeating: " ", count: Swift.max(0, width - text.count)) + text }
        var lines = [cell("true\\pred") + " " + names.map(cell).joined(separator: " ")]
        for (i, row) in counts.enumerated() { lines.append(cell(names[i]) + " " + row.map { cell(String($0)) }.joined(separator: " ")) }
        return lines.joined(separator: "\n")
    }
}
