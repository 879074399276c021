import CCUDA
import KilnCore

extension CUDABackend {
    /// Launches an elementwise kernel over `iterator` with the iterator first among its arguments.
    func launchElementwise(_ kernel: String, op: String, _ iterator: KernelIterator, _ build: (inout KernelArguments) -> Void) {
        guard iterator.count > 0 else { return }
        var arguments = KernelArguments()
        arguments.append(iterator.descriptor)
        build(&arguments)
        let (grid, block) = context.elementwiseConfiguration(count: iterator.count)
        context.launch(kernel, op: op, grid: grid, block: block, arguments: arguments)
    }

    /// Sets every element of `out` to `value` converted to its dtype.
    public func fill(_ out: BufferView, value: Double) {
        launchElementwise("kiln_fill", op: "fill", KernelIterator([out.layout])) {
            $0.append(out.address); $0.append(out.code); $0.append(value)
        }
    }

    /// Copies `source` into `out` element by element, converting dtype.
    public func copy(_ source: BufferView, to out: BufferView) {
        require(source.shape == out.shape, "copy: shapes \(source.shape) and \(out.shape) differ")
        launchElementwise("kiln_copy", op: "copy", KernelIterator([out.layout, source.layout])) {
            $0.append(source.address); $0.append(source.code); $0.append(out.address); $0.append(out.code)
        }
    }

    /// `out = op(x)`.
    public func unary(_ op: UnaryOp, _ x: BufferView, out: BufferView) {
        require(x.dtype == out.dtype, "\(op.rawValue): dtypes \(x.dtype) and \(out.dtype) differ")
        guard let input = x.layout.broadcast(to: out.shape) else {
            fatalError("\(op.rawValue): shape \(x.shape) does not broadcast to \(out.shape)")
        }
        launchElementwise("kiln_unary", op: op.rawValue, KernelIterator([out.layout, input])) {
            $0.append(op.kernelCode); $0.append(x.address); $0.append(out.address); $0.append(out.code)
        }
    }

    /// `out = gradient · op′(saved)`.
    public func unaryBackward(_ op: UnaryOp, _ saved: BufferView, gradient: BufferView, out: BufferView) {
        let name = Op.unaryBackward(op).name
        require(saved.dtype == out.dtype && gradient.dtype == out.dtype && out.dtype.isFloatingPoint,
                "\(name): dtypes \(saved.dtype), \(gradient.dtype) -> \(out.dtype)")
        let (s, g) = broadcast(name, saved, gradient, to: out.shape)
        launchElementwise("kiln_unary_backward", op: name, KernelIterator([out.layout, s, g])) {
            $0.append(op.kernelCode); $0.append(saved.address); $0.append(gradient.address); $0.append(out.address)
            $0.append(out.code)
        }
    }

    /// `out = op(a, b)`.
    public func binary(_ op: BinaryOp, _ a: BufferView, _ b: BufferView, out: BufferView) {
        require(a.dtype == out.dtype && b.dtype == out.dtype, "\(op.rawValue): dtypes \(a.dtype), \(b.dtype) -> \(out.dtype)")
        let (left, right) = broadcast(op.rawValue, a, b, to: out.shape)
        launchElementwise("kiln_binary", op: op.rawValue, KernelIterator([out.layout, left, right])) {
            $0.append(op.kernelCode); $0.append(a.address); $0.append(b.address); $0.append(out.address); $0.append(out.code)
        }
    }

    /// `out = op(a, b)` as bool.
    public func compare(_ op: CompareOp, _ a: BufferView, _ b: BufferView, out: BufferView) {
        require(a.dtype == b.dtype && out.dtype == .bool, "\(op.rawValue): dtypes \(a.dtype), \(b.dtype) -> \(out.dtype)")
        let (left, right) = broadcast(op.rawValue, a, b, to: out.shape)
        launchElementwise("kiln_compare", op: op.rawValue, KernelIterator([out.layout, left, right])) {
            $0.append(op.kernelCode); $0.append(a.address); $0.append(b.address); $0.append(a.code); $0.append(out.address)
        }
    }

    /// `out = condition ? a : b`.
    public func select(_ condition: BufferView, _ a: BufferView, _ b: BufferView, out: BufferView) {
        require(condition.dtype == .bool && a.dtype == out.dtype && b.dtype == out.dtype,
                "where: dtypes \(condition.dtype), \(a.dtype), \(b.dtype) -> \(out.dtype)")
        let (left, right) = broadcast("where", a, b, to: out.shape)
        guard let mask = condition.layout.broadcast(to: out.shape) else {
            fatalError("where: condition \(condition.shape) does not broadcast to \(out.shape)")
        }
        launchElementwise("kiln_select", op: "where", KernelIterator([out.layout, mask, left, right])) {
            $0.append(condition.address); $0.append(a.address); $0.append(b.address); $0.append(out.address); $0.append(out.code)
        }
    }

    private func broadcast(_ op: String, _ a: BufferView, _ b: BufferView, to shape: [Int]) -> (Layout, Layout) {
        guard let left = a.layout.broadcast(to: shape), let right = b.layout.broadcast(to: shape) else {
            fatalError("\(op): shapes \(a.shape) and \(b.shape) do not broadcast to \(shape)")
        }
        return (left, right)
    }
}

extension UnaryOp {
    /// The `KilnUnaryCode` kernels receive.
    var kernelCode: Int32 {
        let code: KilnUnaryCode
        switch self {
        case .neg: code = KILN_NEG
        case .abs: code = KILN_ABS
        case .sign: code = KILN_SIGN
        case .square: code = KILN_SQUARE
        case .exp: code = KILN_EXP
        case .log: code = KILN_LOG
        case .sqrt: code = KILN_SQRT
        case .rsqrt: code = KILN_RSQRT
        case .reciprocal: code = KILN_RECIPROCAL
        case .sin: code = KILN_SIN
        case .cos: code = KILN_COS
        case .tanh: code = KILN_TANH
        case .sigmoid: code = KILN_SIGMOID
        case .relu: code = KILN_RELU
        case .gelu: code = KILN_GELU
        case .geluTanh: code = KILN_GELU_TANH
        case .silu: code = KILN_SILU
        case .erf: code = KILN_ERF
        case .floor: code = KILN_FLOOR
        case .ceil: code = KILN_CEIL
        case .round: code = KILN_ROUND
        }
        return Int32(code.rawValue)
    }
}

extension BinaryOp {
    /// The `KilnBinaryCode` kernels receive.
    var kernelCode: Int32 {
        let code: KilnBinaryCode
        switch self {
        case .add: code = KILN_ADD
        case .sub: code = KILN_SUB
        case .mul: code = KILN_MUL
        case .div: code = KILN_DIV
        case .pow: code = KILN_POW
        case .maximum: code = KILN_MAXIMUM
        case .minimum: code = KILN_MINIMUM
        }
        return Int32(code.rawValue)
    }
}

extension CompareOp {
    /// The `KilnCompareCode` kernels receive.
    var kernelCode: Int32 {
        let code: KilnCompareCode
        switch self {
        case .eq: code = KILN_EQ
        case .ne: code = KILN_NE
        case .lt: code = KILN_LT
        case .le: code = KILN_LE
        case .gt: code = KILN_GT
        case .ge: code = KILN_GE
        }
        return Int32(code.rawValue)
    }
}
