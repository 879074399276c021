import Kiln

/// Root-mean-square normalisation over the last axis with a learnable scale: `x / √(mean(x²) + ε) · weight`.
public final class RMSNorm: Module, UnaryLayer {
    /// `[features]`, initialised to ones.
    public let weight: Tensor
    /// Added to the mean square.
    public let epsilon: Double

    /// An RMS norm over `features`.
    public init(_ features: Int, epsilon: Double = 1e-6, dtype: DType = .float32, device: Device = .default) {
        weight = Tensor.ones([features], dtype: dtype, device: device).requiringGrad()
        self.epsilon = epsilon
        super.init()
    }

    /// Normalises `x`.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        x * (x.square().mean(axis: -1, keepDims: true) + epsilon).rsqrt() * weight
    }
}

/// Batch normalisation over the channel axis (1) of `[batch, channels]` or `[batch, channels, …]` input, as
/// PyTorch's `BatchNorm1d`/`BatchNorm2d`: batch statistics while training (updating the running ones with
/// momentum, the variance unbiased), running statistics in evaluation.
public final class BatchNorm: Module, UnaryLayer {
    /// `[channels]` scale, ones.
    public let weight: Tensor
    /// `[channels]` shift, zeros.
    public let bias: Tensor
    /// `[channels]` running mean (buffer), zeros.
    public let runningMean: Tensor
    /// `[channels]` running variance (buffer), ones.
    public let runningVar: Tensor
    /// The number of training batches seen (buffer, int64).
    public let numBatchesTracked: Tensor
    /// Added to the variance.
    public let epsilon: Double
    /// The weight of a new batch in the running statistics.
    public let momentum: Double

    /// The running statistics are buffers, not parameters.
    public override var bufferNames: Set<String> { ["runningMean", "runningVar", "numBatchesTracked"] }

    /// A batch norm over `channels`.
    public init(_ channels: Int, epsilon: Double = 1e-5, momentum: Double = 0.1, dtype: DType = .float32, device: Device = .default) {
        weight = Tensor.ones([channels], dtype: dtype, device: device).requiringGrad()
        bias = Tensor.zeros([channels], dtype: dtype, device: device).requiringGrad()
        runningMean = Tensor.zeros([channels], dtype: dtype, device: device)
        runningVar = Tensor.ones([channels], dtype: dtype, device: device)
        numBatchesTracked = Tensor.zeros([], dtype: .int64, device: device)
        self.epsilon = epsilon
        self.momentum = momentum
        super.init()
    }

    /// Normalises each channel.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        require(x.rank >= 2 && x.shape[1] == weight.count, "BatchNorm: input \(x.shape) does not have \(weight.count) channels on axis 1")
        var shape = [Int](repeating: 1, count: x.rank)
        shape[1] = weight.count
        let axes = (0..<x.rank).filter { $0 != 1 }
        let mean: Tensor, variance: Tensor
        if isTraining {
            mean = x.mean(axes: axes, keepDims: true)
            variance = x.variance(axes: axes, keepDims: true)
            let n = Double(x.count / weight.count)
            noGrad {
                runningMean.assign(runningMean * (1 - momentum) + mean.reshaped([weight.count]) * momentum)
                runningVar.assign(runningVar * (1 - momentum) + variance.reshaped([weight.count]) * (momentum * n / Swift.max(n - 1, 1)))
                numBatchesTracked.assign(numBatchesTracked + 1)
            }
        } else {
            (mean, variance) = (runningMean.reshaped(shape), runningVar.reshaped(shape))
        }
        return (x - mean) * (variance + epsilon).rsqrt() * weight.reshaped(shape) + bias.reshaped(shape)
    }
}

/// The mean over every spatial axis (2 and beyond), keeping `[batch, channels]` (global average pooling, 1-D or 2-D).
public final class GlobalAvgPool: Module, UnaryLayer {
    /// The layer.
    public override init() { super.init() }
    /// Averages the spatial axes.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        require(x.rank >= 3, "GlobalAvgPool: input must be [batch, channels, …], got \(x.shape)")
        return x.mean(axes: Array(2..<x.rank))
    }
}

/// 1-D convolution over `[batch, channels, length]`; `weight` is `[out, in/groups, kernel]` as in PyTorch.
public final class Conv1d: Module, UnaryLayer {
    /// `[outChannels, inChannels/groups, kernel]`.
    public let weight: Tensor
    /// `[outChannels]`, when the layer has a bias.
    public let bias: Tensor?
    /// The step, zero padding on each side, tap spacing and channel groups.
    public let stride: Int, padding: Int, dilation: Int, groups: Int

    /// A 1-D convolution with PyTorch's default initialisation.
    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, dilation: Int = 1,
                groups: Int = 1, bias: Bool = true, dtype: DType = .float32, device: Device = .default) {
        let fanIn = inChannels / groups * kernel
        weight = defaultUniform([outChannels, inChannels / groups, kernel], fanIn: fanIn, dtype: dtype, device: device)
        self.bias = bias ? defaultUniform([outChannels], fanIn: fanIn, dtype: dtype, device: device) : nil
        self.stride = stride; self.padding = padding; self.dilation = dilation; self.groups = groups
        super.init()
    }

    /// Convolves `x` as a 2-D convolution of height 1.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        require(x.rank == 3, "Conv1d: input must be [batch, channels, length], got \(x.shape)")
        let y = MixedPrecision.product(x, weight) {
            conv2d($0.unsqueezed(axis: 2), weight: $1.unsqueezed(axis: 2), stride: (1, stride), padding: (0, padding),
                   dilation: (1, dilation), groups: groups).squeezed(axis: 2)
        }
        return bias.map { y + $0.reshaped([1, -1, 1]) } ?? y
    }
}

/// Batch normalisation of `[batch, channels]` or `[batch, channels, length]` input (PyTorch's `BatchNorm1d`).
public typealias BatchNorm1d = BatchNorm

/// Batch normalisation of `[batch, channels, height, width]` input (PyTorch's `BatchNorm2d`).
public typealias BatchNorm2d = BatchNorm
