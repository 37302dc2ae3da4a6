import Foundation
import Logging
import SextantJSON
import SextantKube
import SextantKubeTypes

/// List, then watch from the list's resourceVersion, for one resource: the node's and the data
/// plane's caches are fed by it. The whole list goes to `replace`, each later change to `apply`.
/// A 410 (expired) lists again; other errors back off. A resource the API server does not serve
/// (a CRD not applied yet) is tried again quietly.
struct Informer: Sendable {
    let client: KubeClient
    let resource: ResourceDescriptor
    let namespace: String?
    let logger: Logger
    var maximumBackoff: Duration = .seconds(10)

    /// Runs until the task is cancelled.
    func run(replace: @Sendable ([JSONValue]) async -> Void,
             apply: @Sendable (WatchChange<DynamicObject>) async -> Void) async {
        let backoff = Backoff(initial: .milliseconds(200), maximum: maximumBackoff)
        var failures = 0
        while !Task.isCancelled {
            do {
                let list = try await client.listAll(resource, namespace: namespace, as: DynamicObject.self)
                await replace(list.items.map(\.raw))
                var version = list.metadata.resourceVersion
                failures = 0
                while !Task.isCancelled {
                    let stream = try await client.watch(resource, namespace: namespace,
                                                        options: WatchOptions(resourceVersion: version),
                                                        as: DynamicObject.self)
                    var events = 0
                    for try await change in stream {
                        events += 1
                        switch change {
                        case .added(let o), .modified(let o), .deleted(let o): version = o.resourceVersion ?? version
                        case .bookmark(let rv): if !rv.isEmpty { version = rv }
                        }
                        await apply(change)
                    }
                    // A watch that ends at once and empty should not spin.
                    if events == 0 { try await Task.sleep(for: .milliseconds(200)) }
                }
            } catch {
                if Task.isCancelled { return }
                if error.isKube(.expired) {
                    logger.debug("watch expired; listing again", metadata: ["resource": "\(resource)"])
                    continue
                }
                failures += 1
                if error.isKube(.notFound) {
                    logger.debug("resource not served (yet)", metadata: ["resource": "\(resource)"])
                } else {
                    logger.warning("list/watch failed", metadata: ["resource": "\(resource)", "error": "\(error)"])
                }
                try? await Task.sleep(for: backoff.delay(afterFailures: failures))
            }
        }
    }
}
