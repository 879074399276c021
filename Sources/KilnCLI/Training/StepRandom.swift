import KilnCheck

extension SplitMix64 {
    /// An independent stream for the batch of `step` in a run seeded with `seed`. The start is hashed: streams
    /// seeded with `seed + k·γ` would be the same sequence shifted by `k` (SplitMix steps its state by γ), so
    /// consecutive batches would nearly repeat.
    static func forStep(_ step: Int, seed: UInt64) -> SplitMix64 {
        var mixer = SplitMix64(seed ^ 0x5354_4550)
        for _ in 0..<2 { _ = mixer.next() }
        var hashed = SplitMix64(mixer.next() &+ UInt64(step))
        return SplitMix64(hashed.next())
    }
}
