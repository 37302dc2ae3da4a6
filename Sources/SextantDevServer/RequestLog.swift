import Synchronization

/// The writes the handler answered, in order, for tests that count what a client wrote (e.g.
/// one status write per reconcile pass). Reads (GET, LIST, WATCH) are not kept: they are most of
/// the traffic and no test counts them. Bounded: a long-running `sextant dev apiserver` keeps
/// the last `limit` writes only.
public final class RequestLog: Sendable {
    public struct Entry: Sendable, Hashable {
        /// A sequence number over the server's life: `entries(after:)` reads from a mark.
        public var sequence: Int
        public var method: String
        public var path: String
        public var status: Int
    }

    public static let limit = 10_000
    private let state = Mutex<(entries: [Entry], next: Int)>(([], 0))

    public init() {}

    func record(method: String, path: String, status: Int) {
        guard method != "GET", method != "HEAD", method != "OPTIONS" else { return }
        state.withLock { state in
            state.entries.append(Entry(sequence: state.next, method: method, path: path, status: status))
            state.next += 1
            if state.entries.count > Self.limit { state.entries.removeFirst(state.entries.count - Self.limit) }
        }
    }

    /// The sequence number the next write will get: a mark for `entries(after:)`.
    public var mark: Int { state.withLock { $0.next } }

    /// The writes answered since `mark`, oldest first.
    public func entries(after mark: Int) -> [Entry] {
        state.withLock { $0.entries.filter { $0.sequence >= mark } }
    }
}
