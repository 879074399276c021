import Kiln

/// A module that maps one tensor to one tensor, so it can be called and chained in `Sequential`.
public protocol UnaryLayer: Module {
    /// Applies the layer.
    func callAsFunction(_ x: Tensor) -> Tensor
}

/// Layers applied in order; children are named `0`, `1`, … as in PyTorch's `nn.Sequential`.
public final class Sequential: Module, UnaryLayer {
    /// The layers.
    public let layers: [any UnaryLayer]

    /// A chain of `layers`.
    public init(_ layers: [any UnaryLayer]) {
        self.layers = layers
        super.init()
    }

    /// The layers, named by position.
    public override func children() -> [(name: String, module: Module)] {
        layers.enumerated().map { ("\($0.offset)", $0.element) }
    }

    /// Each layer applied to the previous one's output.
    public func callAsFunction(_ x: Tensor) -> Tensor { layers.reduce(x) { $1($0) } }
}

/// PyTorch's default initialisation of a layer with `fanIn` inputs per output: U(-1/√fanIn, 1/√fanIn), which is
/// `kaiming_uniform_(a=√5)` for weights and the bias rule of `nn.Linear` and `nn.ConvNd`.
func defaultUniform(_ shape: [Int], fanIn: Int, dtype: DType, device: Device) -> Tensor {
    let bound = 1 / Double(Swift.max(fanIn, 1)).squareRoot()
    return Tensor.uniform(shape, low: -bound, high: bound, dtype: dtype, device: device).requiringGrad()
}

/// `y = x·Wᵀ + b` over the last axis; `weight` is `[out, in]` as in PyTorch.
public final class Linear: Module, UnaryLayer {
    /// `[outputFeatures, inputFeatures]`.
    public let weight: Tensor
    /// `[outputFeatures]`, when the layer has a bias.
    public let bias: Tensor?

    /// A linear layer with PyTorch's default initialisation.
    public init(_ inputFeatures: Int, _ outputFeatures: Int, bias: Bool = true, dtype: DType = .float32,
                device: Device = .default) {
        weight = defaultUniform([outputFeatures, inputFeatures], fanIn: inputFeatures, dtype: dtype, device: device)
        self.bias = bias ? defaultUniform([outputFeatures], fanIn: inputFeatures, dtype: dtype, device: device) : nil
        super.init()
    }

    /// Applies the affine map to the last axis of `x`.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        if MixedPrecision.computeType == nil || x.dtype != .float32 { return linear(x, weight: weight, bias: bias) }
        // Under autocast the product runs in the low dtype and the bias is added to its float32 result.
        let y = MixedPrecision.product(x, weight) { $0.matmul($1.T) }
        return bias.map { y + $0 } ?? y
    }
}

/// 2-D convolution over `[batch, channels, height, width]`; `weight` is `[out, in/groups, kh, kw]` as in PyTorch.
public final class Conv2d: Module, UnaryLayer {
    /// `[outChannels, inChannels/groups, kernelHeight, kernelWidth]`.
    public let weight: Tensor
    /// `[outChannels]`, when the layer has a bias.
    public let bias: Tensor?
    /// The step between windows.
    public let stride: (Int, Int)
    /// Zero rows and columns on each side.
    public let padding: (Int, Int)
    /// The spacing between kernel taps.
    public let dilation: (Int, Int)
    /// The number of channel groups.
    public let groups: Int

    /// A convolution with PyTorch's default initialisation.
    public init(_ inChannels: Int, _ outChannels: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1),
                padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1, bias: Bool = true,
                dtype: DType = .float32, device: Device = .default) {
        let fanIn = inChannels / groups * kernel.0 * kernel.1
        weight = defaultUniform([outChannels, inChannels / groups, kernel.0, kernel.1], fanIn: fanIn, dtype: dtype, device: device)
        self.bias = bias ? defaultUniform([outChannels], fanIn: fanIn, dtype: dtype, device: device) : nil
        self.stride = stride; self.padding = padding; self.dilation = dilation; self.groups = groups
        super.init()
    }

    /// Convolves `x`.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let y = MixedPrecision.product(x, weight) {
            conv2d($0, weight: $1, stride: stride, padding: padding, dilation: dilation, groups: groups)
        }
        return bias.map { y + $0.reshaped([1, -1, 1, 1]) } ?? y
    }
}

/// Rows of a table looked up by index; `weight` is `[count, dimensions]`, initialised N(0, 1) as in PyTorch.
public final class Embedding: Module {
    /// `[count, dimensions]`.
    public let weight: Tensor

    /// An embedding table.
    public init(_ count: Int, _ dimensions: Int, dtype: DType = .float32, device: Device = .default) {
        weight = Tensor.normal([count, dimensions], dtype: dtype, device: device).requiringGrad()
        super.init()
    }

    /// The rows for `indices`, shaped `indices.shape + [dimensions]`.
    public func callAsFunction(_ indices: Tensor) -> Tensor { embedding(indices, weight: weight) }
}

/// Layer normalisation over the last axis with learnable scale (ones) and shift (zeros).
public final class LayerNorm: Module, UnaryLayer {
    /// `[features]`, initialised to ones.
    public let weight: Tensor
    /// `[features]`, initialised to zeros.
    public let bias: Tensor
    /// Added to the variance.
    public let epsilon: Double

    /// A layer norm over `features`.
    public init(_ features: Int, epsilon: Double = 1e-5, dtype: DType = .float32, device: Device = .default) {
        weight = Tensor.ones([features], dtype: dtype, device: device).requiringGrad()
        bias = Tensor.zeros([features], dtype: dtype, device: device).requiringGrad()
        self.epsilon = epsilon
        super.init()
    }

    /// Normalises `x`.
    public func callAsFunction(_ x: Tensor) -> Tensor { layerNorm(x, weight: weight, bias: bias, epsilon: epsilon) }
}

/// Inverted dropout while training; the identity in evaluation mode.
public final class Dropout: Module, UnaryLayer {
    /// The probability of zeroing an element.
    public let probability: Double
    /// Where the masks come from.
    public let generator: RandomGenerator

    /// Dropout with probability `p`, drawing masks from `generator`.
    public init(_ p: Double = 0.5, generator: RandomGenerator = .default) {
        probability = p
        self.generator = generator
        super.init()
    }

    /// Drops elements of `x` when training.
    public func callAsFunction(_ x: Tensor) -> Tensor { dropout(x, p: probability, training: isTraining, generator: generator) }
}

/// Merges the axes `start...end` into one (default: all but the batch axis).
public final class Flatten: Module, UnaryLayer {
    /// The first and last merged axes.
    public let start: Int, end: Int

    /// A flattening layer.
    public init(start: Int = 1, end: Int = -1) {
        self.start = start; self.end = end
        super.init()
    }

    /// Flattens `x`.
    public func callAsFunction(_ x: Tensor) -> Tensor { x.flattened(start: start, end: end) }
}

/// 2-D pooling with a window, a step (defaulting to the window) and padding.
public class Pooling2d: Module, UnaryLayer {
    /// The window, step and padding.
    public let kernel: (Int, Int), stride: (Int, Int)?, padding: (Int, Int)
    let kind: PoolKind

    init(_ kind: PoolKind, kernel: (Int, Int), stride: (Int, Int)?, padding: (Int, Int)) {
        self.kind = kind; self.kernel = kernel; self.stride = stride; self.padding = padding
        super.init()
    }

    /// Pools `x`.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        kind == .max ? maxPool2d(x, kernel: kernel, stride: stride, padding: padding)
                     : avgPool2d(x, kernel: kernel, stride: stride, padding: padding)
    }
}

/// 2-D max pooling.
public final class MaxPool2d: Pooling2d {
    /// A max-pooling layer; the stride defaults to the kernel.
    public init(kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) {
        super.init(.max, kernel: kernel, stride: stride, padding: padding)
    }
}

/// 2-D average pooling (padding counted as zeros).
public final class AvgPool2d: Pooling2d {
    /// An average-pooling layer; the stride defaults to the kernel.
    public init(kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0)) {
        super.init(.average, kernel: kernel, stride: stride, padding: padding)
    }
}
