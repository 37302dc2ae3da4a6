// Fork-join workers for `parallelFor`, kept spinning between jobs for a short while.
//
// A tree of depth 6 on 200,000 rows is a few hundred microseconds of work split into a dozen
// parallel steps; waking a parked Dispatch worker for each costs tens of microseconds and a
// system call (on the quality sets about a quarter of the second core sat idle). Workers here spin
// on a generation counter for `spinNanoseconds` after a job (as OpenMP's do, for far shorter), then
// park on a condition until the next one.
import CCPUHints
import Dispatch
import Foundation
import Synchronization

final class WorkerPool: @unchecked Sendable {
    // @unchecked: `body` and `tasks` are written by the one caller holding `busy` before the
    // releasing increment of `generation`, and read by workers after acquiring it; the caller
    // clears them only after every worker has released `pending`.
    /// Threads running a job, the caller included.
    let size: Int
    /// How long an idle worker spins before it parks.
    static let spinNanoseconds: UInt64 = 500_000

    private let generation = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    /// The next index of the running job not yet taken.
    private let next = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let condition = NSCondition()
    private var parked = 0  // guarded by `condition`
    private var body: (@Sendable (Int) -> Void)?
    private var tasks = 0

    private init(size: Int) {
        self.size = size
        for w in 1..<size {
            let thread = Thread { [self] in self.work() }
            thread.name = "sextant-trainer-\(w)"
            thread.start()
        }
    }

    private static let pools = Mutex<[Int: WorkerPool]>([:])

    /// The pool of `size` threads (made on first use, kept for the process).
    static func shared(size: Int) -> WorkerPool {
        pools.withLock { pools in
            if let pool = pools[size] { return pool }
            let pool = WorkerPool(size: size)
            pools[size] = pool
            return pool
        }
    }

    /// Runs `body(i)` for i in 0..<n, each thread taking the next index not yet taken (so a thread
    /// that finishes early, or a worker still waking, costs nothing); false (nothing run) when
    /// the pool is already running a job: a nested or concurrent call, which the caller then
    /// runs another way.
    func run(_ n: Int, _ body: @Sendable (Int) -> Void) -> Bool {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        defer { busy.store(false, ordering: .releasing) }
        withoutActuallyEscaping(body) { body in
            self.body = body
            tasks = n
            next.store(0, ordering: .relaxed)
            pending.store(size - 1, ordering: .relaxed)
            generation.add(1, ordering: .releasing)
            condition.lock()
            if parked > 0 { condition.broadcast() }
            condition.unlock()
            take(n, body)
            while pending.load(ordering: .acquiring) > 0 { sextant_spin_pause() }
            self.body = nil
        }
        return true
    }

    private func work() {
        var seen = 0
        while true {
            seen = waitForJob(after: seen)
            takeShare()
            pending.subtract(1, ordering: .releasing)
        }
    }

    /// A worker's part of the job. Not inlined: the worker's reference to `body` must be gone
    /// before it reports done (`withoutActuallyEscaping` traps if the closure is still held when
    /// `run` returns), and only a return guarantees that: inlined, the release may sink below the
    /// atomic that reports it. It did, when every index could go to the caller first.
    @inline(never) private func takeShare() {
        guard let body else { return }
        take(tasks, body)
    }

    @inline(__always) private func take(_ n: Int, _ body: (Int) -> Void) {
        while true {
            let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
            if i >= n { return }
            body(i)
        }
    }

    /// Spins until the generation moves past `seen`, parking once it has spun for
    /// `spinNanoseconds`; returns the new generation.
    private func waitForJob(after seen: Int) -> Int {
        let start = DispatchTime.now().uptimeNanoseconds
        var spins = 0
        while true {
            let g = generation.load(ordering: .acquiring)
            if g != seen { return g }
            spins &+= 1
            if spins & 1023 == 0, DispatchTime.now().uptimeNanoseconds &- start > Self.spinNanoseconds {
                condition.lock()
                parked += 1
                while generation.load(ordering: .acquiring) == seen { condition.wait() }
                parked -= 1
                condition.unlock()
                spins = 0
            } else {
                sextant_spin_pause()
            }
        }
    }
}
