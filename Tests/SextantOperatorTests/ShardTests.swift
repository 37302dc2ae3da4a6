import SextantOperator
import Testing

/// `--shard-index/--shard-count` (docs/controller.md#sharding): the shards of a count split every
/// key between them, disjointly, the same way in every process; each has its own Lease.
@Suite struct ShardTests {
    @Test func shardsSplitKeysDisjointlyAndCompletely() throws {
        let keys = (0..<1000).map { ObjectKey(namespace: "ns-\($0 % 100)", name: "fraud-\($0)") }
        for count in [1, 2, 3, 7] {
            let shards = try (0..<count).map { try #require(Shard(index: $0, count: count)) }
            var owned = Array(repeating: 0, count: count)
            for key in keys {
                let owners = shards.filter { $0.owns(key) }
                #expect(owners.count == 1, "\(key) owned by \(owners) of \(count)")
                if let owner = owners.first { owned[owner.index] += 1 }
            }
            // FNV-1a spreads these names evenly enough: no shard gets less than half its share.
            #expect(owned.allSatisfy { $0 >= keys.count / count / 2 }, "split \(owned)")
        }
    }

    @Test func theSplitIsStableAcrossProcesses() {
        // Fixed values: a change of the hash would move every object to another shard on upgrade.
        #expect(Shard.hash("") == 0xcbf2_9ce4_8422_2325)
        #expect(Shard.hash("a") == 0xaf63_dc4c_8601_ec8c)
        #expect(Shard.index(of: "ml-production/fraud", count: 2) == Int(Shard.hash("ml-production/fraud") % 2))
    }

    @Test func invalidShardsAndLeaseNames() {
        #expect(Shard(index: 0, count: 0) == nil)
        #expect(Shard(index: 2, count: 2) == nil)
        #expect(Shard(index: -1, count: 2) == nil)
        #expect(Shard(index: 1, count: 2)?.leaseName(base: "sextant-controller-leader") == "sextant-controller-leader-shard-1")
        #expect(Shard(index: 0, count: 1)?.leaseName(base: "sextant-controller-leader") == "sextant-controller-leader")
    }
}
