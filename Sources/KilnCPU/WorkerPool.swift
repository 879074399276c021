import Foundation
import KilnCore
import Synchronization

/// Worker threads that run parallel loops together with the calling thread, OpenMP-style: after a loop a worker
/// keeps polling for the next one for a while (`spinLimit` polls, about a millisecond) before it sleeps. Waking a
/// sleeping thread costs 10–20 µs on a virtual machine, more than many of a training step's loops take, so loops
/// issued back to back must find the workers awake.
///
/// One loop runs at a time; a loop started while another is running (from another thread, or nested inside a
/// loop's body) returns `false` from `run` and the caller runs it some other way.
final class WorkerPool: @unchecked Sendable {
    /// One parallel loop: chunks `0..<count` of `body`, claimed one at a time by whichever thread is free.
    private final class Loop: @unchecked Sendable {
        let body: (Int) -> Void
        let count: Int
        let next = Atomic<Int>(0)
        let finished = Atomic<Int>(0)

        init(body: @escaping (Int) -> Void, count: Int) {
            self.body = body
            self.count = count
        }

        /// Runs chunks until none is left to claim.
        func work() {
            while true {
                let chunk = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard chunk < count else { return }
                body(chunk)
                finished.wrappingAdd(1, ordering: .releasing)
            }
        }
    }

    /// Polls of the loop counter before a worker sleeps.
    private static let spinLimit = 1 << 17

    /// The loop workers should join (`nil` between loops).
    private let current = Mutex<Loop?>(nil)
    /// Bumped when a loop is published: what spinning workers poll.
    private let generation = Atomic<Int>(0)
    /// Whether a loop is running.
    private let busy = Atomic<Bool>(false)
    /// Workers holding a reference to a loop (taken under `current`'s lock).
    private let holders = Atomic<Int>(0)
    /// Workers asleep or about to sleep on `wakeUp`.
    private let sleepers = Atomic<Int>(0)
    private let wakeUp = NSCondition()

    /// A pool of `workers` threads besides the callers'.
    init(workers: Int) {
        for index in 0..<workers {
            let thread = Thread { [unowned self] in self.serve() }
            thread.name = "kiln-worker-\(index)"
            thread.start()
        }
    }

    /// Runs `body(0..<count)` on the workers and the calling thread, returning when every chunk has finished;
    /// `false` (nothing run) when another loop is running.
    func run(count: Int, _ body: (Int) -> Void) -> Bool {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        withoutActuallyEscaping(body) { body in publishAndRun(Loop(body: body, count: count)) }
        busy.store(false, ordering: .releasing)
        return true
    }

    /// Publishes `loop`, works on it, and returns once every chunk has finished and no worker still holds it
    /// (the loop's body must not outlive the call that lent it).
    @inline(never)
    private func publishAndRun(_ loop: Loop) {
        current.withLock { $0 = loop }
        generation.wrappingAdd(1, ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            wakeUp.lock()
            wakeUp.broadcast()
            wakeUp.unlock()
        }
        loop.work()
        while loop.finished.load(ordering: .acquiring) < loop.count {}
        current.withLock { $0 = nil }
        while holders.load(ordering: .acquiring) > 0 {}
    }

    /// Works on the current loop, if any; its reference is dropped when this returns. Returns whether it joined.
    @inline(never)
    private func joinCurrent() -> Bool {
        let loop = current.withLock { loop -> Loop? in
            if loop != nil { holders.wrappingAdd(1, ordering: .relaxed) }
            return loop
        }
        loop?.work()
        return loop != nil
    }

    /// A worker's life: wait for a loop, join it, repeat.
    private func serve() {
        var seen = 0
        while true {
            var polls = 0
            while generation.load(ordering: .acquiring) == seen {
                polls += 1
                if polls >= Self.spinLimit {
                    wakeUp.lock()
                    sleepers.wrappingAdd(1, ordering: .sequentiallyConsistent)
                    while generation.load(ordering: .sequentiallyConsistent) == seen { wakeUp.wait() }
                    sleepers.wrappingSubtract(1, ordering: .sequentiallyConsistent)
                    wakeUp.unlock()
                }
            }
            seen = generation.load(ordering: .acquiring)
            if joinCurrent() { holders.wrappingSubtract(1, ordering: .releasing) }
        }
    }
}
