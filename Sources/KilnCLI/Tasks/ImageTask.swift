import Foundation
import Kiln
import KilnNN

/// Image classification on MNIST-layout IDX files: `train-images-idx3-ubyte` and `train-labels-idx1-ubyte`
/// (optionally `.gz`), judged on `t10k-*` when present, else on the last 10% of the training files. Pixels are
/// scaled to [0, 1]. The model is an MLP (two hidden layers of `dimensions`) or a CNN (two 3×3 convolutions
/// with pooling, then two linear layers).
public final class ImageTask: ClassificationTask {
    /// The classifier.
    public let network: Sequential
    /// `0`, `1`, … up to the largest label.
    public let classNames: [String]
    private let images: Tensor, labels: [Int], testImages: Tensor, testLabels: [Int]
    private let dataPath: String, architecture: String, dimensions: Int
    /// The seed of the epoch order.
    public let seed: UInt64
    /// The device the images and the model live on.
    public let device: Device

    /// Reads the IDX files in `dataPath` and builds the `architecture` (`mlp` or `cnn`) model.
    init(dataPath: String, architecture: String, dimensions: Int, seed: UInt64, device: Device) throws {
        self.dataPath = dataPath; self.architecture = architecture; self.dimensions = dimensions; self.seed = seed
        self.device = device
        func file(_ name: String) -> String? {
            [name, name + ".gz"].map { dataPath + "/" + $0 }.first { FileManager.default.fileExists(atPath: $0) }
        }
        guard let imageFile = file("train-images-idx3-ubyte"), let labelFile = file("train-labels-idx1-ubyte") else {
            throw DataFileError.unreadable(file: dataPath, detail: "needs train-images-idx3-ubyte and train-labels-idx1-ubyte (optionally .gz)")
        }
        var (x, y) = try Self.read(images: imageFile, labels: labelFile)
        var (tx, ty): (Tensor, [Int])
        if let testImageFile = file("t10k-images-idx3-ubyte"), let testLabelFile = file("t10k-labels-idx1-ubyte") {
            (tx, ty) = try Self.read(images: testImageFile, labels: testLabelFile)
            guard tx.shape.dropFirst() == x.shape.dropFirst() else {
                throw DataFileError.malformed(file: testImageFile, detail: "images are \(Array(tx.shape.dropFirst())), the training images \(Array(x.shape.dropFirst()))")
            }
        } else {
            let cut = x.shape[0] - Swift.max(1, x.shape[0] / 10)
            (tx, ty) = (x.sliced(axis: 0, start: cut, end: x.shape[0]), Array(y[cut...]))
            (x, y) = (x.sliced(axis: 0, start: 0, end: cut), Array(y[..<cut]))
        }
        (images, labels, testImages, testLabels) = (x.to(device), y, tx.to(device), ty)
        let classes = (y + ty).max()! + 1
        classNames = (0..<classes).map(String.init)
        let (height, width) = (x.shape[1], x.shape[2])
        if architecture == "cnn" {
            guard height % 4 == 0, width % 4 == 0 else {
                throw DataFileError.malformed(file: imageFile, detail: "the CNN needs image sides divisible by 4, got \(height)×\(width)")
            }
            let c = Swift.max(dimensions / 16, 4)
            network = Sequential([Conv2d(1, c, kernel: (3, 3), padding: (1, 1), device: device), ReLU(), MaxPool2d(kernel: (2, 2)),
                                  Conv2d(c, 2 * c, kernel: (3, 3), padding: (1, 1), device: device), ReLU(), MaxPool2d(kernel: (2, 2)),
                                  Flatten(), Linear(2 * c * height * width / 16, dimensions / 4, device: device), ReLU(),
                                  Linear(dimensions / 4, classes, device: device)])
        } else {
            network = Sequential([Flatten(), Linear(height * width, dimensions, device: device), ReLU(),
                                  Linear(dimensions, dimensions, device: device), ReLU(), Linear(dimensions, classes, device: device)])
        }
    }

    /// Images `[n, height, width]` scaled to [0, 1] and their labels, checked against each other.
    static func read(images: String, labels: String) throws -> (Tensor, [Int]) {
        let x = try DataFiles.readIDX(images, device: .cpu), y = try DataFiles.readIDX(labels, device: .cpu)
        guard x.rank == 3 else { throw DataFileError.malformed(file: images, detail: "expected images [count, height, width], found \(x.shape)") }
        guard y.rank == 1, y.shape[0] == x.shape[0] else {
            throw DataFileError.malformed(file: labels, detail: "expected \(x.shape[0]) labels to match \(images), found shape \(y.shape)")
        }
        let values = y.to(.int64).toArray(Int64.self).map(Int.init)
        guard values.allSatisfy({ $0 >= 0 && $0 < 1000 }) else { throw DataFileError.malformed(file: labels, detail: "labels must be 0…999") }
        return (x.to(.float32) / 255, values)
    }

    /// `images`.
    public var kind: String { "images" }
    /// The classifier.
    public var model: Module { network }
    /// The data and model in a line.
    public var summary: String {
        "\(architecture.uppercased()) on \(dataPath): \(images.shape[0]) training and \(testImages.shape[0]) held-out \(images.shape[1])×\(images.shape[2]) images, "
            + "\(classNames.count) classes, \(network.parameterCount) parameters"
    }
    /// Architecture, width and data path.
    public var settings: [String: String] {
        ["data": dataPath, "model": architecture, "dimensions": String(dimensions), "seed": String(seed)]
    }
    /// Training images.
    public var trainingCount: Int { images.shape[0] }
    /// Held-out images.
    public var heldOutCount: Int { testImages.shape[0] }

    /// The network's logits for the images at `indices`.
    public func logits(_ indices: [Int], heldOut: Bool) -> Tensor {
        let source = heldOut ? testImages : images
        var batch = source.indexSelect(axis: 0, indices: Tensor(indices.map(Int64.init), device: source.device))
        if architecture == "cnn" { batch = batch.unsqueezed(axis: 1) }
        return network(batch)
    }

    /// The labels of those images.
    public func labels(_ indices: [Int], heldOut: Bool) -> [Int] { indices.map { heldOut ? testLabels[$0] : labels[$0] } }
}
