import Foundation
import Testing
import Kiln

@Suite struct AutogradTests {
    @Test func gradientsAccumulateAcrossBackwardCallsUntilZeroed() {
        let x = Tensor([1, 2, 3] as [Float]).requiringGrad()
        (x * x).sum().backward()
        (x * 3).sum().backward()
        #expect(x.grad!.toArray(Float.self) == [5, 7, 9])
        x.zeroGrad()
        #expect(x.grad == nil)
        x.sum().backward()
        #expect(x.grad!.toArray(Float.self) == [1, 1, 1])
    }

    @Test func sharedSubexpressionsSumTheirGradients() {
        // f = y·y + y with y = 2x: df/dx = 2(2y + 1) = 8x + 2.
        let x = Tensor([0.5, -1] as [Double]).requiringGrad()
        let y = x * 2
        (y * y + y).sum().backward()
        #expect(x.grad!.toArray(Double.self) == [6, -6])
    }

    @Test func broadcastGradientsReduceToTheInputShape() {
        let a = Tensor.ones([2, 1, 3]).requiringGrad(), b = Tensor.ones([4, 1]).requiringGrad()
        (a * b).sum().backward()
        #expect(a.grad!.shape == [2, 1, 3] && a.grad!.toArray(Float.self).allSatisfy { $0 == 4 })
        #expect(b.grad!.shape == [4, 1] && b.grad!.toArray(Float.self).allSatisfy { $0 == 6 })
    }

    @Test func noGradAndDetachStopRecording() {
        let x = Tensor([1, 2] as [Float]).requiringGrad()
        let y = noGrad { x * 2 }
        #expect(!y.requiresGrad && y.isLeaf)
        #expect(Autograd.isEnabled)
        noGrad { #expect(!Autograd.isEnabled) }
        let z = x.detached() * x
        z.sum().backward()
        #expect(x.grad!.toArray(Float.self) == [1, 2])
    }

    @Test func explicitSeedGradient() {
        let x = Tensor([1, 2, 3] as [Float]).requiringGrad()
        let y = x * x
        y.backward(Tensor([1, 0, -1] as [Float]))
        #expect(x.grad!.toArray(Float.self) == [2, 0, -6])
    }

    @Test func retainGraphAllowsASecondBackward() {
        let x = Tensor([3] as [Float]).requiringGrad()
        let y = (x * x).sum()
        y.backward(retainGraph: true)
        y.backward()
        #expect(x.grad!.item(Float.self) == 12)
    }

    @Test func mixedDtypeGradientsArriveInTheLeafDtype() {
        let x = Tensor([1, 2] as [Float]).to(.bfloat16).requiringGrad()
        let y = (x.to(.float32) * Tensor([3, 4] as [Float])).sum()
        y.backward()
        #expect(x.grad!.dtype == .bfloat16)
        #expect(x.grad!.toArray(Float.self) == [3, 4])
    }

    @Test func theTapeReleasesIntermediatesOnceConsumed() {
        final class Weak { weak var tensor: Tensor?; init(_ t: Tensor) { tensor = t } }
        var intermediates: [Weak] = []
        let x = Tensor.ones([1000]).requiringGrad()
        var loss: Tensor? = {
            var y = x
            for _ in 0..<50 {
                y = (y * 1.01).tanh()
                intermediates.append(Weak(y))
            }
            return y.sum()
        }()
        #expect(intermediates.allSatisfy { $0.tensor != nil })   // the tape holds them for backward
        loss!.backward()
        #expect(intermediates.allSatisfy { $0.tensor == nil })   // released once their gradients were computed
        #expect(x.grad != nil)
        loss = nil
    }
}

extension AutogradTests {
    /// Ops whose backward reads their own output must not keep it alive through their recorded graph: a graph that
    /// is never back-propagated (evaluation without `noGrad`) is freed with its output.
    @Test func aGraphNeverBackPropagatedIsFreedWithItsOutput() {
        final class Weak { weak var tensor: Tensor?; init(_ t: Tensor) { tensor = t } }
        let x = Tensor.normal([2, 3, 4]).requiringGrad()
        let ops: [(String, (Tensor) -> Tensor)] = [
            ("exp", { $0.exp() }), ("sigmoid", { $0.sigmoid() }), ("tanh", { $0.tanh() }), ("softmax", { $0.softmax(axis: -1) }),
            ("lstmCell", { lstmCell(gates: $0.reshaped([2, 12]), cell: Tensor.zeros([2, 3])).hidden }),
            ("lstmLayer", { lstmLayer($0, weightIH: Tensor.normal([8, 4]), weightHH: Tensor.normal([8, 2]),
                                      hidden: Tensor.zeros([2, 2]), cell: Tensor.zeros([2, 2])) }),
        ]
        for (name, op) in ops {
            // The op's input is an intermediate too, so a graph kept alive keeps it alive (an op may return a view).
            var input: Tensor? = x * 1
            var output: Tensor? = op(input!)
            let weak = [Weak(input!), Weak(output!)]
            (input, output) = (nil, nil)
            #expect(weak.allSatisfy { $0.tensor == nil }, "\(name): its graph outlived the last reference to its output")
        }
    }
}

@Suite struct ErrorMessageTests {
    @Test func shapeMismatchNamesTheOpAndShapes() async {
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]) + Tensor.zeros([4])
        }.map { result in
            let text = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(text.contains("add: shapes [2, 3] and [4] cannot be broadcast together"), "\(text)")
        }
    }

    @Test func matmulMismatchNamesBothShapes() async {
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]).matmul(Tensor.zeros([4, 5]))
        }.map { result in
            let text = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(text.contains("matmul: shapes [2, 3] and [4, 5] are incompatible (inner dimensions 3 and 4)"), "\(text)")
        }
    }

    @Test func outOfRangeIndexIsReported() async {
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            // On the CPU, where the check is synchronous (CUDATests covers the device's deferred report).
            _ = embedding(Tensor([7] as [Int64], device: .cpu), weight: Tensor.zeros([5, 2], device: .cpu))
        }.map { result in
            let text = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(text.contains("indexSelect: index 7 is out of range for an axis of extent 5"), "\(text)")
        }
    }

    @Test func invalidThreadCountIsNamed() async {
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            // Set in the child before its first CPU op reads it.
            setenv("KILN_NUM_THREADS", "two", 1)
            _ = (Tensor.ones([1 << 16], device: .cpu) + 1).sum().item(Float.self)
        }.map { result in
            let text = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(text.contains("KILN_NUM_THREADS=\"two\" is not valid: expected a positive number of threads"), "\(text)")
        }
    }

    @Test func unknownDeviceThrowsATypedError() throws {
        #expect(throws: KilnError.invalidConfiguration(setting: "device", value: "tpu", expected: "cpu, cuda or cuda:N")) {
            try Device.named("tpu")
        }
        #expect(throws: KilnError.self) { try Device.cuda(99) }
        #expect(try Device.named(" CPU ") == .cpu)
        #expect(Device.available.last == .cpu)
        #expect(Device.cpu.description == "cpu")
    }

    @Test func defaultDeviceScopes() {
        let outer = Device.default
        Device.withDefault(.cpu) { #expect(Device.default == .cpu && Tensor.zeros([1]).device == .cpu) }
        #expect(Device.default == outer && Tensor.zeros([1]).device == outer)
    }
}

@Suite struct DescriptionTests {
    @Test func tensorsPrintShapeDtypeDeviceAndValues() {
        let t = Tensor([1, 2.5, 3, 4, 5, 6] as [Float], shape: [2, 3], device: .cpu)
        #expect(t.description == "Tensor([2, 3], float32, cpu)\n[[1.0, 2.5, 3.0],\n [4.0, 5.0, 6.0]]")
        #expect(Tensor([true, false] as [Bool]).description.hasSuffix("[true, false]"))
        let long = Tensor.arange(0, 10)
        #expect(long.description.hasSuffix("[0, 1, 2, …, 7, 8, 9]"))
        #expect(Tensor(7 as Int32, device: .cpu).description == "Tensor([], int32, cpu)\n7")
    }
}
