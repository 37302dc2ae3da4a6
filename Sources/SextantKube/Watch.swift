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

/// Newline-delimited watch events decoded one at a time as the reader asks for them, so a slow
/// reader slows the connection instead of filling memory.
public struct WatchStream<Object: Decodable & Sendable>: AsyncSequence, Sendable {
    public typealias Element = WatchChange<Object>
    let lines: HTTPLines
    let path: String

    public struct AsyncIterator: AsyncIteratorProtocol {
        var lines: HTTPLines.AsyncIterator
        let path: String
        /// Events decoded ahead: lines that had already arrived are decoded together, on both
        /// cores when there are enough of them, and handed out in order.
        var decoded: [Result<WatchChange<Object>, any Error>] = []
        var position = 0

        public mutating func next() async throws -> WatchChange<Object>? {
            if position == decoded.count {
                let batch = try await lines.nextBatch(limit: 256)
                if batch.isEmpty { return nil }
                decoded = WatchStream.decode(batch, path: path)
                position = 0
            }
            defer { position += 1 }
            return try decoded[position].get()
        }
    }

    /// Decodes lines in order; batches large enough to pay for it are split across two threads.
    static func decode(_ lines: [Data], path: String) -> [Result<WatchChange<Object>, any Error>] {
        let decodeOne: @Sendable (Data) -> Result<WatchChange<Object>, any Error> = { line in
            Result { try decodeEvent(line, path: path) }
        }
        guard lines.count >= 16 else { return lines.map(decodeOne) }
        let half = lines.count / 2
        let parts = DecodedHalves(Array(repeating: [Result<WatchChange<Object>, any Error>](), count: 2))
        DispatchQueue.concurrentPerform(iterations: 2) { part in
            let range = part == 0 ? 0..<half : half..<lines.count
            parts.write(part, range.map { decodeOne(lines[$0]) })
        }
        return parts.value[0] + parts.value[1]
    }

    static func decodeEvent(_ line: Data, path: String) throws -> WatchChange<Object> {
        if Object.self == DynamicObject.self { return try dynamicChange(line, path: path) }
        let event: RawWatchEvent<Object>
        do {
            // Straight from the bytes: no JSONValue tree, keys compared as bytes.
            event = try JSONBytesDecoder().decode(RawWatchEvent<Object>.self, from: line)
        } catch {
            throw KubeConfigError("watch \(path): undecodable event: \(describe(error))")
        }
        switch event.change {
        case .change(let change): return change
        case .error(let status):
            throw KubeError(code: status.code ?? 500, status: status, verb: "WATCH", path: path)
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(lines: lines.makeAsyncIterator(), path: path) }
}

/// The two halves of a batch, each written by its own thread and read after both finished.
private final class DecodedHalves<Value>: @unchecked Sendable {
    var value: [Value]
    private let lock = NSLock()
    init(_ value: [Value]) { self.value = value }
    func write(_ index: Int, _ item: Value) {
        lock.lock()
        value[index] = item
        lock.unlock()
    }
}

extension WatchStream {
    /// Dynamic objects skip Codable: the byte parser builds the JSON tree directly.
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

/// Decodes an event in one pass: the `type` decides whether `object` is the resource, a bookmark
/// (metadata only) or a `Status`.
struct RawWatchEvent<Object: Decodable & Sendable>: Decodable {
    enum Outcome {
        case change(WatchChange<Object>)
        case error(Status)
    }

    var change: Outcome

    enum CodingKeys: String, CodingKey { case type, object }

    private struct BookmarkObject: Decodable {
        struct Meta: Decodable { var resourceVersion: String? }
        var metadata: Meta?
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let type = try c.decode(String.self, forKey: .type)
        switch type {
        case "ADDED": change = .change(.added(try c.decode(Object.self, forKey: .object)))
        case "MODIFIED": change = .change(.modified(try c.decode(Object.self, forKey: .object)))
        case "DELETED": change = .change(.deleted(try c.decode(Object.self, forKey: .object)))
        case "BOOKMARK":
            let object = try c.decode(BookmarkObject.self, forKey: .object)
            change = .change(.bookmark(resourceVersion: object.metadata?.resourceVersion ?? ""))
        case "ERROR":
            change = .error(try c.decode(Status.self, forKey: .object))
        default:
            throw DecodingError.dataCorruptedError(forKey: .type, in: c, debugDescription: "unknown event type \(type)")
        }
    }
}
