// bench-apiserver: load on the development API server over HTTP on loopback.
//
// Creates N ConfigMaps through C keep-alive connections, lists them, opens W watchers, then updates
// objects while every watcher receives every event: once as fast as the clients can send
// (throughput), once paced at --rate updates/s (latency below saturation). Prints creates/s,
// updates/s and the watch fan-out latency (from just before an update is sent to a watcher having
// parsed its event) p50/p99/max.
// Server and client share this process and the machine's cores; the numbers are end to end.
// `--tls on` (the default, as `sextant dev apiserver` serves) connects with OpenSSL's libssl,
// verifying the server against its generated CA; `--body protobuf` sends creates as
// `application/vnd.kubernetes.protobuf` and asks for protobuf answers and lists, as client-go
// does for built-in kinds (patches and watch streams are JSON either way, as with client-go).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import COpenSSL
import Foundation
import SextantDevServer
import SextantJSON
import Synchronization

struct Options {
    var objects = 10_000
    var watchers = 100
    var updates = 2_000
    var connections = 8
    /// Updates per second in the paced phase (latency below saturation); 0 skips it.
    var rate = 200
    var tls = true
    var protobuf = false

    init(_ arguments: [String]) {
        var i = 1
        while i + 1 < arguments.count {
            let text = arguments[i + 1]
            let value = Int(text) ?? 0
            switch arguments[i] {
            case "--objects": objects = value
            case "--watchers": watchers = value
            case "--updates": updates = value
            case "--connections": connections = max(1, value)
            case "--rate": rate = max(0, value)
            case "--tls": tls = text != "off" && text != "false"
            case "--body": protobuf = text == "protobuf"
            default:
                FileHandle.standardError.write(Data("unknown option \(arguments[i])\n".utf8))
                exit(2)
            }
            i += 2
        }
    }
}

/// The client side of TLS: one context for every connection, verifying the server's certificate
/// against the development CA.
final class ClientTLS: @unchecked Sendable {
    let context: OpaquePointer

    init(caFile: String) throws {
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw BenchError.connect("SSL_CTX_new") }
        guard SSL_CTX_load_verify_locations(context, caFile, nil) == 1 else { throw BenchError.connect("cannot load \(caFile)") }
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        self.context = context
    }
}

enum BenchError: Error { case connect(String), io(String), http(String) }

/// A minimal blocking HTTP/1.1 keep-alive client over a POSIX socket (benchmark only).
final class Connection {
    let fd: Int32
    /// The TLS session when the server serves HTTPS.
    var ssl: OpaquePointer?
    /// Received bytes; `start` is the first unread one (consumed bytes are dropped lazily).
    var buffer: [UInt8] = []
    var start = 0
    var scratch = [UInt8](repeating: 0, count: 1 << 16)

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError.connect("socket") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            close(fd)
            throw BenchError.connect("connect: errno \(errno)")
        }
        if let tls = clientTLS {
            guard let ssl = SSL_new(tls.context) else {
                close(fd)
                throw BenchError.connect("SSL_new")
            }
            self.ssl = ssl
            SSL_set_fd(ssl, fd)
            // SNI and host name verification, as kubectl checks the server's SAN 127.0.0.1.
            SSL_set1_host(ssl, "127.0.0.1")
            guard SSL_connect(ssl) == 1 else {
                let verify = SSL_get_verify_result(ssl)
                SSL_free(ssl)
                self.ssl = nil
                close(fd)
                throw BenchError.connect("TLS handshake failed (certificate verification result \(verify))")
            }
        }
    }

    deinit {
        if let ssl {
            SSL_shutdown(ssl)
            SSL_free(ssl)
        }
        close(fd)
    }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n: Int
            if let ssl {
                n = Int(bytes[offset...].withUnsafeBytes { SSL_write(ssl, $0.baseAddress, Int32($0.count)) })
            } else {
                n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            }
            guard n > 0 else { throw BenchError.io("write: errno \(errno)") }
            offset += n
        }
    }

    func fill() throws {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > 1 << 16 {
            buffer.removeFirst(start)
            start = 0
        }
        let n: Int
        if let ssl {
            n = Int(scratch.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32($0.count)) })
        } else {
            n = scratch.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        }
        guard n > 0 else { throw BenchError.io("connection closed") }
        buffer.append(contentsOf: scratch[0..<n])
    }

    /// Reads one line ending in CRLF.
    func line() throws -> String {
        while true {
            if let i = buffer[start...].firstIndex(of: 10) {
                let text = String(decoding: buffer[start..<i], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                start = i + 1
                return text
            }
            try fill()
        }
    }

    func bytes(_ count: Int) throws -> ArraySlice<UInt8> {
        while buffer.count - start < count { try fill() }
        let result = buffer[start..<(start + count)]
        start += count
        return result
    }

    /// Reads status line and headers; returns the status and the headers in lower case.
    func head() throws -> (Int, [String: String]) {
        let status = try line().split(separator: " ")
        guard status.count >= 2, let code = Int(status[1]) else { throw BenchError.http("bad status line") }
        var headers: [String: String] = [:]
        while true {
            let header = try line()
            if header.isEmpty { break }
            if let colon = header.firstIndex(of: ":") {
                headers[header[..<colon].lowercased()] = header[header.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return (code, headers)
    }

    func request(_ method: String, _ path: String, body: [UInt8] = [], contentType: String = "application/json",
                 accept: String = "application/json") throws -> (Int, [UInt8]) {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: \(accept)\r\n"
        if !body.isEmpty { text += "Content-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n" }
        text += "\r\n"
        try send(Array(text.utf8) + body)
        let (code, headers) = try head()
        if let length = headers["content-length"].flatMap(Int.init) { return (code, Array(try bytes(length))) }
        var result: [UInt8] = []
        while let chunk = try nextChunk() { result += chunk }
        return (code, result)
    }

    /// The next chunk of a chunked body; nil at the end.
    func nextChunk() throws -> ArraySlice<UInt8>? {
        guard let size = Int(try line(), radix: 16) else { throw BenchError.http("bad chunk size") }
        if size == 0 {
            _ = try line()
            return nil
        }
        let data = try bytes(size)
        _ = try line()
        return data
    }
}

func nanos() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

func percentile(_ sorted: [UInt64], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let index = min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)
    return Double(sorted[max(0, index)]) / 1e6
}

/// Runs `work(i)` for i in 0..<count on `threads` OS threads; returns elapsed seconds.
func parallel(_ count: Int, threads: Int, _ work: @escaping @Sendable (Connection, Int) throws -> Void, port: Int) throws -> Double {
    let next = Atomic<Int>(0)
    let failures = Mutex<[String]>([])
    let group = DispatchGroup()
    let start = nanos()
    for _ in 0..<threads {
        group.enter()
        Thread {
            defer { group.leave() }
            do {
                let connection = try Connection(port: port)
                while true {
                    let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    if i >= count { break }
                    try work(connection, i)
                }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }.start()
    }
    group.wait()
    let elapsed = Double(nanos() - start) / 1e9
    if let failure = failures.withLock({ $0.first }) { throw BenchError.io(failure) }
    return elapsed
}

let options = Options(CommandLine.arguments)
let tlsDirectory = options.tls ? NSTemporaryDirectory() + "bench-apiserver-tls-\(UUID().uuidString)" : nil
let server = try await DevServer.start(DevServerConfiguration(store: StoreConfiguration(historyLimit: 20_000, watchBufferLimit: 100_000),
                                                              tlsDirectory: tlsDirectory))
let clientTLS = try server.certificates.map { try ClientTLS(caFile: $0.caFile) }
let port = server.port
let base = "/api/v1/namespaces/default/configmaps"
/// What client-go sends for built-in kinds with protobuf on: protobuf first, JSON as the fallback.
let protobufAccept = KubernetesProtobuf.mediaType + ", application/json"
print("bench-apiserver: \(options.objects) objects, \(options.watchers) watchers, \(options.updates) updates, "
    + "\(options.connections) client connections, \(options.tls ? "HTTPS" : "HTTP"), \(options.protobuf ? "protobuf" : "JSON") bodies, "
    + "server on 127.0.0.1:\(port), \(ProcessInfo.processInfo.activeProcessorCount) cores")

// 1. Creates.
let createSeconds = try await Task.detached {
    try parallel(options.objects, threads: options.connections, { connection, i in
        let body: JSONValue = ["apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": ["name": .string("cm-\(i)"), "labels": ["bench": "yes", "shard": .string("s\(i % 10)")]],
                               "data": ["index": .string(String(i)), "payload": .string(String(repeating: "x", count: 200))]]
        let (code, response) = options.protobuf
            ? try connection.request("POST", base, body: KubernetesProtobuf.encode(body) ?? [], contentType: KubernetesProtobuf.mediaType,
                                     accept: protobufAccept)
            : try connection.request("POST", base, body: body.serialized())
        guard code == 201 else { throw BenchError.http("create \(i): \(code) \(String(decoding: response, as: UTF8.self))") }
    }, port: port)
}.value
print(String(format: "creates:  %6d in %6.2f s = %8.0f creates/s", options.objects, createSeconds, Double(options.objects) / createSeconds))

// 2. A full list of every object (what a reflector does at start-up).
let listSeconds = try await Task.detached { () throws -> Double in
    let connection = try Connection(port: port)
    let start = nanos()
    let (code, body) = try connection.request("GET", base, accept: options.protobuf ? protobufAccept : "application/json")
    guard code == 200 else { throw BenchError.http("list: \(code)") }
    let list = options.protobuf ? try KubernetesProtobuf.decode(body) : try JSONValue.parse(body)
    let count = list["items"]?.arrayValue?.count ?? 0
    guard count == options.objects else { throw BenchError.http("list returned \(count) items") }
    return Double(nanos() - start) / 1e9
}.value
print(String(format: "list:     %6d objects in %6.3f s", options.objects, listSeconds))

/// Opens the watchers, sends `updates` patches (as fast as possible, or paced at `rate` per
/// second), waits for every watcher to see every event and prints the numbers.
func updatePhase(label: String, updates: Int, rate: Int) async throws {
    let revision = await server.store.currentRevision()
    let latencies = Mutex<[UInt64]>([])
    let received = Atomic<Int>(0)
    let watchGroup = DispatchGroup()
    for w in 0..<options.watchers {
        watchGroup.enter()
        Thread {
            defer { watchGroup.leave() }
            do {
                let connection = try Connection(port: port)
                // client-go asks for protobuf first; the server streams watches as JSON.
                let accept = options.protobuf ? protobufAccept : "application/json"
                try connection.send(Array("GET \(base)?watch=true&resourceVersion=\(revision)&timeoutSeconds=600 HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: \(accept)\r\n\r\n".utf8))
                let (code, _) = try connection.head()
                guard code == 200 else { throw BenchError.http("watch \(w): \(code)") }
                var local: [UInt64] = []
                var pending: [UInt8] = []
                var consumed = 0
                var seen = 0
                while seen < updates, let chunk = try connection.nextChunk() {
                    pending.removeFirst(consumed)
                    consumed = 0
                    pending += chunk
                    while let newline = pending[consumed...].firstIndex(of: 10) {
                        let line = pending[consumed..<newline]
                        let now = nanos()
                        consumed = newline + 1
                        guard let event = try? JSONValue.parse(line), event["type"] == "MODIFIED",
                              let sent = event[path: ["object", "data", "sentAt"]]?.stringValue.flatMap(UInt64.init) else { continue }
                        local.append(now - sent)
                        seen += 1
                    }
                }
                received.add(seen, ordering: .relaxed)
                latencies.withLock { $0.append(contentsOf: local) }
            } catch {
                print("watcher \(w) failed: \(error)")
            }
        }.start()
    }
    // Wait until every watch is registered.
    while await server.store.watcherCount < options.watchers { try await Task.sleep(for: .milliseconds(20)) }

    let startNanos = nanos()
    let seconds = try await Task.detached {
        try parallel(updates, threads: options.connections, { connection, i in
            if rate > 0 {
                // Paced: update i leaves at start + i/rate.
                let due = startNanos + UInt64(i) * 1_000_000_000 / UInt64(rate)
                let now = nanos()
                if due > now { usleep(useconds_t((due - now) / 1000)) }
            }
            let patch: JSONValue = ["data": ["sentAt": .string(String(nanos())), "round": .string(String(i))]]
            let (code, response) = try connection.request("PATCH", "\(base)/cm-\(i % options.objects)", body: patch.serialized(),
                                                          contentType: "application/merge-patch+json")
            guard code == 200 else { throw BenchError.http("update \(i): \(code) \(String(decoding: response, as: UTF8.self))") }
        }, port: port)
    }.value
    let deadline = ContinuousClock.now + .seconds(120)
    while received.load(ordering: .relaxed) < updates * options.watchers, ContinuousClock.now < deadline {
        try await Task.sleep(for: .milliseconds(50))
    }
    await Task.detached { watchGroup.wait() }.value
    _ = await server.store.dropAllWatches()
    let sorted = latencies.withLock { $0.sorted() }
    print(String(format: "%@ %6d in %6.2f s = %8.0f updates/s, each to %d watchers; fan-out latency p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d of %d events delivered)",
                 label, updates, seconds, Double(updates) / seconds, options.watchers, percentile(sorted, 0.5),
                 percentile(sorted, 0.99), percentile(sorted, 1.0), sorted.count, updates * options.watchers))
}

// 3. Updates as fast as the clients can send them (throughput), then paced (latency below saturation).
try await updatePhase(label: "updates (max rate):", updates: options.updates, rate: 0)
if options.rate > 0 {
    try await updatePhase(label: "updates (\(options.rate)/s paced):", updates: min(options.updates, options.rate * 5), rate: options.rate)
}
await server.stop()
if let tlsDirectory { try? FileManager.default.removeItem(atPath: tlsDirectory) }
