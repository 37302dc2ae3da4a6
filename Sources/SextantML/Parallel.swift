// Minimal fork-join helpers over Dispatch for the numeric kernels.
//
// The kernels hand each worker a disjoint slice (whole features, fixed row blocks), so results do
// not depend on the number of threads or on scheduling. The pointer wrapper below is
// `@unchecked Sendable` for exactly that reason: every use writes disjoint index ranges and the
// fork-join barrier of `concurrentPerform` orders those writes before any read that follows.
import Dispatch
import Foundation
import Synchronization

@usableFromInline
struct SharedMutablePointer<T>: @unchecked Sendable {
    @usableFromInline let base: UnsafeMutablePointer<T>
    @usableFromInline init(_ base: UnsafeMutablePointer<T>) { self.base = base }
    @inlinable subscript(i: Int) -> T {
        get { base[i] }
        nonmutating set { base[i] = newValue }
    }
}

@usableFromInline
struct SharedPointer<T>: @unchecked Sendable {
    @usableFromInline let base: UnsafePointer<T>
    @usableFromInline init(_ base: UnsafePointer<T>) { self.base = base }
    @inlinable subscript(i: Int) -> T { base[i] }
}

/// Runs `body(i)` for i in 0..<n on at most `threads` workers and waits for all of them: the
/// spinning `WorkerPool` of that size, or Dispatch when the pool is busy (a nested call).
func parallelFor(_ n: Int, threads: Int, _ body: @Sendable (Int) -> Void) {
    if n <= 0 { return }
    if threads <= 1 || n == 1 {
        for i in 0..<n { body(i) }
        return
    }
    if WorkerPool.shared(size: threads).run(n, body) { return }
    // At most `threads` workers (concurrentPerform alone would use every core), each taking
    // every workers-th task.
    let workers = min(threads, n)
    DispatchQueue.concurrentPerform(iterations: workers) { w in
        var i = w
        while i < n { body(i); i += workers }
    }
}

/// Runs `body(i)` for i in 0..<n on at most `threads` workers, each taking the next index not yet
/// taken: for many tasks of uneven duration (CSV chunks, a core shared with another process),
/// where the fixed assignment of `parallelFor` would leave a worker idle at the end.
func parallelForDynamic(_ n: Int, threads: Int, _ body: @Sendable (Int) -> Void) {
    if n <= 0 { return }
    if threads <= 1 || n == 1 {
        for i in 0..<n { body(i) }
        return
    }
    let next = Atomic<Int>(0)
    DispatchQueue.concurrentPerform(iterations: min(threads, n)) { _ in
        while true {
            let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
            if i >= n { return }
            body(i)
        }
    }
}

/// Splits `0..<count` into `parts` contiguous ranges of (almost) equal size.
@inlinable
func evenRanges(_ count: Int, parts: Int) -> [Range<Int>] {
    let p = max(1, min(parts, max(count, 1)))
    return (0..<p).map { i in (count * i / p)..<(count * (i + 1) / p) }
}

/// Number of worker threads: `requested` when positive, otherwise all active cores.
public func effectiveThreads(_ requested: Int?) -> Int {
    if let r = requested, r > 0 { return r }
    return max(1, ProcessInfo.processInfo.activeProcessorCount)
}

/// Collects one value per parallel task in task order (each task writes only its own slot).
/// Raw storage (not an Array) so concurrent writes to different slots never touch shared state.
final class ResultSlots<T>: @unchecked Sendable {
    private let storage: UnsafeMutablePointer<T?>
    let count: Int
    init(count: Int) {
        self.count = count
        storage = .allocate(capacity: max(count, 1))
        storage.initialize(repeating: nil, count: count)
    }
    deinit {
        storage.deinitialize(count: count)
        storage.deallocate()
    }
    func set(_ i: Int, _ v: T) { storage[i] = v }
    var all: [T?] { (0..<count).map { storage[$0] } }
}
