import Foundation
import Testing
import Kiln

@Suite struct PhiloxTests {
    /// Random123's `kat_vectors` for philox4x32_10: counter, key → output.
    static let knownAnswers: [(SIMD4<UInt32>, SIMD2<UInt32>, SIMD4<UInt32>)] = [
        (SIMD4(0, 0, 0, 0), SIMD2(0, 0), SIMD4(0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8)),
        (SIMD4(0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff), SIMD2(0xffff_ffff, 0xffff_ffff),
         SIMD4(0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd)),
        (SIMD4(0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344), SIMD2(0xa409_3822, 0x299f_31d0),
         SIMD4(0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1)),
    ]

    @Test(arguments: 0..<3)
    func knownAnswerVector(_ i: Int) {
        let (counter, key, expected) = Self.knownAnswers[i]
        #expect(Philox4x32.block(counter: counter, key: key) == expected)
    }

    @Test func uniformTransformFollowsItsDefinition() {
        #expect(Philox4x32.uniform(0) == 0x1p-24)
        #expect(Philox4x32.uniform(0xFFFF_FFFF) == 1 - 0x1p-24)
        #expect(Philox4x32.uniform(0x8000_0000) == 0.5 + 0x1p-24)
        #expect(Philox4x32.uniform(0x8000_01FF) == 0.5 + 0x1p-24)
        // Element i of a fill takes word i % 4 of block offset + i / 4.
        let t = Tensor.uniform([10], low: -1, high: 3, generator: RandomGenerator(seed: 42))
        let values = t.toArray(Float.self)
        for i in 0..<10 {
            let words = Philox4x32.block(counter: SIMD4(UInt32(i / 4), 0, 0, 0), key: SIMD2(42, 0))
            let expected = Float(-1 + 4 * Double(Philox4x32.uniform(words[i % 4])))
            #expect(values[i] == expected, "element \(i)")
        }
    }

    @Test func normalTransformIsBoxMuller() {
        let seed: UInt64 = 0x1234_5678_9ABC
        let t = Tensor.normal([8], mean: 1, std: 2, dtype: .float64, generator: RandomGenerator(seed: seed))
        let values = t.toArray(Double.self)
        for blockIndex in 0..<2 {
            let words = Philox4x32.block(counter: SIMD4(UInt32(blockIndex), 0, 0, 0),
                                         key: SIMD2(UInt32(seed & 0xFFFF_FFFF), UInt32(seed >> 32)))
            let u = (0..<4).map { Double(Philox4x32.uniform(words[$0])) }
            let r0 = (-2 * Foundation.log(u[0])).squareRoot(), r1 = (-2 * Foundation.log(u[2])).squareRoot()
            let z = [r0 * Foundation.cos(2 * .pi * u[1]), r0 * Foundation.sin(2 * .pi * u[1]),
                     r1 * Foundation.cos(2 * .pi * u[3]), r1 * Foundation.sin(2 * .pi * u[3])]
            for j in 0..<4 { #expect(Swift.abs(values[4 * blockIndex + j] - (1 + 2 * z[j])) < 1e-12) }
        }
    }

    @Test func generatorAdvancesByBlocksAndReseeds() {
        let g = RandomGenerator(seed: 7)
        let first = Tensor.uniform([6], generator: g).toArray(Float.self)   // blocks 0 and 1
        let second = Tensor.uniform([4], generator: g).toArray(Float.self)  // block 2
        #expect(g.stream == RandomStream(seed: 7, offset: 3))
        let whole = Tensor.uniform([12], generator: RandomGenerator(seed: 7)).toArray(Float.self)
        #expect(Array(whole[0..<6]) == first)
        #expect(Array(whole[8..<12]) == second)
        g.seed(7)
        #expect(Tensor.uniform([6], generator: g).toArray(Float.self) == first)
    }

    @Test(arguments: [DType.float32, .float64])
    func statistics(_ dtype: DType) {
        let n = 200_000
        let g = RandomGenerator(seed: 2024)
        let u = Tensor.uniform([n], low: 2, high: 5, dtype: dtype, generator: g).toArray(Double.self)
        let uMean = u.reduce(0, +) / Double(n)
        let uVar = u.map { ($0 - uMean) * ($0 - uMean) }.reduce(0, +) / Double(n)
        #expect(u.allSatisfy { $0 >= 2 && $0 <= 5 })
        #expect(Swift.abs(uMean - 3.5) < 0.01)          // σ of the mean ≈ 0.0019
        #expect(Swift.abs(uVar - 0.75) < 0.01)
        let z = Tensor.normal([n], mean: -1, std: 3, dtype: dtype, generator: g).toArray(Double.self)
        let zMean = z.reduce(0, +) / Double(n)
        let zVar = z.map { ($0 - zMean) * ($0 - zMean) }.reduce(0, +) / Double(n)
        #expect(Swift.abs(zMean + 1) < 0.03)            // σ of the mean ≈ 0.0067
        #expect(Swift.abs(zVar / 9 - 1) < 0.02)
        let within = z.filter { Swift.abs($0 + 1) < 3 }.count
        #expect(Swift.abs(Double(within) / Double(n) - 0.682_689) < 0.005)
        let b = Tensor.bernoulli([n], p: 0.3, dtype: dtype, generator: g).toArray(Double.self)
        #expect(b.allSatisfy { $0 == 0 || $0 == 1 })
        #expect(Swift.abs(b.reduce(0, +) / Double(n) - 0.3) < 0.005)
    }
}

@Suite struct InitializerTests {
    func moments(_ t: Tensor) -> (mean: Double, std: Double, maxAbs: Double) {
        let v = t.toArray(Double.self)
        let m = v.reduce(0, +) / Double(v.count)
        let s = (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count)).squareRoot()
        return (m, s, v.map { Swift.abs($0) }.max()!)
    }

    @Test func fansFollowPyTorch() {
        #expect(Initializer.fans([64, 32]) == (32, 64))
        #expect(Initializer.fans([16, 8, 3, 3]) == (72, 144))
    }

    @Test func kaimingAndXavierHaveTheirBoundsAndVariances() {
        let g = RandomGenerator(seed: 99)
        // kaiming_uniform (a = 0, fan_in = 300): bound √6/√300 ≈ 0.1414, std = bound/√3.
        let ku = moments(Initializer.kaimingUniform([500, 300], generator: g))
        let kBound = (6.0 / 300).squareRoot()
        #expect(ku.maxAbs <= kBound && ku.maxAbs > 0.99 * kBound)
        #expect(Swift.abs(ku.std / (kBound / 3.0.squareRoot()) - 1) < 0.01)
        // kaiming_normal (fan_out = 500 · 9): std √2/√4500.
        let kn = moments(Initializer.kaimingNormal([500, 30, 3, 3], mode: .fanOut, generator: g))
        #expect(Swift.abs(kn.std / (2.0 / 4500).squareRoot() - 1) < 0.01 && Swift.abs(kn.mean) < 0.001)
        // xavier_uniform (gain 2): bound 2·√(6/800).
        let xu = moments(Initializer.xavierUniform([500, 300], gain: 2, generator: g))
        let xBound = 2 * (6.0 / 800).squareRoot()
        #expect(xu.maxAbs <= xBound && xu.maxAbs > 0.99 * xBound)
        let xn = moments(Initializer.xavierNormal([500, 300], generator: g))
        #expect(Swift.abs(xn.std / (2.0 / 800).squareRoot() - 1) < 0.01)
        // leaky-ReLU gain: √(2 / (1 + a²)).
        #expect(Swift.abs(Initializer.leakyReluGain(5.0.squareRoot()) - (1.0 / 3).squareRoot()) < 1e-15)
    }
}
