/// One recorded op: the tensors it read and how to turn its output's gradient into theirs.
final class GradNode {
    /// The op's name, for messages.
    let op: String
    /// The inputs that take part in gradient flow (entries may be `nil` for inputs that do not).
    var inputs: [Tensor?]
    /// Maps the output gradient to one gradient per input (same order, `nil` where none flows).
    var backward: ((Tensor) -> [Tensor?])?

    init(op: String, inputs: [Tensor?], backward: @escaping (Tensor) -> [Tensor?]) {
        self.op = op
        self.inputs = inputs
        self.backward = backward
    }
}

/// Gradient recording: on by default, off inside `noGrad`.
public enum Autograd {
    @TaskLocal static var recording = true

    /// Whether ops are being recorded for `backward()` on this task or thread.
    public static var isEnabled: Bool { recording }
}

/// Runs `body` without recording ops for autograd: for evaluation, and for updates to parameters.
public func noGrad<R>(_ body: () throws -> R) rethrows -> R {
    try Autograd.$recording.withValue(false, operation: body)
}

extension Tensor {
    /// Records `self` as produced by `op` from `inputs` when recording is on and any input requires a
    /// gradient. `backward` receives the output's gradient and returns one gradient per input (with the
    /// input's shape, or broadcastable to it by summation).
    @discardableResult
    func recorded(_ op: String, _ inputs: [Tensor], _ backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        guard Autograd.recording, inputs.contains(where: \.requiresGrad) else { return self }
        requiresGrad = true
        gradNode = GradNode(op: op, inputs: inputs.map { $0.requiresGrad ? $0 : nil }, backward: backward)
        return self
    }

    /// A tensor over the same memory with no autograd history and `requiresGrad` off.
    public func detached() -> Tensor { aliasing(layout) }

    /// Sets `requiresGrad` on a leaf and returns it, for chaining at creation.
    @discardableResult
    public func requiringGrad(_ flag: Bool = true) -> Tensor {
        require(isLeaf, "requiringGrad: only leaves can be marked; this tensor was produced by \(gradNode!.op)")
        requiresGrad = flag
        return self
    }

    /// Clears the accumulated gradient.
    public func zeroGrad() { grad = nil }

    /// Back-propagates from this tensor: accumulates into `grad` of every leaf that requires a gradient.
    ///
    /// - Parameters:
    ///   - gradient: the gradient of the final objective with respect to `self`; may be omitted for a tensor
    ///     with one element (then it is 1).
    ///   - retainGraph: keep the recorded ops so `backward` can run through them again; by default each op's
    ///     saved tensors are released as soon as its gradient is computed.
    public func backward(_ gradient: Tensor? = nil, retainGraph: Bool = false) {
        require(requiresGrad, "backward: the tensor does not require a gradient (no input had requiresGrad set, or it was computed under noGrad)")
        let seed: Tensor
        if let gradient {
            require(gradient.shape == shape, "backward: gradient shape \(gradient.shape) differs from tensor shape \(shape)")
            seed = gradient
        } else {
            require(count == 1, "backward: a tensor of shape \(shape) needs an explicit gradient; only one-element tensors default to 1")
            seed = Tensor.ones(shape, dtype: dtype, device: device)
        }
        noGrad {
            guard let root = gradNode else {
                accumulate(seed)
                return
            }
            let order = Tensor.topologicalOrder(from: root)
            var pending: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): seed]
            for node in order {
                guard let outputGradient = pending.removeValue(forKey: ObjectIdentifier(node)) else { continue }
                guard let backward = node.backward else {
                    fatalError("backward: the graph through \(node.op) was already freed; pass retainGraph: true to the first backward")
                }
                let inputGradients = backward(outputGradient)
                require(inputGradients.count == node.inputs.count, "backward: \(node.op) returned \(inputGradients.count) gradients for \(node.inputs.count) inputs")
                for (input, g) in zip(node.inputs, inputGradients) {
                    guard let input, let g else { continue }
                    let reduced = g.shape == input.shape ? g : g.sumToShape(input.shape)
                    if let parent = input.gradNode {
                        let key = ObjectIdentifier(parent)
                        pending[key] = pending[key].map { $0 + reduced } ?? reduced
                    } else {
                        input.accumulate(reduced)
                    }
                }
                if !retainGraph {
                    node.backward = nil
                    node.inputs = []
                }
            }
        }
    }

    /// Adds `g` to this leaf's gradient.
    private func accumulate(_ g: Tensor) {
        let value = g.dtype == dtype ? g : g.to(dtype)
        grad = grad.map { $0 + value } ?? value.detached()
    }

    /// The nodes reachable from `root`, each after every node that consumes its output.
    private static func topologicalOrder(from root: GradNode) -> [GradNode] {
        var order: [GradNode] = []
        var visited: Set<ObjectIdentifier> = [ObjectIdentifier(root)]
        var stack: [(GradNode, Int)] = [(root, 0)]
        while let (node, next) = stack.popLast() {
            if next < node.inputs.count {
                stack.append((node, next + 1))
                if let child = node.inputs[next]?.gradNode, visited.insert(ObjectIdentifier(child)).inserted {
                    stack.append((child, 0))
                }
            } else {
                order.append(node)
            }
        }
        return order.reversed()
    }
}
