import Dispatch
import Foundation
import KilnCore

/// The CPU backend's parallel loops: contiguous chunks of an index range on the worker pool (Dispatch's
/// `concurrentPerform` when the pool is running another loop), with a grain size so that small loops run inline
/// instead of paying for threads.
enum Parallel {
    /// The number of worker threads: `KILN_NUM_THREADS` when set, else the number of active processors. An
    /// invalid `KILN_NUM_THREADS` stops the program with a message naming it (see
    /// `CPUBackend.threadCountFromEnvironment()`), rather than silently running on another count.
    static let threadCount: Int = {
        do {
            return try CPUBackend.threadCountFromEnvironment() ?? max(ProcessInfo.processInfo.activeProcessorCount, 1)
        } catch {
            fatalError("\(error)")
        }
    }()

    /// Runs `body` over `0..<count` split into chunks of at least `grain` indices, at most a few per thread.
    static func forEach(_ count: Int, grain: Int, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = Swift.min((count - 1) / Swift.max(grain, 1) + 1, threadCount * 4)
        if chunks <= 1 || threadCount == 1 {
            body(0..<count)
            return
        }
        let chunk = { (index: Int) in
            let start = count * index / chunks, end = count * (index + 1) / chunks
            if start < end { body(start..<end) }
        }
        if pool.run(count: chunks, chunk) { return }
        withoutActuallyEscaping(chunk) { chunk in
            let task = UncheckedSendable(chunk)
            DispatchQueue.concurrentPerform(iterations: chunks) { task.value($0) }
        }
    }

    /// The workers besides the calling thread.
    private static let pool = WorkerPool(workers: threadCount - 1)
}
