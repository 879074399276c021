import Kiln

/// Multi-head self-attention with one fused `qkv` projection and an output projection `proj`, with optional
/// causal and padding masks.
public final class MultiHeadAttention: Module {
    /// `Linear(d, 3d)` producing queries, keys and values.
    public let qkv: Linear
    /// `Linear(d, d)` mixing the heads.
    public let proj: Linear
    /// The number of heads.
    public let heads: Int

    /// Attention over `dimensions` features split into `heads` heads.
    public init(dimensions: Int, heads: Int, bias: Bool = true, dtype: DType = .float32, device: Device = .default) {
        require(dimensions % heads == 0, "MultiHeadAttention: \(dimensions) dimensions do not split into \(heads) heads")
        qkv = Linear(dimensions, 3 * dimensions, bias: bias, dtype: dtype, device: device)
        proj = Linear(dimensions, dimensions, bias: bias, dtype: dtype, device: device)
        self.heads = heads
        super.init()
    }

    /// Attends over `x` (`[batch, time, dimensions]`). With `causal`, position `t` sees positions `≤ t`;
    /// `padding` (`[batch, time]`, true where a token is real) hides padded keys. With a `cache`, `x` holds the
    /// positions after the cached ones: its keys and values are appended there, and its queries attend to every
    /// cached position as well (causally: the cached positions come first). A cache takes no padding mask.
    public func callAsFunction(_ x: Tensor, causal: Bool = false, padding: Tensor? = nil, cache: KVCache? = nil) -> Tensor {
        require(x.rank == 3, "MultiHeadAttention: input must be [batch, time, dimensions], got \(x.shape)")
        require(padding == nil || cache == nil, "MultiHeadAttention: a padding mask cannot be combined with a KVCache")
        let (batch, time, dimensions) = (x.shape[0], x.shape[1], x.shape[2])
        let headSize = dimensions / heads
        let parts = qkv(x).reshaped([batch, time, 3, heads, headSize]).permuted([2, 0, 3, 1, 4]).split(parts: 3, axis: 0)
        let (q, newKeys, newValues) = (parts[0].squeezed(axis: 0), parts[1].squeezed(axis: 0), parts[2].squeezed(axis: 0))
        let cached = cache?.count ?? 0
        let (k, v) = cache?.update(keys: newKeys, values: newValues) ?? (newKeys, newValues)
        // Scaling the queries rather than the scores touches a quarter of the elements at context 4·headSize, and
        // leaves the scaled queries contiguous for the product.
        var scores = (q * (1 / Double(headSize).squareRoot())).matmul(k.T)
        if let padding {
            require(padding.shape == [batch, time], "MultiHeadAttention: padding mask must be [\(batch), \(time)], got \(padding.shape)")
            scores = which(padding.reshaped([batch, 1, 1, time]), scores, Tensor.full([], value: -.infinity, dtype: scores.dtype, device: x.device))
        }
        let weights: Tensor
        if !causal || (cached > 0 && time == 1) {
            // One new query after the cached positions sees all of them.
            weights = scores.softmax(axis: -1)
        } else if cached == 0 {
            weights = scores.causalSoftmax()
        } else {
            // Query `i` is position `cached + i`.
            let mask = Tensor.causalMask(queries: time, keys: cached + time, offset: cached, dtype: scores.dtype, device: x.device)
            weights = (scores + mask).softmax(axis: -1)
        }
        let y = weights.matmul(v).permuted([0, 2, 1, 3]).reshaped([batch, time, dimensions])
        return proj(y)
    }
}

/// The feed-forward half of a transformer block: `fc` (d → hidden), an activation, `proj` (hidden → d).
public final class FeedForward: Module, UnaryLayer {
    /// The expansion.
    public let fc: Linear
    /// The projection back.
    public let proj: Linear
    /// GELU (tanh form, as GPT-2) when true, else ReLU (as PyTorch's encoder layer).
    public let gelu: Bool

    /// A feed-forward network.
    public init(dimensions: Int, hidden: Int, gelu: Bool = true, dtype: DType = .float32, device: Device = .default) {
        fc = Linear(dimensions, hidden, dtype: dtype, device: device)
        proj = Linear(hidden, dimensions, dtype: dtype, device: device)
        self.gelu = gelu
        super.init()
    }

    /// Applies the network.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let h = fc(x)
        return proj(gelu ? h.gelu(approximate: true) : h.relu())
    }
}

/// The GPT-2 block: pre-norm causal self-attention and feed-forward, each in a residual branch with dropout.
public final class TransformerBlock: Module, UnaryLayer {
    /// The norm before attention.
    public let ln1: LayerNorm
    /// The attention.
    public let attn: MultiHeadAttention
    /// The norm before the feed-forward network.
    public let ln2: LayerNorm
    /// The feed-forward network (4× wide by default).
    public let mlp: FeedForward
    /// Dropout on each residual branch.
    public let dropout: Dropout

    /// A GPT-2 block of `dimensions` features and `heads` heads.
    public init(dimensions: Int, heads: Int, hidden: Int? = nil, dropout: Double = 0, dtype: DType = .float32,
                device: Device = .default) {
        ln1 = LayerNorm(dimensions, dtype: dtype, device: device)
        attn = MultiHeadAttention(dimensions: dimensions, heads: heads, dtype: dtype, device: device)
        ln2 = LayerNorm(dimensions, dtype: dtype, device: device)
        mlp = FeedForward(dimensions: dimensions, hidden: hidden ?? 4 * dimensions, dtype: dtype, device: device)
        self.dropout = Dropout(dropout)
        super.init()
    }

    /// `x + attn(ln1(x))`, then `+ mlp(ln2(·))`, causally masked.
    public func callAsFunction(_ x: Tensor) -> Tensor { callAsFunction(x, cache: nil) }

    /// The block over the positions of `x` that follow those in `cache` (see `MultiHeadAttention`), which it extends.
    public func callAsFunction(_ x: Tensor, cache: KVCache?) -> Tensor {
        let h = x + dropout(attn(ln1(x), causal: true, cache: cache))
        return h + dropout(mlp(ln2(h)))
    }
}

/// The post-norm encoder block of the original Transformer (PyTorch's `TransformerEncoderLayer`): attention and
/// a ReLU feed-forward network, each added back and then normalised.
public final class TransformerEncoderBlock: Module {
    /// The attention.
    public let attn: MultiHeadAttention
    /// The norm after attention.
    public let ln1: LayerNorm
    /// The feed-forward network.
    public let mlp: FeedForward
    /// The norm after the feed-forward network.
    public let ln2: LayerNorm
    /// Dropout on each residual branch.
    public let dropout: Dropout

    /// An encoder block.
    public init(dimensions: Int, heads: Int, hidden: Int, dropout: Double = 0.1, dtype: DType = .float32,
                device: Device = .default) {
        attn = MultiHeadAttention(dimensions: dimensions, heads: heads, dtype: dtype, device: device)
        ln1 = LayerNorm(dimensions, dtype: dtype, device: device)
        mlp = FeedForward(dimensions: dimensions, hidden: hidden, gelu: false, dtype: dtype, device: device)
        ln2 = LayerNorm(dimensions, dtype: dtype, device: device)
        self.dropout = Dropout(dropout)
        super.init()
    }

    /// `ln1(x + attn(x))`, then `ln2(· + mlp(·))`; `padding` (`[batch, time]`) hides padded positions.
    public func callAsFunction(_ x: Tensor, padding: Tensor? = nil) -> Tensor {
        let h = ln1(x + dropout(attn(x, padding: padding)))
        return ln2(h + dropout(mlp(h)))
    }
}
