import Foundation
import Kiln
import KilnCheck
import KilnNN

/// A task that classifies a fixed training set, batch by batch in a fresh seeded order each epoch, and is
/// judged on held-out examples by accuracy (and, in `kiln eval`, a confusion matrix).
public protocol ClassificationTask: SupervisedTask {
    /// The classes' names, by index.
    var classNames: [String] { get }
    /// How many training examples there are.
    var trainingCount: Int { get }
    /// How many held-out examples there are.
    var heldOutCount: Int { get }
    /// Logits `[count, classes]` for the training (or held-out) examples at `indices`.
    func logits(_ indices: [Int], heldOut: Bool) -> Tensor
    /// The class indices of those examples.
    func labels(_ indices: [Int], heldOut: Bool) -> [Int]
    /// The seed that orders the epochs.
    var seed: UInt64 { get }
    /// The device the model lives on.
    var device: Device { get }
}

extension ClassificationTask {
    /// Samples.
    public var unit: String { "samples" }
    /// The training set's size.
    public var trainingSetSize: Int? { trainingCount }

    /// The training examples of `step`: epoch `e` visits every example once in an order drawn from the seed.
    public func loss(step: Int, batchSize: Int) -> (loss: Tensor, units: Int) {
        let perEpoch = (trainingCount + batchSize - 1) / batchSize
        let order = Self.permutation(trainingCount, epoch: step / perEpoch, seed: seed)
        let start = (step % perEpoch) * batchSize
        let indices = Array(order[start..<Swift.min(start + batchSize, trainingCount)])
        let targets = Tensor(labels(indices, heldOut: false).map(Int64.init), device: device)
        return (crossEntropy(logits: logits(indices, heldOut: false), targets: targets), indices.count)
    }

    /// A seeded Fisher–Yates permutation of `0..<count` for `epoch`.
    static func permutation(_ count: Int, epoch: Int, seed: UInt64) -> [Int] {
        var rng = SplitMix64.forStep(epoch, seed: seed ^ 0x4550_4F43)
        var order = Array(0..<count)
        for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        return order
    }

    /// Predicted and true classes of every held-out example, in batches.
    public func predictions() -> (predicted: [Int], actual: [Int], loss: Double) {
        var predicted: [Int] = [], actual: [Int] = [], total = 0.0
        for start in stride(from: 0, to: heldOutCount, by: 256) {
            let indices = Array(start..<Swift.min(start + 256, heldOutCount))
            let truth = labels(indices, heldOut: true)
            noGrad {
                let out = logits(indices, heldOut: true)
                let targets = Tensor(truth.map(Int64.init), device: out.device)
                total += crossEntropy(logits: out, targets: targets, reduction: .sum).item(Double.self)
                predicted += out.argMax(axis: 1).toArray(Int64.self).map(Int.init)
            }
            actual += truth
        }
        return (predicted, actual, total / Double(Swift.max(heldOutCount, 1)))
    }

    /// Held-out loss and accuracy.
    public func evaluate() -> [(name: String, value: Double)] {
        let (predicted, actual, loss) = predictions()
        let correct = zip(predicted, actual).filter { $0 == $1 }.count
        return [("loss", loss), ("accuracy", Double(correct) / Double(Swift.max(actual.count, 1)))]
    }

    /// Held-out accuracy per class.
    public func showcase() -> [String] {
        let (predicted, actual, _) = predictions()
        return classNames.indices.map { c in
            let rows = actual.indices.filter { actual[$0] == c }
            let right = rows.filter { predicted[$0] == c }.count
            return "class \(classNames[c]): \(right)/\(rows.count) held-out examples right"
        }
    }
}
