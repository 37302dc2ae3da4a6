import Foundation
import SextantPrometheus
import Testing

/// Issue 21 item 6: Prometheus answers the client was not written for (malformed JSON, wrong
/// types in every position, huge results, odd HTTP statuses) end in a result or a
/// `PrometheusError` with a message, never a crash; `singleValue` refuses several series by name.
@Suite struct ResponseFuzzTests {
    let address = "http://prom.test:9090"

    @Test func mutatedAnswersAreParsedOrRefused() {
        var state: UInt64 = 0x9E3779B9
        func random(_ n: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return n <= 1 ? 0 : Int((state >> 33) % UInt64(n))
        }
        let seeds = [
            #"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"version":"v1"},"value":[1712345678.1,"0.5"]}]}}"#,
            #"{"status":"success","data":{"resultType":"scalar","result":[1712345678,"2"]}}"#,
            #"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"],[2,"NaN"]]}]}}"#,
            #"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#,
            #"{"status":"success","data":{"resultType":"string","result":[1,"x"]},"warnings":["w"]}"#,
        ]
        let tokens = ["null", "true", "1e999", "-0", "\"\"", "[]", "{}", "\"NaN\"", "[1]", "\"+Inf\"", "1", "\"x\"", "[[]]"]
        var answered = 0, refused = 0
        var problems: [String] = []
        for i in 0..<5000 {
            var bytes = Array(seeds[random(seeds.count)].utf8)
            if random(2) == 0 {
                // Well-formed JSON with one value of a wrong type or range somewhere.
                let values: [Any] = [NSNull(), true, 1e300, -1, "", [Any](), [String: Any](), "NaN", [1], "+Inf", "x", [[Any]](),
                                     ["a", "b", "c"], [1712345678, "1", "2"]]
                func replace(_ node: Any) -> Any {
                    if let o = node as? [String: Any], !o.isEmpty, random(3) != 0 {
                        var o = o
                        let key = o.keys.sorted()[random(o.count)]
                        o[key] = replace(o[key] ?? NSNull())
                        return o
                    }
                    if let a = node as? [Any], !a.isEmpty, random(3) != 0 {
                        var a = a
                        let i = random(a.count)
                        a[i] = replace(a[i])
                        return a
                    }
                    return values[random(values.count)]
                }
                if let tree = try? JSONSerialization.jsonObject(with: Data(bytes)),
                   let mutated = try? JSONSerialization.data(withJSONObject: replace(tree), options: [.fragmentsAllowed]) {
                    bytes = Array(mutated)
                }
            } else {
            for _ in 0..<(1 + random(3)) {
                let at = random(bytes.count)
                switch random(4) {
                case 0: bytes = Array(bytes.prefix(at))
                case 1: if !bytes.isEmpty { bytes[at] = UInt8(random(256)) }
                case 2: bytes.insert(contentsOf: Array(tokens[random(tokens.count)].utf8), at: at)
                default: if !bytes.isEmpty { bytes.remove(at: at) }
                }
                if bytes.isEmpty { break }
            }
            }
            let status = [200, 200, 200, 400, 422, 500, 503, 302][random(8)]
            do {
                let response = try PrometheusResponseParser.parse(status: status, body: Data(bytes), address: address)
                answered += 1
                _ = try? PrometheusClient.singleValue(of: response.result, query: "q")
            } catch {
                refused += 1
                if "\(error)".isEmpty { problems.append("#\(i): empty error") }
            }
        }
        print("prometheus answer fuzz: 5000 answers, \(answered) parsed, \(refused) refused with an error")
        #expect(problems.isEmpty, "\(problems.prefix(10))")
        #expect(answered > 50 && refused > 1000, "answered \(answered), refused \(refused)")
    }

    @Test func aHugeResultIsParsedAndRefusedAsSeveralSeries() throws {
        let series = (0..<100_000).map { #"{"metric":{"pod":"p\#($0)"},"value":[1712345678,"\#($0)"]}"# }
        let body = #"{"status":"success","data":{"resultType":"vector","result":["# + series.joined(separator: ",") + "]}}"
        let response = try PrometheusResponseParser.parse(status: 200, body: Data(body.utf8), address: address)
        do {
            _ = try PrometheusClient.singleValue(of: response.result, query: "sum by (pod) (x)")
            Issue.record("100,000 series taken as one value")
        } catch {
            #expect("\(error)".contains("100000") || "\(error)".contains("series"), "\(error)")
        }
    }
}
