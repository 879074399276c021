import Foundation
import Testing
import Kiln

@Suite struct TrainingTests {
    /// A 2-32-1 tanh network fitted by full-batch gradient descent to y = sin(2·x₀) + x₁²/2 on 256 points.
    /// The target's variance is about 0.5; a network that learns it gets the mean squared error below 0.01.
    @Test func twoLayerNetworkLearnsARegression() {
        let generator = RandomGenerator(seed: 17)
        let x = Tensor.uniform([256, 2], low: -1.5, high: 1.5, generator: generator)
        let columns = x.split(parts: 2, axis: 1)
        let y = (columns[0] * 2).sin() + columns[1].square() * 0.5

        let w1 = Initializer.kaimingUniform([2, 32], generator: generator).requiringGrad()
        let b1 = Tensor.zeros([32]).requiringGrad()
        let w2 = Initializer.xavierUniform([32, 1], generator: generator).requiringGrad()
        let b2 = Tensor.zeros([1]).requiringGrad()
        let parameters = [w1, b1, w2, b2]
        let sgd = SGDParameters(learningRate: 0.1, momentum: 0.9)
        let buffers = parameters.map { Tensor.zeros(like: $0) }

        func loss() -> Tensor { ((x.matmul(w1) + b1).tanh().matmul(w2) + b2 - y).square().mean() }
        let initial = noGrad { loss().item(Float.self) }
        for step in 0..<600 {
            parameters.forEach { $0.zeroGrad() }
            loss().backward()
            for (p, buffer) in zip(parameters, buffers) {
                FusedUpdate.sgd(parameter: p, gradient: p.grad!, momentumBuffer: buffer, parameters: sgd, isFirstStep: step == 0)
            }
        }
        let final = noGrad { loss().item(Float.self) }
        #expect(initial > 0.2)
        #expect(final < 0.01, "loss went from \(initial) to \(final)")
    }
}
