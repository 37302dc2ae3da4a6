import Dispatch
import Foundation

/// HTTP readiness probes. Deliberately not URLSession: cancelling a task that waits in
/// FoundationNetworking's `data(for:)` deadlocked the two-thread cooperative pool (its cancel
/// handler does a `DispatchQueue.sync` against a queue that needs the task's status lock). The
/// probe is one blocking GET on loopback, run on a Dispatch thread with socket timeouts.
enum HTTPProbe {
    /// True for a 2xx or 3xx answer to `GET path` on 127.0.0.1:port within `timeout` seconds.
    static func check(port: Int, path: String, timeout: Double) async -> Bool {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: blockingCheck(port: port, path: path, timeout: timeout))
            }
        }
    }

    static func blockingCheck(port: Int, path: String, timeout: Double) -> Bool {
        guard (1...65535).contains(port) else { return false }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        // Loopback connects succeed or are refused at once; SO_SNDTIMEO bounds the rest.
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return false }
        let request = "GET \(path.hasPrefix("/") ? path : "/" + path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n"
            + "User-Agent: sextant-local-node\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else {
            return false
        }
        var head: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        while head.count < 12 {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            head += buffer[0..<n]
        }
        // "HTTP/1.1 200 OK"
        let line = String(decoding: head.prefix(64), as: UTF8.self)
        let parts = line.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let code = Int(parts[1]) else { return false }
        return (200..<400).contains(code)
    }
}
