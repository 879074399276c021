import Testing
import Kiln

@Suite struct BackendTests {
    @Test func everyOpHasAUniqueName() {
        let names = Op.allCases.map(\.name)
        #expect(names.count == 76)
        #expect(Set(names).count == names.count)
    }

    @Test(arguments: [DType.float32, .float64, .float16, .bfloat16])
    func theCPUImplementsEveryOpForFloatingPoint(_ dtype: DType) {
        let declined = Op.allCases.filter { !Device.cpu.backend.supports($0, dtype: dtype) }
        #expect(declined.isEmpty, "declined: \(declined)")
    }

    @Test func theCPUDeclinesFloatOnlyOpsOnIntegers() {
        let backend = Device.cpu.backend
        #expect(!backend.supports(.unary(.exp), dtype: .int32))
        #expect(!backend.supports(.matmul, dtype: .int64))
        #expect(!backend.supports(.binary(.div), dtype: .int32))
        #expect(backend.supports(.binary(.add), dtype: .int32))
        #expect(backend.supports(.reduce(.sum), dtype: .bool))
        #expect(backend.supports(.indexSelect, dtype: .int64))
    }

    @Test func memoryFiguresFollowAllocations() throws {
        // Other tests allocate at the same time, so the figures are compared with a 64 MB margin around a
        // 512 MB buffer (address space only: it is never touched).
        let backend = Device.cpu.backend, size = 512 << 20, margin = 64 << 20
        let before = backend.memoryInfo()
        var buffer: (any DeviceBuffer)? = try backend.allocate(byteCount: size)
        let during = backend.memoryInfo()
        #expect(during.allocated >= before.allocated + size - margin)
        #expect(during.peak >= during.allocated - margin)
        #expect(buffer?.byteCount == size)
        buffer = nil
        #expect(backend.memoryInfo().allocated <= during.allocated - size + margin)
        #expect(Device.cpu.name.hasPrefix("cpu ("))
        try Device.cpu.synchronize()
    }

    @Test func layoutViewsAreComputedWithoutCopies() {
        let base = Layout(contiguous: [4, 6])
        #expect(base.strides == [6, 1] && base.isContiguous)
        let t = base.transposed(0, 1)
        #expect(t.shape == [6, 4] && t.strides == [1, 6] && !t.isContiguous)
        #expect(t.reshaped([24]) == nil)                               // needs a copy
        #expect(base.reshaped([2, 2, 3, 2])?.strides == [12, 6, 2, 1])
        let s = base.sliced(axis: 1, start: 1, end: 5, step: 2)
        #expect(s.shape == [4, 2] && s.strides == [6, 2] && s.offset == 1)
        #expect(s.reshaped([8]) == nil)
        #expect(s.reshaped([2, 2, 2])?.strides == [12, 6, 2])         // splitting a strided axis is a view
        #expect(Layout(contiguous: [3, 1]).broadcast(to: [2, 3, 5])?.strides == [0, 1, 0])
        #expect(Layout(contiguous: [3]).broadcast(to: [4]) == nil)
        #expect(Shape.broadcast([2, 1, 3], [4, 1]) == [2, 4, 3])
        #expect(s.span == 1..<22)                                       // 1 + 3·6 + 1·2 = 21
    }
}
