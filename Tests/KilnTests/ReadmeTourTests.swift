import Testing
import Kiln

/// The README's API tour, verbatim (`.ci/run` checks the two agree), followed by checks of what it printed.
@Suite struct ReadmeTourTests {
    @Test func tour() {
        // Tensors have a runtime dtype, a shape and a device; views share memory.
        let a = Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        let b = a.T                                    // a [3, 2] view: no copy
        let c = a.matmul(b) + 1                        // scalars broadcast
        print(c.toArray(Float.self))                   // [15.0, 33.0, 33.0, 78.0]
        print(a.sum(axis: 1).toArray(Float.self))      // [6.0, 15.0]

        // The default device is the best available one; KILN_DEVICE=cpu|cuda|cuda:N overrides it.
        let device = Device.default
        let generator = RandomGenerator(seed: 42)      // Philox4x32-10: the same numbers on every device
        let x = Tensor.normal([256, 3], device: device, generator: generator)
        let trueWeights = Tensor([0.5, -2, 1] as [Float], shape: [3, 1], device: device)
        let y = x.matmul(trueWeights)

        // Autograd: mark the leaves, compute a scalar, call backward().
        let w = Tensor.zeros([3, 1], device: device).requiringGrad()
        let sgd = SGDParameters(learningRate: 0.1)
        for step in 0..<100 {
            w.zeroGrad()
            let loss = (x.matmul(w) - y).square().mean()
            loss.backward()
            FusedUpdate.sgd(parameter: w, gradient: w.grad!, momentumBuffer: nil, parameters: sgd,
                            isFirstStep: step == 0)
        }
        print(w.toArray(Float.self))                   // ≈ [0.5, -2.0, 1.0]

        #expect(c.toArray(Float.self) == [15, 33, 33, 78])
        #expect(a.sum(axis: 1).toArray(Float.self) == [6, 15])
        let learned = w.toArray(Float.self)
        for (value, truth) in zip(learned, [0.5, -2, 1] as [Float]) { #expect(Swift.abs(value - truth) < 1e-3) }
    }
}
