import Testing
import Kiln

@Suite struct IndexingTests {
    @Test(arguments: [0, 1, 2], [DType.float32, .float64, .int32, .bfloat16])
    func indexSelect(_ axis: Int, _ dtype: DType) {
        let x = rounded(Ref.random([5, 6, 7], seed: 71, low: -9, high: 9).map { $0.rounded() }, to: dtype)
        let picks: [Int64] = [4, 0, 2, 2, 1]
        let result = Storage.transposed.tensor(x, dtype: dtype).indexSelect(axis: axis, indices: Tensor(picks))
        var shape = x.shape
        shape[axis] = picks.count
        let expected = Ref(shape, (0..<shape.reduce(1, *)).map { flat in
            var i = Ref(shape, [Double](repeating: 0, count: shape.reduce(1, *))).index(flat)
            i[axis] = Int(picks[i[axis]])
            return x[i]
        })
        #expect(result.dtype == dtype)
        #expect(mismatch(result, expected, rtol: 0, atol: 0) == nil)
    }

    @Test func embeddingLooksUpRowsAndAccumulatesGradients() {
        let weight = Tensor((0..<12).map(Float.init), shape: [4, 3]).requiringGrad()
        let indices = Tensor([[1, 3], [1, 0]].flatMap { $0 } as [Int32], shape: [2, 2])
        let out = embedding(indices, weight: weight)
        #expect(out.shape == [2, 2, 3])
        #expect(out.toArray(Float.self) == [3, 4, 5, 9, 10, 11, 3, 4, 5, 0, 1, 2])
        out.sum().backward()
        #expect(weight.grad!.toArray(Float.self) == [1, 1, 1, 2, 2, 2, 0, 0, 0, 1, 1, 1])
    }

    @Test func gatherAndScatterAdd() {
        let x = Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        let idx = Tensor([2, 0, 1, 1] as [Int64], shape: [2, 2])
        #expect(x.gather(axis: 1, indices: idx).toArray(Float.self) == [3, 1, 5, 5])
        let idx0 = Tensor([1, 0, 1] as [Int64], shape: [1, 3])
        #expect(x.gather(axis: 0, indices: idx0).toArray(Float.self) == [4, 2, 6])
        let base = Tensor.zeros([2, 3])
        let src = Tensor([10, 20, 30, 40] as [Float], shape: [2, 2])
        #expect(base.scatterAdd(axis: 1, indices: idx, source: src).toArray(Float.self) == [20, 0, 10, 0, 70, 0])
        #expect(base.toArray(Float.self) == [0, 0, 0, 0, 0, 0])
    }

    @Test func concatStackSplitOneHot() {
        let a = Tensor([1, 2, 3, 4] as [Float], shape: [2, 2]), b = Tensor([5, 6] as [Float], shape: [2, 1])
        #expect(concat([a, b], axis: 1).toArray(Float.self) == [1, 2, 5, 3, 4, 6])
        #expect(concat([a, a.T], axis: 0).toArray(Float.self) == [1, 2, 3, 4, 1, 3, 2, 4])
        let s = stack([a, a * 10], axis: 1)
        #expect(s.shape == [2, 2, 2])
        #expect(s.toArray(Float.self) == [1, 2, 10, 20, 3, 4, 30, 40])
        let parts = Tensor((0..<10).map(Float.init)).split(sizes: [3, 7])
        #expect(parts.map(\.shape) == [[3], [7]])
        #expect(parts[1].toArray(Float.self) == [3, 4, 5, 6, 7, 8, 9])
        #expect(Tensor.zeros([4, 6]).split(parts: 3, axis: 1).map(\.shape) == [[4, 2], [4, 2], [4, 2]])
        let hot = oneHot(Tensor([2, 0] as [Int64]), classes: 3)
        #expect(hot.toArray(Float.self) == [0, 0, 1, 1, 0, 0])
    }

    @Test func viewsShareMemoryAndAssignWritesThrough() {
        let x = Tensor.zeros([3, 4])
        x.sliced(axis: 1, start: 1, end: 3).assign(Tensor(7 as Float))
        x.sliced(axis: 0, start: -1).assign(Tensor([1, 2, 3, 4] as [Float]))
        #expect(x.toArray(Float.self) == [0, 7, 7, 0, 0, 7, 7, 0, 1, 2, 3, 4])
        let t = Tensor((0..<24).map(Float.init), shape: [2, 3, 4])
        #expect(t.permuted([2, 0, 1]).contiguous().toArray(Float.self)
                == Ref([2, 3, 4], (0..<24).map(Double.init)).permuted([2, 0, 1]).values.map(Float.init))
        #expect(!t.T.isContiguous)
        #expect(t.T.reshaped([-1]).toArray(Float.self)[0..<4] == [0, 4, 8, 1])
        #expect(t.sliced(axis: 2, start: 0, end: 4, step: 3).toArray(Float.self) == [0, 3, 4, 7, 8, 11, 12, 15, 16, 19, 20, 23])
        #expect(Tensor([1, 2] as [Float], shape: [2, 1]).expanded(to: [2, 3]).toArray(Float.self) == [1, 1, 1, 2, 2, 2])
        #expect(Tensor.zeros([1, 3, 1]).squeezed().shape == [3])
        #expect(Tensor.zeros([3]).unsqueezed(axis: -1).shape == [3, 1])
        #expect(t.flattened(start: 1).shape == [2, 12])
    }

    /// Copies of permuted views whose innermost runs are whole bytes runs of every length class the copy treats
    /// differently (under 16 bytes, under 64, vector multiples with and without a tail, over 1 KB), in each dtype
    /// width, against the reference permutation.
    @Test(arguments: [(DType.float32, 3), (.float32, 5), (.float32, 16), (.float32, 33), (.float32, 300),
                      (.float16, 7), (.float16, 40), (.bfloat16, 9), (.int64, 6), (.uint8, 70), (.bool, 13)])
    func contiguousCopiesOfPermutedRuns(_ dtype: DType, _ run: Int) {
        let shape = [3, 4, 2, run]
        let ref = Ref(shape, (0..<shape.reduce(1, *)).map { Double($0 % (dtype == .bool ? 2 : 97)) })
        let t = Tensor(ref.values, shape: shape).to(dtype)
        let copy = t.permuted([1, 0, 2, 3]).contiguous()
        #expect(copy.dtype == dtype && copy.shape == [4, 3, 2, run])
        #expect(copy.to(.float64).toArray(Double.self) == ref.permuted([1, 0, 2, 3]).values, "\(dtype) runs of \(run)")
    }

    /// A row shifted onto itself (source and destination overlap in one buffer) reads every element before it is
    /// overwritten.
    @Test func shiftedSelfAssignment() {
        let x = Tensor((0..<100).map(Float.init), shape: [1, 100])
        x.sliced(axis: 1, start: 1).assign(x.sliced(axis: 1, start: 0, end: 99))
        #expect(x.toArray(Float.self) == [0] + (0..<99).map(Float.init))
    }

    @Test func creationAndConversion() {
        #expect(Tensor.arange(0, 5).toArray(Int64.self) == [0, 1, 2, 3, 4])
        #expect(Tensor.arange(1, 2, step: 0.25, dtype: .float32).toArray(Float.self) == [1, 1.25, 1.5, 1.75])
        #expect(Tensor.eye(2, 3).toArray(Float.self) == [1, 0, 0, 0, 1, 0])
        #expect(Tensor.full([2], value: 3, dtype: .int32).toArray(Int32.self) == [3, 3])
        #expect(Tensor(2.5 as Double).item(Double.self) == 2.5)
        #expect(Tensor([1.7, -1.7, 300] as [Float]).to(.int32).toArray(Int32.self) == [1, -1, 300])
        #expect(Tensor([0, 2, -1] as [Float]).to(.bool).toArray(Bool.self) == [false, true, true])
        #expect(Tensor([Float.nan] as [Float]).to(.int64).item(Int64.self) == 0)
        // bfloat16 rounds to nearest, ties to even: 1 + 2⁻⁸ is a tie between 1 and 1 + 2⁻⁷.
        let ties: [Float] = [1 + 0x1p-8, 1 + 3 * 0x1p-8, 1 + 0x1p-9, 65504, Float(bitPattern: 0x0001_16C2)]  // ≈ 1e-40, subnormal
        #expect(Tensor(ties).to(.bfloat16).toArray(Float.self) == [1, 1 + 4 * 0x1p-8, 1, 65536, Float(bitPattern: 0x0001_0000)])
        #expect(Tensor([1 + 0x1p-11, 70000] as [Float]).to(.float16).toArray(Float.self) == [1, .infinity])
        #expect(Tensor([3, 4] as [Float16]).dtype == .float16)
    }
}
