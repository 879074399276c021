extension Backend {
    /// No fused kernel: the caller masks the scores and calls `softmax`.
    public func causalSoftmax(_ x: BufferView, out: BufferView) -> Bool { false }
}
