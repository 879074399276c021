import Testing
import Foundation
import Kiln
import KilnNN

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

/// The README's training loop, verbatim (`.ci/run` checks the two agree).
@Suite struct ReadmeTrainingLoopTests {
    @Test func trainingLoop() throws {
        // A model is a Module: its Tensor and Module properties are discovered with PyTorch's names.
        final class Classifier: Module, UnaryLayer {
            let fc1 = Linear(2, 32), fc2 = Linear(32, 2)
            func callAsFunction(_ x: Tensor) -> Tensor { fc2(fc1(x).relu()) }
        }
        let model = Classifier()
        print(model.namedParameters().map(\.name))     // ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]

        // Two interleaved half-moons of points, labelled by moon.
        let generator = RandomGenerator(seed: 7)
        let angle = Tensor.uniform([512, 1], low: 0, high: Double.pi, generator: generator)
        let moon = Tensor.bernoulli([512, 1], p: 0.5, generator: generator)
        let x = concat([angle.cos() - moon, angle.sin() * (1 - moon * 2) + moon * 0.5], axis: 1)
        let labels = moon.reshaped([512]).to(.int64)

        let optimizer = AdamW(learningRate: 0.01)
        let schedule = CosineDecay(initial: 0.01, steps: 300)
        for step in 0..<300 {
            optimizer.learningRate = schedule.learningRate(at: step)
            model.zeroGrad()
            let loss = crossEntropy(logits: model(x), targets: labels)
            loss.backward()
            clipGradNorm(model.parameters(), maxNorm: 1)
            optimizer.update(model: model)
        }
        model.eval()
        let accuracy = noGrad { (model(x).argMax(axis: 1) .== labels).to(.float32).mean().item(Float.self) }
        print("accuracy", accuracy)                     // 1.0
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-tour-\(UUID())").path
        try Checkpoint.save(model: model, optimizer: optimizer, step: 300, to: folder)

        #expect(accuracy > 0.98)
        #expect(try Checkpoint.load(model: Classifier(), optimizer: AdamW(), from: folder).step == 300)
        try FileManager.default.removeItem(atPath: folder)
    }
}
