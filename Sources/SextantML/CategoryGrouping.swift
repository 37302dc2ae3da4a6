// More categories than the bins hold: the rare ones share one level. The rule (docs/trainer.md
// "Categorical features"): keep the `limit - 1` levels with the most rows in the data set (labels
// are not looked at), ties broken by the level's text in byte order; every other level maps to
// one added level, `(other)` (with `+` appended until no real level has that name), the last one.
// Kept levels keep their relative order. The artifact lists the grouped levels, so the model
// server maps them to the same code; a level seen in neither list is unseen (missing) as before.

struct CategoryGrouping {
    /// Level names after grouping (index = code).
    var levels: [String]
    /// Levels mapped to the last level; empty when nothing was grouped.
    var grouped: [String]
    /// New code of each original code.
    var code: [Int32]

    init(codes: [Int32], levels original: [String], limit: Int) {
        guard original.count > limit, limit >= 2 else {
            levels = original
            grouped = []
            code = original.indices.map { Int32($0) }
            return
        }
        var counts = [Int](repeating: 0, count: original.count)
        for c in codes where c >= 0 && Int(c) < counts.count { counts[Int(c)] += 1 }
        let ranked = original.indices.sorted {
            counts[$0] != counts[$1] ? counts[$0] > counts[$1] : Array(original[$0].utf8).lexicographicallyPrecedes(original[$1].utf8)
        }
        let keep = Set(ranked.prefix(limit - 1))
        var other = "(other)"
        let names = Set(original)
        while names.contains(other) { other += "+" }
        var newLevels: [String] = [], newGrouped: [String] = []
        var map = [Int32](repeating: Int32(limit - 1), count: original.count)
        for i in original.indices {
            if keep.contains(i) {
                map[i] = Int32(newLevels.count)
                newLevels.append(original[i])
            } else {
                newGrouped.append(original[i])
            }
        }
        newLevels.append(other)
        levels = newLevels
        grouped = newGrouped
        code = map
    }
}
