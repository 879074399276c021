import CCUDA
import KilnCore

extension CUDABackend {
    /// Fills `out` from the Philox stream, as the CPU does element for element.
    public func randomFill(_ out: BufferView, distribution: RandomDistribution, stream: RandomStream) {
        let (code, a, b): (KilnRandomCode, Double, Double) = switch distribution {
        case .uniform(let low, let high): (KILN_UNIFORM, low, high)
        case .normal(let mean, let std): (KILN_NORMAL, mean, std)
        case .bernoulli(let p): (KILN_BERNOULLI, p, 0)
        }
        let iterator = KernelIterator([out.layout])
        guard iterator.count > 0 else { return }
        var arguments = KernelArguments()
        arguments.append(iterator.descriptor); arguments.append(Int32(code.rawValue)); arguments.append(a); arguments.append(b)
        arguments.append(stream.seed); arguments.append(stream.offset); arguments.append(out.address); arguments.append(out.code)
        let (grid, block) = context.elementwiseConfiguration(count: (iterator.count + 3) / 4)
        context.launch("kiln_random", op: Op.random(distribution.kind).name, grid: grid, block: block, arguments: arguments)
    }

    /// Inverted dropout with its mask.
    public func dropout(_ x: BufferView, probability: Double, stream: RandomStream, out: BufferView, mask: BufferView) {
        require(x.shape == out.shape && x.shape == mask.shape, "dropout: shapes \(x.shape), \(out.shape), mask \(mask.shape)")
        launchElementwise("kiln_dropout", op: "dropout", KernelIterator([out.layout, x.layout, mask.layout])) {
            $0.append(probability); $0.append(probability < 1 ? 1 / (1 - probability) : 0)
            $0.append(stream.seed); $0.append(stream.offset)
            $0.append(x.address); $0.append(out.address); $0.append(out.code); $0.append(mask.address); $0.append(mask.code)
        }
    }
}
