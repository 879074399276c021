import Foundation
import Synchronization
import Kiln
import KilnNN

/// Why a training run ended.
public enum TrainingEnd: Equatable, Sendable {
    /// Every planned step ran.
    case finished
    /// Ctrl-C (SIGINT) stopped it after `step` steps; a checkpoint was saved.
    case interrupted(step: Int)
}

/// The training loop behind `kiln train`: runs a task's steps under a plan, prints progress, appends metrics
/// to `metrics.jsonl`, evaluates, checkpoints atomically (also on Ctrl-C) and draws `loss.svg` at the end.
public struct Trainer {
    /// The metrics file in the checkpoint folder: one JSON object per line.
    public static let metricsFile = "metrics.jsonl"
    /// The loss plot in the checkpoint folder.
    public static let plotFile = "loss.svg"

    /// The task.
    public let task: TrainingTask
    /// The plan.
    public let plan: TrainingPlan
    /// The seed the run started from (recorded in the checkpoint).
    public let seed: UInt64
    /// Where lines go (standard output in the command).
    public var print: (String) -> Void = { Swift.print($0) }

    /// A trainer.
    public init(task: TrainingTask, plan: TrainingPlan, seed: UInt64) {
        self.task = task; self.plan = plan; self.seed = seed
    }

    /// Runs the plan from `startStep` (a resumed checkpoint's step, else 0) with `optimizer`; returns how it ended
    /// and the last evaluation.
    public func run(optimizer: Optimizer, startStep: Int) throws -> (end: TrainingEnd, metrics: [(name: String, value: Double)]) {
        let directory = plan.checkpointDirectory
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw SafetensorsError.io(file: directory, detail: "cannot create the checkpoint folder: \(error.localizedDescription)")
        }
        let metrics = try MetricsLog(path: directory + "/" + Self.metricsFile, append: startStep > 0)
        let update = Update(optimizer: optimizer, precision: plan.precision, clipNorm: plan.clipNorm)
        let schedule = plan.makeSchedule()
        let progress = ProgressReporter(total: plan.steps, unit: task.unit, print: print)
        var last: [(name: String, value: Double)] = []
        Interrupt.install()
        defer { Interrupt.uninstall() }
        task.model.train()
        var step = startStep
        while step < plan.steps {
            if Interrupt.requested {
                try save(optimizer: optimizer, step: step)
                print("interrupted after step \(step); checkpoint saved in \(directory) (continue with --resume)")
                return (.interrupted(step: step), last)
            }
            let learningRate = schedule.learningRate(at: step)
            optimizer.learningRate = learningRate
            let started = Date()
            let (loss, units) = task.trainStep(step, batchSize: plan.batchSize, update: update)
            let seconds = Date().timeIntervalSince(started)
            guard loss.isFinite else {
                throw KilnError.invalidConfiguration(setting: "training", value: "loss \(loss) at step \(step + 1)",
                                                     expected: "a finite loss (lower --lr, or use --precision fp32)")
            }
            step += 1
            let rate = progress.record(step: step, loss: loss, units: units, seconds: seconds)
            try metrics.append(["step": step, "loss": loss, "lr": learningRate, "\(task.unit)_per_second": rate])
            if (plan.evalEvery > 0 && step % plan.evalEvery == 0) || step == plan.steps {
                last = evaluate(step: step)
                progress.interject(Self.describe(last, step: step))
                try metrics.append(["step": step, "eval": Dictionary(uniqueKeysWithValues: last.map { ($0.name, $0.value) })])
                try save(optimizer: optimizer, step: step)
            }
        }
        progress.finish()
        if startStep >= plan.steps { last = evaluate(step: step) }
        try LossPlot.write(metrics: directory + "/" + Self.metricsFile, to: directory + "/" + Self.plotFile, title: task.kind)
        return (.finished, last)
    }

    /// The task's held-out metrics, computed in evaluation mode.
    private func evaluate(step: Int) -> [(name: String, value: Double)] {
        task.model.eval()
        defer { task.model.train() }
        return task.evaluate()
    }

    /// `step N: accuracy 0.9870, loss 0.0312`.
    static func describe(_ metrics: [(name: String, value: Double)], step: Int) -> String {
        "step \(step) held-out: " + metrics.map { "\($0.name) \(String(format: "%.4f", $0.value))" }.joined(separator: ", ")
    }

    /// Writes the checkpoint, with the task's kind and settings in its metadata.
    func save(optimizer: Optimizer, step: Int) throws {
        var metadata = ["task": task.kind, "seed": String(seed)]
        for (key, value) in task.settings { metadata["task." + key] = value }
        for (key, value) in plan.recorded { metadata["plan." + key] = value }
        try Checkpoint.save(model: task.model, optimizer: optimizer, step: step, metadata: metadata, to: plan.checkpointDirectory)
    }
}

/// Ctrl-C during training: the first SIGINT asks the loop to checkpoint and stop; a second ends the process.
enum Interrupt {
    private static let flag = Atomic<Bool>(false)

    /// Whether SIGINT arrived since `install()`.
    static var requested: Bool { flag.load(ordering: .relaxed) }

    /// Routes SIGINT to the flag.
    static func install() {
        flag.store(false, ordering: .relaxed)
        // A process may start with SIGINT blocked (inherited from its parent's mask): unblock it.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        signal(SIGINT) { _ in
            if Interrupt.flag.exchange(true, ordering: .relaxed) { _exit(130) }
        }
    }

    /// Restores the default SIGINT behaviour.
    static func uninstall() { signal(SIGINT, SIG_DFL) }
}
