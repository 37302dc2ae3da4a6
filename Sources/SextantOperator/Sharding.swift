/// One of `count` replicas that split the objects of a kind between them (`--shard-index`,
/// `--shard-count`): an object belongs to the shard given by a stable hash of its
/// `namespace/name`, so every replica agrees without talking to the others, and each shard
/// runs its own leader election (`leaseName`) so it can have standbys of its own.
public struct Shard: Sendable, Hashable, CustomStringConvertible {
    public let index: Int
    public let count: Int

    /// nil when the pair is not a valid shard (count < 1, index outside 0..<count).
    public init?(index: Int, count: Int) {
        guard count >= 1, (0..<count).contains(index) else { return nil }
        self.index = index
        self.count = count
    }

    /// FNV-1a, 64 bit: stable across processes and releases (Swift's `Hasher` is seeded per process).
    public static func hash(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        return hash
    }

    /// The shard that owns `namespace/name` among `count`.
    public static func index(of key: String, count: Int) -> Int { Int(hash(key) % UInt64(max(1, count))) }

    /// Whether this shard owns the object `namespace/name` (or any text that identifies a group of
    /// objects that must stay together, e.g. `namespace/model` for the versions of one model).
    public func owns(_ key: String) -> Bool { count == 1 || Self.index(of: key, count: count) == index }

    public func owns(_ key: ObjectKey) -> Bool { owns("\(key.namespace)/\(key.name)") }

    /// The Lease of this shard's leader election: `<base>-shard-<index>` (the base alone without sharding).
    public func leaseName(base: String) -> String { count == 1 ? base : "\(base)-shard-\(index)" }

    public var description: String { "\(index)/\(count)" }
}
