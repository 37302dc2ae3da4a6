import Synchronization

/// The queue between the store and one watch response.
///
/// The store appends encoded events without waiting; the HTTP writer takes everything queued so
/// far as one batch. Under load this turns many small socket writes (and task wake-ups) into one,
/// which is what lets one server feed a hundred watchers. A watcher that falls more than
/// `limit` events behind is closed instead of buffering without bound; its client re-watches
/// from the last resourceVersion it saw.
public final class WatchChannel: AsyncSequence, Sendable {
    public typealias Element = [UInt8]

    private struct State {
        var pending: [UInt8] = []
        var pendingEvents = 0
        var finished = false
        var waiter: CheckedContinuation<[UInt8]?, Never>?
    }

    private let state = Mutex(State())
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Queues one encoded event; false when the channel is closed or just overflowed.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        enum Action { case none, resume(CheckedContinuation<[UInt8]?, Never>), overflow(CheckedContinuation<[UInt8]?, Never>?) }
        var accepted = true
        let action: Action = state.withLock { s in
            if s.finished {
                accepted = false
                return .none
            }
            if let waiter = s.waiter {
                s.waiter = nil
                return .resume(waiter)
            }
            if s.pendingEvents >= limit {
                s.finished = true
                s.pending = []
                accepted = false
                return .overflow(nil)
            }
            s.pending += bytes
            s.pendingEvents += 1
            return .none
        }
        if case .resume(let waiter) = action { waiter.resume(returning: bytes) }
        return accepted
    }

    /// Ends the stream after what is already queued.
    func finish() {
        let waiter: CheckedContinuation<[UInt8]?, Never>? = state.withLock { s in
            s.finished = true
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// Everything queued so far, waiting if nothing is; nil once finished and drained.
    public func nextBatch() async -> [UInt8]? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<[UInt8]?, Never>) in
                enum Action { case resume([UInt8]?), wait }
                let action: Action = state.withLock { s in
                    if !s.pending.isEmpty {
                        let batch = s.pending
                        s.pending = []
                        s.pendingEvents = 0
                        return .resume(batch)
                    }
                    if s.finished || Task.isCancelled { return .resume(nil) }
                    s.waiter = continuation
                    return .wait
                }
                if case .resume(let batch) = action { continuation.resume(returning: batch) }
            }
        } onCancel: {
            finish()
        }
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let channel: WatchChannel
        public mutating func next() async -> [UInt8]? { await channel.nextBatch() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(channel: self) }
}
