import Testing
@testable import Kiln

@Test func smoke() {
    let a = Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
    let b = a.matmul(a.T)
    print(b.toArray(Float.self))
    #expect(b.toArray(Float.self) == [14, 32, 32, 77])
}
