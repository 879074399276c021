import Kiln

/// Multi-layer recurrent networks over `[batch, time, features]` (batch-first) input, with PyTorch's
/// parameter names (`weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0`, …), gate orders and
/// initialisation U(-1/√hidden, 1/√hidden). Padded batches pass `lengths`: past its length a sequence's state
/// stops changing and its outputs are zero, so the final state is the state at the last real step.
public class RecurrentNetwork: Module {
    /// The recurrences Kiln implements.
    public enum Cell: Sendable {
        /// `h' = tanh(W_ih x + b_ih + W_hh h + b_hh)`.
        case tanh
        /// Gates i, f, g, o: `c' = f·c + i·g`, `h' = o·tanh(c')`.
        case lstm
        /// Gates r, z, n: `n = tanh(W_in x + b_in + r·(W_hn h + b_hn))`, `h' = (1-z)·n + z·h`.
        case gru

        var gates: Int {
            switch self {
            case .tanh: 1
            case .lstm: 4
            case .gru: 3
            }
        }
    }

    /// The recurrence.
    public let cell: Cell
    /// The state size.
    public let hiddenSize: Int
    /// `[gates·hidden, input]` per layer.
    public let weightsIH: [Tensor]
    /// `[gates·hidden, hidden]` per layer.
    public let weightsHH: [Tensor]
    /// `[gates·hidden]` per layer.
    public let biasesIH: [Tensor]
    /// `[gates·hidden]` per layer.
    public let biasesHH: [Tensor]

    init(cell: Cell, inputSize: Int, hiddenSize: Int, layers: Int, dtype: DType, device: Device) {
        self.cell = cell
        self.hiddenSize = hiddenSize
        let rows = cell.gates * hiddenSize
        func uniform(_ shape: [Int]) -> Tensor { defaultUniform(shape, fanIn: hiddenSize, dtype: dtype, device: device) }
        weightsIH = (0..<layers).map { uniform([rows, $0 == 0 ? inputSize : hiddenSize]) }
        weightsHH = (0..<layers).map { _ in uniform([rows, hiddenSize]) }
        biasesIH = (0..<layers).map { _ in uniform([rows]) }
        biasesHH = (0..<layers).map { _ in uniform([rows]) }
        super.init()
    }

    /// PyTorch's names: `weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0`, then layer 1, ….
    public override func ownTensors() -> [(name: String, tensor: Tensor)] {
        weightsIH.indices.flatMap { l in
            [("weight_ih_l\(l)", weightsIH[l]), ("weight_hh_l\(l)", weightsHH[l]),
             ("bias_ih_l\(l)", biasesIH[l]), ("bias_hh_l\(l)", biasesHH[l])]
        }
    }

    /// Runs the network over `x` (`[batch, time, input]`) from `initial` states (`[layers, batch, hidden]` each: one
    /// for RNN and GRU, hidden and cell for LSTM; zeros when omitted). Returns the last layer's outputs
    /// `[batch, time, hidden]` and the final states.
    public func run(_ x: Tensor, initial: [Tensor]? = nil, lengths: [Int]? = nil) -> (output: Tensor, states: [Tensor]) {
        require(x.rank == 3 && x.shape[2] == weightsIH[0].shape[1],
                "\(type(of: self)): input must be [batch, time, \(weightsIH[0].shape[1])], got \(x.shape)")
        let (batch, time) = (x.shape[0], x.shape[1])
        let stateCount = cell == .lstm ? 2 : 1
        if let initial {
            require(initial.count == stateCount && initial.allSatisfy { $0.shape == [weightsIH.count, batch, hiddenSize] },
                    "\(type(of: self)): initial states must be \(stateCount) of [\(weightsIH.count), \(batch), \(hiddenSize)]")
        }
        if let lengths { require(lengths.count == batch && lengths.allSatisfy { $0 >= 0 && $0 <= time }, "\(type(of: self)): \(batch) lengths within 0...\(time) needed, got \(lengths)") }
        // Batch rows never mix, so a padded sequence is run to the end like the others: its state at its length is
        // its final state, and its outputs past the length are masked to zero. Steps past the length get no
        // gradient, so they change nothing. `padding`: the output mask ([batch, time, 1]) and, in a [(time + 1)·batch,
        // hidden] view of the states, each row's final one.
        let padding = lengths.flatMap { lengths -> (mask: Tensor, finalRows: Tensor)? in
            guard lengths.contains(where: { $0 < time }) else { return nil }
            let mask = Tensor((0..<batch).flatMap { b in (0..<time).map { $0 < lengths[b] ? 1.0 : 0.0 } }, shape: [batch, time, 1], device: x.device)
            return (mask.to(x.dtype), Tensor((0..<batch).map { Int64(lengths[$0] * batch + $0) }, device: x.device))
        }
        var layerInput = x
        var finals: [[Tensor]] = Array(repeating: [], count: stateCount)
        for l in weightsIH.indices {
            func start(_ k: Int) -> Tensor {
                initial.map { $0[k].sliced(axis: 0, start: l, end: l + 1).squeezed(axis: 0) }
                    ?? Tensor.zeros([batch, hiddenSize], dtype: x.dtype, device: x.device)
            }
            // Every state over time, [time + 1, batch, hidden] each, step 0 the initial one.
            let states = cell == .lstm ? lstmStates(layer: l, input: layerInput, hidden: start(0), cell: start(1))
                                       : [stepwiseStates(layer: l, input: layerInput, hidden: start(0))]
            let outputs = states[0].sliced(axis: 0, start: 1).transposed(0, 1)
            if let padding {
                layerInput = outputs * padding.mask
                for (k, s) in states.enumerated() { finals[k].append(s.reshaped([-1, hiddenSize]).indexSelect(axis: 0, indices: padding.finalRows)) }
            } else {
                layerInput = outputs
                for (k, s) in states.enumerated() { finals[k].append(s.sliced(axis: 0, start: time).squeezed(axis: 0)) }
            }
        }
        return (layerInput, finals.map { stack($0, axis: 0) })
    }

    /// An LSTM layer's hidden and cell states over time, through the fused `lstmLayer`.
    private func lstmStates(layer l: Int, input: Tensor, hidden: Tensor, cell: Tensor) -> [Tensor] {
        let states = lstmLayer(input, weightIH: weightsIH[l], weightHH: weightsHH[l], biasIH: biasesIH[l], biasHH: biasesHH[l],
                               hidden: hidden, cell: cell)
        return [0, 1].map { states.sliced(axis: 0, start: $0, end: $0 + 1).squeezed(axis: 0) }
    }

    /// An RNN or GRU layer's hidden states over time, step by step from the ops.
    private func stepwiseStates(layer l: Int, input: Tensor, hidden: Tensor) -> Tensor {
        // The input projections of every step at once.
        let projected = input.matmul(weightsIH[l].T) + biasesIH[l]
        var h = hidden
        var states = [h]
        for t in 0..<input.shape[1] {
            let xt = projected.sliced(axis: 1, start: t, end: t + 1).squeezed(axis: 1)
            let hh = h.matmul(weightsHH[l].T) + biasesHH[l]
            if cell == .tanh {
                h = (xt + hh).tanh()
            } else {
                let gx = xt.split(parts: 3, axis: 1), gh = hh.split(parts: 3, axis: 1)
                let r = (gx[0] + gh[0]).sigmoid(), z = (gx[1] + gh[1]).sigmoid()
                let n = (gx[2] + r * gh[2]).tanh()
                h = (1 - z) * n + z * h
            }
            states.append(h)
        }
        return stack(states, axis: 0)
    }
}

/// An Elman RNN with tanh (PyTorch's `nn.RNN`, batch-first).
public final class RNN: RecurrentNetwork {
    /// An RNN of `layers` layers.
    public init(inputSize: Int, hiddenSize: Int, layers: Int = 1, dtype: DType = .float32, device: Device = .default) {
        super.init(cell: .tanh, inputSize: inputSize, hiddenSize: hiddenSize, layers: layers, dtype: dtype, device: device)
    }
}

/// A long short-term memory network (PyTorch's `nn.LSTM`, batch-first).
public final class LSTM: RecurrentNetwork {
    /// An LSTM of `layers` layers.
    public init(inputSize: Int, hiddenSize: Int, layers: Int = 1, dtype: DType = .float32, device: Device = .default) {
        super.init(cell: .lstm, inputSize: inputSize, hiddenSize: hiddenSize, layers: layers, dtype: dtype, device: device)
    }
}

/// A gated recurrent unit network (PyTorch's `nn.GRU`, batch-first).
public final class GRU: RecurrentNetwork {
    /// A GRU of `layers` layers.
    public init(inputSize: Int, hiddenSize: Int, layers: Int = 1, dtype: DType = .float32, device: Device = .default) {
        super.init(cell: .gru, inputSize: inputSize, hiddenSize: hiddenSize, layers: layers, dtype: dtype, device: device)
    }
}
