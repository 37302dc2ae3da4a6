import Foundation
import SextantJSON
import SextantKubeTypes
import SextantTransport

/// A change seen by a watch.
public enum WatchChange<Object: Sendable>: Sendable {
    case added(Object)
    case modified(Object)
    case deleted(Object)
    /// The server's progress marker: resume a later watch from here.
    case bookmark(resourceVersion: String)
}

public struct WatchOptions: Sendable {
    public var resourceVersion: String?
    public var labelSelector: String?
    public var fieldSelector: String?
    /// The server ends the watch after this long; callers then watch again from the last version.
    public var timeoutSeconds: Int?
    public var allowBookmarks: Bool = true
    /// A connection silent for this long is considered dead (bookmarks keep a healthy one busy).
    public var idleTimeout: Duration = .seconds(300)

    public init(resourceVersion: String? = nil, labelSelector: String? = nil, fieldSelector: String? = nil,
                timeoutSeconds: Int? = 300, allowBookmarks: Bool = true) {
        self.resourceVersion = resourceVersion
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.timeoutSeconds = timeoutSeconds
        self.allowBookmarks = allowBookmarks
    }
}

extension KubeClient {
    /// Opens a watch. The stream ends when the server closes it; an ERROR event is thrown as a
    /// `KubeError` (410 Gone has reason `.expired`: relist, then watch again).
    public func watch<T: Decodable & Sendable>(_ resource: ResourceDescriptor, namespace: String?,
                                               options: WatchOptions = WatchOptions(),
                                               as type: T.Type = T.self) async throws -> WatchStream<T> {
        var query = [URLQueryItem(name: "watch", value: "1")]
        if options.allowBookmarks { query.append(.init(name: "allowWatchBookmarks", value: "true")) }
        if let rv = options.resourceVersion { query.append(.init(name: "resourceVersion", value: rv)) }
        if let s = options.labelSelector, !s.isEmpty { query.append(.init(name: "labelSelector", value: s)) }
        if let s = options.fieldSelector, !s.isEmpty { query.append(.init(name: "fieldSelector", value: s)) }
        if let t = options.timeoutSeconds { query.append(.init(name: "timeoutSeconds", value: String(t))) }
        let path = resource.path(namespace: namespace)
        try await limiter.acquire()
        // A stream has no total timeout; a silent connection is noticed by the idle limit.
        let timeouts = HTTPTimeouts(connect: self.options.timeouts.connect, idle: options.idleTimeout, total: nil)
        let request = try await makeRequest(method: "GET", path: path, query: query, body: nil, contentType: nil,
                                            accept: "application/json", timeouts: timeouts)
        let response = try await HTTPClient.shared.stream(request)
        guard (200..<300).contains(response.status) else {
            let body = try await response.collect()
            if response.status == 401 { await credentials.invalidate() }
            throw KubeError.from(code: response.status, body: body, verb: "WATCH", path: path)
        }
        return WatchStream(lines: response.body.lines, path: path)
    }

    public func watch<T: KubernetesResource>(_ type: T.Type, namespace: String? = nil,
                                             options: WatchOptions = WatchOptions()) async throws -> WatchStream<T> {
        try await watch(ResourceDescriptor(T.self), namespace: T.namespaced ? namespace : nil, options: options,
                        as: T.self)
    }
}

/// Newline-delimited watch events, handed out in order. The lines that arrived together are
/// decoded by the reader and a helper thread (see `DecodingBatch`); a slow reader slows the
/// connection instead of filling memory.
public struct WatchStream<Object: Decodable & Sendable>: AsyncSequence, Sendable {
    public typealias Element = WatchChange<Object>
    let lines: HTTPLines
    let path: String

    // The iterator and the batch are inlinable so that they are specialised for the caller's
    // type: generic code would look up the metadata of the event types for every event.
    public struct AsyncIterator: AsyncIteratorProtocol {
        @usableFromInline var lines: HTTPLines.AsyncIterator
        @usableFromInline let path: String
        /// The lines that had already arrived when the last one was asked for, being decoded.
        @usableFromInline var batch: DecodingBatch<Object>?
        @usableFromInline var position = 0

        init(lines: HTTPLines.AsyncIterator, path: String) {
            self.lines = lines
            self.path = path
        }

        @inlinable
        public mutating func next() async throws -> WatchChange<Object>? {
            if batch.map({ position == $0.count }) ?? true {
                let received = try await lines.nextBatch(limit: 256)
                if received.isEmpty {
                    batch = nil
                    return nil
                }
                batch = DecodingBatch(received, path: path)
                position = 0
            }
            guard let batch else { return nil }
            defer { position += 1 }
            return try batch.take(position).get()
        }
    }

    @inlinable
    static func decodeEvent(_ line: Data, path: String) throws -> WatchChange<Object> {
        if Object.self == DynamicObject.self { return try dynamicChange(line, path: path) }
        return try change(try document(line, path: path), path: path)
    }

    /// The event's bytes checked and indexed.
    @inlinable
    static func document(_ line: Data, path: String) throws -> JSONBytesDocument {
        do {
            return try JSONBytesDocument(line)
        } catch {
            throw KubeConfigError("watch \(path): undecodable event: \(describe(error))")
        }
    }

    @inlinable
    static func change(_ event: JSONBytesDocument, path: String) throws -> WatchChange<Object> {
        do {
            guard let type = event.string(member: "type") else {
                throw KubeConfigError("watch \(path): event without a type")
            }
            switch type {
            case "ADDED": return .added(try event.decode(Object.self, member: "object"))
            case "MODIFIED": return .modified(try event.decode(Object.self, member: "object"))
            case "DELETED": return .deleted(try event.decode(Object.self, member: "object"))
            case "BOOKMARK":
                let object = try event.decode(BookmarkObject.self, member: "object")
                return .bookmark(resourceVersion: object.metadata?.resourceVersion ?? "")
            case "ERROR":
                let status = try event.decode(Status.self, member: "object")
                throw KubeError(code: status.code ?? 500, status: status, verb: "WATCH", path: path)
            default:
                throw KubeConfigError("watch \(path): unknown event type \(type)")
            }
        } catch let error as KubeError {
            throw error
        } catch let error as KubeConfigError {
            throw error
        } catch {
            throw KubeConfigError("watch \(path): undecodable event: \(describe(error))")
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(lines: lines.makeAsyncIterator(), path: path) }
}

extension WatchStream {
    /// Dynamic objects skip Codable: the byte parser builds the JSON tree directly.
    @usableFromInline
    static func dynamicChange(_ line: Data, path: String) throws -> WatchChange<Object> {
        let event: JSONValue
        do {
            event = try JSONValue.parse(line)
        } catch {
            throw KubeConfigError("watch \(path): undecodable event: \(error)")
        }
        guard let object = event["object"], let type = event["type"]?.stringValue else {
            throw KubeConfigError("watch \(path): event without type or object")
        }
        guard let typed = DynamicObject(object) as? Object else {
            throw KubeConfigError("watch \(path): not a dynamic object stream")
        }
        switch type {
        case "ADDED": return .added(typed)
        case "MODIFIED": return .modified(typed)
        case "DELETED": return .deleted(typed)
        case "BOOKMARK":
            return .bookmark(resourceVersion: object[path: ["metadata", "resourceVersion"]]?.stringValue ?? "")
        case "ERROR":
            let status = (try? object.decode(as: Status.self)) ?? Status(message: "\(object)", reason: nil, code: 500)
            throw KubeError(code: status.code ?? 500, status: status, verb: "WATCH", path: path)
        default:
            throw KubeConfigError("watch \(path): unknown event type \(type)")
        }
    }
}

/// The `object` of a BOOKMARK event: only its resourceVersion matters.
@usableFromInline
struct BookmarkObject: Decodable {
    @usableFromInline struct Meta: Decodable { @usableFromInline var resourceVersion: String? }
    @usableFromInline var metadata: Meta?
}

/// The lines of one batch, decoded by the reader and one helper thread at once: each takes the
/// next line nobody has claimed, so both cores stay busy whatever the reader does with the
/// events between calls, and the reader still receives them in order.
@usableFromInline
final class DecodingBatch<Object: Decodable & Sendable>: @unchecked Sendable {
    @usableFromInline typealias Outcome = Result<WatchChange<Object>, any Error>
    @usableFromInline let lines: HTTPLineBatch
    @usableFromInline let path: String
    /// Decoded events not yet taken; each slot is written once and read once, both under the lock.
    @usableFromInline let slots: UnsafeMutablePointer<Outcome?>
    @usableFromInline let condition = NSCondition()
    /// Lines before this index are claimed by someone. Guarded by `condition`.
    @usableFromInline var claimed = 0

    /// Batches smaller than this are decoded by the reader alone: waking a thread costs more.
    @inlinable static var helpThreshold: Int { 16 }

    @inlinable
    init(_ lines: HTTPLineBatch, path: String) {
        self.lines = lines
        self.path = path
        slots = .allocate(capacity: max(lines.count, 1))
        slots.initialize(repeating: nil, count: lines.count)
        if lines.count >= Self.helpThreshold {
            // The helper keeps the batch alive until it runs out of lines.
            DispatchQueue.global().async { self.help() }
        }
    }

    @inlinable
    deinit {
        slots.deinitialize(count: lines.count)
        slots.deallocate()
    }

    @inlinable var count: Int { lines.count }

    @inlinable
    func help() {
        while let index = claim() { decode(index) }
    }

    @inlinable
    func claim() -> Int? {
        condition.lock()
        defer { condition.unlock() }
        guard claimed < lines.count else { return nil }
        claimed += 1
        return claimed - 1
    }

    @inlinable
    func decode(_ index: Int) {
        let outcome = Outcome { try WatchStream<Object>.decodeEvent(lines[index], path: path) }
        condition.lock()
        slots[index] = outcome
        condition.broadcast()
        condition.unlock()
    }

    /// The event of line `index`, handed out once. While the helper is still decoding it, the
    /// reader decodes the next unclaimed line instead of waiting.
    @inlinable
    func take(_ index: Int) -> Outcome {
        while true {
            condition.lock()
            if let outcome = slots[index].take() {
                condition.unlock()
                return outcome
            }
            if claimed < lines.count {
                let next = claimed
                claimed += 1
                condition.unlock()
                decode(next)
                continue
            }
            condition.wait()
            condition.unlock()
        }
    }
}
