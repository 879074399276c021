import Kiln

/// A neural-network building block: a class whose stored `Tensor` properties are its parameters and whose stored
/// `Module` properties (alone, in arrays or in optionals) are its children. Names are discovered from the
/// structure and spelled as PyTorch spells them — property names in snake_case joined by dots, array elements by
/// index (`fc1.weight`, `blocks.0.attn.qkv.bias`) — so weights move between Kiln and PyTorch by name.
///
/// Subclasses list non-trainable state (running statistics) in `bufferNames`; such tensors are saved and moved
/// with the module but never handed to an optimizer.
open class Module {
    /// Whether the module (and its children) behave as in training (dropout active, batch statistics).
    public private(set) var isTraining = true
    /// Names (properties' own names, as written in Swift) of this module's tensors that are buffers, not parameters.
    open var bufferNames: Set<String> { [] }
    private var frozen: Set<String> = []

    /// A module with no parameters of its own.
    public init() {}

    /// The tensors and children of this module, in declaration order, with their dotted names. Other stored
    /// properties are skipped by one protocol check (casting each of them to `Module` and `Tensor` tried to bridge it
    /// to Objective-C, which made a walk of a GPT's 30 modules take 1 ms) and their names are not built. `Module`'s
    /// own properties hold neither and are not reflected: each reflected property costs a lookup of its type by
    /// name, and they were two in every module.
    private func entries() -> [(name: String, value: ModuleTreeValue)] {
        var result: [(String, ModuleTreeValue)] = []
        var mirror: Mirror? = Mirror(reflecting: self)
        var levels: [Mirror] = []
        while let m = mirror, m.subjectType != Module.self { levels.append(m); mirror = m.superclassMirror }
        for m in levels.reversed() {
            for child in m.children {
                guard let value = child.value as? ModuleTreeValue, let label = child.label,
                      label.utf8.first != UInt8(ascii: "$") else { continue }
                result.append((Module.snakeCase(label.utf8.first == UInt8(ascii: "_") ? String(label.dropFirst()) : label),
                               value))
            }
        }
        return result
    }

    /// `camelCase` → `camel_case`.
    static func snakeCase(_ name: String) -> String {
        // Most property names have no capital: returned as they are, without a per-character Unicode lookup.
        guard name.utf8.contains(where: { $0 >= 0x80 || ($0 >= 0x41 && $0 <= 0x5A) }) else { return name }
        var out = ""
        for character in name {
            if character.isUppercase {
                if !out.isEmpty { out.append("_") }
                out.append(contentsOf: character.lowercased())
            } else {
                out.append(character)
            }
        }
        return out
    }

    /// This module's direct children with their names (array elements named by index).
    open func children() -> [(name: String, module: Module)] {
        entries().flatMap { name, value -> [(String, Module)] in
            switch value.walkedModules {
            case .single(let module): [(name, module)]
            case .array(let modules): modules.enumerated().map { ("\(name).\($0.offset)", $0.element) }
            case nil: []
            }
        }
    }

    /// This module's own tensors (not its children's) with their names: by default its stored `Tensor`
    /// properties; a module whose tensors live in collections (an RNN's per-layer weights) overrides this.
    open func ownTensors() -> [(name: String, tensor: Tensor)] {
        entries().compactMap { name, value in value.walkedTensor.map { (name, $0) } }
    }

    /// Every tensor of the module tree — parameters and buffers — with its dotted name.
    public func namedTensors() -> [(name: String, tensor: Tensor, isBuffer: Bool)] {
        var result: [(name: String, tensor: Tensor, isBuffer: Bool)] = []
        appendTensors(prefix: "", to: &result)
        return result
    }

    /// Appends this module's tensors and then its children's, each name behind `prefix`.
    private func appendTensors(prefix: String, to result: inout [(name: String, tensor: Tensor, isBuffer: Bool)]) {
        let buffers = Set(bufferNames.map(Module.snakeCase))
        for (name, tensor) in ownTensors() { result.append((prefix + name, tensor, buffers.contains(name))) }
        for (name, child) in children() { child.appendTensors(prefix: prefix + name + ".", to: &result) }
    }

    /// The parameters (not buffers) with their dotted names.
    public func namedParameters() -> [(name: String, tensor: Tensor)] {
        namedTensors().filter { !$0.isBuffer }.map { ($0.name, $0.tensor) }
    }

    /// The parameters, in a stable order.
    public func parameters() -> [Tensor] { namedParameters().map(\.tensor) }

    /// The parameters an optimizer should update: those not frozen.
    public func trainableParameters() -> [(name: String, tensor: Tensor)] {
        namedParameters().filter { $0.tensor.requiresGrad }
    }

    /// The number of scalar parameters.
    public var parameterCount: Int { parameters().map(\.count).reduce(0, +) }

    /// Stops gradients for every parameter (or those whose dotted name starts with one of `prefixes`).
    public func freeze(_ prefixes: [String] = []) { setTrainable(false, prefixes) }

    /// Lets gradients flow again into every parameter (or those under `prefixes`).
    public func unfreeze(_ prefixes: [String] = []) { setTrainable(true, prefixes) }

    private func setTrainable(_ flag: Bool, _ prefixes: [String]) {
        for (name, t) in namedParameters() where prefixes.isEmpty || prefixes.contains(where: { name.hasPrefix($0) }) {
            t.requiresGrad = flag
        }
    }

    /// Puts the module tree in training mode.
    public func train() { setMode(true) }

    /// Puts the module tree in evaluation mode.
    public func eval() { setMode(false) }

    private func setMode(_ training: Bool) {
        isTraining = training
        children().forEach { $0.module.setMode(training) }
    }

    /// Clears every parameter's gradient.
    public func zeroGrad() { parameters().forEach { $0.zeroGrad() } }

    /// Copies every tensor to `device` or converts floating-point tensors to `dtype`, in place (the module's
    /// tensors are replaced by the converted ones).
    public func to(_ device: Device) { convert { $0.to(device) } }

    /// Converts floating-point parameters and buffers to `dtype`.
    public func to(_ dtype: DType) { convert { $0.dtype.isFloatingPoint ? $0.to(dtype) : $0 } }

    private func convert(_ transform: (Tensor) -> Tensor) {
        for (_, t, _) in namedTensors() {
            let converted = noGrad { transform(t.detached()) }
            if converted.device == t.device && converted.dtype == t.dtype { continue }
            t.replaceStorage(with: converted)
        }
    }

    /// A readable summary: one line per tensor with its shape and dtype, and the parameter count.
    public var summary: String {
        var lines = ["\(type(of: self))"]
        for (name, t, isBuffer) in namedTensors() {
            lines.append("  \(name)  \(t.shape)  \(t.dtype)\(isBuffer ? "  (buffer)" : t.requiresGrad ? "" : "  (frozen)")")
        }
        lines.append("\(parameterCount) parameters")
        return lines.joined(separator: "\n")
    }
}

/// A stored property's value that the module tree walk looks into: a tensor, a module, an array (of modules), or
/// an optional of one.
protocol ModuleTreeValue {
    /// The tensor it holds, if any.
    var walkedTensor: Tensor? { get }
    /// The child modules it holds, if any.
    var walkedModules: ModuleTreeChildren? { get }
}

/// The child modules of one stored property: one, or an array's elements (named by index).
enum ModuleTreeChildren {
    /// A module on its own, named by its property.
    case single(Module)
    /// An array's modules, named by the property and their index.
    case array([Module])
}

extension Tensor: ModuleTreeValue {
    var walkedTensor: Tensor? { self }
    var walkedModules: ModuleTreeChildren? { nil }
}

extension Module: ModuleTreeValue {
    var walkedTensor: Tensor? { nil }
    var walkedModules: ModuleTreeChildren? { .single(self) }
}

/// Any array, so that one declared with a protocol's elements (`[any UnaryLayer]`) is walked when its elements are
/// all modules.
extension Array: ModuleTreeValue {
    var walkedTensor: Tensor? { nil }
    var walkedModules: ModuleTreeChildren? { (self as? [Module]).map { .array($0) } }
}

extension Optional: ModuleTreeValue where Wrapped: ModuleTreeValue {
    var walkedTensor: Tensor? { self?.walkedTensor }
    var walkedModules: ModuleTreeChildren? { self?.walkedModules }
}
