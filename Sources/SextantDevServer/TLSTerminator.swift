import COpenSSL
import Foundation

/// Serves HTTPS in front of the plain-HTTP server with OpenSSL (libssl, which the system already
/// has), instead of swift-nio-ssl, whose BoringSSL build would add minutes to every clean build:
/// one thread per connection decrypts and forwards the bytes to the HTTP listener on loopback.
/// Watches are long-lived connections, so a thread each is fine for a development server.
final class TLSTerminator: Sendable {
    private let listener: Int32
    private let context: TLSContext
    let port: Int

    /// Binds `host:port` (0 picks a free port) and forwards every connection to `backendPort`.
    init(host: String, port: Int, certificateFile: String, keyFile: String, backendPort: Int) throws {
        context = try TLSContext(certificateFile: certificateFile, keyFile: keyFile)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw DevServerError("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let resolved = host == "localhost" ? "127.0.0.1" : host
        guard inet_pton(AF_INET, resolved, &address.sin_addr) == 1 else {
            close(fd)
            throw DevServerError("TLS: cannot listen on \(host): an IPv4 address is required")
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 128) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw DevServerError("cannot listen on \(host):\(port): \(message)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
        let context = self.context
        // Ends when `stop()` shuts the listening socket down (accept then fails).
        Thread.detachNewThread { [fd] in
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 {
                    if errno == EINTR || errno == ECONNABORTED { continue }
                    // The listener is closed here, not in `stop()`: closing it there while this
                    // thread is still in accept could hand its number to another socket first.
                    close(fd)
                    return
                }
                Thread.detachNewThread { Self.serve(client: client, context: context, backendPort: backendPort) }
            }
        }
    }

    /// Stops accepting; open connections end when the HTTP server closes them.
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
    }

    private static func serve(client: Int32, context: TLSContext, backendPort: Int) {
        defer { close(client) }
        guard let ssl = SSL_new(context.pointer) else { return }
        defer { SSL_free(ssl) }
        SSL_set_fd(ssl, client)
        guard SSL_accept(ssl) == 1 else { return }
        let backend = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard backend >= 0 else { return }
        defer { close(backend) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(backendPort).bigEndian)
        address.sin_addr.s_addr = in_addr_t(UInt32(0x7f00_0001).bigEndian)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(backend, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return }
        var one: Int32 = 1
        setsockopt(backend, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var fds = [pollfd(fd: client, events: Int16(POLLIN), revents: 0), pollfd(fd: backend, events: Int16(POLLIN), revents: 0)]
        while true {
            // Bytes OpenSSL already decrypted are not visible to poll.
            let pending = SSL_pending(ssl) > 0
            if !pending {
                fds[0].revents = 0
                fds[1].revents = 0
                guard poll(&fds, 2, -1) > 0 else {
                    if errno == EINTR { continue }
                    return
                }
            }
            if pending || fds[0].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32($0.count)) }
                if n <= 0 {
                    let error = SSL_get_error(ssl, n)
                    if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE { continue }
                    return
                }
                guard writeAll(backend, buffer, Int(n)) else { return }
            }
            if fds[1].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(backend, $0.baseAddress, $0.count) }
                if n <= 0 {
                    SSL_shutdown(ssl)
                    return
                }
                var offset = 0
                while offset < n {
                    let written = buffer.withUnsafeBytes { SSL_write(ssl, $0.baseAddress! + offset, Int32(n - offset)) }
                    guard written > 0 else { return }
                    offset += Int(written)
                }
            }
        }
    }

    private static func writeAll(_ fd: Int32, _ buffer: [UInt8], _ count: Int) -> Bool {
        var offset = 0
        while offset < count {
            let written = buffer.withUnsafeBytes { send(fd, $0.baseAddress! + offset, count - offset, Int32(MSG_NOSIGNAL)) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return false }
            offset += written
        }
        return true
    }
}

/// An OpenSSL server context with one certificate chain and key (TLS 1.2 and later).
final class TLSContext: @unchecked Sendable {
    // SSL_CTX is reference counted and safe to share between threads once configured.
    let pointer: OpaquePointer

    init(certificateFile: String, keyFile: String) throws {
        guard let context = SSL_CTX_new(TLS_server_method()) else { throw DevServerError("TLS: SSL_CTX_new failed") }
        pointer = context
        SSL_CTX_ctrl(context, SSL_CTRL_SET_MIN_PROTO_VERSION, Int(TLS1_2_VERSION), nil)
        guard SSL_CTX_use_certificate_chain_file(context, certificateFile) == 1 else {
            throw DevServerError("TLS: cannot load the certificate \(certificateFile): \(Self.lastError())")
        }
        guard SSL_CTX_use_PrivateKey_file(context, keyFile, SSL_FILETYPE_PEM) == 1,
              SSL_CTX_check_private_key(context) == 1 else {
            throw DevServerError("TLS: cannot load the key \(keyFile): \(Self.lastError())")
        }
    }

    deinit { SSL_CTX_free(pointer) }

    static func lastError() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(ERR_get_error(), &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
