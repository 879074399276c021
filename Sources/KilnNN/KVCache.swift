import Kiln

/// The keys and values one attention layer has computed so far, so that decoding a sequence token by token costs
/// one new position a step instead of the whole prefix again (MLX's `KVCache`). Inference only: the stored
/// tensors carry no gradient history, so it must be used inside `noGrad`.
///
/// Keys and values live in buffers `[batch, heads, capacity, headSize]` that grow by doubling; `update` writes the
/// new positions in place and returns views of every position so far, which the attention's products read without
/// a copy.
public final class KVCache {
    /// The number of positions stored.
    public private(set) var count = 0
    private var keys: Tensor?
    private var values: Tensor?

    /// An empty cache.
    public init() {}

    /// Appends `keys` and `values` (`[batch, heads, time, headSize]`) after the stored positions and returns all of
    /// them (`[batch, heads, count, headSize]`).
    public func update(keys newKeys: Tensor, values newValues: Tensor) -> (keys: Tensor, values: Tensor) {
        require(!Autograd.isEnabled, "KVCache.update: the cache is for inference; call the model inside noGrad { }")
        require(newKeys.rank == 4 && newKeys.shape == newValues.shape,
                "KVCache.update: keys and values must be [batch, heads, time, headSize] alike, got \(newKeys.shape) and \(newValues.shape)")
        let time = newKeys.shape[2], total = count + time
        if let stored = keys {
            let expected = [stored.shape[0], stored.shape[1], stored.shape[3]]
            require([newKeys.shape[0], newKeys.shape[1], newKeys.shape[3]] == expected && newKeys.dtype == stored.dtype,
                    "KVCache.update: new keys \(newKeys.shape) \(newKeys.dtype) do not extend the cached [\(expected[0]), \(expected[1]), \(count), \(expected[2])] \(stored.dtype)")
        }
        if total > keys?.shape[2] ?? 0 {
            keys = grown(keys, like: newKeys, to: total)
            values = grown(values, like: newValues, to: total)
        }
        keys!.sliced(axis: 2, start: count, end: total).assign(newKeys)
        values!.sliced(axis: 2, start: count, end: total).assign(newValues)
        count = total
        return (keys!.sliced(axis: 2, start: 0, end: total), values!.sliced(axis: 2, start: 0, end: total))
    }

    /// A buffer for at least `positions` positions (twice the old capacity when that is more) holding the stored ones.
    private func grown(_ buffer: Tensor?, like template: Tensor, to positions: Int) -> Tensor {
        let s = template.shape
        let capacity = Swift.max(positions, 2 * (buffer?.shape[2] ?? 0))
        let larger = Tensor.zeros([s[0], s[1], capacity, s[3]], dtype: template.dtype, device: template.device)
        if let buffer, count > 0 {
            larger.sliced(axis: 2, start: 0, end: count).assign(buffer.sliced(axis: 2, start: 0, end: count))
        }
        return larger
    }
}
