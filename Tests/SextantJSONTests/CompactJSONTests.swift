import Foundation
@testable import SextantJSON
import SextantTestSupport
import Testing

private let edgeStrings = ["", "a", "é😀", "fifteen bytes!!", "sixteen bytes!!!", String(repeating: "x", count: 300), "\u{0}\u{1}\n\"\\"]
private let edgeInts: [Int64] = [0, 1, -1, 63, -64, 64, 127, 128, -129, 1 << 40, Int64.max, Int64.min]
private let edgeDoubles: [Double] = [0, -0.0, 1, -1.5, 3.5e-300, 1.7976931348623157e308, .leastNonzeroMagnitude, 0.1]

private func randomTree(_ rng: inout SeededGenerator, depth: Int) -> JSONValue {
    switch Int.random(in: 0..<(depth > 4 ? 5 : 8), using: &rng) {
    case 0: return .null
    case 1: return .bool(Bool.random(using: &rng))
    case 2: return .int(Bool.random(using: &rng) ? edgeInts.randomElement(using: &rng) ?? 0 : Int64.random(in: -1000...1000, using: &rng))
    case 3: return .double(Bool.random(using: &rng) ? edgeDoubles.randomElement(using: &rng) ?? 0 : Double.random(in: -1e6...1e6, using: &rng))
    case 4: return .string(edgeStrings.randomElement(using: &rng) ?? "")
    case 5, 6:
        var members: [String: JSONValue] = [:]
        for i in 0..<Int.random(in: 0...9, using: &rng) {
            members["\(edgeStrings.randomElement(using: &rng) ?? "")\(i)"] = randomTree(&rng, depth: depth + 1)
        }
        return .object(members)
    default:
        return .array((0..<Int.random(in: 0...6, using: &rng)).map { _ in randomTree(&rng, depth: depth + 1) })
    }
}

@Suite struct CompactJSONTests {
    @Test func randomTreesComeBackEqual() {
        for seed in 0..<400 {
            var rng = SeededGenerator(state: UInt64(seed))
            let tree = randomTree(&rng, depth: 0)
            #expect(CompactJSON(tree).value == tree, "seed \(seed)")
        }
    }

    @Test func integersAndDoublesStayApart() {
        let tree: JSONValue = ["replicas": .int(3), "weight": .double(3), "negativeZero": .double(-0.0), "min": .int(Int64.min)]
        let back = CompactJSON(tree).value
        #expect(back["replicas"] == .int(3))
        #expect(back["weight"] == .double(3))
        #expect(back["negativeZero"]?.doubleValue?.sign == .minus)
        #expect(back["min"] == .int(Int64.min))
    }

    /// The point of packing: a Kubernetes object packs into no more than its compact JSON text.
    @Test func packsIntoNoMoreThanTheJSONText() throws {
        let text = #"""
        {"apiVersion":"mlops.sextant.dev/v1alpha1","kind":"CanaryRollout","metadata":{"name":"churn","namespace":"ns-7",
        "uid":"0b5a6c1e-2d1f-4c4e-9f3a-6b1c2d3e4f50","resourceVersion":"48213","generation":1,
        "creationTimestamp":"2026-12-06T21:28:00Z"},"spec":{"modelName":"churn","analysis":{"interval":"30s",
        "metrics":[{"name":"success-rate","thresholdRange":{"min":0.99}},{"name":"latency-p99","thresholdRange":{"max":0.5}}]},
        "steps":[{"setWeight":10},{"pause":{"duration":"30s"}},{"setWeight":50}]},"status":{"phase":"Progressing",
        "canaryWeight":10,"conditions":[{"type":"Ready","status":"True","reason":"StepAdvanced",
        "lastTransitionTime":"2026-12-06T21:29:00Z","message":"step 1 of 3: weight 10"}]}}
        """#.replacingOccurrences(of: "\n", with: "")
        let tree = try JSONValue.parse(string: text)
        let packed = CompactJSON(tree)
        #expect(packed.bytes.count <= text.utf8.count, "\(packed.bytes.count) bytes packed, \(text.utf8.count) as JSON")
        #expect(packed.value == tree)
    }

    /// Bytes `init` never writes (cut short, or noise) unpack to something without trapping.
    @Test func truncatedOrRandomBytesDoNotTrap() {
        var rng = SeededGenerator(state: 42)
        let tree = randomTree(&rng, depth: 0)
        let whole = CompactJSON(tree).bytes
        for cut in 0..<whole.count {
            _ = CompactJSON(bytes: Array(whole[..<cut])).value
        }
        for _ in 0..<300 {
            let noise = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = CompactJSON(bytes: noise).value
        }
        #expect(CompactJSON(bytes: whole).value == tree)
        #expect(CompactJSON(bytes: [7, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]).value == .null, "a count past the end")
    }
}
