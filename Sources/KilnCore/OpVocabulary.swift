/// Elementwise functions of one operand.
public enum UnaryOp: String, Sendable, CaseIterable {
    /// `-x`.
    case neg
    /// `|x|`.
    case abs
    /// -1, 0 or 1 with the sign of `x`.
    case sign
    /// `x * x`.
    case square
    /// `e^x`.
    case exp
    /// The natural logarithm.
    case log
    /// `√x`.
    case sqrt
    /// `1 / √x`.
    case rsqrt
    /// `1 / x`.
    case reciprocal
    /// The sine.
    case sin
    /// The cosine.
    case cos
    /// The hyperbolic tangent.
    case tanh
    /// `1 / (1 + e^-x)`.
    case sigmoid
    /// `max(x, 0)`.
    case relu
    /// The exact GELU, `x Φ(x)`.
    case gelu
    /// GELU with the tanh approximation used by GPT-2.
    case geluTanh
    /// `x σ(x)`.
    case silu
    /// The Gauss error function.
    case erf
    /// Rounding toward −∞.
    case floor
    /// Rounding toward +∞.
    case ceil
    /// Rounding to nearest, ties to even.
    case round

    /// Whether the function is defined on integer and boolean tensors too (the rest need floating point).
    public var acceptsIntegers: Bool {
        switch self {
        case .neg, .abs, .sign, .square, .relu: true
        default: false
        }
    }

    /// The activations whose backward, `gradient · f′`, devices run as one fused op (`Op.unaryBackward`).
    public static let fusedBackward: [UnaryOp] = [.relu, .sigmoid, .tanh, .gelu, .geluTanh, .silu]

    /// Whether the fused backward computes `f′` from the op's output (sigmoid, tanh) rather than its input.
    public var backwardReadsOutput: Bool { self == .sigmoid || self == .tanh }
}

/// Elementwise functions of two operands of one dtype, broadcast against each other.
public enum BinaryOp: String, Sendable, CaseIterable {
    /// `a + b`.
    case add
    /// `a - b`.
    case sub
    /// `a * b`.
    case mul
    /// `a / b` (floating point only).
    case div
    /// `a ^ b` (floating point only).
    case pow
    /// The larger of `a` and `b` (NaN if either is NaN).
    case maximum
    /// The smaller of `a` and `b` (NaN if either is NaN).
    case minimum

    /// Whether the function is defined on integer and boolean tensors too.
    public var acceptsIntegers: Bool { self != .div && self != .pow }
}

/// Elementwise comparisons; the result is a `bool` tensor.
public enum CompareOp: String, Sendable, CaseIterable {
    /// `a == b`.
    case eq
    /// `a != b`.
    case ne
    /// `a < b`.
    case lt
    /// `a <= b`.
    case le
    /// `a > b`.
    case gt
    /// `a >= b`.
    case ge
}

/// Reductions over any set of axes.
public enum ReduceOp: Hashable, Sendable {
    /// The sum.
    case sum
    /// The arithmetic mean.
    case mean
    /// The largest element (NaN if any is NaN).
    case max
    /// The smallest element (NaN if any is NaN).
    case min
    /// The variance with `correction` subtracted from the count in the denominator (1 for the unbiased
    /// estimate), computed in two passes.
    case variance(correction: Int)

    /// Every reduction, with the unbiased variance standing for the family.
    public static let allCases: [ReduceOp] = [.sum, .mean, .max, .min, .variance(correction: 1)]

    /// The op's name as the harness and error messages spell it.
    public var name: String {
        switch self {
        case .sum: "sum"
        case .mean: "mean"
        case .max: "max"
        case .min: "min"
        case .variance: "variance"
        }
    }
}

/// Reductions that return the index of an extreme element (the first one on ties).
public enum ArgReduceOp: String, Sendable, CaseIterable {
    /// The index of the largest element.
    case argmax
    /// The index of the smallest element.
    case argmin
}

/// The two pooling windows.
public enum PoolKind: String, Sendable, CaseIterable {
    /// The window's maximum; the forward pass records where it was for the backward pass.
    case max
    /// The window's mean, counting padding as zeros (PyTorch's `count_include_pad=True`).
    case average
}

/// The distributions a random fill draws from. See `Philox4x32` for how values derive from the stream.
public enum RandomDistribution: Hashable, Sendable {
    /// Uniform between `low` and `high` (open at both ends before rounding to the output dtype).
    case uniform(low: Double, high: Double)
    /// Normal with the given mean and standard deviation (Box–Muller).
    case normal(mean: Double, std: Double)
    /// 1 with probability `p`, else 0.
    case bernoulli(p: Double)
}

/// The geometry of a 2-D sliding window over `[batch, channels, height, width]` input: convolution
/// (through im2col) and pooling share it.
public struct Window2d: Hashable, Sendable, CustomStringConvertible {
    /// The number of images.
    public var batch: Int
    /// The number of channels of the input.
    public var channels: Int
    /// The input's height and width.
    public var height: Int, width: Int
    /// The window's height and width.
    public var kernelHeight: Int, kernelWidth: Int
    /// The step between windows.
    public var strideHeight: Int, strideWidth: Int
    /// Implicit zero (or, for max pooling, −∞) rows and columns on each side.
    public var paddingHeight: Int, paddingWidth: Int
    /// The spacing between window taps.
    public var dilationHeight: Int, dilationWidth: Int

    /// A window geometry; every count is checked and a window that does not fit stops with a message.
    public init(batch: Int, channels: Int, height: Int, width: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1)) {
        self.batch = batch; self.channels = channels; self.height = height; self.width = width
        (kernelHeight, kernelWidth) = kernel
        (strideHeight, strideWidth) = stride
        (paddingHeight, paddingWidth) = padding
        (dilationHeight, dilationWidth) = dilation
        require(kernelHeight > 0 && kernelWidth > 0 && strideHeight > 0 && strideWidth > 0
                     && dilationHeight > 0 && dilationWidth > 0 && paddingHeight >= 0 && paddingWidth >= 0,
                     "Window2d: kernel, stride and dilation must be positive and padding non-negative: \(self)")
        require(outputHeight > 0 && outputWidth > 0,
                     "Window2d: a \(kernelHeight)x\(kernelWidth) window (dilation \(dilationHeight)x\(dilationWidth), padding \(paddingHeight)x\(paddingWidth)) does not fit a \(height)x\(width) input")
    }

    /// The number of window positions down.
    public var outputHeight: Int {
        (height + 2 * paddingHeight - dilationHeight * (kernelHeight - 1) - 1) / strideHeight + 1
    }

    /// The number of window positions across.
    public var outputWidth: Int {
        (width + 2 * paddingWidth - dilationWidth * (kernelWidth - 1) - 1) / strideWidth + 1
    }

    /// The shape of the im2col matrix: `[batch, channels·kh·kw, outH·outW]`.
    public var columnsShape: [Int] {
        [batch, channels * kernelHeight * kernelWidth, outputHeight * outputWidth]
    }

    /// The input shape `[batch, channels, height, width]`.
    public var inputShape: [Int] { [batch, channels, height, width] }

    /// The pooled shape `[batch, channels, outH, outW]`.
    public var outputShape: [Int] { [batch, channels, outputHeight, outputWidth] }

    /// A compact description for messages.
    public var description: String {
        "input \(batch)x\(channels)x\(height)x\(width), kernel \(kernelHeight)x\(kernelWidth), stride \(strideHeight)x\(strideWidth), padding \(paddingHeight)x\(paddingWidth), dilation \(dilationHeight)x\(dilationWidth)"
    }
}

/// Settings of the fused cross-entropy kernels.
public struct CrossEntropyOptions: Hashable, Sendable {
    /// Rows whose target equals this index contribute zero loss and zero gradient.
    public var ignoreIndex: Int?
    /// ε of label smoothing: the target distribution is `(1-ε)·onehot + ε/C`.
    public var labelSmoothing: Double

    /// Options with no ignored index and no smoothing by default.
    public init(ignoreIndex: Int? = nil, labelSmoothing: Double = 0) {
        require(labelSmoothing >= 0 && labelSmoothing <= 1, "crossEntropy: label smoothing \(labelSmoothing) is outside [0, 1]")
        self.ignoreIndex = ignoreIndex
        self.labelSmoothing = labelSmoothing
    }
}

/// Hyper-parameters of one SGD update, as PyTorch's `torch.optim.SGD` defines it.
public struct SGDParameters: Hashable, Sendable {
    /// The learning rate.
    public var learningRate: Double
    /// The momentum factor (0 disables the buffer).
    public var momentum: Double
    /// Dampening of the gradient added to the momentum buffer.
    public var dampening: Double
    /// L2 weight decay added to the gradient.
    public var weightDecay: Double
    /// Nesterov momentum.
    public var nesterov: Bool

    /// SGD settings; everything but the learning rate defaults to off.
    public init(learningRate: Double, momentum: Double = 0, dampening: Double = 0, weightDecay: Double = 0,
                nesterov: Bool = false) {
        self.learningRate = learningRate; self.momentum = momentum; self.dampening = dampening
        self.weightDecay = weightDecay; self.nesterov = nesterov
    }
}

/// Hyper-parameters of one Adam or AdamW update, as PyTorch defines them.
public struct AdamParameters: Hashable, Sendable {
    /// The learning rate.
    public var learningRate: Double
    /// Decay of the first moment.
    public var beta1: Double
    /// Decay of the second moment.
    public var beta2: Double
    /// Added to the denominator.
    public var epsilon: Double
    /// Weight decay: added to the gradient (Adam) or applied to the weights directly (AdamW).
    public var weightDecay: Double
    /// `true` for AdamW's decoupled weight decay.
    public var decoupledWeightDecay: Bool

    /// Adam settings with PyTorch's defaults.
    public init(learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8,
                weightDecay: Double = 0, decoupledWeightDecay: Bool = false) {
        self.learningRate = learningRate; self.beta1 = beta1; self.beta2 = beta2; self.epsilon = epsilon
        self.weightDecay = weightDecay; self.decoupledWeightDecay = decoupledWeightDecay
    }
}
