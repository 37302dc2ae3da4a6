import Logging
import SextantKube
import SextantKubeTypes
import Synchronization

/// Settings of one controller.
public struct ControllerOptions: Sendable {
    /// Reconciles running at once (different keys; one key is never reconciled twice at once).
    public var concurrency: Int = 1
    /// Every primary object is queued again this often, to repair drift nobody announced.
    public var resyncPeriod: Duration? = .seconds(600)
    public var rateLimit = RateLimit()
    /// Only keys this returns true for are ever queued (sharding: the keys of this replica's shard).
    public var keyFilter: (@Sendable (ObjectKey) -> Bool)?
    public init(concurrency: Int = 1, resyncPeriod: Duration? = .seconds(600), rateLimit: RateLimit = RateLimit(),
                keyFilter: (@Sendable (ObjectKey) -> Bool)? = nil) {
        self.concurrency = max(1, concurrency)
        self.resyncPeriod = resyncPeriod
        self.rateLimit = rateLimit
        self.keyFilter = keyFilter
    }
}

/// Runs a `Reconciler` for the keys of a primary resource. Triggers: changes of the primary
/// objects, of objects they own (through ownerReferences), and of related objects mapped to
/// primary keys by a closure. Workers start only after every watched cache has synced.
public final class Controller: Sendable {
    public let name: String
    public let options: ControllerOptions
    public let queue: WorkQueue<ObjectKey>
    let reconciler: any Reconciler
    let metrics: ControllerMetrics?
    let logger: Logger
    private let sources = Mutex<[any SyncWaitable]>([])
    private let primaryKeys = Mutex<(@Sendable () -> [ObjectKey])?>(nil)

    public init(name: String, reconciler: some Reconciler, options: ControllerOptions = ControllerOptions(),
                metrics: OperatorMetrics? = nil, logger: Logger = Logger(label: "sextant.operator.controller")) {
        self.name = name
        self.options = options
        self.reconciler = reconciler
        let controllerMetrics = metrics.map { ControllerMetrics(registry: $0, controller: name) }
        self.metrics = controllerMetrics
        var observer = WorkQueueObserver()
        if let m = controllerMetrics {
            observer.depthChanged = { m.depth.set(to: Double($0)) }
            observer.added = { m.adds.increment() }
            observer.retried = { m.retries.increment() }
            observer.waited = { m.queueWait.record($0) }
        }
        self.queue = WorkQueue(rateLimit: options.rateLimit, observer: observer)
        var logger = logger
        logger[metadataKey: "controller"] = "\(name)"
        self.logger = logger
    }

    // MARK: Triggers

    /// Reconciles the object itself whenever it changes.
    @discardableResult
    public func watchPrimary<T: KubernetesObject>(_ informer: Informer<T>) -> Self {
        addSource(informer)
        primaryKeys.withLock { $0 = { informer.cache.keys } }
        informer.addHandler { [queue, options] event in
            if let key = ObjectKey(event.object), options.keyFilter?(key) ?? true { queue.add(key) }
        }
        return self
    }

    /// Reconciles the controlling owner of a child whenever the child changes. Only the
    /// ownerReference with `controller: true` and this kind counts, as in controller-runtime.
    @discardableResult
    public func owns<T: KubernetesObject>(_ informer: Informer<T>, ownerKind: String, ownerGroup: String) -> Self {
        addSource(informer)
        informer.addHandler { [queue, options] event in
            var objects = [event.object]
            if case .updated(let old, _) = event { objects.append(old) }  // the owner it had before, too
            for object in objects {
                let meta = object.metadata
                for ref in meta.ownerReferences ?? [] where ref.controller == true && ref.kind == ownerKind
                    && Self.group(of: ref.apiVersion) == ownerGroup {
                    let key = ObjectKey(namespace: meta.namespace ?? "", name: ref.name)
                    if options.keyFilter?(key) ?? true { queue.add(key) }
                }
            }
        }
        return self
    }

    /// Reconciles the primary keys `map` returns for a changed related object (e.g. the
    /// CanaryRollouts that reference a ModelVersion).
    @discardableResult
    public func watches<T: KubernetesObject>(_ informer: Informer<T>,
                                             map: @escaping @Sendable (T) -> [ObjectKey]) -> Self {
        addSource(informer)
        informer.addHandler { [queue, options] event in
            var keys = Set(map(event.object))
            if case .updated(let old, _) = event { keys.formUnion(map(old)) }
            for key in keys where options.keyFilter?(key) ?? true { queue.add(key) }
        }
        return self
    }

    private func addSource(_ source: any SyncWaitable) { sources.withLock { $0.append(source) } }

    static func group(of apiVersion: String) -> String {
        guard let slash = apiVersion.firstIndex(of: "/") else { return "" }
        return String(apiVersion[..<slash])
    }

    /// True once every watched cache has synced.
    public var hasSynced: Bool { sources.withLock { $0 }.allSatisfy(\.hasSynced) }

    // MARK: Running

    /// Waits for the caches, then reconciles until the task is cancelled. Cancellation stops
    /// handing out keys at once and cancels the reconciles in flight.
    public func run() async {
        while !hasSynced {
            do { try await Task.sleep(for: .milliseconds(20)) } catch { return }
        }
        logger.info("caches synced, starting workers", metadata: ["workers": "\(options.concurrency)"])
        await withTaskGroup(of: Void.self) { group in
            if let period = options.resyncPeriod, let keys = primaryKeys.withLock({ $0 }) {
                group.addTask { [queue, options] in
                    while !Task.isCancelled {
                        do { try await Task.sleep(for: period) } catch { return }
                        for key in keys() where options.keyFilter?(key) ?? true { queue.add(key) }
                    }
                }
            }
            for _ in 0..<options.concurrency {
                group.addTask { await self.work() }
            }
            await withTaskCancellationHandler {
                await group.next()
            } onCancel: {
                queue.shutDown()
            }
            group.cancelAll()
        }
    }

    private func work() async {
        while let key = await queue.get() {
            await process(key)
            queue.done(key)
            if Task.isCancelled { return }
        }
    }

    /// One reconcile and what follows from its result.
    func process(_ key: ObjectKey) async {
        let start = ContinuousClock.now
        let outcome: Result<ReconcileResult, any Error>
        do {
            outcome = .success(try await reconciler.reconcile(key))
        } catch {
            outcome = .failure(error)
        }
        let elapsed = ContinuousClock.now - start
        metrics?.duration.record(elapsed)
        switch outcome {
        case .success(.done):
            metrics?.result(.success)
            queue.forget(key)
        case .success(.requeue(let after)):
            metrics?.result(.requeueAfter)
            queue.forget(key)
            queue.add(key, after: after)
        case .failure(let error) where error is CancellationError || Task.isCancelled:
            return
        case .failure(let error):
            // A conflict means our copy was stale: retry soon without calling it an error.
            if error.isKube(.conflict) {
                metrics?.result(.requeue)
                logger.debug("conflict, requeued", metadata: ["key": "\(key)"])
            } else {
                metrics?.result(.error)
                logger.error("reconcile failed", metadata: ["key": "\(key)", "error": "\(error)",
                                                            "failures": "\(queue.failures(key) + 1)"])
            }
            queue.addRateLimited(key)
        }
    }
}
