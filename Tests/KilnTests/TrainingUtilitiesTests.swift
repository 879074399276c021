import Foundation
import Testing
import Kiln
import KilnNN

@Suite struct TrainingUtilitiesTests {
    @Test func softLabelCrossEntropyAgreesWithTheFusedKernel() {
        let logits = Tensor(Ref.random([5, 4], seed: 31).values, shape: [5, 4])
        let targets = Tensor([3, 0, 1, 1, 2] as [Int64])
        let hot = oneHot(targets, classes: 4, dtype: .float64)
        for smoothing in [0.0, 0.2] {
            let soft = crossEntropy(logits: logits, probabilities: hot, labelSmoothing: smoothing).item(Double.self)
            let fused = crossEntropy(logits: logits, targets: targets, labelSmoothing: smoothing).item(Double.self)
            #expect(Swift.abs(soft - fused) < 1e-12)
        }
    }

    @Test func penalties() {
        let w = [Tensor([3, -4] as [Float]), Tensor([1] as [Float])]
        #expect(l2Penalty(w).item(Float.self) == 26)
        #expect(l1Penalty(w).item(Float.self) == 8)
    }

    @Test func gradientAccumulationOverMicroBatchesEqualsTheFullBatch() {
        RandomGenerator.withDefault(RandomGenerator(seed: 32)) {
            let model = Sequential([Linear(4, 8, dtype: .float64), Tanh(), Linear(8, 1, dtype: .float64)])
            let x = Tensor.normal([8, 4], dtype: .float64), y = Tensor.normal([8, 1], dtype: .float64)
            mseLoss(model(x), y).backward()
            let full = model.parameters().map { $0.grad!.toArray(Double.self) }
            model.zeroGrad()
            for half in x.split(parts: 2).indices {
                let xs = x.split(parts: 2)[half], ys = y.split(parts: 2)[half]
                (mseLoss(model(xs), ys) / 2).backward()
            }
            for (p, g) in zip(model.parameters(), full) {
                #expect(zip(p.grad!.toArray(Double.self), g).allSatisfy { Swift.abs($0 - $1) < 1e-12 })
            }
        }
    }

    @Test func gradScalerFollowsPyTorchSemantics() {
        let model = Sequential([Linear(2, 1)])
        let optimizer = SGD(learningRate: 0.1)
        let scaler = GradScaler(growthInterval: 3)
        #expect(scaler.scale == 65536)
        let w = model.parameters()[0]
        let before = w.toArray(Float.self)
        // A non-finite gradient: the step is skipped and the scale halved.
        w.grad = Tensor([Float.infinity, 1] as [Float], shape: [1, 2])
        model.parameters()[1].grad = Tensor([1] as [Float])
        #expect(!scaler.step(optimizer, model: model))
        #expect(scaler.scale == 32768 && w.toArray(Float.self) == before && optimizer.step == 0)
        // Clean steps: gradients are unscaled before the update, and the scale doubles after three.
        for i in 1...3 {
            w.grad = Tensor([32768, 0] as [Float], shape: [1, 2]) * (scaler.scale / 32768)
            model.parameters()[1].grad = Tensor([0] as [Float])
            #expect(scaler.step(optimizer, model: model))
            #expect(Swift.abs(w.toArray(Float.self)[0] - (before[0] - 0.1 * Float(i))) < 1e-5)
        }
        #expect(scaler.scale == 65536 && scaler.cleanSteps == 0)
    }

    @Test(arguments: [DType.bfloat16, .float16])
    func autocastComputesProductsInLowPrecisionAndStillLearns(_ dtype: DType) {
        RandomGenerator.withDefault(RandomGenerator(seed: 33)) {
            let layer = Linear(16, 8)
            let x = Tensor.normal([4, 16])
            let full = layer(x)
            let low = MixedPrecision.autocast(dtype) { layer(x) }
            #expect(low.dtype == .float32)
            let difference = (low - full).abs().max().item(Float.self)
            #expect(difference > 0 && difference < (dtype == .bfloat16 ? 0.1 : 0.01), "difference \(difference)")
            // An MLP trained under autocast with loss scaling learns its batch; the weights stay float32.
            let model = Sequential([Linear(10, 32), ReLU(), Linear(32, 3)])
            let inputs = Tensor.normal([12, 10]), labels = Tensor((0..<12).map { Int64($0 % 3) })
            let optimizer = Adam(learningRate: 0.01), scaler = GradScaler()
            for _ in 0..<150 {
                model.zeroGrad()
                let loss = MixedPrecision.autocast(dtype) { crossEntropy(logits: model(inputs), targets: labels) }
                scaler.scaled(loss).backward()
                scaler.step(optimizer, model: model)
            }
            #expect(model.parameters().allSatisfy { $0.dtype == .float32 })
            #expect(crossEntropy(logits: model(inputs), targets: labels).item(Float.self) < 0.05)
        }
    }
}
