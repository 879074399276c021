import Foundation
import Kiln

/// A training checkpoint: the model's tensors, the optimizer's state, the step and the random generator's
/// position, in one safetensors file written atomically — so a crash mid-save leaves the previous checkpoint
/// whole, and resuming continues the run exactly. Model tensors are stored as `model.<name>`, optimizer state as
/// `optimizer.<parameter>.<key>`; the rest is in the header's metadata.
public enum Checkpoint {
    /// The file name inside a checkpoint folder.
    public static let fileName = "checkpoint.safetensors"

    /// Saves into `directory` (created if needed), replacing any previous checkpoint there atomically.
    public static func save(model: Module, optimizer: Optimizer?, step: Int, generator: RandomGenerator = .default,
                            metadata: [String: String] = [:], to directory: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw SafetensorsError.io(file: directory, detail: "cannot create the checkpoint folder: \(error.localizedDescription)")
        }
        var tensors = model.namedTensors().map { ("model.\($0.name)", $0.tensor) }
        var info = metadata
        info["kiln.step"] = String(step)
        info["kiln.seed"] = String(generator.stream.seed)
        info["kiln.offset"] = String(generator.stream.offset)
        if let optimizer {
            info["kiln.optimizer"] = String(describing: type(of: optimizer))
            info["kiln.optimizer.step"] = String(optimizer.step)
            info["kiln.optimizer.learning_rate"] = String(optimizer.learningRate)
            for name in optimizer.state.keys.sorted() {
                for key in optimizer.state[name]!.keys.sorted() { tensors.append(("optimizer.\(name).\(key)", optimizer.state[name]![key]!)) }
            }
        }
        try Safetensors.write(tensors, metadata: info, to: directory + "/" + fileName)
    }

    /// Restores the model's tensors (shapes checked first), the optimizer's state and the generator's position
    /// from `directory`; returns the step and the caller's metadata.
    public static func load(model: Module, optimizer: Optimizer?, generator: RandomGenerator = .default,
                            from directory: String) throws -> (step: Int, metadata: [String: String]) {
        let path = directory + "/" + fileName
        let file = try Safetensors.read(path, device: .cpu)
        let info = file.metadata
        guard let step = info["kiln.step"].flatMap(Int.init), let seed = info["kiln.seed"].flatMap(UInt64.init),
              let offset = info["kiln.offset"].flatMap(UInt64.init) else {
            throw SafetensorsError.invalidHeader(file: path, detail: "not a Kiln checkpoint (no kiln.step, kiln.seed, kiln.offset)")
        }
        let stored = Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.name, $0.tensor) })
        let plan = try model.assignments(from: stored, prefix: "model.", file: path, strict: true)
        var state: [String: [String: Tensor]] = [:]
        if let optimizer {
            let kind = String(describing: type(of: optimizer))
            guard info["kiln.optimizer"] == kind, let optimizerStep = info["kiln.optimizer.step"].flatMap(Int.init) else {
                throw SafetensorsError.invalidHeader(file: path, detail: "saved for optimizer \(info["kiln.optimizer"] ?? "none"), resuming with \(kind)")
            }
            let parameters = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0.tensor) })
            for (name, value) in stored where name.hasPrefix("optimizer.") {
                let rest = name.dropFirst("optimizer.".count)
                guard let dot = rest.lastIndex(of: "."), let parameter = parameters[String(rest[..<dot])] else {
                    throw SafetensorsError.unexpectedTensor(file: path, tensor: name)
                }
                guard value.shape == parameter.shape else {
                    throw SafetensorsError.shapeMismatch(file: path, tensor: name, expected: parameter.shape, found: value.shape)
                }
                state[String(rest[..<dot]), default: [:]][String(rest[rest.index(after: dot)...])] =
                    noGrad { value.to(parameter.device).to(parameter.dtype).copied() }
            }
            optimizer.restore(state: state, step: optimizerStep)
        }
        Module.apply(plan)
        generator.stream = RandomStream(seed: seed, offset: offset)
        return (step, info.filter { !$0.key.hasPrefix("kiln.") })
    }
}
