import Kiln
import KilnNN

/// How `kiln train` runs a task: the loop's length, the optimizer and schedule, precision, evaluation and
/// where checkpoints go.
public struct TrainingPlan: Sendable {
    /// The optimizers `--optimizer` names.
    public static let optimizers = ["adamw", "adam", "sgd", "rmsprop", "adagrad"]
    /// The precisions `--precision` names: float32, bfloat16 autocast, float16 autocast with loss scaling.
    public static let precisions = ["fp32", "bf16", "fp16"]
    /// The schedules `--schedule` names.
    public static let schedules = ["cosine", "linear", "constant"]

    /// The total number of steps (a resumed run continues up to it).
    public var steps: Int
    /// Samples (or sequences) per batch.
    public var batchSize: Int
    /// The peak learning rate.
    public var learningRate: Double
    /// One of `optimizers`.
    public var optimizer: String
    /// The weight decay (decoupled for AdamW).
    public var weightDecay: Double
    /// One of `schedules`; every schedule starts with a linear warm-up of `warmup` steps.
    public var schedule: String
    /// Warm-up steps.
    public var warmup: Int
    /// The autocast compute type, `nil` for float32.
    public var precision: DType?
    /// Clip the global gradient norm to this, when set.
    public var clipNorm: Double?
    /// Evaluate (and checkpoint) every this many steps; 0 only at the end.
    public var evalEvery: Int
    /// Where the checkpoint, the metrics and the plot go.
    public var checkpointDirectory: String
    /// Continue the checkpoint in `checkpointDirectory`.
    public var resume: Bool

    /// A plan.
    public init(steps: Int, batchSize: Int, learningRate: Double, optimizer: String = "adamw", weightDecay: Double = 0.01,
                schedule: String = "cosine", warmup: Int? = nil, precision: DType? = nil, clipNorm: Double? = 1,
                evalEvery: Int = 0, checkpointDirectory: String, resume: Bool = false) {
        self.steps = steps; self.batchSize = batchSize; self.learningRate = learningRate; self.optimizer = optimizer
        self.weightDecay = weightDecay; self.schedule = schedule; self.warmup = warmup ?? steps / 20
        self.precision = precision; self.clipNorm = clipNorm; self.evalEvery = evalEvery
        self.checkpointDirectory = checkpointDirectory; self.resume = resume
    }

    /// The plan from the command line's options (`steps`, `batch-size` and `lr` must be present, as defaults
    /// or given).
    init(_ args: Arguments, checkpointDirectory: String, resume: Bool) throws {
        let steps = try args.int("steps", default: 1000, in: 1...100_000_000)
        self.init(steps: steps, batchSize: try args.int("batch-size", default: 32, in: 1...1 << 20),
                  learningRate: try args.double("lr", default: 1e-3, in: 1e-9...10),
                  optimizer: try args.choice("optimizer", Self.optimizers, default: "adamw"),
                  weightDecay: try args.double("weight-decay", default: 0.01, in: 0...10),
                  schedule: try args.choice("schedule", Self.schedules, default: "cosine"),
                  warmup: try args.int("warmup", default: steps / 20, in: 0...steps),
                  precision: try [nil, .bfloat16, .float16][Self.precisions.firstIndex(of: args.choice("precision", Self.precisions, default: "fp32"))!],
                  evalEvery: try args.int("eval-every", default: Swift.max(1, steps / 10), in: 0...Int.max),
                  checkpointDirectory: checkpointDirectory, resume: resume)
        let clip = try args.double("clip", default: 1, in: 0...1e9)
        clipNorm = clip > 0 ? clip : nil
    }

    /// The plan as the options that would recreate it, stored in checkpoints as `plan.<option>` so `--resume`
    /// continues with the same batch size, schedule and optimizer.
    var recorded: [String: String] {
        ["steps": String(steps), "batch-size": String(batchSize), "lr": String(learningRate), "optimizer": optimizer,
         "weight-decay": String(weightDecay), "schedule": schedule, "warmup": String(warmup), "clip": String(clipNorm ?? 0),
         "precision": Self.precisions[[nil, DType.bfloat16, .float16].firstIndex(of: precision) ?? 0], "eval-every": String(evalEvery)]
    }

    /// The `plan.<option>` values of a checkpoint's metadata, by option.
    static func recorded(in metadata: [String: String]) -> [String: String] {
        var options: [String: String] = [:]
        for (key, value) in metadata where key.hasPrefix("plan.") { options[String(key.dropFirst(5))] = value }
        return options
    }

    /// A fresh optimizer of the named kind. Adam and AdamW use β₂ = 0.99, as nanoGPT does for small models
    /// trained for few steps (PyTorch's 0.999 adapts too slowly there).
    func makeOptimizer() -> Optimizer {
        switch optimizer {
        case "adam": Adam(learningRate: learningRate, beta2: 0.99, weightDecay: weightDecay)
        case "sgd": SGD(learningRate: learningRate, momentum: 0.9, weightDecay: weightDecay)
        case "rmsprop": RMSprop(learningRate: learningRate, weightDecay: weightDecay)
        case "adagrad": Adagrad(learningRate: learningRate, weightDecay: weightDecay)
        default: AdamW(learningRate: learningRate, beta2: 0.99, weightDecay: weightDecay)
        }
    }

    /// The learning rate at each step: linear warm-up, then the named decay to 10% of the peak.
    func makeSchedule() -> any LearningRateSchedule {
        let rest = Swift.max(1, steps - warmup)
        let decay: any LearningRateSchedule = switch schedule {
        case "linear": LinearSchedule(initial: learningRate, final: learningRate / 10, steps: rest)
        case "constant": LinearSchedule(initial: learningRate, final: learningRate, steps: rest)
        default: CosineDecay(initial: learningRate, steps: rest, minimum: learningRate / 10)
        }
        return JoinedSchedule([(LinearSchedule(initial: learningRate / Double(Swift.max(warmup, 1)), final: learningRate, steps: warmup), warmup),
                               (decay, rest)])
    }
}
