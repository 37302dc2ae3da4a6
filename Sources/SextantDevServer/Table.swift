import Foundation
import SextantJSON

/// A small JSONPath evaluator for printer columns: `.a.b`, `.a[0]`, `.a[*].b` and
/// `.a[?(@.type=="Ready")].status`, which is what CRD printer columns use in practice.
enum SimpleJSONPath {
    enum Step: Equatable {
        case field(String)
        case index(Int)
        case all
        case filter(path: [String], value: String)
    }

    static func parse(_ path: String) -> [Step] {
        var text = path.trimmingSpaces
        if text.hasPrefix("{") && text.hasSuffix("}") { text = String(text.dropFirst().dropLast()) }
        var steps: [Step] = []
        var i = text.startIndex
        while i < text.endIndex {
            let ch = text[i]
            if ch == "." {
                i = text.index(after: i)
                var name = ""
                while i < text.endIndex, text[i] != ".", text[i] != "[" {
                    if text[i] == "\\", text.index(after: i) < text.endIndex {
                        i = text.index(after: i)
                    }
                    name.append(text[i])
                    i = text.index(after: i)
                }
                if !name.isEmpty { steps.append(.field(name)) }
            } else if ch == "[" {
                guard let close = text[i...].firstIndex(of: "]") else { break }
                let inner = String(text[text.index(after: i)..<close])
                i = text.index(after: close)
                if inner == "*" {
                    steps.append(.all)
                } else if let n = Int(inner) {
                    steps.append(.index(n))
                } else if inner.hasPrefix("?(@."), inner.hasSuffix(")") {
                    let body = inner.dropFirst(4).dropLast()
                    let parts = body.components(separatedBy: "==")
                    guard parts.count == 2 else { continue }
                    let value = parts[1].trimmingSpaces.trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
                    steps.append(.filter(path: parts[0].trimmingSpaces.split(separator: ".").map(String.init), value: value))
                } else {
                    steps.append(.field(inner.trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))))
                }
            } else {
                var name = ""
                while i < text.endIndex, text[i] != ".", text[i] != "[" {
                    name.append(text[i])
                    i = text.index(after: i)
                }
                if !name.isEmpty { steps.append(.field(name)) }
            }
        }
        return steps
    }

    static func evaluate(_ path: String, in object: JSONValue) -> [JSONValue] {
        var current: [JSONValue] = [object]
        for step in parse(path) {
            var next: [JSONValue] = []
            for value in current {
                switch step {
                case .field(let name): if let v = value[name] { next.append(v) }
                case .index(let n):
                    if let a = value.arrayValue {
                        let index = n < 0 ? a.count + n : n
                        if a.indices.contains(index) { next.append(a[index]) }
                    }
                case .all:
                    if let a = value.arrayValue { next.append(contentsOf: a) } else if let o = value.objectValue { next.append(contentsOf: o.values) }
                case .filter(let path, let expected):
                    for element in value.arrayValue ?? [] {
                        if let v = element[path: path], (v.stringValue ?? v.jsonString()) == expected { next.append(element) }
                    }
                }
            }
            current = next
        }
        return current
    }
}

/// `meta.k8s.io/v1` Table output, which `kubectl get` asks for.
enum TableConverter {
    enum IncludeObject: String { case none = "None", metadata = "Metadata", object = "Object" }

    static func columnDefinitions(_ type: ResourceType) -> JSONValue {
        var columns: [JSONValue] = [[
            "name": "Name", "type": "string", "format": "name", "priority": 0,
            "description": "Name must be unique within a namespace.",
        ]]
        for column in type.printerColumns {
            columns.append([
                "name": .string(column.name), "type": .string(column.type), "format": .string(column.format),
                "description": .string(column.description), "priority": .int(Int64(column.priority)),
            ])
        }
        return .array(columns)
    }

    static func row(_ type: ResourceType, _ object: JSONValue, include: IncludeObject, now: Date) -> JSONValue {
        var cells: [JSONValue] = [object[path: ["metadata", "name"]] ?? ""]
        for column in type.printerColumns {
            cells.append(cell(column, SimpleJSONPath.evaluate(column.jsonPath, in: object), now: now))
        }
        var row: [String: JSONValue] = ["cells": .array(cells)]
        switch include {
        case .none: break
        case .object: row["object"] = object
        case .metadata:
            row["object"] = ["kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": object["metadata"] ?? [:]]
        }
        return .object(row)
    }

    static func cell(_ column: PrinterColumn, _ values: [JSONValue], now: Date) -> JSONValue {
        guard let first = values.first else { return .null }
        if values.count > 1 {
            return .string(values.map { $0.stringValue ?? $0.jsonString() }.joined(separator: ","))
        }
        switch column.type {
        case "date":
            guard let text = first.stringValue, let date = parseTimestamp(text) else { return "<invalid>" }
            return .string(humanDuration(now.timeIntervalSince(date)))
        case "integer":
            return first.intValue.map(JSONValue.int) ?? .string(first.stringValue ?? first.jsonString())
        case "number":
            return first.doubleValue.map(JSONValue.double) ?? .string(first.stringValue ?? first.jsonString())
        case "boolean":
            return first.boolValue.map(JSONValue.bool) ?? .string(first.stringValue ?? first.jsonString())
        default:
            return .string(first.stringValue ?? first.jsonString())
        }
    }

    static func table(_ type: ResourceType, _ objects: [JSONValue], listMeta: JSONValue, include: IncludeObject) -> JSONValue {
        let now = Date()
        return [
            "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": listMeta,
            "columnDefinitions": columnDefinitions(type),
            "rows": .array(objects.map { row(type, $0, include: include, now: now) }),
        ]
    }

    /// Parses RFC 3339 timestamps as the server writes them (`2026-01-02T03:04:05Z`, optionally
    /// with fractional seconds); cheaper than a date formatter per table row.
    static func parseTimestamp(_ text: String) -> Date? {
        let digits = Array(text.utf8)
        guard digits.count >= 20, digits[4] == UInt8(ascii: "-"), digits[10] == UInt8(ascii: "T") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for i in range {
                guard (48...57).contains(digits[i]) else { return nil }
                value = value * 10 + Int(digits[i] - 48)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19) else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        var seconds = TimeInterval(timegm(&parts))
        // A numeric offset (+02:00) shifts the time; Z or fractional seconds do not matter for ages.
        if let sign = text.lastIndex(where: { $0 == "+" || $0 == "-" }), text.distance(from: text.startIndex, to: sign) > 18 {
            let offset = text[text.index(after: sign)...].split(separator: ":").compactMap { Int($0) }
            if offset.count == 2 {
                let delta = TimeInterval(offset[0] * 3600 + offset[1] * 60)
                seconds += text[sign] == "+" ? -delta : delta
            }
        }
        return Date(timeIntervalSince1970: seconds)
    }

    /// The same rounding as Kubernetes' `duration.HumanDuration` (`5s`, `3m12s`, `4h`, `2d5h`, ...).
    static func humanDuration(_ interval: TimeInterval) -> String {
        let seconds = Int(max(0, interval))
        if seconds < 120 { return "\(seconds)s" }
        let minutes = seconds / 60
        if minutes < 10 { return seconds % 60 == 0 ? "\(minutes)m" : "\(minutes)m\(seconds % 60)s" }
        if minutes < 180 { return "\(minutes)m" }
        let hours = minutes / 60
        if hours < 8 { return minutes % 60 == 0 ? "\(hours)h" : "\(hours)h\(minutes % 60)m" }
        if hours < 48 { return "\(hours)h" }
        if hours < 192 { return hours % 24 == 0 ? "\(hours / 24)d" : "\(hours / 24)d\(hours % 24)h" }
        let days = hours / 24
        if days < 365 * 2 { return "\(days)d" }
        if days < 365 * 8 { return days % 365 == 0 ? "\(days / 365)y" : "\(days / 365)y\(days % 365)d" }
        return "\(days / 365)y"
    }
}

