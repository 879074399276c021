extension Tensor {
    /// Runs a unary op on the device, promoting integers to `float32` for functions that need floating point.
    func unaryOp(_ op: UnaryOp) -> Tensor {
        let input = dtype.isFloatingPoint || op.acceptsIntegers ? self : to(.float32)
        OpCheck.supported(.unary(op), input.dtype, on: device)
        let out = Tensor.uninitialized(shape, dtype: input.dtype, device: device)
        device.backend.unary(op, input.view, out: out.view)
        return out
    }

    /// The broadcast shape and the common dtype of two operands, after the device check.
    static func operands(_ op: String, _ a: Tensor, _ b: Tensor) -> (shape: [Int], dtype: DType) {
        OpCheck.sameDevice(op, [a, b])
        guard let shape = Shape.broadcast(a.shape, b.shape) else {
            fatalError("\(op): shapes \(a.shape) and \(b.shape) cannot be broadcast together")
        }
        return (shape, a.dtype.promoted(with: b.dtype))
    }

    /// Runs a binary op on the device after broadcasting and type promotion (and records it).
    static func binaryOp(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) -> Tensor {
        var (shape, dtype) = operands(op.rawValue, a, b)
        if !op.acceptsIntegers && !dtype.isFloatingPoint { dtype = .float32 }
        let (x, y) = (a.to(dtype), b.to(dtype))
        OpCheck.supported(.binary(op), dtype, on: a.device)
        let out = Tensor.uninitialized(shape, dtype: dtype, device: a.device)
        a.device.backend.binary(op, x.view(broadcastTo: shape, op: op.rawValue), y.view(broadcastTo: shape, op: op.rawValue),
                                out: out.view)
        let result = op == .pow ? out.detached() : nil    // pow's backward reads its output; nothing else does
        return out.recorded(op.rawValue, [x, y]) { g in
            // Only the gradients that flow somewhere are computed (a constant operand takes none).
            let (dx, dy) = (x.requiresGrad, y.requiresGrad)
            switch op {
            case .add: return [g, g]
            case .sub: return [g, dy ? -g : nil]
            case .mul: return [dx ? g * y : nil, dy ? g * x : nil]
            case .div: return [dx ? g / y : nil, dy ? -g * x / (y * y) : nil]
            case .pow: return [dx ? g * y * x.pow(y - 1) : nil, dy ? g * result! * x.log() : nil]
            case .maximum, .minimum:
                let wins = op == .maximum ? (x .> y) : (x .< y)
                let share = wins.to(g.dtype) + (x .== y).to(g.dtype) * 0.5
                return [dx ? g * share : nil, dy ? g * (1 - share) : nil]
            }
        }
    }

    /// Runs a comparison on the device; the result is `bool` and takes no gradient.
    static func compareOp(_ op: CompareOp, _ a: Tensor, _ b: Tensor) -> Tensor {
        let (shape, dtype) = operands(op.rawValue, a, b)
        let (x, y) = noGrad { (a.to(dtype), b.to(dtype)) }
        OpCheck.supported(.compare(op), dtype, on: a.device)
        let out = Tensor.uninitialized(shape, dtype: .bool, device: a.device)
        a.device.backend.compare(op, x.view(broadcastTo: shape, op: op.rawValue), y.view(broadcastTo: shape, op: op.rawValue),
                                 out: out.view)
        return out
    }

    /// `-x`.
    public static prefix func - (x: Tensor) -> Tensor {
        x.unaryOp(.neg).recorded("neg", [x]) { g in [-g] }
    }

    /// Elementwise sum with broadcasting.
    public static func + (a: Tensor, b: Tensor) -> Tensor { binaryOp(.add, a, b) }
    /// Elementwise difference with broadcasting.
    public static func - (a: Tensor, b: Tensor) -> Tensor { binaryOp(.sub, a, b) }
    /// Elementwise product with broadcasting.
    public static func * (a: Tensor, b: Tensor) -> Tensor { binaryOp(.mul, a, b) }
    /// Elementwise quotient with broadcasting (integers are divided as `float32`).
    public static func / (a: Tensor, b: Tensor) -> Tensor { binaryOp(.div, a, b) }

    /// Adds a scalar.
    public static func + (a: Tensor, b: Double) -> Tensor { a + scalar(b, for: a) }
    /// Adds to a scalar.
    public static func + (a: Double, b: Tensor) -> Tensor { scalar(a, for: b) + b }
    /// Subtracts a scalar.
    public static func - (a: Tensor, b: Double) -> Tensor { a - scalar(b, for: a) }
    /// Subtracts from a scalar.
    public static func - (a: Double, b: Tensor) -> Tensor { scalar(a, for: b) - b }
    /// Multiplies by a scalar.
    public static func * (a: Tensor, b: Double) -> Tensor { a * scalar(b, for: a) }
    /// Multiplies a scalar.
    public static func * (a: Double, b: Tensor) -> Tensor { scalar(a, for: b) * b }
    /// Divides by a scalar.
    public static func / (a: Tensor, b: Double) -> Tensor { a / scalar(b, for: a) }
    /// Divides a scalar.
    public static func / (a: Double, b: Tensor) -> Tensor { scalar(a, for: b) / b }

    /// Elementwise `self ^ exponent`.
    public func pow(_ exponent: Tensor) -> Tensor { Tensor.binaryOp(.pow, self, exponent) }
    /// Elementwise `self ^ exponent`.
    public func pow(_ exponent: Double) -> Tensor { Tensor.binaryOp(.pow, self, Tensor.scalar(exponent, for: self)) }

    /// Elementwise equality (`bool`).
    public static func .== (a: Tensor, b: Tensor) -> Tensor { compareOp(.eq, a, b) }
    /// Elementwise inequality (`bool`).
    public static func .!= (a: Tensor, b: Tensor) -> Tensor { compareOp(.ne, a, b) }
    /// Elementwise `<` (`bool`).
    public static func .< (a: Tensor, b: Tensor) -> Tensor { compareOp(.lt, a, b) }
    /// Elementwise `<=` (`bool`).
    public static func .<= (a: Tensor, b: Tensor) -> Tensor { compareOp(.le, a, b) }
    /// Elementwise `>` (`bool`).
    public static func .> (a: Tensor, b: Tensor) -> Tensor { compareOp(.gt, a, b) }
    /// Elementwise `>=` (`bool`).
    public static func .>= (a: Tensor, b: Tensor) -> Tensor { compareOp(.ge, a, b) }
    /// Elementwise equality with a scalar (`bool`).
    public static func .== (a: Tensor, b: Double) -> Tensor { compareOp(.eq, a, scalar(b, for: a)) }
    /// Elementwise inequality with a scalar (`bool`).
    public static func .!= (a: Tensor, b: Double) -> Tensor { compareOp(.ne, a, scalar(b, for: a)) }
    /// Elementwise `<` a scalar (`bool`).
    public static func .< (a: Tensor, b: Double) -> Tensor { compareOp(.lt, a, scalar(b, for: a)) }
    /// Elementwise `<=` a scalar (`bool`).
    public static func .<= (a: Tensor, b: Double) -> Tensor { compareOp(.le, a, scalar(b, for: a)) }
    /// Elementwise `>` a scalar (`bool`).
    public static func .> (a: Tensor, b: Double) -> Tensor { compareOp(.gt, a, scalar(b, for: a)) }
    /// Elementwise `>=` a scalar (`bool`).
    public static func .>= (a: Tensor, b: Double) -> Tensor { compareOp(.ge, a, scalar(b, for: a)) }

    /// Elementwise clamp to `[min, max]` (either bound optional); the gradient flows where the input is inside.
    public func clamped(min lower: Double? = nil, max upper: Double? = nil) -> Tensor {
        var result = self
        noGrad {
            if let lower { result = maximum(result, Tensor.scalar(lower, for: result)) }
            if let upper { result = minimum(result, Tensor.scalar(upper, for: result)) }
        }
        let input = self
        return result.recorded("clamp", [self]) { g in
            var inside = Tensor.ones(like: g)
            if let lower { inside = inside * (input .>= lower).to(g.dtype) }
            if let upper { inside = inside * (input .<= upper).to(g.dtype) }
            return [g * inside]
        }
    }
}

/// The elementwise larger of `a` and `b` (broadcast); NaN wins. On ties the gradient is split evenly.
public func maximum(_ a: Tensor, _ b: Tensor) -> Tensor { Tensor.binaryOp(.maximum, a, b) }

/// The elementwise smaller of `a` and `b` (broadcast); NaN wins. On ties the gradient is split evenly.
public func minimum(_ a: Tensor, _ b: Tensor) -> Tensor { Tensor.binaryOp(.minimum, a, b) }

/// `condition ? a : b` elementwise, all three broadcast together (NumPy's `where`; MLX Swift's name).
public func which(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
    OpCheck.sameDevice("where", [condition, a, b])
    let (shape, dtype) = Tensor.operands("where", a, b)
    guard let full = Shape.broadcast(shape, condition.shape) else {
        fatalError("where: condition shape \(condition.shape) cannot be broadcast with \(shape)")
    }
    let (x, y) = (a.to(dtype), b.to(dtype))
    let c = noGrad { condition.to(.bool) }
    OpCheck.supported(.select, dtype, on: a.device)
    let out = Tensor.uninitialized(full, dtype: dtype, device: a.device)
    a.device.backend.select(c.view(broadcastTo: full, op: "where"), x.view(broadcastTo: full, op: "where"),
                            y.view(broadcastTo: full, op: "where"), out: out.view)
    return out.recorded("where", [x, y]) { g in
        let zero = Tensor.zeros([], dtype: g.dtype, device: g.device)
        return [x.requiresGrad ? which(c, g, zero) : nil, y.requiresGrad ? which(c, zero, g) : nil]
    }
}
