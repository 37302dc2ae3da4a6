import ArgumentParser
import Foundation
import SextantJSON
import SextantKube
import SextantKubeTypes
import Yams

/// `sextant get TYPE[,TYPE...] [NAME...]`: lists, shows and watches any resource, like `kubectl get`.
struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, show or watch resources of any kind (e.g. `sextant get cro -w`, `sextant get sextant -A`).",
        discussion: """
        TYPE is a plural, singular, kind or short name (tj, mv, cro, pods, ...), optionally with its \
        group (canaryrollouts.mlops.sextant.dev), or a category (sextant: every Sextant kind). Several \
        types are separated by commas (tj,mv). Objects are named after the types (get mv fraud-v1 \
        fraud-v2) or as TYPE/NAME (get tj/fraud mv/fraud-v1).
        """)

    @OptionGroup var cluster: ClusterOptions

    @Argument(help: "TYPE[,TYPE...] [NAME...], or TYPE/NAME ...")
    var arguments: [String] = []

    @Flag(name: [.customShort("A"), .long], help: "List across all namespaces.")
    var allNamespaces = false

    @Option(name: [.short, .customLong("selector")], help: "Label selector, e.g. app=model,tier!=batch.")
    var labelSelector: String?

    @Option(name: .customLong("field-selector"), help: "Field selector, e.g. metadata.name=x.")
    var fieldSelector: String?

    @Flag(name: [.short, .long], help: "After listing, watch for changes.")
    var watch = false

    @Flag(name: .long, help: "CanaryRollout only: a tree of its steps, Deployments, analysis and Events (with -w: redrawn on every change).")
    var tree = false

    @Option(name: [.short, .long], help: "Output format: table (default), wide, json, yaml or name.")
    var output: OutputFormat = .table

    enum OutputFormat: String, CaseIterable, ExpressibleByArgument { case table, wide, json, yaml, name }

    func validate() throws {
        _ = try GetArguments(arguments)
    }

    func run() async throws {
        let request = try GetArguments(arguments)
        let client = try cluster.client()
        let discovery = try await client.discover()
        var targets: [(descriptor: ResourceDescriptor, names: [String])] = []
        for (type, names) in request.targets {
            for descriptor in try discovery.expand(type) where !targets.contains(where: { $0.descriptor == descriptor && $0.names == names }) {
                targets.append((descriptor, names))
            }
        }
        let namespace = allNamespaces ? nil : cluster.namespace(for: client)
        let scope = namespace.map { "in \($0) namespace" }
        if tree {
            guard targets.count == 1, let only = targets.first, only.descriptor.group == RolloutTreePrinter.canaryRollouts.group,
                  only.descriptor.plural == RolloutTreePrinter.canaryRollouts.plural,
                  only.names.count == 1, let name = only.names.first else {
                throw CLIFailure("--tree shows one CanaryRollout: sextant get cro NAME --tree")
            }
            let printer = RolloutTreePrinter(client: client, name: name, namespace: cluster.namespace(for: client),
                                             terminal: isatty(STDOUT_FILENO) == 1)
            if watch { try await printer.watch() } else { try await printer.printOnce() }
            return
        }
        if watch {
            guard targets.count == 1, let only = targets.first, only.names.count <= 1 else {
                throw CLIFailure("you may only specify a single resource type and at most one name with --watch")
            }
            try await watchChanges(client: client, descriptor: only.descriptor, name: only.names.first, namespace: namespace)
            return
        }
        let several = targets.count > 1
        var failures: [String] = []
        var printedTables = 0
        var objects: [(ResourceDescriptor, DynamicObject)] = []
        for (descriptor, names) in targets {
            let ns = descriptor.namespaced ? namespace : nil
            let printer = Printer(format: output, descriptor: descriptor, showNamespace: ns == nil && descriptor.namespaced,
                                  qualifiedNames: several)
            for name in names.isEmpty ? [nil] : names.map(Optional.some) {
                let options = ListOptions(labelSelector: labelSelector, fieldSelector: selector(name: name))
                if output == .table || output == .wide {
                    let table = try await client.table(descriptor, namespace: ns, options: options)
                    if let name, table.rows.isEmpty {
                        failures.append(Self.notFound(descriptor, name))
                        continue
                    }
                    guard !table.rows.isEmpty else { continue }
                    if printedTables > 0 { emit("") }
                    printer.printTable(table)
                    printedTables += 1
                } else {
                    let list = try await client.listAll(descriptor, namespace: ns, options: options, as: DynamicObject.self)
                    if let name, list.items.isEmpty {
                        failures.append(Self.notFound(descriptor, name))
                        continue
                    }
                    objects += list.items.map { (descriptor, $0) }
                }
            }
        }
        if output != .table && output != .wide {
            let single = objects.count == 1 && !targets.contains { $0.names.isEmpty }
            try Printer.printObjects(objects, format: output, single: single)
        } else if printedTables == 0 && failures.isEmpty {
            FileHandle.standardError.write(Data(("No resources found" + (scope.map { " \($0)" } ?? "") + ".\n").utf8))
        }
        if !failures.isEmpty { throw CLIFailure(failures.joined(separator: "\n")) }
    }

    func selector(name: String?) -> String? {
        guard let name else { return fieldSelector }
        return ["metadata.name=\(name)", fieldSelector].compactMap { $0 }.joined(separator: ",")
    }

    /// kubectl's wording for an object that does not exist.
    static func notFound(_ descriptor: ResourceDescriptor, _ name: String) -> String {
        "Error from server (NotFound): \(descriptor) \"\(name)\" not found"
    }

    func watchChanges(client: KubeClient, descriptor: ResourceDescriptor, name: String?, namespace: String?) async throws {
        let namespace = descriptor.namespaced ? namespace : nil
        let fieldSelector = selector(name: name)
        let options = ListOptions(labelSelector: labelSelector, fieldSelector: fieldSelector)
        let printer = Printer(format: output, descriptor: descriptor, showNamespace: namespace == nil && descriptor.namespaced,
                              qualifiedNames: false)
        var resourceVersion: String
        // Like kubectl: the header comes with the first row, listed or watched.
        var needsHeader = output == .table || output == .wide
        if output == .table || output == .wide {
            let table = try await client.table(descriptor, namespace: namespace, options: options)
            resourceVersion = table.resourceVersion
            if !table.rows.isEmpty {
                printer.printTable(table)
                needsHeader = false
            }
        } else {
            let list = try await client.listAll(descriptor, namespace: namespace, options: options, as: DynamicObject.self)
            resourceVersion = list.metadata.resourceVersion ?? ""
            for item in list.items { try printer.printObject(item) }
        }
        while true {
            let stream = try await client.watch(descriptor, namespace: namespace, options: WatchOptions(
                resourceVersion: resourceVersion, labelSelector: labelSelector, fieldSelector: fieldSelector),
                as: DynamicObject.self)
            do {
                for try await change in stream {
                    switch change {
                    case .added(let o), .modified(let o):
                        resourceVersion = o.resourceVersion ?? resourceVersion
                        try await printer.printChange(o, type: nil, client: client, namespace: namespace, header: needsHeader)
                        needsHeader = false
                    case .deleted(let o):
                        resourceVersion = o.resourceVersion ?? resourceVersion
                        try await printer.printChange(o, type: "DELETED", client: client, namespace: namespace, header: needsHeader)
                        needsHeader = false
                    case .bookmark(let rv):
                        resourceVersion = rv
                    }
                }
            } catch let error as KubeError where error.reason == .expired {
                // History compacted: list again and continue from there.
                let list = try await client.list(descriptor, namespace: namespace, options: options, as: DynamicObject.self)
                resourceVersion = list.metadata.resourceVersion ?? ""
            }
        }
    }
}

/// The positional arguments of `get`: `TYPE[,TYPE...] [NAME...]` or `TYPE/NAME ...`.
struct GetArguments {
    var targets: [(type: String, names: [String])] = []

    init(_ arguments: [String]) throws {
        guard let first = arguments.first else {
            throw ValidationError("You must specify the type of resource to get, e.g. `sextant get cro` or `sextant get sextant -A`.")
        }
        if arguments.contains(where: { $0.contains("/") }) {
            for argument in arguments {
                let parts = argument.split(separator: "/", maxSplits: 1).map(String.init)
                guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty, !parts[0].contains(",") else {
                    throw ValidationError("arguments in resource/name form must have a single resource and name, got \"\(argument)\"")
                }
                targets.append((parts[0], [parts[1]]))
            }
            return
        }
        let types = first.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard !types.contains(where: \.isEmpty) else {
            throw ValidationError("empty resource type in \"\(first)\"")
        }
        targets = types.map { ($0, Array(arguments.dropFirst())) }
    }
}

extension APIDiscovery {
    /// A type argument as kubectl reads it: a resource, else a category (`sextant`, `all`).
    func expand(_ type: String) throws -> [ResourceDescriptor] {
        do {
            return [try resolve(type)]
        } catch {
            let lower = type.lowercased()
            var members: [ResourceDescriptor] = []
            for entry in entries where entry.categories.contains(lower) && !members.contains(entry.resource) {
                members.append(entry.resource)
            }
            guard !members.isEmpty else { throw error }
            return members
        }
    }
}

/// A server-side table (`meta.k8s.io/v1 Table`), as kubectl shows it.
struct ResourceTable {
    struct Column { var name: String; var priority: Int }
    var columns: [Column]
    var rows: [[String]]
    var namespaces: [String]
    var resourceVersion: String
}

extension KubeClient {
    func table(_ descriptor: ResourceDescriptor, namespace: String?, options: ListOptions) async throws -> ResourceTable {
        let data = try await send(
            method: "GET", path: descriptor.path(namespace: namespace), query: options.queryItemsForTable,
            accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
        let body = try JSONValue.decode(data)
        let rv = body[path: ["metadata", "resourceVersion"]]?.stringValue ?? ""
        guard body["kind"]?.stringValue == "Table" else {
            // Server without table support: name and age from the plain list.
            let items = body["items"]?.arrayValue ?? []
            return ResourceTable(
                columns: [.init(name: "Name", priority: 0), .init(name: "Age", priority: 0)],
                rows: items.map { [$0[path: ["metadata", "name"]]?.stringValue ?? "",
                                   age($0[path: ["metadata", "creationTimestamp"]]?.stringValue)] },
                namespaces: items.map { $0[path: ["metadata", "namespace"]]?.stringValue ?? "" },
                resourceVersion: rv)
        }
        let columns = (body["columnDefinitions"]?.arrayValue ?? []).map {
            ResourceTable.Column(name: $0["name"]?.stringValue ?? "", priority: Int($0["priority"]?.intValue ?? 0))
        }
        var rows: [[String]] = []
        var namespaces: [String] = []
        for row in body["rows"]?.arrayValue ?? [] {
            rows.append((row["cells"]?.arrayValue ?? []).map(cellText))
            namespaces.append(row[path: ["object", "metadata", "namespace"]]?.stringValue ?? "")
        }
        return ResourceTable(columns: columns, rows: rows, namespaces: namespaces, resourceVersion: rv)
    }
}

extension ListOptions {
    var queryItemsForTable: [URLQueryItem] {
        var options = self
        options.limit = 500
        return options.queryItems + [URLQueryItem(name: "includeObject", value: "Metadata")]
    }
}

private func cellText(_ value: JSONValue) -> String {
    switch value {
    case .null: return "<none>"
    case .string(let s): return s
    case .int(let i): return String(i)
    case .double(let d): return d.rounded() == d ? String(Int64(d)) : String(d)
    case .bool(let b): return String(b)
    default: return (try? String(decoding: value.encoded(), as: UTF8.self)) ?? ""
    }
}

/// `5m`, `3h`, `2d`, as kubectl prints ages.
func age(_ timestamp: String?, now: Date = Date()) -> String {
    guard let timestamp, let date = KubeTime.parse(timestamp) else { return "<unknown>" }
    let seconds = max(0, Int(now.timeIntervalSince(date)))
    switch seconds {
    case ..<120: return "\(seconds)s"
    case ..<(120 * 60): return "\(seconds / 60)m"
    case ..<(48 * 3600): return "\(seconds / 3600)h"
    default: return "\(seconds / 86400)d"
    }
}

struct Printer {
    let format: Get.OutputFormat
    let descriptor: ResourceDescriptor
    let showNamespace: Bool
    /// Names as `kind.group/name`: kubectl's form when one command prints several types.
    let qualifiedNames: Bool

    /// `canaryrollout.mlops.sextant.dev/fraud`, `configmap/features`: what `kubectl get -o name` prints.
    static func qualifiedName(_ descriptor: ResourceDescriptor, _ name: String) -> String {
        let kind = descriptor.kind.lowercased()
        return (descriptor.group.isEmpty ? kind : "\(kind).\(descriptor.group)") + "/" + name
    }

    func printTable(_ table: ResourceTable, header: Bool = true, prefix: String? = nil) {
        let visible = table.columns.indices.filter { format == .wide || table.columns[$0].priority == 0 }
        let nameColumn = table.columns.firstIndex { $0.name.lowercased() == "name" }
        var lines: [[String]] = []
        if header {
            var head = visible.map { table.columns[$0].name.uppercased() }
            if showNamespace { head.insert("NAMESPACE", at: 0) }
            lines.append(head)
        }
        for (i, row) in table.rows.enumerated() {
            var cells = visible.map { c -> String in
                let cell = c < row.count ? row[c] : ""
                return qualifiedNames && c == nameColumn ? Self.qualifiedName(descriptor, cell) : cell
            }
            if showNamespace { cells.insert(table.namespaces[i], at: 0) }
            lines.append(cells)
        }
        let widths = (0..<(lines.first?.count ?? 0)).map { c in lines.map { c < $0.count ? $0[c].count : 0 }.max() ?? 0 }
        for line in lines {
            let text = line.enumerated().map { c, cell in
                c == line.count - 1 ? cell : cell.padding(toLength: widths[c] + 3, withPad: " ", startingAt: 0)
            }.joined()
            emit((prefix ?? "") + text)
        }
    }

    func printObject(_ object: DynamicObject) throws {
        switch format {
        case .json: emit(try prettyJSON(object.raw))
        case .yaml: emit(try yaml(object.raw))
        default: emit(Self.qualifiedName(descriptor, object.name ?? ""))
        }
    }

    /// The objects of a non-table `get`: one object alone when one was asked for by name, else a
    /// `List` (json, yaml) or one name per line.
    static func printObjects(_ objects: [(ResourceDescriptor, DynamicObject)], format: Get.OutputFormat, single: Bool) throws {
        switch format {
        case .name:
            for (descriptor, item) in objects { emit(qualifiedName(descriptor, item.name ?? "")) }
        case .json, .yaml:
            let value: JSONValue = single && objects.count == 1
                ? objects[0].1.raw
                : ["apiVersion": "v1", "kind": "List", "metadata": ["resourceVersion": ""],
                   "items": .array(objects.map(\.1.raw))]
            emit(format == .json ? try prettyJSON(value) : try yaml(value))
        case .table, .wide:
            break
        }
    }

    func printChange(_ object: DynamicObject, type: String?, client: KubeClient, namespace: String?,
                     header: Bool = false) async throws {
        switch format {
        case .table, .wide:
            // The server renders the row so printer columns match the list above.
            let options = ListOptions(fieldSelector: "metadata.name=\(object.name ?? "")")
            var table = try await client.table(descriptor, namespace: object.namespace ?? namespace, options: options)
            if table.rows.isEmpty, type == "DELETED" {
                table.rows = [[object.name ?? ""] + Array(repeating: "", count: max(0, table.columns.count - 1))]
                table.namespaces = [object.namespace ?? ""]
            }
            printTable(table, header: header, prefix: type.map { "\($0)   " })
        default:
            try printObject(object)
        }
    }
}

func prettyJSON(_ value: JSONValue) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

func yaml(_ value: JSONValue) throws -> String {
    try YAMLEncoder().encode(value)
}

/// Writes a line straight to stdout: `print` buffers when stdout is a pipe or file, and a watch
/// must show each change as it happens.
func emit(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
