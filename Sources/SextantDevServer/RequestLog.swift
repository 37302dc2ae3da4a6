import Synchronization

/// The writes the handler answered, in order, for tests that count what a client wrote (e.g.
/// one status write per reconcile pass). Reads (GET, LIST, WATCH) are most of the traffic and
/// are kept only after a test turns `recordsReads` on (to count a pass's GETs). Bounded: a
/// long-running `sextant dev apiserver` keeps the last `limit` entries only.
public final class RequestLog: Sendable {
    public struct Entry: Sendable, Hashable {
        /// A sequence number over the server's life: `entries(after:)` reads from a mark.
        public var sequence: Int
        public var method: String
        public var path: String
        public var status: Int
    }

    public static let limit = 10_000
    private let state = Mutex<(entries: [Entry], next: Int, reads: Bool)>(([], 0, false))

    public init() {}

    /// Whether GETs (reads, lists, watches) are kept too; off by default.
    public var recordsReads: Bool {
        get { state.withLock { $0.reads } }
        set { state.withLock { $0.reads = newValue } }
    }

    func record(method: String, path: String, status: Int) {
        guard method != "HEAD", method != "OPTIONS" else { return }
        state.withLock { state in
            guard method != "GET" || state.reads else { return }
            state.entries.append(Entry(sequence: state.next, method: method, path: path, status: status))
            state.next += 1
            if state.entries.count > Self.limit { state.entries.removeFirst(state.entries.count - Self.limit) }
        }
    }

    /// The sequence number the next entry will get: a mark for `entries(after:)`.
    public var mark: Int { state.withLock { $0.next } }

    /// The requests answered since `mark`, oldest first.
    public func entries(after mark: Int) -> [Entry] {
        state.withLock { $0.entries.filter { $0.sequence >= mark } }
    }
}
