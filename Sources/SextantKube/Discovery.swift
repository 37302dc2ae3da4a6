import Foundation

/// What the API server serves, read from `/api` and `/apis`.
public struct APIDiscovery: Sendable {
    public struct Entry: Sendable, Hashable {
        public var resource: ResourceDescriptor
        public var singular: String
        public var shortNames: [String]
        public var categories: [String]
        public var verbs: [String]
    }

    public var entries: [Entry]

    /// Finds a resource the way kubectl does: plural, singular, kind or short name, optionally
    /// qualified with a group (`canaryrollouts.mlops.sextant.dev`).
    public func resolve(_ name: String) throws -> ResourceDescriptor {
        let lower = name.lowercased()
        let parts = lower.split(separator: ".", maxSplits: 1).map(String.init)
        let bare = parts[0]
        let group = parts.count > 1 ? parts[1] : nil
        let matches = entries.filter { entry in
            let r = entry.resource
            guard group == nil || r.group == group else { return false }
            return r.plural == bare || entry.singular == bare || r.kind.lowercased() == bare
                || entry.shortNames.contains(bare)
        }
        // Prefer the core group, then the first group that serves it (its preferred version first).
        guard let first = matches.first(where: { $0.resource.group.isEmpty }) ?? matches.first else {
            throw KubeConfigError("the server doesn't have a resource type \"\(name)\"")
        }
        return first.resource
    }
}

extension KubeClient {
    /// Reads the served resources of every group's preferred version.
    public func discover() async throws -> APIDiscovery {
        struct ResourceList: Decodable {
            struct Resource: Decodable {
                var name: String
                var singularName: String?
                var namespaced: Bool
                var kind: String
                var verbs: [String]?
                var shortNames: [String]?
                var categories: [String]?
            }
            var groupVersion: String
            var resources: [Resource]
        }
        struct GroupList: Decodable {
            struct Group: Decodable {
                struct Version: Decodable { var groupVersion: String; var version: String }
                var name: String
                var versions: [Version]
                var preferredVersion: Version?
            }
            var groups: [Group]
        }
        struct CoreVersions: Decodable { var versions: [String] }

        var groupVersions: [String] = []
        let core = try decode(CoreVersions.self, try await send(method: "GET", path: "/api"), context: "/api")
        groupVersions += core.versions
        let groups = try decode(GroupList.self, try await send(method: "GET", path: "/apis"), context: "/apis")
        for group in groups.groups {
            if let preferred = group.preferredVersion?.groupVersion ?? group.versions.first?.groupVersion {
                groupVersions.append(preferred)
            }
        }
        var entries: [APIDiscovery.Entry] = []
        for gv in groupVersions {
            let path = gv.contains("/") ? "/apis/\(gv)" : "/api/\(gv)"
            let list = try decode(ResourceList.self, try await send(method: "GET", path: path), context: path)
            let split = gv.split(separator: "/").map(String.init)
            let (group, version) = split.count == 2 ? (split[0], split[1]) : ("", split[0])
            for r in list.resources where !r.name.contains("/") {
                entries.append(.init(
                    resource: ResourceDescriptor(group: group, version: version, plural: r.name, kind: r.kind,
                                                 namespaced: r.namespaced),
                    singular: r.singularName.flatMap { $0.isEmpty ? nil : $0 } ?? r.kind.lowercased(),
                    shortNames: r.shortNames ?? [], categories: r.categories ?? [], verbs: r.verbs ?? []))
            }
        }
        return APIDiscovery(entries: entries)
    }
}
