import CCurl
import Foundation

/// One request on the engine: the easy handle, its options and where its response goes.
/// After `submit(.add)` it is touched only by the engine thread.
final class Transfer: @unchecked Sendable {
    enum Sink {
        case buffered(CheckedContinuation<HTTPResponse, any Error>, maxBytes: Int?)
        case streaming(StreamState)
    }

    let easy: UnsafeMutableRawPointer
    let url: String
    private let sink: Sink
    private var slists: [UnsafeMutablePointer<curl_slist>] = []
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
    private var status = 0
    private var headers = HTTPHeaders()
    private var headDone = false
    private var body = Data()
    private var tooLarge = false
    private var completed = false
    private var retainedByCurl = false
    var cancelledBeforeStart: (any Error)?

    init(request: HTTPRequest, sink: Sink) throws {
        guard let handle = curl_easy_init() else {
            throw TransportError(kind: .other, message: "curl_easy_init failed", url: request.url)
        }
        easy = handle
        url = request.url
        self.sink = sink
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        do {
            try configure(request)
        } catch {
            release()
            throw error
        }
    }

    private(set) var isReleased = false

    /// Frees the handle once, after the engine detached it (or it never attached).
    func release() {
        guard !isReleased else { return }
        isReleased = true
        curl_easy_cleanup(easy)
        for list in slists { curl_slist_free_all(list) }
        slists.removeAll()
        errorBuffer.deallocate()
        if retainedByCurl {
            retainedByCurl = false
            Unmanaged.passUnretained(self).release()
        }
    }

    // MARK: Options

    private func check(_ code: CURLcode, _ what: String) throws {
        guard code == CURLE_OK else {
            throw TransportError(kind: .invalidRequest,
                                 message: "cannot set \(what): \(String(cString: curl_easy_strerror(code)))", url: url)
        }
    }

    private func slist(_ lines: [String]) -> UnsafeMutablePointer<curl_slist>? {
        var list: UnsafeMutablePointer<curl_slist>? = nil
        for line in lines { list = curl_slist_append(list, line) }
        if let list { slists.append(list) }
        return list
    }

    private func configure(_ request: HTTPRequest) throws {
        var target = request.url
        var headerLines = request.headers.map { "\($0.name): \($0.value)" }
        headerLines.append("Expect:")  // no 100-continue round trip

        if let serverName = request.tls.serverName, !serverName.isEmpty {
            // Verify against serverName while connecting to the URL's host: libcurl has no separate
            // SNI setting, so the URL carries serverName and CONNECT_TO routes it to the real host.
            guard var components = URLComponents(string: request.url), let host = components.host else {
                throw TransportError(kind: .invalidRequest, message: "URL has no host", url: request.url)
            }
            let port = components.port ?? (components.scheme == "http" ? 80 : 443)
            components.host = serverName
            components.port = port
            guard let rewritten = components.string else {
                throw TransportError(kind: .invalidRequest, message: "invalid server name \(serverName)", url: url)
            }
            target = rewritten
            try check(sx_setopt_slist(easy, CURLOPT_CONNECT_TO, slist(["\(serverName):\(port):\(host):\(port)"])),
                      "connect-to")
            if !request.headers.contains(where: { $0.name.lowercased() == "host" }) {
                headerLines.append("Host: \(host):\(port)")
            }
        }

        try check(sx_setopt_str(easy, CURLOPT_URL, target), "URL")
        try check(sx_setopt_ptr(easy, CURLOPT_ERRORBUFFER, errorBuffer), "error buffer")
        if case .streaming = sink {
            // Watches can carry tens of MB/s: 16 KiB reads (the default) mean one wake-up and one
            // delivery per 16 events. Only the pages a read fills are touched, so a quiet stream
            // costs little memory.
            try check(sx_setopt_long(easy, CURLOPT_BUFFERSIZE, 256 * 1024), "buffer size")
        }
        try check(sx_setopt_long(easy, CURLOPT_NOSIGNAL, 1), "nosignal")
        try check(sx_setopt_long(easy, CURLOPT_TCP_KEEPALIVE, 1), "keepalive")
        try check(sx_setopt_long(easy, CURLOPT_HTTP_VERSION, sx_http_version_2tls()), "HTTP version")
        try check(sx_setopt_str(easy, CURLOPT_ACCEPT_ENCODING, ""), "accept-encoding")
        try check(sx_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, request.timeouts.connect.milliseconds),
                  "connect timeout")
        if let idle = request.timeouts.idle {
            try check(sx_setopt_long(easy, CURLOPT_LOW_SPEED_LIMIT, request.timeouts.lowSpeedBytes), "low speed")
            try check(sx_setopt_long(easy, CURLOPT_LOW_SPEED_TIME, max(1, idle.milliseconds / 1000)), "low speed")
        }
        if let total = request.timeouts.total {
            try check(sx_setopt_long(easy, CURLOPT_TIMEOUT_MS, total.milliseconds), "timeout")
        }
        if let proxy = request.proxy {
            try check(sx_setopt_str(easy, CURLOPT_PROXY, proxy), "proxy")
        }

        try configureMethod(request)
        try configureTLS(request.tls)

        if let sig = request.awsSigV4 {
            try check(sx_setopt_str(easy, CURLOPT_AWS_SIGV4, "aws:amz:\(sig.region):\(sig.service)"), "AWS SigV4")
            try check(sx_setopt_str(easy, CURLOPT_USERNAME, sig.accessKeyID), "AWS access key")
            try check(sx_setopt_str(easy, CURLOPT_PASSWORD, sig.secretAccessKey), "AWS secret key")
            if let token = sig.sessionToken { headerLines.append("x-amz-security-token: \(token)") }
            if !request.headers.contains(where: { $0.name.lowercased() == "x-amz-content-sha256" }) {
                headerLines.append("x-amz-content-sha256: UNSIGNED-PAYLOAD")
            }
        } else if let basic = request.basicAuth {
            try check(sx_setopt_str(easy, CURLOPT_USERNAME, basic.user), "username")
            try check(sx_setopt_str(easy, CURLOPT_PASSWORD, basic.password), "password")
        }

        try check(sx_setopt_slist(easy, CURLOPT_HTTPHEADER, slist(headerLines)), "headers")

        let me = Unmanaged.passRetained(self).toOpaque()  // balanced in release()
        retainedByCurl = true
        try check(sx_setopt_write(easy, transferWriteCallback), "write callback")
        try check(sx_setopt_ptr(easy, CURLOPT_WRITEDATA, me), "write data")
        try check(sx_setopt_header(easy, transferHeaderCallback), "header callback")
        try check(sx_setopt_ptr(easy, CURLOPT_HEADERDATA, me), "header data")
        try check(sx_setopt_ptr(easy, CURLOPT_PRIVATE, me), "private")
    }

    private func configureMethod(_ request: HTTPRequest) throws {
        let method = request.method.uppercased()
        guard !method.isEmpty, method.allSatisfy({ $0.isLetter }) else {
            throw TransportError(kind: .invalidRequest, message: "invalid HTTP method \(request.method)", url: url)
        }
        switch method {
        case "GET" where request.body == nil:
            try check(sx_setopt_long(easy, CURLOPT_HTTPGET, 1), "GET")
        case "HEAD":
            try check(sx_setopt_long(easy, CURLOPT_NOBODY, 1), "HEAD")
        default:
            let body = request.body ?? Data()
            try check(sx_setopt_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)), "body size")
            try body.withUnsafeBytes { raw in
                // COPYPOSTFIELDS copies the bytes, so the Data need not outlive this call.
                let base = raw.baseAddress ?? UnsafeRawPointer(("" as StaticString).utf8Start)
                try check(sx_setopt_ptr(easy, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: base)),
                          "body")
            }
            try check(sx_setopt_str(easy, CURLOPT_CUSTOMREQUEST, method), "method")
        }
    }

    private func configureTLS(_ tls: TLSOptions) throws {
        if tls.insecureSkipVerify {
            try check(sx_setopt_long(easy, CURLOPT_SSL_VERIFYPEER, 0), "verify peer")
            try check(sx_setopt_long(easy, CURLOPT_SSL_VERIFYHOST, 0), "verify host")
        }
        if let file = tls.caFile { try check(sx_setopt_str(easy, CURLOPT_CAINFO, file), "CA file") }
        if let data = tls.caData { try setBlob(CURLOPT_CAINFO_BLOB, data, "CA data") }
        if let file = tls.clientCertificateFile {
            try check(sx_setopt_str(easy, CURLOPT_SSLCERT, file), "client certificate file")
        }
        if let data = tls.clientCertificateData { try setBlob(CURLOPT_SSLCERT_BLOB, data, "client certificate data") }
        if let file = tls.clientKeyFile { try check(sx_setopt_str(easy, CURLOPT_SSLKEY, file), "client key file") }
        if let data = tls.clientKeyData { try setBlob(CURLOPT_SSLKEY_BLOB, data, "client key data") }
    }

    private func setBlob(_ option: CURLoption, _ data: Data, _ what: String) throws {
        var copy = data
        try copy.withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress else {
                throw TransportError(kind: .invalidRequest, message: "\(what) is empty", url: url)
            }
            try check(sx_setopt_blob(easy, option, base, raw.count), what)  // CURL_BLOB_COPY
        }
    }

    // MARK: Engine-thread callbacks

    fileprivate func receiveHeader(_ bytes: UnsafeRawBufferPointer) {
        let line = String(decoding: bytes, as: UTF8.self)
        if line.hasPrefix("HTTP/") {
            // A new status line (after 1xx or a redirect) starts a fresh header block.
            let parts = line.split(separator: " ", maxSplits: 2)
            status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            headers = HTTPHeaders()
            return
        }
        let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty {
            if status >= 200 { resolveHead() }
            return
        }
        if let colon = trimmed.firstIndex(of: ":") {
            let name = String(trimmed[..<colon])
            let value = trimmed[trimmed.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            headers.append(HTTPHeader(name, value))
        }
    }

    private func resolveHead() {
        guard !headDone else { return }
        headDone = true
        if case .streaming(let stream) = sink {
            stream.resolveHead(.success(StreamState.Head(status: status, headers: headers)))
        }
    }

    /// Returns the byte count taken, 0 to abort, or libcurl's pause code.
    fileprivate func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Int {
        resolveHead()
        switch sink {
        case .buffered(_, let maxBytes):
            if let maxBytes, body.count + bytes.count > maxBytes {
                tooLarge = true
                return 0
            }
            body.append(contentsOf: bytes)
            return bytes.count
        case .streaming(let stream):
            return stream.deliver(Data(bytes)) ? bytes.count : Int(sx_writefunc_pause())
        }
    }

    func complete(with result: Result<Void, any Error>) {
        guard !completed else { return }
        completed = true
        switch (sink, result) {
        case (.buffered(let cont, _), .success):
            var code = 0
            _ = sx_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &code)
            cont.resume(returning: HTTPResponse(status: status != 0 ? status : code, headers: headers, body: body))
        case (.buffered(let cont, _), .failure(let error)):
            cont.resume(throwing: error)
        case (.streaming(let stream), .success):
            resolveHead()
            stream.finish(.success(()))
        case (.streaming(let stream), .failure(let error)):
            stream.resolveHead(.failure(error))
            stream.finish(.failure(error))
        }
    }

    func error(for code: CURLcode) -> TransportError {
        let detail = String(cString: errorBuffer)
        let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
        let kind: TransportError.Kind
        switch code {
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            kind = .couldNotConnect
        case CURLE_OPERATION_TIMEDOUT:
            kind = .timedOut
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
             CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH,
             CURLE_SSL_CRL_BADFILE, CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_INVALIDCERTSTATUS:
            kind = .tls
        case CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_HTTP2,
             CURLE_HTTP2_STREAM:
            kind = .connectionDropped
        case CURLE_WRITE_ERROR where tooLarge:
            kind = .responseTooLarge
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL:
            kind = .invalidRequest
        default:
            kind = .other
        }
        return TransportError(kind: kind, message: message, url: url)
    }
}

private let transferWriteCallback: sx_data_cb = { ptr, size, count, userdata in
    guard let userdata else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    let length = size * count
    guard let ptr, length > 0 else { return length }
    return transfer.receiveBody(UnsafeRawBufferPointer(start: ptr, count: length))
}

private let transferHeaderCallback: sx_data_cb = { ptr, size, count, userdata in
    let length = size * count
    guard let userdata, let ptr else { return length }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    transfer.receiveHeader(UnsafeRawBufferPointer(start: ptr, count: length))
    return length
}

extension Duration {
    /// Whole milliseconds, for libcurl's and the Kubernetes API's integer settings.
    public var milliseconds: Int {
        let (seconds, attoseconds) = components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }
}
