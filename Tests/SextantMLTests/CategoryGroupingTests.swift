import Foundation
import SextantTestSupport
import Testing
@testable import SextantML

/// Issue 16 item 3: a categorical column with more levels than the bins hold (1,000 here, written
/// by pandas) trains; the 253 most frequent levels (ties by text) keep their own code, the rest
/// share `(other)`, and the artifact's mapping sends every grouped level to that code while an
/// unseen level stays missing.
@Suite struct CategoryGroupingTests {
    static let script = #"""
    import json, sys
    import numpy as np, pandas as pd
    rng = np.random.default_rng(7)
    n = 20000
    levels = np.array([f"L{i:04d}" for i in range(1000)])
    weights = 1.0 / np.arange(1, 1001) ** 0.8
    cat = rng.choice(levels, size=n, p=weights / weights.sum())
    cat[:1000] = rng.permutation(levels)            # every level occurs
    effect = dict(zip(levels, rng.normal(scale=1.0, size=1000)))
    x = rng.normal(size=n)
    y = (np.array([effect[c] for c in cat]) + x + rng.normal(size=n) > 0).astype(int)
    df = pd.DataFrame({"cat": cat, "x": x, "label": y})
    df.to_csv(sys.argv[1] + "/data.csv", index=False)
    counts = df["cat"].value_counts()
    ranked = sorted(counts.index, key=lambda c: (-counts[c], c.encode()))
    json.dump({"kept": ranked[:253], "levels": int(counts.size)}, open(sys.argv[1] + "/expected.json", "w"))
    """#

    @Test func rareLevelsShareOneCode() async throws {
        guard try Tooling.available("python3 with pandas and numpy (hack/requirements-test.txt)",
                                    await Tooling.pythonHasAsync(["pandas", "numpy"])) else { return }
        let dir = try makeTempDir()
        try Data(Self.script.utf8).write(to: dir.appendingPathComponent("make.py"))
        let run = try await runCommandAsync("/usr/bin/env", ["python3", dir.appendingPathComponent("make.py").path, dir.path])
        try #require(run.code == 0, "\(run.output)")
        let expected = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("expected.json"))) as? [String: Any])
        let kept = try #require(expected["kept"] as? [String])
        #expect(expected["levels"] as? Int == 1000)
        let out = dir.appendingPathComponent("out")
        let cfg = try TrainingConfig.parse(yaml: """
            {modelName: many, data: {uri: "\(dir.appendingPathComponent("data.csv").path)"}, target: label,
             categoricalFeatures: [cat], hyperparameters: {nEstimators: 20, maxDepth: 4, threads: 2}, output: {uri: "\(out.path)"}}
            """)
        let outcome = try await Trainer.run(cfg)
        #expect(outcome.summary.status == .succeeded)
        let artifact = try ModelArtifact.load(data: Data(contentsOf: out.appendingPathComponent("model.json")))
        let feature = try #require(artifact.features.first { $0.name == "cat" })
        let categories = try #require(feature.categories)
        #expect(categories.count == BinnedMatrix.maxCategories && categories.last == "(other)")
        #expect(Set(categories.dropLast()) == Set(kept), "the kept levels are the 253 most frequent")
        let grouped = try #require(feature.groupedCategories)
        #expect(grouped.count == 1000 - 253 && Set(grouped).isDisjoint(with: kept))
        let codes = feature.categoryCodes
        #expect(grouped.allSatisfy { codes[$0] == categories.count - 1 })
        // Served the same way: two grouped levels score alike, an unseen one as missing.
        let predictor = try #require(artifact.predictor)
        let a = try predictor.encode(["cat": .string(grouped[0]), "x": .number(0.3)])
        let b = try predictor.encode(["cat": .string(grouped[grouped.count - 1]), "x": .number(0.3)])
        let unseen = try predictor.encode(["cat": .string("never seen"), "x": .number(0.3)])
        let missing = try predictor.encode(["cat": .missing, "x": .number(0.3)])
        #expect(a[0] == Double(categories.count - 1) && a == b)
        let (pa, pb) = (try predictor.probability(a), try predictor.probability(b))
        let (pu, pm) = (try predictor.probability(unseen), try predictor.probability(missing))
        #expect(unseen[0] == nil && pu == pm)
        #expect(pa == pb)
    }

    @Test func groupingRuleTieBreaksByText() {
        // Levels b, a, c, d with counts 2, 2, 1, 3: limit 3 keeps d and a (a before b by text).
        let g = CategoryGrouping(codes: [0, 0, 1, 1, 2, 3, 3, 3], levels: ["b", "a", "c", "d"], limit: 3)
        #expect(g.levels == ["a", "d", "(other)"])
        #expect(g.grouped == ["b", "c"])
        #expect(g.code == [2, 0, 2, 1])
        let clash = CategoryGrouping(codes: [0, 1, 2], levels: ["(other)", "x", "y"], limit: 2)
        #expect(clash.levels.last == "(other)+")
        let few = CategoryGrouping(codes: [0, 1], levels: ["p", "q"], limit: 254)
        #expect(few.levels == ["p", "q"] && few.grouped.isEmpty)
    }
}
