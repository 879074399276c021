import Foundation
import Testing
import Kiln
import KilnCheck

@Suite struct ElementwiseTests {
    /// The reference backend's functions at points with known values (the harness's sweeps hold the CPU
    /// against this backend over every shape, layout and dtype).
    @Test(arguments: [Device.reference, .cpu])
    func unaryFunctionsAtKnownPoints(_ device: Device) {
        let x = Tensor([0, 0.5, 1, -2] as [Double], device: device)
        let known: [(UnaryOp, [Double])] = [
            (.exp, [1, 1.6487212707001282, 2.718281828459045, 0.1353352832366127]),
            (.tanh, [0, 0.46211715726000974, 0.7615941559557649, -0.9640275800758169]),
            (.sigmoid, [0.5, 0.6224593312018546, 0.7310585786300049, 0.11920292202211755]),
            (.gelu, [0, 0.34573123063700656, 0.8413447460685429, -0.04550026389635842]),
            (.geluTanh, [0, 0.34571400982514394, 0.8411919906082768, -0.045402305912224981]),
            (.silu, [0, 0.3112296656009273, 0.7310585786300049, -0.23840584404423515]),
            (.erf, [0, 0.5204998778130465, 0.8427007929497149, -0.9953222650189527]),
            (.sin, [0, 0.479425538604203, 0.8414709848078965, -0.9092974268256817]),
            (.relu, [0, 0.5, 1, 0]), (.sign, [0, 1, 1, -1]), (.round, [0, 0, 1, -2]), (.floor, [0, 0, 1, -2]),
        ]
        for (op, values) in known {
            #expect(mismatch(Registry.apply(op, x), Ref([4], values), rtol: 1e-15, atol: 1e-15) == nil, "\(op) on \(device)")
        }
    }

    /// The CPU's vectorised float32 `exp` (and the sigmoid built on it) against `exp` in Float64 over the whole
    /// range: at most 2 ulp of the float32 result, subnormals within their spacing, overflow to ∞, NaN kept.
    @Test func vectorisedExpIsAccurateOverTheWholeRange() {
        var values: [Float] = stride(from: -110, through: 95, by: 0.0137).map { Float($0) }
        values += [0, -0, 1e-30, -1e-30, 88.72, 88.73, -87.3, -103.9, -104.5, .infinity, -.infinity, .nan]
        let exps = Tensor(values).exp().toArray(Float.self)
        let sigmoids = Tensor(values).sigmoid().toArray(Float.self)
        var worst = 0.0
        for (x, e) in zip(values, exps) {
            if x.isNaN { #expect(e.isNaN); continue }
            let exact = Foundation.exp(Double(x))
            if exact > Double(Float.greatestFiniteMagnitude) { #expect(e == .infinity, "exp(\(x))"); continue }
            let ulp = Double(Float(exact).ulp == 0 ? Float.leastNonzeroMagnitude : Float(exact).ulp)
            worst = Swift.max(worst, Swift.abs(Double(e) - exact) / ulp)
        }
        #expect(worst <= 2, "worst exp error \(worst) ulp")
        for (x, s) in zip(values, sigmoids) where !x.isNaN {
            let exact = 1 / (1 + Foundation.exp(-Double(x)))
            #expect(Swift.abs(Double(s) - exact) <= 4 * Double(Float(exact).ulp) + 1e-45, "sigmoid(\(x)) = \(s), exact \(exact)")
        }
    }

    /// The vectorised float32 `tanh`, `erf` and both GELUs against Float64 over the whole useful range.
    @Test func vectorisedTanhErfAndGeluAreAccurate() {
        var values: [Float] = stride(from: -12, through: 12, by: 0.00731).map { Float($0) }
        values += [0, -0, 1e-30, -1e-30, 1e-5, 0.6249, 0.6251, 0.9999, 1.0001, 3.99, 4.01, 30, -30, .infinity, -.infinity]
        let x = Tensor(values)
        func worst(_ actual: Tensor, _ exact: (Double) -> Double) -> Double {
            zip(values, actual.toArray(Float.self)).map { v, a in
                let e = exact(Double(v))
                return Swift.abs(Double(a) - e) / Double(Swift.max(Float(Swift.abs(e)).ulp, Float.leastNormalMagnitude))
            }.max() ?? 0
        }
        #expect(worst(x.tanh(), Foundation.tanh) <= 3, "tanh")
        #expect(worst(x.erf(), Foundation.erf) <= 4, "erf")
        // Both GELUs are held to the harness's elementwise tolerance over the whole range. GPT-2's cancels in its
        // negative tail (`1 + tanh`); the exact GELU also keeps a relative bound (below).
        func close(_ actual: Tensor, _ exact: (Double) -> Double) -> Bool {
            zip(values, actual.toArray(Float.self)).allSatisfy { v, a in
                !v.isFinite || Swift.abs(Double(a) - exact(Double(v))) <= 1.3e-6 * Swift.abs(exact(Double(v))) + 1e-6
            }
        }
        #expect(close(x.gelu(), { $0 * (1 + Foundation.erf($0 / 2.squareRoot())) / 2 }), "gelu")
        let inner = { (v: Double) in 0.79788456080286535588 * (v + 0.044715 * v * v * v) }
        #expect(close(x.gelu(approximate: true), { $0 * (1 + Foundation.tanh(inner($0))) / 2 }), "geluTanh")
        // The exact GELU keeps its relative accuracy down to x = −4√2 (Φ about 10⁻⁸). Further out, the rounding of
        // x² alone moves `e^{-x²/2}` by up to x²/2 ulp.
        let geluError = zip(values, x.gelu().toArray(Float.self)).filter { v, _ in v.isFinite && v != 0 && v >= -5.6568 }
            .map { v, a in
                let d = Double(v), exact = d * Foundation.erfc(-d / 2.squareRoot()) / 2
                return Swift.abs(Double(a) - exact) / Swift.abs(exact) / Double(Float.ulpOfOne)
            }.max() ?? 0
        #expect(geluError <= 8, "gelu relative error \(geluError) ulp")
        #expect(Tensor([Float.nan]).tanh().item(Float.self).isNaN && Tensor([Float.nan]).erf().item(Float.self).isNaN)
    }

    /// The fused activation backwards (sixteen float32 lanes on the CPU) against the derivatives in Float64, over
    /// both tails, through autograd with a random upstream gradient.
    @Test(arguments: UnaryOp.fusedBackward)
    func fusedActivationGradientsAreAccurate(_ op: UnaryOp) {
        let values: [Float] = stride(from: -12, through: 12, by: 0.0173).map { Float($0) } + [0, 1e-5, -1e-5, 30, -30]
        let upstream = values.indices.map { Float(1 + ($0 * 7919) % 13) / 7 }
        let x = Tensor(values).requiringGrad()
        let y: Tensor = switch op {
        case .relu: x.relu()
        case .sigmoid: x.sigmoid()
        case .tanh: x.tanh()
        case .gelu: x.gelu()
        case .geluTanh: x.gelu(approximate: true)
        default: x.silu()
        }
        (y * Tensor(upstream)).sum().backward()
        let c = (2 / Double.pi).squareRoot()
        let derivative: (Double) -> Double = switch op {
        case .relu: { $0 > 0 ? 1 : 0 }
        case .sigmoid: { v in let s = 1 / (1 + Foundation.exp(-v)); return s * (1 - s) }
        case .tanh: { v in 1 / (Foundation.cosh(v) * Foundation.cosh(v)) }
        case .gelu: { v in (1 + Foundation.erf(v / 2.squareRoot())) / 2 + v * Foundation.exp(-v * v / 2) / (2 * Double.pi).squareRoot() }
        case .geluTanh: { v in
            let t = Foundation.tanh(c * (v + 0.044715 * v * v * v))
            return (1 + t) / 2 + v / 2 * (1 - t * t) * c * (1 + 3 * 0.044715 * v * v)
        }
        default: { v in let s = 1 / (1 + Foundation.exp(-v)); return s * (1 + v * (1 - s)) }
        }
        for (i, g) in x.grad!.toArray(Float.self).enumerated() {
            let expected = Double(upstream[i]) * derivative(Double(values[i]))
            #expect(Swift.abs(Double(g) - expected) <= 1e-5 * Swift.abs(expected) + 2e-6, "\(op) at \(values[i]): \(g) vs \(expected)")
        }
    }

    @Test func scalarOperandsAndPromotion() {
        let x = Tensor([1, 2, 3] as [Float])
        #expect((x * 2 + 1).toArray(Float.self) == [3, 5, 7])
        #expect((10 - x).toArray(Float.self) == [9, 8, 7])
        #expect((1 / x).toArray(Float.self) == [1, 0.5, Float(1) / 3])
        let i = Tensor([1, 2, 3] as [Int32])
        #expect((i * 2).dtype == .int32)
        #expect((i * 0.5).dtype == .float32)
        #expect((i / 2).toArray(Float.self) == [0.5, 1, 1.5])
        #expect((i + Tensor([0.5] as [Double])).dtype == .float64)
        #expect((Tensor([1] as [Float16]) + Tensor([1] as [Float])).dtype == .float32)
        #expect((Tensor([1] as [Float16]).to(.bfloat16) + Tensor([1] as [Float16])).dtype == .float32)
    }

    @Test(arguments: CompareOp.allCases)
    func comparisons(_ op: CompareOp) {
        let a = Ref([2, 3], [1, 2, 3, 4, 5, .nan]), b = Ref([3], [2, 2, 6])
        let ta = Tensor(a.values, shape: a.shape).to(.float32), tb = Tensor(b.values).to(.float32)
        let result: Tensor
        let f: (Double, Double) -> Bool
        switch op {
        case .eq: (result, f) = (ta .== tb, { $0 == $1 })
        case .ne: (result, f) = (ta .!= tb, { $0 != $1 })
        case .lt: (result, f) = (ta .< tb, { $0 < $1 })
        case .le: (result, f) = (ta .<= tb, { $0 <= $1 })
        case .gt: (result, f) = (ta .> tb, { $0 > $1 })
        case .ge: (result, f) = (ta .>= tb, { $0 >= $1 })
        }
        #expect(result.dtype == .bool)
        #expect(result.toArray(Bool.self) == Ref.zip(a, b) { f($0, $1) ? 1 : 0 }.values.map { $0 == 1 })
    }

    @Test func whichSelectsWithBroadcasting() {
        let condition = Tensor([true, false, true] as [Bool])
        let a = Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        let b = Tensor(-1 as Float)
        #expect(which(condition, a, b).toArray(Float.self) == [1, -1, 3, 4, -1, 6])
        #expect(which(a .> 3, a, a * 10).toArray(Float.self) == [10, 20, 30, 4, 5, 6])
    }

    @Test func nanAndInfinityPropagate() {
        let x = Tensor([Float.nan, .infinity, -.infinity, 0] as [Float])
        #expect(mismatch(x.exp(), Ref([4], [.nan, .infinity, 0, 1]), rtol: 0, atol: 0) == nil)
        #expect(mismatch(x.relu(), Ref([4], [.nan, .infinity, 0, 0]), rtol: 0, atol: 0) == nil)
        #expect(mismatch(maximum(x, Tensor(1 as Float)), Ref([4], [.nan, .infinity, 1, 1]), rtol: 0, atol: 0) == nil)
        #expect(mismatch(x.sigmoid(), Ref([4], [.nan, 1, 0, 0.5]), rtol: 0, atol: 0) == nil)
    }

    @Test func clampAndLeakyRelu() {
        let x = Tensor([-3, -0.5, 0.5, 3] as [Float])
        #expect(x.clamped(min: -1, max: 1).toArray(Float.self) == [-1, -0.5, 0.5, 1])
        #expect(x.clamped(min: 0).toArray(Float.self) == [0, 0, 0.5, 3])
        #expect(x.leakyRelu(slope: 0.1).toArray(Float.self) == [-0.3, -0.05, 0.5, 3].map { Float($0) })
    }
}
