import Kiln
import KilnNN

/// A workload `kiln train` runs: the model, how a step's loss is formed, and how the model is judged. Batches
/// are a function of the step number (and the run's seed), so a resumed run draws exactly the batches the
/// uninterrupted one would have.
public protocol TrainingTask: AnyObject {
    /// The kind of task, stored in checkpoints so `sample` and `eval` rebuild it (`addition`, `text`, …).
    var kind: String { get }
    /// Everything trained, as one module (what the checkpoint saves).
    var model: Module { get }
    /// What throughput counts: `tokens` or `samples`.
    var unit: String { get }
    /// The data and the model, in a line or two, printed when training starts.
    var summary: String { get }
    /// The settings a checkpoint must record to rebuild this task (sizes, vocabulary, data path).
    var settings: [String: String] { get }
    /// One optimisation step at `step`: forward, backward and update through `update`; returns the training
    /// loss and how many units the batch held.
    func trainStep(_ step: Int, batchSize: Int, update: Update) -> (loss: Double, units: Int)
    /// Metrics on held-out data (`loss`, `accuracy`, …), in the order they should be printed.
    func evaluate() -> [(name: String, value: Double)]
    /// Lines printed when training ends: solved examples, generated text or samples.
    func showcase() -> [String]
    /// The number of training samples, for tasks with a fixed training set (`--epochs` counts passes over it).
    var trainingSetSize: Int? { get }
}

extension TrainingTask {
    /// No fixed training set.
    public var trainingSetSize: Int? { nil }
}

/// A task with one model trained on one loss per batch: the step is forward, backward, update.
public protocol SupervisedTask: TrainingTask {
    /// The training loss of the batch for `step`, and how many units it held.
    func loss(step: Int, batchSize: Int) -> (loss: Tensor, units: Int)
}

extension SupervisedTask {
    /// Forward (under the update's precision), backward and update of the whole model.
    public func trainStep(_ step: Int, batchSize: Int, update: Update) -> (loss: Double, units: Int) {
        model.zeroGrad()
        let (loss, units) = update.forward { self.loss(step: step, batchSize: batchSize) }
        update.apply(loss, to: model)
        return (loss.item(Double.self), units)
    }
}

/// How a step turns a loss into new parameters: the optimizer, the precision the forward pass computes in,
/// loss scaling for float16, and gradient-norm clipping.
public struct Update {
    /// The optimizer (its learning rate is set by the schedule before each step).
    public let optimizer: Optimizer
    /// The autocast compute type (`nil` for float32).
    public let precision: DType?
    /// Loss scaling (float16 only).
    public let scaler: GradScaler?
    /// The largest global gradient norm, when clipping.
    public let clipNorm: Double?

    /// An update rule.
    public init(optimizer: Optimizer, precision: DType?, clipNorm: Double?) {
        self.optimizer = optimizer
        self.precision = precision
        self.scaler = precision == .float16 ? GradScaler() : nil
        self.clipNorm = clipNorm
    }

    /// Runs `body` (a forward pass) in the update's precision.
    public func forward<R>(_ body: () -> R) -> R {
        guard let precision else { return body() }
        return MixedPrecision.autocast(precision, body)
    }

    /// Backpropagates `loss` and updates `model`'s trainable parameters (those whose names start with `prefix`).
    /// With float16 the scaler unscales the gradients and skips steps with overflow; it does not clip.
    public func apply(_ loss: Tensor, to model: Module, prefix: String = "") {
        if let scaler {
            require(prefix.isEmpty, "Update.apply: float16 loss scaling updates whole models, not the '\(prefix)' part")
            scaler.scaled(loss).backward()
            _ = scaler.step(optimizer, model: model)
            return
        }
        loss.backward()
        let parameters = model.trainableParameters().filter { $0.name.hasPrefix(prefix) }
        if let clipNorm { _ = clipGradNorm(parameters.map(\.tensor), maxNorm: clipNorm) }
        optimizer.update(parameters: parameters)
    }
}

/// A task whose model generates text (`kiln sample`).
public protocol SamplingTask: TrainingTask {
    /// `prompt` (or the task's default start) continued by `count` tokens.
    func sample(prompt: String?, count: Int, temperature: Double, topK: Int?, generator: RandomGenerator) throws -> String
}
