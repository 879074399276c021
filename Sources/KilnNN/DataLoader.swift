import Dispatch
import Kiln

/// A collection of training examples addressed by index.
public protocol Dataset {
    /// One example.
    associatedtype Sample
    /// The number of examples.
    var count: Int { get }
    /// The example at `index`.
    subscript(index: Int) -> Sample { get }
}

/// A dataset held in an array.
public struct ArrayDataset<Sample>: Dataset {
    /// The examples.
    public let samples: [Sample]
    /// A dataset of `samples`.
    public init(_ samples: [Sample]) { self.samples = samples }
    /// The number of examples.
    public var count: Int { samples.count }
    /// The example at `index`.
    public subscript(index: Int) -> Sample { samples[index] }
}

/// Batches of a dataset, collated into tensors (or anything) by `collate`: in order or shuffled with a seeded
/// permutation that changes every epoch, optionally dropping a last partial batch, with the next batch prepared
/// on a background thread while the current one is used.
public final class DataLoader<D: Dataset, Batch>: Sequence {
    /// The examples.
    public let dataset: D
    /// Examples per batch.
    public let batchSize: Int
    /// Whether each epoch visits the examples in a new seeded order.
    public let shuffle: Bool
    /// The seed of the shuffles (epoch `e` uses `seed + e`).
    public let seed: UInt64
    /// Whether a last, smaller batch is dropped.
    public let dropLast: Bool
    /// Turns examples into a batch.
    public let collate: ([D.Sample]) -> Batch
    /// The epochs started so far.
    public private(set) var epoch = 0

    /// A loader.
    public init(_ dataset: D, batchSize: Int, shuffle: Bool = false, seed: UInt64 = 0, dropLast: Bool = false,
                collate: @escaping ([D.Sample]) -> Batch) {
        require(batchSize > 0, "DataLoader: batch size must be positive, got \(batchSize)")
        self.dataset = dataset; self.batchSize = batchSize; self.shuffle = shuffle; self.seed = seed
        self.dropLast = dropLast; self.collate = collate
    }

    /// The number of batches in an epoch.
    public var batchCount: Int { dropLast ? dataset.count / batchSize : (dataset.count + batchSize - 1) / batchSize }

    /// The order of epoch `epoch`: Fisher–Yates driven by the Philox stream of `seed + epoch`.
    public func order(epoch: Int) -> [Int] {
        var indices = Array(0..<dataset.count)
        guard shuffle else { return indices }
        var block: UInt64 = 0, words: [UInt32] = []
        for i in stride(from: indices.count - 1, to: 0, by: -1) {
            if words.isEmpty {
                let b = Philox4x32.block(index: block, seed: seed &+ UInt64(epoch))
                words = [b[0], b[1], b[2], b[3]]
                block += 1
            }
            let j = Int((UInt64(words.removeLast()) * UInt64(i + 1)) >> 32)   // Lemire: uniform in 0...i
            indices.swapAt(i, j)
        }
        return indices
    }

    /// The batches of the next epoch.
    public func makeIterator() -> Iterator {
        defer { epoch += 1 }
        return Iterator(loader: self, order: order(epoch: epoch))
    }

    /// Walks one epoch, preparing batch `k + 1` on a background queue while batch `k` is in use.
    public struct Iterator: IteratorProtocol {
        let loader: DataLoader
        let order: [Int]
        var upcoming = 0
        var pending: Prefetch?
        private let queue = DispatchQueue(label: "kiln.dataloader")

        init(loader: DataLoader, order: [Int]) {
            self.loader = loader
            self.order = order
        }

        /// A batch being prepared in the background.
        final class Prefetch: @unchecked Sendable {
            let done = DispatchSemaphore(value: 0)
            var batch: Batch?
        }

        private func start(_ k: Int) -> Prefetch? {
            guard k < loader.batchCount else { return nil }
            let prefetch = Prefetch()
            let indices = Array(order[(k * loader.batchSize)..<Swift.min((k + 1) * loader.batchSize, order.count)])
            let loader = loader
            let work = UncheckedSendable {
                prefetch.batch = loader.collate(indices.map { loader.dataset[$0] })
                prefetch.done.signal()
            }
            queue.async { work.value() }
            return prefetch
        }

        /// The next batch, or nil at the end of the epoch.
        public mutating func next() -> Batch? {
            let current = pending ?? start(upcoming)
            guard let current else { return nil }
            upcoming += 1
            pending = start(upcoming)
            current.done.wait()
            return current.batch
        }
    }
}
