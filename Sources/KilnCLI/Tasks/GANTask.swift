import Foundation
import Kiln
import KilnCheck
import KilnNN

/// A small GAN on a 2-D mixture of eight Gaussians (σ 0.05) on a circle of radius 2: the generator maps
/// 8-dimensional normal noise to points, the discriminator tells them from real samples. Each step updates the
/// discriminator, then the generator (non-saturating loss). Judged by how many of the eight modes the
/// generator covers and what share of its points land within 3σ of a mode.
public final class GANTask: TrainingTask {
    /// The two networks, trained as one module (`generator.*`, `discriminator.*`).
    final class Networks: Module {
        let generator: Sequential, discriminator: Sequential
        init(dimensions: Int, device: Device) {
            generator = Sequential([Linear(GANTask.noise, dimensions, device: device), ReLU(), Linear(dimensions, dimensions, device: device),
                                    ReLU(), Linear(dimensions, 2, device: device)])
            discriminator = Sequential([Linear(2, dimensions, device: device), LeakyReLU(slope: 0.2), Linear(dimensions, dimensions, device: device),
                                        LeakyReLU(slope: 0.2), Linear(dimensions, 1, device: device)])
            super.init()
        }
    }

    static let noise = 8, modes = 8, radius = 2.0, sigma = 0.05
    let networks: Networks
    private let dimensions: Int, seed: UInt64, device: Device

    /// A GAN with hidden layers of `dimensions`.
    init(dimensions: Int, seed: UInt64, device: Device) {
        self.dimensions = dimensions; self.seed = seed; self.device = device
        networks = Networks(dimensions: dimensions, device: device)
    }

    /// `gan`.
    public var kind: String { "gan" }
    /// Both networks.
    public var model: Module { networks }
    /// Real samples per step.
    public var unit: String { "samples" }
    /// The setup in a line.
    public var summary: String {
        "GAN on a mixture of \(Self.modes) Gaussians (σ \(Self.sigma)) on a circle of radius \(Self.radius), \(networks.parameterCount) parameters"
    }
    /// Width and seed.
    public var settings: [String: String] { ["dimensions": String(dimensions), "seed": String(seed), "model": "gan"] }

    /// `count` real points drawn for `step`.
    func realSamples(_ count: Int, step: Int) -> Tensor {
        var rng = SplitMix64.forStep(step, seed: seed)
        var values: [Double] = []
        for _ in 0..<count {
            let angle = 2 * Double.pi * Double(rng.next() % UInt64(Self.modes)) / Double(Self.modes)
            let (u, v) = (Swift.max(rng.uniform(0, 1), 1e-300), rng.uniform(0, 1))
            let r = (-2 * Foundation.log(u)).squareRoot() * Self.sigma
            values += [Self.radius * Foundation.cos(angle) + r * Foundation.cos(2 * .pi * v),
                       Self.radius * Foundation.sin(angle) + r * Foundation.sin(2 * .pi * v)]
        }
        return Tensor(values, shape: [count, 2], device: device).to(.float32)
    }

    /// Points from the generator.
    func generate(_ count: Int) -> Tensor {
        networks.generator(Tensor.normal([count, Self.noise], device: device))
    }

    /// A discriminator step on real and generated points, then a generator step.
    public func trainStep(_ step: Int, batchSize: Int, update: Update) -> (loss: Double, units: Int) {
        let real = realSamples(batchSize, step: step)
        networks.zeroGrad()
        let fake = noGrad { generate(batchSize) }
        let discriminatorLoss = update.forward {
            binaryCrossEntropy(logits: networks.discriminator(real), targets: Tensor.ones([batchSize, 1], device: device))
                + binaryCrossEntropy(logits: networks.discriminator(fake), targets: Tensor.zeros([batchSize, 1], device: device))
        }
        update.apply(discriminatorLoss, to: networks, prefix: "discriminator.")
        networks.zeroGrad()
        let generatorLoss = update.forward {
            binaryCrossEntropy(logits: networks.discriminator(generate(batchSize)), targets: Tensor.ones([batchSize, 1], device: device))
        }
        update.apply(generatorLoss, to: networks, prefix: "generator.")
        return (discriminatorLoss.item(Double.self), batchSize)
    }

    /// Each generated point's nearest mode and whether it lies within 3σ of it.
    func modeHits(_ points: [Double]) -> [(mode: Int, close: Bool)] {
        stride(from: 0, to: points.count, by: 2).map { i in
            let (x, y) = (points[i], points[i + 1])
            let distances = (0..<Self.modes).map { m -> Double in
                let angle = 2 * Double.pi * Double(m) / Double(Self.modes)
                return ((x - Self.radius * Foundation.cos(angle)) * (x - Self.radius * Foundation.cos(angle))
                        + (y - Self.radius * Foundation.sin(angle)) * (y - Self.radius * Foundation.sin(angle))).squareRoot()
            }
            let nearest = distances.indices.min { distances[$0] < distances[$1] }!
            return (nearest, distances[nearest] < 3 * Self.sigma)
        }
    }

    /// Modes covered (≥ 2% of 2,000 generated points close to it) and the share of points within 3σ of a mode.
    public func evaluate() -> [(name: String, value: Double)] {
        let points = noGrad { RandomGenerator.withDefault(RandomGenerator(seed: seed ^ 0x4556_414C)) { generate(2000) } }
        let hits = modeHits(points.to(.float64).toArray(Double.self))
        let covered = (0..<Self.modes).filter { m in hits.filter { $0.mode == m && $0.close }.count >= hits.count / 50 }.count
        return [("modes_covered", Double(covered)), ("high_quality", Double(hits.filter(\.close).count) / Double(hits.count))]
    }

    /// An ASCII scatter plot of 2,000 generated points over the square [-3, 3]².
    public func showcase() -> [String] {
        let points = noGrad { generate(2000) }.to(.float64).toArray(Double.self)
        let (width, height) = (48, 20)
        var grid = Array(repeating: Array(repeating: 0, count: width), count: height)
        for i in stride(from: 0, to: points.count, by: 2) {
            let column = Int((points[i] + 3) / 6 * Double(width)), row = Int((3 - points[i + 1]) / 6 * Double(height))
            if (0..<width).contains(column), (0..<height).contains(row) { grid[row][column] += 1 }
        }
        let shades = Array(" .:+*#")
        return ["generated points over [-3, 3]²:"] + grid.map { row in
            "|" + String(row.map { shades[Swift.min($0 == 0 ? 0 : 1 + $0 / 10, shades.count - 1)] }) + "|"
        }
    }
}
