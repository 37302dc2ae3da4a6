import Foundation

/// HTTP over libcurl for the Kubernetes API, Prometheus, downloads and webhooks.
///
/// All clients share one engine (one curl multi handle on one thread), so connections and TLS
/// sessions are reused process-wide.
public struct HTTPClient: Sendable {
    public static let shared = HTTPClient()

    private let engine: CurlEngine

    private init() { engine = CurlEngine.shared }

    /// Sends a request and collects the whole response body.
    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let engine = self.engine
        let box = TransferBox()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<HTTPResponse, any Error>) in
                do {
                    let transfer = try Transfer(
                        request: request, sink: .buffered(cont, maxBytes: request.maxResponseBytes))
                    box.set(transfer)
                    engine.submit(.add(transfer))
                    if Task.isCancelled { engine.submit(.cancel(transfer, CancellationError())) }
                } catch {
                    cont.resume(throwing: error)
                }
            }
        } onCancel: {
            if let transfer = box.get() { engine.submit(.cancel(transfer, CancellationError())) }
        }
    }

    /// Starts a request and returns once the response head arrived; the body is read as a stream.
    /// Never give streams a total timeout: use `timeouts.idle` to notice dead connections.
    public func stream(_ request: HTTPRequest, bufferLimit: Int = 4 << 20) async throws -> HTTPStreamResponse {
        let state = StreamState(highWater: bufferLimit)
        let transfer = try Transfer(request: request, sink: .streaming(state))
        let handle = StreamHandle(engine: engine, transfer: transfer, state: state)
        engine.submit(.add(transfer))
        let head = try await withTaskCancellationHandler {
            try await state.head()
        } onCancel: {
            handle.cancel()
        }
        return HTTPStreamResponse(status: head.status, headers: head.headers, body: HTTPBody(handle: handle))
    }
}

/// Holds the transfer for the cancellation handler, which may run before or after it exists.
private final class TransferBox: Sendable {
    private let transfer = Mutex<Transfer?>(nil)
    func set(_ t: Transfer) { transfer.withLock { $0 = t } }
    func get() -> Transfer? { transfer.withLock { $0 } }
}

import Synchronization

/// Cancels the transfer when the reader goes away without reading to the end.
final class StreamHandle: Sendable {
    let engine: CurlEngine
    let transfer: Transfer
    let state: StreamState

    init(engine: CurlEngine, transfer: Transfer, state: StreamState) {
        self.engine = engine
        self.transfer = transfer
        self.state = state
    }

    func cancel() { engine.submit(.cancel(transfer, CancellationError())) }

    func next() async throws -> Data? {
        try await withTaskCancellationHandler {
            try await state.next(wantsUnpause: { [engine, transfer] in engine.submit(.unpause(transfer)) })
        } onCancel: {
            cancel()
        }
    }

    func poll() -> Data? {
        state.poll(wantsUnpause: { [engine, transfer] in engine.submit(.unpause(transfer)) })
    }

    deinit { engine.submit(.cancel(transfer, CancellationError())) }
}

public struct HTTPStreamResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: HTTPBody

    /// Reads the rest of the body into memory (for error answers to a streaming request).
    public func collect(limit: Int = 1 << 20) async throws -> Data {
        var data = Data()
        for try await chunk in body {
            data.append(chunk)
            if data.count > limit { break }
        }
        return data
    }
}

/// The body of a streamed response, chunk by chunk as it arrives. Reading applies backpressure:
/// the transfer pauses while unread data exceeds the buffer limit.
public struct HTTPBody: AsyncSequence, Sendable {
    public typealias Element = Data
    let handle: StreamHandle

    public struct AsyncIterator: AsyncIteratorProtocol {
        let handle: StreamHandle
        public mutating func next() async throws -> Data? { try await handle.next() }

        /// A chunk that already arrived, without waiting.
        mutating func poll() -> Data? { handle.poll() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(handle: handle) }

    /// The body split into newline-terminated lines (without the newline); empty lines are skipped.
    public var lines: HTTPLines { HTTPLines(body: self) }
}

public struct HTTPLines: AsyncSequence, Sendable {
    public typealias Element = Data
    let body: HTTPBody

    public struct AsyncIterator: AsyncIteratorProtocol {
        var chunks: HTTPBody.AsyncIterator
        /// Unconsumed bytes are `buffer[start...]`; `scanned` bytes past `start` hold no newline.
        var buffer: [UInt8] = []
        var start = 0
        var scanned = 0
        var finished = false

        public mutating func next() async throws -> Data? {
            while true {
                if let line = takeLine() {
                    if line.isEmpty || (line.count == 1 && line.first == UInt8(ascii: "\r")) { continue }
                    return line
                }
                if finished {
                    guard start < buffer.count else { return nil }
                    defer { buffer.removeAll(); start = 0; scanned = 0 }
                    return Data(buffer[start...])
                }
                if let chunk = try await chunks.next() {
                    if start > 0 {
                        buffer.removeFirst(start)
                        start = 0
                    }
                    buffer.append(contentsOf: chunk)
                } else {
                    finished = true
                }
            }
        }

        /// The next line and every further line that has already arrived (at most `limit`), so
        /// that a reader can work on several at once. Empty only at the end of the stream. The
        /// lines share one copy of their bytes.
        public mutating func nextBatch(limit: Int) async throws -> HTTPLineBatch {
            var ranges: [Range<Int>] = []
            // The previous batch copied its lines out: drop them (before this batch's ranges
            // exist) once they are half the buffer, so each byte is moved at most once.
            if start > 0, start >= buffer.count / 2 {
                buffer.removeFirst(start)
                start = 0
            }
            while ranges.isEmpty {
                collectLines(into: &ranges, limit: limit)
                if !ranges.isEmpty { break }
                if finished {
                    // The last line may lack its newline.
                    if start < buffer.count { ranges.append(start..<buffer.count) }
                    start = buffer.count
                    scanned = 0
                    break
                }
                if let chunk = try await chunks.next() {
                    if start > 0 {
                        buffer.removeFirst(start)
                        start = 0
                    }
                    buffer.append(contentsOf: chunk)
                } else {
                    finished = true
                }
            }
            // Appending keeps the ranges valid: the buffer is compacted only before the next batch.
            while ranges.count < limit, let chunk = chunks.poll() {
                buffer.append(contentsOf: chunk)
                collectLines(into: &ranges, limit: limit)
            }
            guard let first = ranges.first?.lowerBound, let last = ranges.last?.upperBound else {
                return HTTPLineBatch(bytes: Data(), ranges: [])
            }
            let bytes = Data(buffer[first..<last])
            return HTTPLineBatch(bytes: bytes, ranges: ranges.map { ($0.lowerBound - first)..<($0.upperBound - first) })
        }

        /// Appends the ranges of complete, non-blank lines after `start` (without their newline).
        private mutating func collectLines(into ranges: inout [Range<Int>], limit: Int) {
            while ranges.count < limit, let line = takeLineRange() {
                let blank = line.isEmpty || (line.count == 1 && buffer[line.lowerBound] == UInt8(ascii: "\r"))
                if !blank { ranges.append(line) }
            }
        }

        private mutating func takeLineRange() -> Range<Int>? {
            let from = start + scanned
            guard from < buffer.count else { return nil }
            let newline: Int? = buffer.withUnsafeBufferPointer { bytes in
                guard let base = bytes.baseAddress,
                      let hit = memchr(base + from, Int32(UInt8(ascii: "\n")), bytes.count - from) else { return nil }
                return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            }
            guard let newline else {
                scanned = buffer.count - start
                return nil
            }
            defer {
                start = newline + 1
                scanned = 0
            }
            return start..<newline
        }

        private mutating func takeLine() -> Data? {
            takeLineRange().map { Data(buffer[$0]) }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(chunks: body.makeAsyncIterator()) }
}

/// Lines that arrived together: one buffer, and where each line lies in it.
public struct HTTPLineBatch: Sendable {
    public let bytes: Data
    public let ranges: [Range<Int>]

    public var count: Int { ranges.count }
    public var isEmpty: Bool { ranges.isEmpty }

    /// Line `index` (without its newline), sharing the batch's storage.
    public subscript(index: Int) -> Data { bytes[ranges[index]] }
}
