import Synchronization

/// How fast failed items come back: the larger of a per-item exponential delay and an overall
/// token bucket (client-go's default controller rate limiter: 5 ms doubling to 1000 s, 10 qps
/// with bursts of 100).
public struct RateLimit: Sendable, Equatable {
    public var baseDelay: Duration
    public var maxDelay: Duration
    /// Overall retries per second across all items, with bursts up to `burst`.
    public var qps: Double
    public var burst: Int

    public init(baseDelay: Duration = .milliseconds(5), maxDelay: Duration = .seconds(1000),
                qps: Double = 10, burst: Int = 100) {
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.qps = max(qps, 0.001)
        self.burst = max(burst, 1)
    }

    /// The per-item delay after `failures` consecutive failures (>= 1).
    public func itemDelay(failures: Int) -> Duration {
        var delay = baseDelay
        var n = 1
        while n < failures && delay < maxDelay {
            delay = delay * 2
            n += 1
        }
        return min(delay, maxDelay)
    }
}

/// Hooks the queue calls so a controller can export depth, wait time and retries.
public struct WorkQueueObserver: Sendable {
    public var depthChanged: @Sendable (Int) -> Void = { _ in }
    public var added: @Sendable () -> Void = {}
    public var retried: @Sendable () -> Void = {}
    /// Time a key spent queued before a worker took it.
    public var waited: @Sendable (Duration) -> Void = { _ in }
    public init() {}
}

/// A de-duplicating, rate-limited work queue with client-go's semantics:
/// - a key is queued at most once however often it is added;
/// - a key handed to a worker is not handed out again until the worker calls `done`; if it was
///   added meanwhile it is queued again then, so the newest change is always processed;
/// - `addRateLimited` delays a failing key exponentially, `forget` resets its failure count.
public final class WorkQueue<Key: Hashable & Sendable>: Sendable {
    private struct State {
        var queue: [Key] = []
        var head = 0
        var dirty: Set<Key> = []
        var processing: Set<Key> = []
        var queuedAt: [Key: ContinuousClock.Instant] = [:]
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Key?, Never>)] = []
        var nextWaiter: UInt64 = 0
        var failures: [Key: Int] = [:]
        /// Earliest pending delayed add per key, so repeated `addAfter`s do not pile up timers.
        var scheduled: [Key: ContinuousClock.Instant] = [:]
        var shuttingDown = false
        var tokens: Double
        var lastRefill = ContinuousClock.now

        var depth: Int { queue.count - head }

        mutating func popFront() -> Key {
            let key = queue[head]
            head += 1
            if head > 1024 && head * 2 > queue.count {
                queue.removeFirst(head)
                head = 0
            }
            return key
        }
    }

    public let rateLimit: RateLimit
    private let observer: WorkQueueObserver
    private let state: Mutex<State>

    public init(rateLimit: RateLimit = RateLimit(), observer: WorkQueueObserver = WorkQueueObserver()) {
        self.rateLimit = rateLimit
        self.observer = observer
        self.state = Mutex(State(tokens: Double(rateLimit.burst)))
    }

    /// Keys waiting to be handed out (not counting those being processed).
    public var depth: Int { state.withLock { $0.depth } }
    public var isShuttingDown: Bool { state.withLock { $0.shuttingDown } }

    /// Queues a key unless it is queued already.
    public func add(_ key: Key) {
        let now = ContinuousClock.now
        let (handoff, depth) = state.withLock { s -> ((CheckedContinuation<Key?, Never>, Key)?, Int?) in
            guard !s.shuttingDown, !s.dirty.contains(key) else { return (nil, nil) }
            s.dirty.insert(key)
            // Being processed: `done` queues it again, never two workers on one key.
            if s.processing.contains(key) { return (nil, nil) }
            if !s.waiters.isEmpty {
                let waiter = s.waiters.removeFirst()
                s.dirty.remove(key)
                s.processing.insert(key)
                return ((waiter.continuation, key), nil)
            }
            s.queue.append(key)
            s.queuedAt[key] = now
            return (nil, s.depth)
        }
        observer.added()
        if let depth { observer.depthChanged(depth) }
        if let (continuation, key) = handoff {
            observer.waited(.zero)
            continuation.resume(returning: key)
        }
    }

    /// Queues a key after a delay (a requeue the reconciler asked for).
    public func add(_ key: Key, after delay: Duration) {
        guard delay > .zero else { return add(key) }
        let due = ContinuousClock.now + delay
        let schedule = state.withLock { s -> Bool in
            guard !s.shuttingDown else { return false }
            if let pending = s.scheduled[key], pending <= due { return false }
            s.scheduled[key] = due
            return true
        }
        guard schedule else { return }
        Task { [weak self] in
            try? await Task.sleep(until: due, clock: .continuous)
            guard let self else { return }
            let fire = self.state.withLock { s -> Bool in
                guard s.scheduled[key] == due else { return false }  // superseded by an earlier one
                s.scheduled[key] = nil
                return true
            }
            if fire { self.add(key) }
        }
    }

    /// Queues a failed key after its backoff: the larger of the per-item and the overall limit.
    public func addRateLimited(_ key: Key) {
        let delay = state.withLock { s -> Duration in
            let failures = (s.failures[key] ?? 0) + 1
            s.failures[key] = failures
            let item = rateLimit.itemDelay(failures: failures)
            // Token bucket: reserve a token; a negative balance is a wait.
            let now = ContinuousClock.now
            s.tokens = min(Double(rateLimit.burst), s.tokens + (now - s.lastRefill).seconds * rateLimit.qps)
            s.lastRefill = now
            s.tokens -= 1
            let bucket: Duration = s.tokens >= 0 ? .zero : .nanoseconds(Int64(-s.tokens / rateLimit.qps * 1e9))
            return max(item, bucket)
        }
        observer.retried()
        add(key, after: delay)
    }

    /// Consecutive failures recorded for a key.
    public func failures(_ key: Key) -> Int { state.withLock { $0.failures[key] ?? 0 } }

    /// Clears a key's failure history (after a success, or when giving up on it).
    public func forget(_ key: Key) { state.withLock { _ = $0.failures.removeValue(forKey: key) } }

    /// Waits for the next key; nil once the queue shuts down (or the task is cancelled).
    /// The caller owns the key until it calls `done`.
    public func get() async -> Key? {
        let id = state.withLock { s -> UInt64 in
            s.nextWaiter += 1
            return s.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Key?, Never>) in
                let (immediate, waited, depth) = state.withLock { s -> (Key??, Duration?, Int?) in
                    if s.depth > 0 {
                        let key = s.popFront()
                        s.dirty.remove(key)
                        s.processing.insert(key)
                        let waited = s.queuedAt.removeValue(forKey: key).map { ContinuousClock.now - $0 }
                        return (.some(key), waited, s.depth)
                    }
                    if s.shuttingDown || Task.isCancelled { return (.some(nil), nil, nil) }
                    s.waiters.append((id, continuation))
                    return (nil, nil, nil)
                }
                if let depth { observer.depthChanged(depth) }
                if let waited { observer.waited(waited) }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Key?, Never>? in
                guard let index = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: index).continuation
            }
            waiter?.resume(returning: nil)
        }
    }

    /// Marks a key as finished; if it was added while processing it is queued again now.
    public func done(_ key: Key) {
        let (handoff, depth) = state.withLock { s -> ((CheckedContinuation<Key?, Never>, Key)?, Int?) in
            s.processing.remove(key)
            guard s.dirty.contains(key), !s.shuttingDown else { return (nil, nil) }
            if !s.waiters.isEmpty {
                let waiter = s.waiters.removeFirst()
                s.dirty.remove(key)
                s.processing.insert(key)
                return ((waiter.continuation, key), nil)
            }
            s.queue.append(key)
            s.queuedAt[key] = ContinuousClock.now
            return (nil, s.depth)
        }
        if let depth { observer.depthChanged(depth) }
        if let (continuation, key) = handoff { continuation.resume(returning: key) }
    }

    /// Stops handing out keys: waiting and future `get`s return nil, adds are ignored.
    public func shutDown() {
        let waiters = state.withLock { s -> [CheckedContinuation<Key?, Never>] in
            s.shuttingDown = true
            s.queue.removeAll()
            s.head = 0
            s.dirty.removeAll()
            s.queuedAt.removeAll()
            s.scheduled.removeAll()
            defer { s.waiters.removeAll() }
            return s.waiters.map(\.continuation)
        }
        observer.depthChanged(0)
        for waiter in waiters { waiter.resume(returning: nil) }
    }
}
