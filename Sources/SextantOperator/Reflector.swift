import Logging
import SextantKube
import SextantKubeTypes
import Synchronization

/// Keeps a `Cache` equal to the server's state of one resource type: list (paginated), then watch
/// from the list's resourceVersion, following bookmarks. When the server no longer has that
/// version (410 Gone) it relists and turns the difference into events, so objects deleted while
/// no watch was open are reported as deletions. Errors are retried with backoff and jitter.
public final class Reflector<Object: KubernetesObject>: Sendable {
    public struct Statistics: Sendable, Equatable {
        /// Complete lists (the first one and every relist after 410 Gone).
        public var lists = 0
        /// Watches opened.
        public var watches = 0
        /// 410 Gone answers (the watch's resourceVersion had been compacted).
        public var expired = 0
        /// Other failed lists or watches (retried after backoff).
        public var errors = 0
        public var lastResourceVersion: String?
    }

    public let resource: ResourceDescriptor
    public let namespace: String?
    public let labelSelector: String?
    let client: KubeClient
    let cache: Cache<Object>
    let backoff: Backoff
    let pageSize: Int
    let watchTimeout: ClosedRange<Int>
    let logger: Logger
    let deliver: @Sendable ([CacheEvent<Object>]) -> Void
    private let stats = Mutex(Statistics())

    /// - Parameters:
    ///   - namespace: nil or empty watches every namespace.
    ///   - watchTimeoutSeconds: the server ends each watch after a random time in this range, so
    ///     connections are renewed and never silently stuck (client-go uses 5–10 minutes).
    ///   - deliver: called with the changes in order, after the cache applied them.
    init(client: KubeClient, resource: ResourceDescriptor, namespace: String?, labelSelector: String?,
         cache: Cache<Object>, backoff: Backoff = Backoff(), pageSize: Int = 500,
         watchTimeoutSeconds: ClosedRange<Int> = 300...600, logger: Logger,
         deliver: @escaping @Sendable ([CacheEvent<Object>]) -> Void) {
        self.client = client
        self.resource = resource
        self.namespace = (namespace?.isEmpty ?? true) || !resource.namespaced ? nil : namespace
        self.labelSelector = labelSelector
        self.cache = cache
        self.backoff = backoff
        self.pageSize = pageSize
        self.watchTimeout = watchTimeoutSeconds
        self.logger = logger
        self.deliver = deliver
    }

    public var statistics: Statistics { stats.withLock { $0 } }

    /// The object as the cache keeps it: without `metadata.managedFields`, as controller-runtime's
    /// `TransformStripManagedFields` does. No controller reads them, every write of a field
    /// manager adds an entry to each object, and a cached object carries them for its life (at
    /// 1,000 rollouts they were a large part of the controller's memory). An update sent without
    /// them keeps the server's (Kubernetes ignores an omitted `managedFields`). Typed objects
    /// already drop them when decoded.
    static func cached(_ object: Object) -> Object {
        guard var dynamic = object as? DynamicObject, case .object(var metadata)? = dynamic.raw["metadata"],
              metadata["managedFields"] != nil else { return object }
        metadata.removeValue(forKey: "managedFields")
        dynamic.raw["metadata"] = .object(metadata)
        return (dynamic as? Object) ?? object
    }

    /// Runs until the task is cancelled.
    public func run() async {
        var resourceVersion: String?
        var failures = 0
        while !Task.isCancelled {
            do {
                if resourceVersion == nil {
                    resourceVersion = try await relist()
                }
                let opened = ContinuousClock.now
                let received = try await watch(from: &resourceVersion)
                // The server ended the watch (timeout or a dropped connection): resume from the
                // last version seen, which the server replays without gaps. A watch that ends at
                // once with nothing in it is treated as a failure, so a server that keeps closing
                // connections is not hammered in a tight loop.
                if received == 0 && ContinuousClock.now - opened < .seconds(1) {
                    failures += 1
                    try await Task.sleep(for: backoff.delay(afterFailures: failures))
                } else {
                    failures = 0
                }
            } catch is CancellationError {
                return
            } catch where error.isKube(.expired) {
                // Our version is compacted away: only a fresh list can tell what changed.
                stats.withLock { $0.expired += 1 }
                logger.info("watch expired, relisting", metadata: ["resource": "\(resource)"])
                resourceVersion = nil
            } catch {
                if Task.isCancelled { return }
                failures += 1
                stats.withLock { $0.errors += 1 }
                let delay = backoff.delay(afterFailures: failures)
                logger.warning("list/watch failed, retrying", metadata: [
                    "resource": "\(resource)", "error": "\(error)", "retryIn": "\(delay)"])
                do { try await Task.sleep(for: delay) } catch { return }
            }
        }
    }

    /// Lists every page and replaces the cache; returns the list's resourceVersion.
    func relist() async throws -> String {
        let list = try await client.listAll(resource, namespace: namespace,
                                            options: ListOptions(labelSelector: labelSelector),
                                            pageSize: pageSize, as: Object.self)
        guard let version = list.metadata.resourceVersion, !version.isEmpty else {
            throw ReflectorError("list of \(resource) has no metadata.resourceVersion; cannot watch from it")
        }
        let events = cache.replace(with: list.items.map(Self.cached))
        stats.withLock {
            $0.lists += 1
            $0.lastResourceVersion = version
        }
        if !events.isEmpty { deliver(events) }
        return version
    }

    /// Follows one watch until it ends; returns how many events (bookmarks included) it carried.
    func watch(from resourceVersion: inout String?) async throws -> Int {
        var options = WatchOptions(resourceVersion: resourceVersion, labelSelector: labelSelector,
                                   timeoutSeconds: Int.random(in: watchTimeout), allowBookmarks: true)
        // Bookmarks arrive well within this on a healthy connection; silence means it is dead.
        options.idleTimeout = .seconds(Int64(watchTimeout.upperBound) + 60)
        let stream = try await client.watch(resource, namespace: namespace, options: options, as: Object.self)
        stats.withLock { $0.watches += 1 }
        var received = 0
        for try await change in stream {
            received += 1
            let event: CacheEvent<Object>?
            switch change {
            case .added(let object), .modified(let object):
                event = cache.upsert(Self.cached(object))
                resourceVersion = object.metadata.resourceVersion ?? resourceVersion
            case .deleted(let object):
                event = cache.remove(object)
                resourceVersion = object.metadata.resourceVersion ?? resourceVersion
            case .bookmark(let version):
                if !version.isEmpty { resourceVersion = version }
                event = nil
            }
            let current = resourceVersion
            stats.withLock { $0.lastResourceVersion = current }
            if let event { deliver([event]) }
        }
        return received
    }
}

public struct ReflectorError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Something whose caches a controller waits for before reconciling.
public protocol SyncWaitable: Sendable {
    var hasSynced: Bool { get }
    var name: String { get }
}

/// A shared reflector and cache for one resource type, with the handlers of every controller
/// that watches it. One informer per type serves any number of controllers.
public final class Informer<Object: KubernetesObject>: SyncWaitable, Sendable {
    public typealias Handler = @Sendable (CacheEvent<Object>) -> Void

    public let cache = Cache<Object>()
    public let reflector: Reflector<Object>
    private let handlers: HandlerList<Object>

    public init(client: KubeClient, resource: ResourceDescriptor, namespace: String? = nil,
                labelSelector: String? = nil, backoff: Backoff = Backoff(),
                watchTimeoutSeconds: ClosedRange<Int> = 300...600,
                logger: Logger = Logger(label: "sextant.operator.reflector")) {
        let handlers = HandlerList<Object>()
        self.handlers = handlers
        reflector = Reflector(client: client, resource: resource, namespace: namespace, labelSelector: labelSelector,
                              cache: cache, backoff: backoff, watchTimeoutSeconds: watchTimeoutSeconds,
                              logger: logger) { events in
            let current = handlers.list.withLock { $0 }
            for event in events { for handler in current { handler(event) } }
        }
    }

    public convenience init(client: KubeClient, _ type: Object.Type, namespace: String? = nil,
                            labelSelector: String? = nil, logger: Logger = Logger(label: "sextant.operator.reflector"))
        where Object: KubernetesResource
    {
        self.init(client: client, resource: ResourceDescriptor(Object.self), namespace: namespace,
                  labelSelector: labelSelector, logger: logger)
    }

    public var name: String { reflector.resource.description }
    public var hasSynced: Bool { cache.hasSynced }

    /// Adds a handler; it also receives the current content as additions, so a handler added
    /// after the first list misses nothing.
    public func addHandler(_ handler: @escaping Handler) {
        let existing = handlers.list.withLock { list -> [Object] in
            list.append(handler)
            return cache.hasSynced ? cache.list() : []
        }
        for object in existing { handler(.added(object)) }
    }

    /// Runs the reflector until the task is cancelled.
    public func run() async { await reflector.run() }
}

/// The handlers of an informer, shared with its reflector's delivery closure.
final class HandlerList<Object: KubernetesObject>: Sendable {
    let list = Mutex<[Informer<Object>.Handler]>([])
}
