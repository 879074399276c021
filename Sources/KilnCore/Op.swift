/// Every operation of the `Backend` protocol, as `supports(_:dtype:)` and the harness name them.
public enum Op: Hashable, Sendable, CustomStringConvertible {
    /// Set every element to one value.
    case fill
    /// Strided copy with dtype conversion: make-contiguous, cast, concat and slice-assign.
    case copy
    /// An elementwise function of one operand.
    case unary(UnaryOp)
    /// `gradient · f′` for an activation of `UnaryOp.fusedBackward`.
    case unaryBackward(UnaryOp)
    /// An elementwise function of two broadcast operands.
    case binary(BinaryOp)
    /// An elementwise comparison.
    case compare(CompareOp)
    /// `where(condition, a, b)`.
    case select
    /// A reduction over axes.
    case reduce(ReduceOp)
    /// The index of an extreme element along an axis.
    case argReduce(ArgReduceOp)
    /// Softmax along an axis.
    case softmax
    /// Log-softmax along an axis.
    case logSoftmax
    /// The backward pass of softmax or log-softmax.
    case softmaxBackward
    /// Batched matrix multiplication.
    case matmul
    /// `out[…, i, …] = x[…, indices[i], …]` (embedding forward).
    case indexSelect
    /// `out[…, indices[i], …] += src[…, i, …]` (embedding backward).
    case indexAdd
    /// `out[i][j] = x[i][indices[i][j]]` along an axis.
    case gather
    /// `out[i][indices[i][j]] += src[i][j]` along an axis.
    case scatterAdd
    /// Unfold image patches into columns.
    case im2col
    /// Fold columns back into an image, adding overlaps.
    case col2im
    /// 2-D pooling forward.
    case pool2d(PoolKind)
    /// 2-D pooling backward.
    case pool2dBackward(PoolKind)
    /// Layer normalisation over the last axis.
    case layerNorm
    /// The backward pass of layer normalisation.
    case layerNormBackward
    /// The fused LSTM cell.
    case lstmCell
    /// The backward pass of the LSTM cell.
    case lstmCellBackward
    /// Fused log-softmax and negative log-likelihood per row.
    case crossEntropy
    /// The gradient of the fused cross-entropy with respect to the logits.
    case crossEntropyBackward
    /// Inverted dropout with a recorded mask.
    case dropout
    /// A fill from the Philox stream.
    case random(RandomDistribution.Kind)
    /// One fused SGD update.
    case sgdStep
    /// One fused Adam/AdamW update.
    case adamStep

    /// Every op, each parameterised op once per parameter value.
    public static let allCases: [Op] =
        [.fill, .copy] + UnaryOp.allCases.map(Op.unary) + UnaryOp.fusedBackward.map(Op.unaryBackward)
        + BinaryOp.allCases.map(Op.binary)
        + CompareOp.allCases.map(Op.compare) + [.select] + ReduceOp.allCases.map(Op.reduce)
        + ArgReduceOp.allCases.map(Op.argReduce)
        + [.softmax, .logSoftmax, .softmaxBackward, .matmul, .indexSelect, .indexAdd, .gather, .scatterAdd,
           .im2col, .col2im]
        + PoolKind.allCases.map(Op.pool2d) + PoolKind.allCases.map(Op.pool2dBackward)
        + [.layerNorm, .layerNormBackward, .lstmCell, .lstmCellBackward, .crossEntropy, .crossEntropyBackward, .dropout]
        + RandomDistribution.Kind.allCases.map(Op.random) + [.sgdStep, .adamStep]

    /// Whether the op is mathematically defined on `dtype`: data movement, comparison, selection, reductions,
    /// indexing and random fills on every dtype; integer-safe arithmetic on integers; everything else on floating
    /// point only. A complete backend's `supports(_:dtype:)` answers exactly this.
    public func isDefined(for dtype: DType) -> Bool {
        switch self {
        case .fill, .copy, .compare, .select, .reduce, .argReduce, .indexSelect, .indexAdd, .gather, .scatterAdd, .random:
            return true
        case .unary(let op): return dtype.isFloatingPoint || op.acceptsIntegers
        case .binary(let op): return dtype.isFloatingPoint || op.acceptsIntegers
        default: return dtype.isFloatingPoint
        }
    }

    /// The op's name: the function's own name for parameterised families (`add`, `sum`, `maxPool2d`).
    public var name: String {
        switch self {
        case .fill: "fill"
        case .copy: "copy"
        case .unary(let op): op.rawValue
        case .unaryBackward(let op): op.rawValue + "Backward"
        case .binary(let op): op.rawValue
        case .compare(let op): op.rawValue
        case .select: "where"
        case .reduce(let op): op.name
        case .argReduce(let op): op.rawValue
        case .softmax: "softmax"
        case .logSoftmax: "logSoftmax"
        case .softmaxBackward: "softmaxBackward"
        case .matmul: "matmul"
        case .indexSelect: "indexSelect"
        case .indexAdd: "indexAdd"
        case .gather: "gather"
        case .scatterAdd: "scatterAdd"
        case .im2col: "im2col"
        case .col2im: "col2im"
        case .pool2d(let kind): kind == .max ? "maxPool2d" : "avgPool2d"
        case .pool2dBackward(let kind): kind == .max ? "maxPool2dBackward" : "avgPool2dBackward"
        case .layerNorm: "layerNorm"
        case .layerNormBackward: "layerNormBackward"
        case .lstmCell: "lstmCell"
        case .lstmCellBackward: "lstmCellBackward"
        case .crossEntropy: "crossEntropy"
        case .crossEntropyBackward: "crossEntropyBackward"
        case .dropout: "dropout"
        case .random(let kind): "random" + kind.rawValue.prefix(1).uppercased() + kind.rawValue.dropFirst()
        case .sgdStep: "sgdStep"
        case .adamStep: "adamStep"
        }
    }

    /// The op's name.
    public var description: String { name }
}

extension RandomDistribution {
    /// A distribution's family, without its parameters.
    public enum Kind: String, Sendable, CaseIterable {
        /// `uniform(low:high:)`.
        case uniform
        /// `normal(mean:std:)`.
        case normal
        /// `bernoulli(p:)`.
        case bernoulli
    }

    /// The family of this distribution.
    public var kind: Kind {
        switch self {
        case .uniform: .uniform
        case .normal: .normal
        case .bernoulli: .bernoulli
        }
    }
}
