import Foundation
import SextantJSON

/// The apimachinery types whose JSON form is not their message's fields (each has a custom
/// MarshalJSON in Go): `Time`, `MicroTime`, `Duration`, `IntOrString`, `Quantity`,
/// `RawExtension`, `FieldsV1`, and the `[]string` types wrapped in an `items` message (`Verbs`,
/// `ExtraValue`, `AttestationValue`).
enum ProtoSpecialFields {
    static let meta = "k8s.io.apimachinery.pkg.apis.meta.v1."
    static let time = meta + "Time"
    static let microTime = meta + "MicroTime"
    static let duration = meta + "Duration"
    static let fieldsV1 = meta + "FieldsV1"
    static let verbs = meta + "Verbs"
    static let intOrString = "k8s.io.apimachinery.pkg.util.intstr.IntOrString"
    static let quantity = "k8s.io.apimachinery.pkg.api.resource.Quantity"
    static let rawExtension = "k8s.io.apimachinery.pkg.runtime.RawExtension"
    static let stringLists: Set<String> = [verbs, "k8s.io.api.authentication.v1.ExtraValue",
                                           "k8s.io.api.authentication.v1.AttestationValue", "k8s.io.api.authorization.v1.ExtraValue"]

    /// Pointer fields (`*int32`, `*bool`) whose zero is a value, not "unset": kept when decoding.
    /// Non-pointer zero scalars are left out, as Go's JSON encoder leaves out zero `omitempty` fields.
    static let meaningfulZero: Set<String> = [
        "k8s.io.api.apps.v1.DeploymentSpec.replicas", "k8s.io.api.apps.v1.ReplicaSetSpec.replicas",
        "k8s.io.api.apps.v1.StatefulSetSpec.replicas", "k8s.io.api.core.v1.ReplicationControllerSpec.replicas",
        "k8s.io.api.apps.v1.DeploymentSpec.revisionHistoryLimit", "k8s.io.api.apps.v1.DeploymentSpec.progressDeadlineSeconds",
        "k8s.io.api.batch.v1.JobSpec.parallelism", "k8s.io.api.batch.v1.JobSpec.completions",
        "k8s.io.api.batch.v1.JobSpec.backoffLimit", "k8s.io.api.batch.v1.JobSpec.suspend",
        "k8s.io.api.batch.v1.JobSpec.ttlSecondsAfterFinished", "k8s.io.api.batch.v1.CronJobSpec.suspend",
        "k8s.io.api.core.v1.PodSpec.terminationGracePeriodSeconds", "k8s.io.api.core.v1.PodSpec.automountServiceAccountToken",
        "k8s.io.api.core.v1.ServiceAccount.automountServiceAccountToken",
        "k8s.io.api.core.v1.PodSecurityContext.runAsUser", "k8s.io.api.core.v1.PodSecurityContext.runAsGroup",
        "k8s.io.api.core.v1.PodSecurityContext.runAsNonRoot", "k8s.io.api.core.v1.SecurityContext.runAsUser",
        "k8s.io.api.core.v1.SecurityContext.runAsGroup", "k8s.io.api.core.v1.SecurityContext.runAsNonRoot",
        "k8s.io.api.core.v1.SecurityContext.privileged", "k8s.io.api.core.v1.SecurityContext.allowPrivilegeEscalation",
        "k8s.io.api.core.v1.SecurityContext.readOnlyRootFilesystem", "k8s.io.api.core.v1.ConfigMap.immutable",
        "k8s.io.api.core.v1.Secret.immutable", "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions.gracePeriodSeconds",
        "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta.deletionGracePeriodSeconds",
        "k8s.io.apimachinery.pkg.apis.meta.v1.OwnerReference.controller",
        "k8s.io.apimachinery.pkg.apis.meta.v1.OwnerReference.blockOwnerDeletion",
    ]

    // MARK: Decoding

    /// The JSON of a special message, or nil for an ordinary one.
    static func decode(_ fullName: String, _ bytes: [UInt8], range: Range<Int>, path: String) throws -> JSONValue? {
        switch fullName {
        case time, microTime:
            if range.isEmpty { return .null }  // Go's zero Time marshals to nothing and reads back as zero
            let fields = try scalars(bytes, range)
            let seconds = Int64(bitPattern: fields[1] ?? 0), nanos = Int64(Int32(truncatingIfNeeded: fields[2] ?? 0))
            return .string(formatTime(seconds: seconds, nanos: nanos, micro: fullName == microTime))
        case duration:
            return .string(formatDuration(nanoseconds: Int64(bitPattern: try scalars(bytes, range)[1] ?? 0)))
        case intOrString:
            var reader = WireReader(bytes, range: range)
            var type: UInt64 = 0, intValue: Int64 = 0, text = ""
            while !reader.atEnd {
                let (field, wire) = try reader.key()
                switch (field, wire) {
                case (1, .varint): type = try reader.varint()
                case (2, .varint): intValue = Int64(Int32(truncatingIfNeeded: try reader.varint()))
                case (3, .lengthDelimited): text = try utf8(reader.bytes[try reader.lengthDelimited()], path)
                default: try reader.skip(wire)
                }
            }
            return type == 1 ? .string(text) : .int(intValue)
        case quantity:
            return .string(try lengthDelimitedField(1, bytes, range, path).map { try utf8($0, path) } ?? "0")
        case rawExtension, fieldsV1:
            guard let raw = try lengthDelimitedField(1, bytes, range, path), !raw.isEmpty else { return .null }
            do { return try JSONValue.parse(Array(raw)) } catch {
                throw ProtoWireError(description: "\(path): the embedded object is not JSON: \(error)")
            }
        case _ where stringLists.contains(fullName):
            var reader = WireReader(bytes, range: range)
            var items: [JSONValue] = []
            while !reader.atEnd {
                let (field, wire) = try reader.key()
                if field == 1 && wire == .lengthDelimited { items.append(.string(try utf8(reader.bytes[try reader.lengthDelimited()], path))) } else { try reader.skip(wire) }
            }
            return .array(items)
        default:
            return nil
        }
    }

    static func scalars(_ bytes: [UInt8], _ range: Range<Int>) throws -> [Int: UInt64] {
        var reader = WireReader(bytes, range: range)
        var result: [Int: UInt64] = [:]
        while !reader.atEnd {
            let (field, wire) = try reader.key()
            if wire == .varint { result[field] = try reader.varint() } else { try reader.skip(wire) }
        }
        return result
    }

    static func lengthDelimitedField(_ number: Int, _ bytes: [UInt8], _ range: Range<Int>, _ path: String) throws -> ArraySlice<UInt8>? {
        var reader = WireReader(bytes, range: range)
        var result: ArraySlice<UInt8>?
        while !reader.atEnd {
            let (field, wire) = try reader.key()
            if field == number && wire == .lengthDelimited { result = bytes[try reader.lengthDelimited()] } else { try reader.skip(wire) }
        }
        return result
    }

    static func utf8(_ bytes: ArraySlice<UInt8>, _ path: String) throws -> String {
        guard let text = String(bytes: bytes, encoding: .utf8) else { throw ProtoWireError(description: "\(path): string is not valid UTF-8") }
        return text
    }

    // MARK: Encoding

    /// The message bytes of a special type from its JSON, or nil for an ordinary message.
    static func encode(_ fullName: String, _ value: JSONValue, path: String) throws -> [UInt8]? {
        var writer = WireWriter()
        switch fullName {
        case time, microTime:
            guard let text = value.stringValue else { throw ProtoWireError(description: "\(path): a time must be an RFC 3339 string, got \(value.typeName)") }
            guard let (seconds, nanos) = parseTime(text) else { throw ProtoWireError(description: "\(path): \"\(text)\" is not an RFC 3339 time") }
            writer.key(1, .varint); writer.varint(UInt64(bitPattern: seconds))
            writer.key(2, .varint); writer.varint(UInt64(bitPattern: Int64(nanos)))
        case duration:
            guard let text = value.stringValue, let ns = parseDuration(text) else { throw ProtoWireError(description: "\(path): not a duration: \(value)") }
            writer.key(1, .varint); writer.varint(UInt64(bitPattern: ns))
        case intOrString:
            switch value {
            case .int(let i):
                writer.key(1, .varint); writer.varint(0)
                writer.key(2, .varint); writer.varint(UInt64(bitPattern: Int64(Int32(clamping: i))))
                writer.lengthDelimited(3, [])
            case .string(let s):
                writer.key(1, .varint); writer.varint(1)
                writer.key(2, .varint); writer.varint(0)
                writer.lengthDelimited(3, Array(s.utf8))
            default: throw ProtoWireError(description: "\(path): must be an integer or a string, got \(value.typeName)")
            }
        case quantity:
            let text: String
            switch value {
            case .string(let s): text = s
            case .int(let i): text = String(i)
            case .double(let d): text = String(d)
            default: throw ProtoWireError(description: "\(path): a quantity must be a string or number, got \(value.typeName)")
            }
            writer.lengthDelimited(1, Array(text.utf8))
        case rawExtension, fieldsV1:
            writer.lengthDelimited(1, value.serialized(sortedKeys: false))
        case _ where stringLists.contains(fullName):
            for item in value.arrayValue ?? [] { writer.lengthDelimited(1, Array((item.stringValue ?? "").utf8)) }
        default:
            return nil
        }
        return writer.bytes
    }

    // MARK: Time and duration text

    static func formatTime(seconds: Int64, nanos: Int64, micro: Bool) -> String {
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        var text = String(format: "%04d-%02d-%02dT%02d:%02d:%02d", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                          Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
        if micro { text += String(format: ".%06d", Int(nanos / 1000)) }
        return text + "Z"
    }

    /// `2026-12-06T05:00:00Z`, `...T05:00:00.123456Z`, `...T07:00:00+02:00`.
    static func parseTime(_ text: String) -> (Int64, Int32)? {
        let chars = Array(text.utf8)
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= chars.count else { return nil }
            var n = 0
            for c in chars[from..<(from + count)] {
                guard c >= 48 && c <= 57 else { return nil }
                n = n * 10 + Int(c - 48)
            }
            return n
        }
        guard chars.count >= 20, let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2) else { return nil }
        var index = 19, nanos = 0
        if index < chars.count, chars[index] == UInt8(ascii: ".") {
            index += 1
            var digits = 0
            while index < chars.count, chars[index] >= 48, chars[index] <= 57 {
                if digits < 9 { nanos = nanos * 10 + Int(chars[index] - 48); digits += 1 }
                index += 1
            }
            for _ in digits..<9 { nanos *= 10 }
        }
        guard index < chars.count else { return nil }
        var offset = 0
        if chars[index] == UInt8(ascii: "Z") || chars[index] == UInt8(ascii: "z") {
            guard index + 1 == chars.count else { return nil }
        } else {
            guard index + 6 == chars.count, let h = number(index + 1, 2), let m = number(index + 4, 2) else { return nil }
            offset = (h * 3600 + m * 60) * (chars[index] == UInt8(ascii: "-") ? -1 : 1)
        }
        var parts = tm()
        parts.tm_year = Int32(year - 1900); parts.tm_mon = Int32(month - 1); parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour); parts.tm_min = Int32(minute); parts.tm_sec = Int32(second)
        return (Int64(timegm(&parts)) - Int64(offset), Int32(nanos))
    }

    /// Go's `time.Duration.String()` for whole units: `1h2m3s`, `1.5s`, `300ms`, `0s`.
    static func formatDuration(nanoseconds: Int64) -> String {
        if nanoseconds == 0 { return "0s" }
        let sign = nanoseconds < 0 ? "-" : ""
        let ns = nanoseconds.magnitude
        if ns < 1_000_000_000 {
            if ns % 1_000_000 == 0 { return sign + "\(ns / 1_000_000)ms" }
            if ns % 1000 == 0 { return sign + "\(ns / 1000)µs" }
            return sign + "\(ns)ns"
        }
        let hours = ns / 3_600_000_000_000, minutes = ns / 60_000_000_000 % 60
        let seconds = Double(ns % 60_000_000_000) / 1e9
        var text = sign
        if hours > 0 { text += "\(hours)h" }
        if hours > 0 || minutes > 0 { text += "\(minutes)m" }
        let secondsText = seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
        return text + secondsText + "s"
    }

    static func parseDuration(_ text: String) -> Int64? {
        let units: [(String, Double)] = [("h", 3.6e12), ("ms", 1e6), ("µs", 1e3), ("us", 1e3), ("ns", 1), ("m", 6e10), ("s", 1e9)]
        var rest = Substring(text), total = 0.0
        let negative = rest.hasPrefix("-")
        if negative || rest.hasPrefix("+") { rest = rest.dropFirst() }
        if rest == "0" { return 0 }
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isNumber || $0 == "." }
            guard !digits.isEmpty, let value = Double(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            guard let unit = units.first(where: { rest.hasPrefix($0.0) }) else { return nil }
            total += value * unit.1
            rest = rest.dropFirst(unit.0.count)
        }
        return Int64(negative ? -total : total)
    }
}
