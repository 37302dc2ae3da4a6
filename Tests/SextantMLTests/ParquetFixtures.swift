import Foundation
import Testing
@testable import SextantML

/// Parquet files written at test time by the real pyarrow (never by Sextant), with the same
/// values as CSV text for comparison. A missing pyarrow is a test failure naming it.
enum PyarrowFixtures {
    /// The generator: every supported encoding and codec, nulls, dictionary pages (and the fallback
    /// to plain after a full dictionary), several row groups and pages, data page v1 and v2.
    static let script = #"""
import sys, json, datetime, decimal, random, csv
import pyarrow as pa, pyarrow.parquet as pq
out = sys.argv[1]
rows = 2000
rng = random.Random(7)
def maybe(v, rate=0.1):
    return None if rng.random() < rate else v
colors = ["red", "green", "blue", "cyan", "magenta", "yellow", "black", "white", "ünïcode, \"quoted\""]
cols = {k: [] for k in ["d", "f", "i32", "i64", "u8", "b", "s", "sl", "dt", "ts", "dec", "y"]}
for r in range(rows):
    cols["d"].append(maybe(rng.gauss(0, 1)))
    cols["f"].append(maybe(rng.uniform(-5, 5)))
    cols["i32"].append(maybe(rng.randint(-2**31, 2**31 - 1)))
    cols["i64"].append(maybe(rng.randint(-2**50, 2**50)))
    cols["u8"].append(maybe(rng.randint(0, 255)))
    cols["b"].append(maybe(rng.random() < 0.5))
    cols["s"].append(maybe(rng.choice(colors), 0.15))
    cols["sl"].append(maybe("id-%06d-%s" % (rng.randint(0, 999999), "x" * rng.randint(0, 5))))
    cols["dt"].append(maybe(datetime.date(2020, 1, 1) + datetime.timedelta(days=rng.randint(0, 2000))))
    cols["ts"].append(maybe(datetime.datetime(2024, 1, 1) + datetime.timedelta(microseconds=rng.randint(0, 10**12))))
    cols["dec"].append(maybe(decimal.Decimal(rng.randint(-10**9, 10**9)).scaleb(-2)))
    cols["y"].append(1 if rng.random() < 0.3 else 0)
types = {"d": pa.float64(), "f": pa.float32(), "i32": pa.int32(), "i64": pa.int64(), "u8": pa.uint8(), "b": pa.bool_(),
         "s": pa.string(), "sl": pa.string(), "dt": pa.date32(), "ts": pa.timestamp("us"), "dec": pa.decimal128(12, 2), "y": pa.int64()}
table = pa.table({k: pa.array(v, types[k]) for k, v in cols.items()})

# The expected values as CSV text, each number as the value the logical type documents.
epoch = datetime.datetime(1970, 1, 1)
def text(k, v):
    if v is None: return ""
    if k == "b": return "1" if v else "0"
    if k == "f": return repr(float(v))
    if k == "dt": return str((v - datetime.date(1970, 1, 1)).days)
    if k == "ts":
        delta = v - epoch
        return repr((delta.days * 86400 * 10**6 + delta.seconds * 10**6 + delta.microseconds) / 10**6)
    if k == "dec": return repr(int(v.scaleb(2)) / 100)
    return repr(v) if isinstance(v, float) else str(v)
py = {k: table.column(k).to_pylist() for k in cols}
with open(out + "/expected.csv", "w", newline="") as fh:
    w = csv.writer(fh, lineterminator="\n")
    w.writerow(list(cols))
    for r in range(rows):
        w.writerow([text(k, py[k][r]) for k in cols])

variants = {}
def write(name, t=table, **kw):
    path = out + "/" + name + ".parquet"
    pq.write_table(t, path, **kw)
    m = pq.ParquetFile(path).metadata
    encodings, codecs = set(), set()
    for g in range(m.num_row_groups):
        for j in range(m.num_columns):
            c = m.row_group(g).column(j)
            encodings.update(c.encodings); codecs.add(c.compression)
    variants[name] = {"rowGroups": m.num_row_groups, "encodings": sorted(encodings), "codecs": sorted(codecs)}

for codec in ["none", "snappy", "gzip", "zstd", "lz4"]:
    for version in ["1.0", "2.0"]:
        write("dict-%s-v%s" % (codec, version[0]), compression=codec, data_page_version=version,
              row_group_size=700, data_page_size=1024)
write("plain-v1", use_dictionary=False, compression="snappy", row_group_size=900)
write("plain-v2-uncompressed-values", use_dictionary=False, compression="zstd", data_page_version="2.0")
write("dictionary-fallback", compression="snappy", dictionary_pagesize_limit=200, data_page_size=512)
delta = {"d": "BYTE_STREAM_SPLIT", "f": "BYTE_STREAM_SPLIT", "i32": "DELTA_BINARY_PACKED", "i64": "DELTA_BINARY_PACKED",
         "u8": "DELTA_BINARY_PACKED", "b": "RLE", "s": "DELTA_BYTE_ARRAY", "sl": "DELTA_LENGTH_BYTE_ARRAY",
         "dt": "DELTA_BINARY_PACKED", "ts": "DELTA_BINARY_PACKED", "dec": "DELTA_BYTE_ARRAY", "y": "DELTA_BINARY_PACKED"}
for version in ["1.0", "2.0"]:
    write("delta-v" + version[0], use_dictionary=False, column_encoding=delta, data_page_version=version,
          compression="zstd", row_group_size=700, data_page_size=2048)
write("split-ints-decimal-as-int", use_dictionary=False, store_decimal_as_integer=True, compression="lz4",
      column_encoding={"i32": "BYTE_STREAM_SPLIT", "i64": "BYTE_STREAM_SPLIT", "dec": "BYTE_STREAM_SPLIT",
                       "sl": "DELTA_BYTE_ARRAY", "s": "DELTA_LENGTH_BYTE_ARRAY"})
write("split-flba-decimal", use_dictionary=False, compression="gzip", column_encoding={"dec": "BYTE_STREAM_SPLIT"})
# Required (non-nullable) columns: no definition levels.
required = pa.table({"d": pa.array([x if x is not None else 0.0 for x in py["d"]], pa.float64()),
                     "s": pa.array([x if x is not None else "unknown" for x in py["s"]], pa.string()),
                     "y": pa.array(py["y"], pa.int64())},
                    schema=pa.schema([pa.field("d", pa.float64(), False), pa.field("s", pa.string(), False), pa.field("y", pa.int64(), False)]))
pq.write_table(required, out + "/required.parquet", compression="snappy", row_group_size=500)
with open(out + "/required.csv", "w", newline="") as fh:
    w = csv.writer(fh, lineterminator="\n")
    w.writerow(["d", "s", "y"])
    for r in range(rows):
        w.writerow([repr(required.column("d")[r].as_py()), required.column("s")[r].as_py(), required.column("y")[r].as_py()])

# Files the reader must refuse (nested) or read only in part (INT96 is refused when asked for).
pq.write_table(pa.table({"p": pa.array([{"a": 1, "b": 2.0}] * 10), "y": pa.array([0, 1] * 5)}), out + "/nested.parquet")
pq.write_table(pa.table({"t": pa.array([datetime.datetime(2024, 1, 1)] * 10, pa.timestamp("ns")), "x": pa.array([1.5] * 10), "y": pa.array([0, 1] * 5)}),
               out + "/int96.parquet", use_deprecated_int96_timestamps=True)
# Small, uncompressed, dictionary-encoded: the base of targeted corruptions and of the fuzz.
small = pa.table({"s": pa.array(["a", "b"] * 25, pa.string()), "x": pa.array([maybe(float(i) / 3) for i in range(50)], pa.float64()),
                  "y": pa.array([0, 1] * 25, pa.int64())},
                 schema=pa.schema([pa.field("s", pa.string(), False), pa.field("x", pa.float64()), pa.field("y", pa.int64())]))
pq.write_table(small, out + "/small.parquet", compression="none", row_group_size=20)
pq.write_table(small, out + "/small-snappy-v2.parquet", compression="snappy", row_group_size=20, data_page_version="2.0")

# Training data for the CSV/Parquet model comparison.
n = 3000
tr = {"x0": [], "x1": [], "x2": [], "color": [], "group": [], "label": []}
for r in range(n):
    x0, x1, x2 = rng.gauss(0, 1), rng.gauss(0, 1), rng.gauss(0, 1)
    color = rng.choice(["red", "green", "blue"]); group = "a" if rng.random() < 0.5 else "b"
    z = 1.2 * x0 - x1 + (0.8 if color == "red" else 0) + 0.4 * rng.gauss(0, 1)
    tr["x0"].append(x0); tr["x1"].append(x1); tr["x2"].append(None if rng.random() < 0.03 else x2)
    tr["color"].append(None if rng.random() < 0.02 else color); tr["group"].append(group); tr["label"].append(1 if z > 0.5 else 0)
tt = pa.table(tr)
pq.write_table(tt, out + "/train.parquet", compression="zstd", row_group_size=1000)
with open(out + "/train.csv", "w", newline="") as fh:
    w = csv.writer(fh, lineterminator="\n")
    w.writerow(list(tr))
    for r in range(n):
        w.writerow(["" if tr[k][r] is None else (repr(tr[k][r]) if isinstance(tr[k][r], float) else tr[k][r]) for k in tr])
json.dump(variants, open(out + "/manifest.json", "w"), indent=1, sort_keys=True)
"""#

    struct Variant: Decodable, Sendable { var rowGroups: Int; var encodings: [String]; var codecs: [String] }

    /// Generated once per test process (the files are only read).
    static let shared: Result<(URL, [String: Variant]), FixtureError> = {
        do { return .success(try write()) } catch let e as FixtureError { return .failure(e) } catch { return .failure(FixtureError("\(error)")) }
    }()

    static func generate() throws -> (URL, [String: Variant]) { try shared.get() }

    /// Writes the fixtures into a new directory and returns it with the manifest.
    static func write() throws -> (URL, [String: Variant]) {
        let dir = try makeTempDir("sextant-parquet")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, dir.path]
        let err = Pipe()
        p.standardError = err
        try p.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw FixtureError("the pyarrow fixture script failed (is pyarrow installed? pip install -r hack/requirements-test.txt): \(stderr)")
        }
        let manifest = try JSONDecoder().decode([String: Variant].self, from: Data(contentsOf: dir.appendingPathComponent("manifest.json")))
        return (dir, manifest)
    }

    struct FixtureError: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }
}

/// Reads a Parquet file with the given kinds (as the trainer would).
func readParquet(_ url: URL, kinds: [String: CSVColumnKind], threads: Int = 2) throws -> CSVTable {
    let bytes = try Data(contentsOf: url)
    return try bytes.withUnsafeBytes { try ParquetReader.read($0, name: url.lastPathComponent, threads: threads) { _ in kinds } }
}

func readParquet(_ bytes: [UInt8], name: String, kinds: [String: CSVColumnKind]) throws -> CSVTable {
    try bytes.withUnsafeBytes { try ParquetReader.read($0, name: name, threads: 1) { _ in kinds } }
}

/// Columns equal, NaN equal to NaN.
func sameColumn(_ a: CSVColumn?, _ b: CSVColumn?) -> Bool {
    switch (a, b) {
    case (.numeric(let x)?, .numeric(let y)?):
        return x.count == y.count && zip(x, y).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
    case (.categorical(let c1, let l1)?, .categorical(let c2, let l2)?):
        return c1 == c2 && l1 == l2
    default:
        return false
    }
}
