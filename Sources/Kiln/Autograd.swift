/// One recorded op: the tensors it read and how to turn its output's gradient into theirs.
final class GradNode {
    /// The op's name, for messages.
    let op: String
    /// The inputs that take part in gradient flow (entries may be `nil` for inputs that do not).
    var inputs: [Tensor?]
    /// Maps the output gradient to one gradient per input (same order, `nil` where none flows).
    var backward: ((Tensor) -> [Tensor?])?
    /// For a view of its single input (a slice): the part of an input-shaped tensor that the output views. The
    /// engine then adds the output gradient into that part of the input's pending gradient in place, instead of
    /// materialising an input-sized gradient per view: what keeps backward through `T` time-step slices O(T).
    let viewedPart: ((Tensor) -> Tensor)?

    init(op: String, inputs: [Tensor?], viewedPart: ((Tensor) -> Tensor)? = nil,
         backward: @escaping (Tensor) -> [Tensor?]) {
        self.op = op
        self.inputs = inputs
        self.viewedPart = viewedPart
        self.backward = backward
    }
}

/// The gradients flowing into not-yet-processed nodes during one `backward()`: sums of contributions, kept in
/// tensors that only the engine references once it has made them, so that further contributions are added in
/// place.
private struct PendingGradients {
    private var sums: [ObjectIdentifier: Tensor] = [:]
    /// The sums that the engine allocated itself (safe to update in place).
    private var owned: Set<ObjectIdentifier> = []

    init(_ root: GradNode, _ seed: Tensor) { sums[ObjectIdentifier(root)] = seed }

    /// Takes the summed gradient for `node`, if any flowed into it.
    mutating func take(_ node: GradNode) -> Tensor? {
        owned.remove(ObjectIdentifier(node))
        return sums.removeValue(forKey: ObjectIdentifier(node))
    }

    /// Adds `g` (shaped like `node`'s output) to `node`'s sum.
    mutating func add(_ g: Tensor, to node: GradNode) {
        let key = ObjectIdentifier(node)
        guard let sum = sums[key] else {
            sums[key] = g
            return
        }
        if owned.contains(key) && sum.dtype == g.dtype {
            sum.add(inPlace: g)
        } else {
            sums[key] = sum + g
            owned.insert(key)
        }
    }

    /// Adds `g` to the part of `node`'s sum that `part` selects from a tensor shaped like `like`, starting the
    /// sum at zero when none exists.
    mutating func add(_ g: Tensor, to node: GradNode, part: (Tensor) -> Tensor, like: Tensor) {
        let key = ObjectIdentifier(node)
        if !owned.contains(key) || sums[key]!.dtype != g.dtype {
            let sum = sums[key]?.copied() ?? Tensor.zeros(like: like)
            sums[key] = sum
            owned.insert(key)
        }
        part(sums[key]!).add(inPlace: g)
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
    /// `viewedPart`, for a view of a single input, selects the part of an input-shaped tensor that `self` views
    /// (see `GradNode.viewedPart`).
    @discardableResult
    func recorded(_ op: String, _ inputs: [Tensor], viewedPart: ((Tensor) -> Tensor)? = nil,
                  _ backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        guard Autograd.recording, inputs.contains(where: \.requiresGrad) else { return self }
        requiresGrad = true
        gradNode = GradNode(op: op, inputs: inputs.map { $0.requiresGrad ? $0 : nil }, viewedPart: viewedPart, backward: backward)
        return self
    }

    /// Adds `g` (broadcast to this shape, same dtype) into this tensor's elements. Only for tensors nothing else
    /// reads: the engine's own gradient sums.
    fileprivate func add(inPlace g: Tensor) {
        device.backend.binary(.add, view, g.view(broadcastTo: shape, op: "add"), out: view)
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
            var pending = PendingGradients(root, seed)
            for node in order {
                guard let outputGradient = pending.take(node) else { continue }
                guard let backward = node.backward else {
                    fatalError("backward: the graph through \(node.op) was already freed; pass retainGraph: true to the first backward")
                }
                if let part = node.viewedPart, let input = node.inputs[0], let parent = input.gradNode {
                    pending.add(outputGradient, to: parent, part: part, like: input)
                } else {
                    let inputGradients = backward(outputGradient)
                    require(inputGradients.count == node.inputs.count, "backward: \(node.op) returned \(inputGradients.count) gradients for \(node.inputs.count) inputs")
                    for (input, g) in zip(node.inputs, inputGradients) {
                        guard let input, let g else { continue }
                        let reduced = g.shape == input.shape ? g : g.sumToShape(input.shape)
                        if let parent = input.gradNode {
                            pending.add(reduced, to: parent)
                        } else {
                            input.accumulate(reduced)
                        }
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
