import SextantJSON

/// `application/vnd.kubernetes.protobuf` bodies: the magic `k8s\0`, then a `runtime.Unknown`
/// (typeMeta {apiVersion, kind}, raw = the object's message, contentEncoding, contentType). The
/// handler works on JSON; request bodies are transcoded to JSON before routing and responses to
/// protobuf after it, by the descriptors of Kubernetes' generated.proto files.
enum KubeProtobuf {
    static let mediaType = "application/vnd.kubernetes.protobuf"
    static let magic: [UInt8] = [0x6B, 0x38, 0x73, 0x00]

    /// A request body as JSON, `apiVersion` and `kind` taken from the envelope.
    static func decode(_ body: [UInt8], schema: ProtoSchema = .kubernetes) throws(APIError) -> JSONValue {
        guard body.count >= magic.count, Array(body[0..<magic.count]) == magic else {
            throw APIError.badRequest("the protobuf body does not start with the Kubernetes magic number k8s\\x00 "
                                      + "(got \(body.prefix(4).map { String(format2: $0) }.joined(separator: " ")))")
        }
        do {
            var reader = WireReader(body, range: magic.count..<body.count)
            var apiVersion = "", kind = "", raw: Range<Int>?, contentEncoding = "", contentType = ""
            while !reader.atEnd {
                let (field, wire) = try reader.key()
                guard wire == .lengthDelimited else { try reader.skip(wire); continue }
                let range = try reader.lengthDelimited()
                switch field {
                case 1:
                    var typeMeta = WireReader(body, range: range)
                    while !typeMeta.atEnd {
                        let (f, w) = try typeMeta.key()
                        guard w == .lengthDelimited else { try typeMeta.skip(w); continue }
                        let text = try ProtoSpecialFields.utf8(body[try typeMeta.lengthDelimited()], "typeMeta")
                        if f == 1 { apiVersion = text } else if f == 2 { kind = text }
                    }
                case 2: raw = range
                case 3: contentEncoding = try ProtoSpecialFields.utf8(body[range], "contentEncoding")
                case 4: contentType = try ProtoSpecialFields.utf8(body[range], "contentType")
                default: break
                }
            }
            guard contentEncoding.isEmpty else {
                throw APIError(code: 415, reason: "UnsupportedMediaType", message: "runtime.Unknown contentEncoding \"\(contentEncoding)\" is not supported")
            }
            guard contentType.isEmpty || contentType == mediaType else {
                throw APIError(code: 415, reason: "UnsupportedMediaType", message: "runtime.Unknown contentType \"\(contentType)\" is not supported")
            }
            guard !kind.isEmpty else { throw APIError.badRequest("the protobuf envelope (runtime.Unknown) has no typeMeta.kind") }
            guard let message = schema.message(apiVersion: apiVersion, kind: kind) else {
                throw APIError.badRequest("no kind \"\(kind)\" is registered for version \"\(apiVersion)\" in the protobuf schema of the development API server")
            }
            var object = try ProtoToJSON(schema: schema).decode(body, range: raw ?? 0..<0, message: message)
            object["apiVersion"] = .string(apiVersion)
            object["kind"] = .string(kind)
            return object
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError.badRequest("the protobuf body is malformed: \(error)")
        }
    }

    /// An object (with `apiVersion` and `kind`) in the protobuf envelope; nil when its kind has
    /// no protobuf message (custom resources, discovery documents, Tables).
    static func encode(_ object: JSONValue, schema: ProtoSchema = .kubernetes) throws -> [UInt8]? {
        guard let apiVersion = object["apiVersion"]?.stringValue, let kind = object["kind"]?.stringValue,
              let message = schema.message(apiVersion: apiVersion, kind: kind) else { return nil }
        let raw = try JSONToProto(schema: schema).encode(object, message: message)
        var typeMeta = WireWriter()
        typeMeta.lengthDelimited(1, Array(apiVersion.utf8))
        typeMeta.lengthDelimited(2, Array(kind.utf8))
        var envelope = WireWriter()
        envelope.bytes = magic
        envelope.lengthDelimited(1, typeMeta.bytes)
        envelope.lengthDelimited(2, raw)
        envelope.lengthDelimited(3, [])
        envelope.lengthDelimited(4, [])
        return envelope.bytes
    }

    /// What `Accept` asks for, as kube-apiserver chooses: protobuf when a plain protobuf
    /// alternative comes before every JSON one. `fallback` is the Accept without protobuf
    /// alternatives, for the handler (nil when nothing but protobuf was acceptable).
    struct AcceptChoice {
        var protobuf: Bool
        var fallback: String?
    }

    static func choose(_ accept: String?) -> AcceptChoice {
        guard let accept else { return AcceptChoice(protobuf: false, fallback: nil) }
        var protobuf: Bool?
        var others: [Substring] = []
        for alternative in accept.split(separator: ",") {
            let parts = alternative.split(separator: ";").map { $0.trimmingSpaces.lowercased() }
            guard let media = parts.first else { continue }
            if media == mediaType {
                if protobuf == nil && !parts.contains(where: { $0.hasPrefix("as=") }) { protobuf = true }
                continue
            }
            if protobuf == nil && (media.contains("json") || media == "*/*" || media == "application/*") { protobuf = false }
            others.append(alternative)
        }
        let rest = others.joined(separator: ",")
        return AcceptChoice(protobuf: protobuf ?? false, fallback: rest.isEmpty ? nil : rest)
    }

    static func isProtobuf(_ contentType: String?) -> Bool {
        guard let media = contentType?.split(separator: ";").first else { return false }
        return media.trimmingSpaces.lowercased() == mediaType
    }
}

private extension String {
    init(format2 byte: UInt8) {
        let hex = String(byte, radix: 16)
        self = hex.count == 1 ? "0" + hex : hex
    }
}

/// The same envelope for programs outside this module (`bench-apiserver` sends protobuf bodies).
public enum KubernetesProtobuf {
    public static let mediaType = KubeProtobuf.mediaType

    /// An object with `apiVersion` and `kind` as `k8s\0` + `runtime.Unknown`; nil for kinds without a message.
    public static func encode(_ object: JSONValue) throws -> [UInt8]? { try KubeProtobuf.encode(object) }

    /// A protobuf body as JSON (`apiVersion` and `kind` from the envelope).
    public static func decode(_ body: [UInt8]) throws -> JSONValue { try KubeProtobuf.decode(body) }
}
