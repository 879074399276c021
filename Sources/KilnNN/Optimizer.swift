import Kiln

/// Settings that apply to the parameters whose dotted names start with `prefix` (per-parameter-group options,
/// as PyTorch's parameter groups): a learning-rate multiplier and a weight-decay override.
public struct ParameterGroup: Sendable {
    /// The name prefix the group matches (`"blocks.0."`, `"head"`).
    public var prefix: String
    /// Multiplies the optimizer's learning rate for these parameters.
    public var learningRateScale: Double
    /// Replaces the optimizer's weight decay for these parameters (0 is common for biases and norms).
    public var weightDecay: Double?

    /// A group.
    public init(prefix: String, learningRateScale: Double = 1, weightDecay: Double? = nil) {
        self.prefix = prefix; self.learningRateScale = learningRateScale; self.weightDecay = weightDecay
    }
}

/// An optimizer: updates a module's trainable parameters in place from their gradients, on the parameters'
/// device, keeping per-parameter state keyed by the parameter's dotted name (so it can be saved and restored
/// with the model).
open class Optimizer {
    /// The base learning rate (schedules set it before each step).
    public var learningRate: Double
    /// The weight decay applied unless a group overrides it.
    public var weightDecay: Double
    /// Per-prefix overrides; the first matching group wins.
    public var groups: [ParameterGroup]
    /// The number of updates taken.
    public private(set) var step = 0
    /// Per-parameter state tensors: `state[parameterName][key]`.
    public internal(set) var state: [String: [String: Tensor]] = [:]

    /// An optimizer with the given base settings.
    public init(learningRate: Double, weightDecay: Double, groups: [ParameterGroup]) {
        self.learningRate = learningRate; self.weightDecay = weightDecay; self.groups = groups
    }

    /// Updates every trainable parameter of `model` that has a gradient (`Tensor.grad`).
    public func update(model: Module) { update(parameters: model.trainableParameters()) }

    /// Updates the trainable parameters of `model` named in `gradients`, as MLX's `update(model:gradients:)`.
    public func update(model: Module, gradients: [String: Tensor]) {
        update(model.trainableParameters()) { name, _ in gradients[name] }
    }

    /// Updates `parameters` (named as `Module.namedParameters()` names them) that have a gradient: `update(model:)`
    /// for a loop that already holds its model's parameters, without walking the model again.
    public func update(parameters: [(name: String, tensor: Tensor)]) { update(parameters) { $1.grad } }

    /// One step over `parameters`, each with the gradient `gradient(name, parameter)` (skipped when nil).
    private func update(_ parameters: [(name: String, tensor: Tensor)], gradient: (String, Tensor) -> Tensor?) {
        step += 1
        noGrad {
            for (name, parameter) in parameters {
                guard let gradient = gradient(name, parameter) else { continue }
                require(gradient.shape == parameter.shape,
                        "\(type(of: self)): gradient of \(name) has shape \(gradient.shape), the parameter \(parameter.shape)")
                let group = groups.first { name.hasPrefix($0.prefix) }
                apply(name: name, parameter: parameter, gradient: gradient.to(parameter.dtype),
                      learningRate: learningRate * (group?.learningRateScale ?? 1),
                      weightDecay: group?.weightDecay ?? weightDecay)
            }
        }
    }

    /// The state tensor `key` of parameter `name`, created as zeros like `parameter` on first use.
    public func stateTensor(_ name: String, _ key: String, like parameter: Tensor) -> Tensor {
        if let t = state[name]?[key] { return t }
        let t = Tensor.zeros(like: parameter)
        state[name, default: [:]][key] = t
        return t
    }

    /// Restores state saved from `state` and `step` (e.g. from a checkpoint).
    public func restore(state: [String: [String: Tensor]], step: Int) {
        self.state = state
        self.step = step
    }

    /// One parameter's update; subclasses implement their rule. `step` has already been incremented.
    open func apply(name: String, parameter: Tensor, gradient: Tensor, learningRate: Double, weightDecay: Double) {
        fatalError("\(type(of: self)) must override apply(name:parameter:gradient:learningRate:weightDecay:)")
    }
}

/// Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay (PyTorch's `SGD`),
/// through the device's fused kernel.
public final class SGD: Optimizer {
    /// The momentum factor.
    public var momentum: Double
    /// Dampening of the gradient entering the momentum buffer.
    public var dampening: Double
    /// Nesterov momentum.
    public var nesterov: Bool

    /// An SGD optimizer.
    public init(learningRate: Double, momentum: Double = 0, dampening: Double = 0, weightDecay: Double = 0,
                nesterov: Bool = false, groups: [ParameterGroup] = []) {
        self.momentum = momentum; self.dampening = dampening; self.nesterov = nesterov
        super.init(learningRate: learningRate, weightDecay: weightDecay, groups: groups)
    }

    /// The fused SGD step.
    public override func apply(name: String, parameter: Tensor, gradient: Tensor, learningRate: Double, weightDecay: Double) {
        let first = state[name]?["momentum_buffer"] == nil
        let buffer = momentum != 0 ? stateTensor(name, "momentum_buffer", like: parameter) : nil
        FusedUpdate.sgd(parameter: parameter, gradient: gradient, momentumBuffer: buffer,
                        parameters: SGDParameters(learningRate: learningRate, momentum: momentum, dampening: dampening,
                                                  weightDecay: weightDecay, nesterov: nesterov),
                        isFirstStep: first)
    }
}

/// Adam (PyTorch's `Adam`: weight decay added to the gradient), through the device's fused kernel.
public class Adam: Optimizer {
    /// Decay of the first moment.
    public var beta1: Double
    /// Decay of the second moment.
    public var beta2: Double
    /// Added to the denominator.
    public var epsilon: Double
    /// Whether weight decay is decoupled (AdamW).
    let decoupled: Bool

    /// An Adam optimizer.
    public convenience init(learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8,
                            weightDecay: Double = 0, groups: [ParameterGroup] = []) {
        self.init(learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay,
                  decoupled: false, groups: groups)
    }

    init(learningRate: Double, beta1: Double, beta2: Double, epsilon: Double, weightDecay: Double, decoupled: Bool,
         groups: [ParameterGroup]) {
        self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon; self.decoupled = decoupled
        super.init(learningRate: learningRate, weightDecay: weightDecay, groups: groups)
    }

    /// The fused Adam step.
    public override func apply(name: String, parameter: Tensor, gradient: Tensor, learningRate: Double, weightDecay: Double) {
        FusedUpdate.adam(parameter: parameter, gradient: gradient,
                         firstMoment: stateTensor(name, "exp_avg", like: parameter),
                         secondMoment: stateTensor(name, "exp_avg_sq", like: parameter),
                         parameters: AdamParameters(learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
                                                    weightDecay: weightDecay, decoupledWeightDecay: decoupled),
                         step: step)
    }
}

/// AdamW: Adam with decoupled weight decay (PyTorch's `AdamW`, default weight decay 0.01).
public final class AdamW: Adam {
    /// An AdamW optimizer.
    public init(learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8,
                weightDecay: Double = 0.01, groups: [ParameterGroup] = []) {
        super.init(learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay,
                   decoupled: true, groups: groups)
    }
}

/// RMSprop (PyTorch's defaults: α 0.99, ε 1e-8, no momentum, not centred), composed from tensor ops.
public final class RMSprop: Optimizer {
    /// The smoothing constant of the squared-gradient average.
    public var alpha: Double
    /// Added to the denominator.
    public var epsilon: Double

    /// An RMSprop optimizer.
    public init(learningRate: Double = 1e-2, alpha: Double = 0.99, epsilon: Double = 1e-8, weightDecay: Double = 0,
                groups: [ParameterGroup] = []) {
        self.alpha = alpha; self.epsilon = epsilon
        super.init(learningRate: learningRate, weightDecay: weightDecay, groups: groups)
    }

    /// `v = αv + (1-α)g²; w -= lr·g / (√v + ε)`.
    public override func apply(name: String, parameter: Tensor, gradient: Tensor, learningRate: Double, weightDecay: Double) {
        let g = weightDecay == 0 ? gradient : gradient + parameter * weightDecay
        let v = stateTensor(name, "square_avg", like: parameter)
        v.assign(v * alpha + g.square() * (1 - alpha))
        parameter.assign(parameter - g * learningRate / (v.sqrt() + epsilon))
    }
}

/// Adagrad (PyTorch's defaults: no learning-rate decay, initial accumulator 0, ε 1e-10), composed from tensor ops.
public final class Adagrad: Optimizer {
    /// Added to the denominator.
    public var epsilon: Double

    /// An Adagrad optimizer.
    public init(learningRate: Double = 1e-2, epsilon: Double = 1e-10, weightDecay: Double = 0, groups: [ParameterGroup] = []) {
        self.epsilon = epsilon
        super.init(learningRate: learningRate, weightDecay: weightDecay, groups: groups)
    }

    /// `s += g²; w -= lr·g / (√s + ε)`.
    public override func apply(name: String, parameter: Tensor, gradient: Tensor, learningRate: Double, weightDecay: Double) {
        let g = weightDecay == 0 ? gradient : gradient + parameter * weightDecay
        let sum = stateTensor(name, "sum", like: parameter)
        sum.assign(sum + g.square())
        parameter.assign(parameter - g * learningRate / (sum.sqrt() + epsilon))
    }
}
