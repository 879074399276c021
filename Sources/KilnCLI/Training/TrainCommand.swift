import Foundation
import Kiln
import KilnNN

/// `kiln train`: trains the embedded addition GPT by default, or a model on the data `--data` names.
public enum TrainCommand {
    /// The command's help text.
    public static let help = """
    kiln train — train a model, on the GPU when there is one, else on the CPU

    usage: kiln train [--data PATH] [--model NAME] [options]

    With no --data, a small GPT learns to add two 3-digit numbers from problems it generates (no download) and
    reports its exact-match accuracy on 2,000 held-out problems.

    data and model:
      --data PATH        a text file or folder of .txt files: a character-level GPT
                         a folder of MNIST-layout IDX files (train-images-idx3-ubyte[.gz], …): an image classifier
                         a labelled .csv (label,text per line) or a folder with a subfolder of .txt files per
                         class: a text classifier
      --model NAME       gpt (text, the default task), mlp or cnn (images; default mlp), lstm or bag (an
                         embedding-pooling classifier; default lstm) for text classification, gan (a GAN on a 2-D
                         mixture of eight Gaussians; no data)
      --size PRESET      tiny, small (default) or base
      --width N, --layers N, --heads N, --context N
                         explicit sizes (override the preset)
      --digits N         operand digits for the addition task (default 3)

    the loop:
      --device NAME      cpu, cuda or cuda:N (default: KILN_DEVICE, else the best available)
      --steps N          optimisation steps (default per task)
      --epochs N         for classifiers: passes over the training set (sets --steps)
      --batch-size N     samples or sequences per step
      --lr X             peak learning rate
      --optimizer NAME   adamw (default), adam, sgd (momentum 0.9), rmsprop, adagrad
      --weight-decay X   default 0.01
      --schedule NAME    cosine (default), linear or constant, after --warmup steps (default 5% of the run)
      --clip X           clip the global gradient norm (default 1; 0 turns it off; not applied with fp16)
      --precision P      fp32 (default), bf16 or fp16 (autocast; fp16 adds loss scaling)
      --seed N           seeds the model, the data order and the held-out split (default 1)
      --eval-every N     evaluate and checkpoint every N steps (default: 10 times per run)

    checkpoints:
      --checkpoint-dir DIR   where checkpoint.safetensors, metrics.jsonl and loss.svg go (default runs/TASK,
                             or runs/TASK-2, … when that holds a run); an existing checkpoint is never
                             overwritten except by --resume
      --resume               continue the run in --checkpoint-dir exactly where it stopped (the checkpoint fixes
                             the task and model; --steps may extend the run)

    Ctrl-C saves a checkpoint and exits (status 130); --resume continues it. Errors exit with status 2.
    """

    /// The options that take a value.
    static let valued: Set<String> = ["data", "model", "size", "width", "layers", "heads", "context", "digits", "device",
                                      "steps", "epochs", "batch-size", "lr", "optimizer", "weight-decay", "schedule",
                                      "warmup", "clip", "precision", "seed", "eval-every", "checkpoint-dir"]
    /// Options that fix the task and so cannot be combined with `--resume`.
    static let taskOptions = ["data", "model", "size", "width", "layers", "heads", "context", "digits", "seed"]

    /// Runs `kiln train` with the words after `train`; returns the exit status (0 done, 130 interrupted) or
    /// throws (status 2).
    public static func run(_ words: [String], print: @escaping (String) -> Void = printLine) throws -> Int32 {
        if words.contains("--help") || words.contains("-h") {
            print(help)
            return 0
        }
        let args = try Arguments(words, valued: valued, flags: ["resume"])
        let device = try args.value("device").map(Device.named) ?? Device.fromEnvironment()
        let resume = args.flag("resume")
        var kind: String, settings: [String: String], directory: String, planDefaults: [String: String]
        if resume {
            guard let given = try args.value("checkpoint-dir") else { throw UsageError(description: "--resume needs --checkpoint-dir") }
            for option in taskOptions where try args.value(option) != nil {
                throw UsageError(description: "--\(option) cannot be combined with --resume: the checkpoint fixes the task and model")
            }
            directory = given
            let file = directory + "/" + Checkpoint.fileName
            guard FileManager.default.fileExists(atPath: file) else { throw UsageError(description: "no checkpoint to resume: \(file) does not exist") }
            let metadata = try Safetensors.metadata(file)
            (kind, settings) = try TaskFactory.settings(fromCheckpointMetadata: metadata, file: file)
            planDefaults = TrainingPlan.recorded(in: metadata)
        } else {
            (kind, settings) = try TaskFactory.settings(from: args)
            let defaults = TaskFactory.defaultPlan(kind: kind)
            planDefaults = ["steps": String(defaults.steps), "batch-size": String(defaults.batchSize), "lr": String(defaults.learningRate)]
            directory = try checkpointDirectory(given: try args.value("checkpoint-dir"), kind: kind)
        }
        let seed = UInt64(settings["seed"] ?? "1") ?? 1
        var plan = try TrainingPlan(args.filling(planDefaults), checkpointDirectory: directory, resume: resume)
        try TaskFactory.checkMemory(kind: kind, settings: settings, batchSize: plan.batchSize, device: device)

        let generator = RandomGenerator(seed: seed)
        return try Device.withDefault(device) {
            try RandomGenerator.withDefault(generator) {
                let task = try TaskFactory.make(kind: kind, settings: settings, device: device)
                if let epochs = try args.value("epochs") {
                    guard let count = Int(epochs), count > 0, let size = task.trainingSetSize else {
                        throw UsageError(description: "--epochs needs a positive integer and a task with a training set (got '\(epochs)' for \(kind))")
                    }
                    plan.steps = count * ((size + plan.batchSize - 1) / plan.batchSize)
                    plan.warmup = try args.int("warmup", default: plan.steps / 20, in: 0...plan.steps)
                    plan.evalEvery = try args.int("eval-every", default: Swift.max(1, plan.steps / 10), in: 0...Int.max)
                }
                let optimizer = plan.makeOptimizer()
                var start = 0
                if resume {
                    start = try Checkpoint.load(model: task.model, optimizer: optimizer, generator: generator, from: directory).step
                    print("resuming \(kind) from step \(start) of \(plan.steps) in \(directory)")
                }
                print("training on \(device) (\(device.name)): \(task.summary)")
                print("\(plan.steps) steps, batch \(plan.batchSize), \(plan.optimizer) lr \(plan.learningRate), \(plan.schedule) schedule, "
                      + "precision \(plan.precision.map { "\($0)" } ?? "float32"); checkpoints in \(directory)")
                var trainer = Trainer(task: task, plan: plan, seed: seed)
                trainer.print = print
                let started = Date()
                let (end, metrics) = try trainer.run(optimizer: optimizer, startStep: start)
                if case .interrupted = end { return 130 }
                for line in task.showcase() { print("  " + line) }
                print(Trainer.describe(metrics, step: plan.steps).replacingOccurrences(of: "step \(plan.steps) held-out", with: "final held-out")
                      + String(format: " (%.1f s)", Date().timeIntervalSince(started)))
                print("checkpoint: \(directory)/\(Checkpoint.fileName); metrics: \(directory)/\(Trainer.metricsFile); plot: \(directory)/\(Trainer.plotFile)")
                return 0
            }
        }
    }

    /// Prints `line` and flushes, so progress reaches a log file or pipe as it happens.
    public static func printLine(_ line: String) {
        Swift.print(line)
        fflush(nil)
    }

    /// The folder for a new run: `given` (which must not hold a checkpoint), else the first of `runs/KIND`,
    /// `runs/KIND-2`, … without one.
    static func checkpointDirectory(given: String?, kind: String) throws -> String {
        let manager = FileManager.default
        if let given {
            if manager.fileExists(atPath: given + "/" + Checkpoint.fileName) {
                throw UsageError(description: "\(given) already holds a checkpoint: pass --resume to continue it, or choose another --checkpoint-dir")
            }
            return given
        }
        var candidate = "runs/\(kind)", n = 1
        while manager.fileExists(atPath: candidate + "/" + Checkpoint.fileName) {
            n += 1
            candidate = "runs/\(kind)-\(n)"
        }
        return candidate
    }
}
