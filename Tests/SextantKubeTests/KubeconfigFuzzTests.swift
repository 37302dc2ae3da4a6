import Foundation
import SextantKube
import Testing

/// Issue 21 item 6: kubeconfigs mutated at the byte and line level (truncated, bytes flipped,
/// lines dropped or repeated, values replaced by odd ones) go through parsing and the cluster
/// settings the client would connect with. None may crash; every refusal is a `KubeConfigError`
/// with a message. Bounded by a fixed seed.
@Suite struct KubeconfigFuzzTests {
    @Test func mutatedKubeconfigsAreRefusedWithAMessageOrUsable() throws {
        var state: UInt64 = 0xC0FFEE
        func random(_ n: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return n <= 1 ? 0 : Int((state >> 33) % UInt64(n))
        }
        let seeds = [KubeconfigTests.first, KubeconfigTests.second]
        let odd = ["", "~", "null", "[]", "{}", "0", "-1", "\"\"", "https://", "not a url", "'unterminated", "&anchor", "*alias",
                   "!!binary AAAA", "\u{0}", String(repeating: "a", count: 5000), "https://[::1", "http://h:99999"]
        var refused = 0, parsed = 0, usable = 0
        var problems: [String] = []
        for i in 0..<3000 {
            var lines = seeds[random(seeds.count)].split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            for _ in 0..<(1 + random(3)) {
                let at = random(lines.count)
                switch random(5) {
                case 0: lines.remove(at: at)
                case 1: lines.insert(lines[at], at: at)
                case 2:
                    if let colon = lines[at].firstIndex(of: ":") {
                        lines[at] = String(lines[at][...colon]) + " " + odd[random(odd.count)]
                    }
                case 3:
                    var bytes = Array(lines[at].utf8)
                    if !bytes.isEmpty { bytes[random(bytes.count)] = UInt8(random(256)) }
                    lines[at] = String(decoding: bytes, as: UTF8.self)
                default: lines = Array(lines.prefix(at))
                }
                if lines.isEmpty { break }
            }
            let text = lines.joined(separator: "\n")
            do {
                let config = try Kubeconfig.parse(text, directory: "/nonexistent", source: "fuzz #\(i)")
                parsed += 1
                do {
                    _ = try ClusterConfig(kubeconfig: config)
                    usable += 1
                } catch let error as KubeConfigError {
                    refused += 1
                    if error.description.isEmpty { problems.append("#\(i): empty message") }
                } catch {
                    refused += 1
                    if "\(error)".isEmpty { problems.append("#\(i): empty message for \(type(of: error))") }
                }
            } catch let error as KubeConfigError {
                refused += 1
                if !error.description.contains("fuzz #\(i)") { problems.append("#\(i): the message does not name the source: \(error)") }
            } catch {
                problems.append("#\(i): not a KubeConfigError: \(type(of: error)) \(error)")
            }
        }
        print("kubeconfig fuzz: 3000 documents, \(parsed) parsed (\(usable) usable), \(refused) refused")
        #expect(problems.isEmpty, "\(problems.prefix(10))")
        #expect(refused > 100 && usable > 100, "refused \(refused), usable \(usable)")
    }
}
