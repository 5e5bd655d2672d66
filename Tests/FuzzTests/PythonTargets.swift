#if !FUZZ_STANDALONE
@testable import PythonRuntime
#endif

/// Line tables as CPython compiled them for one small function (`co_lnotab` of 3.8, `co_linetable`
/// of 3.10, the location tables of 3.11 and 3.13), first line 2: the tables come from the target's
/// memory, untrusted like any of it.
let pythonLineTableSeeds: [(name: String, bytes: [UInt8])] = [
    ("3.8", [0, 1, 8, 1, 12, 1, 8, 1, 10, 2, 10, 1, 2, 1, 16, 1, 14, 1, 10, 1, 4, 1, 6, 255]),
    ("3.10", [8, 1, 12, 1, 8, 1, 10, 1, 10, 2, 2, 1, 16, 1, 12, 1, 8, 1, 2, 255, 4, 2, 6, 1, 4, 255]),
    ("3.11", [128, 0, 216, 8, 9, 136, 65, 137, 5, 128, 65, 221, 13, 18, 144, 49, 137, 88, 140, 88, 240, 0, 4, 5, 19, 240,
              0, 4, 5, 19, 136, 1, 216, 11, 12, 136, 113, 137, 53, 240, 0, 3, 9, 19, 216, 12, 13, 144, 17, 137, 70, 136, 65,
              136, 65, 224, 12, 13, 144, 17, 137, 70, 136, 65, 136, 65, 240, 2, 3, 5, 14, 216, 12, 13, 144, 17, 144, 81, 145,
              21, 137, 75, 136, 1, 136, 1, 248, 221, 11, 28, 240, 0, 1, 5, 14, 240, 0, 1, 5, 14, 240, 0, 1, 5, 14, 216, 12, 13,
              136, 1, 136, 1, 136, 1, 240, 3, 1, 5, 14, 248, 248, 248, 224, 12, 13, 136, 113, 216, 12, 13, 144, 1, 137, 69,
              240, 3, 1, 12, 19, 240, 0, 1, 5, 19]),
    ("3.13", [128, 0, 216, 8, 9, 137, 5, 128, 65, 220, 13, 18, 144, 49, 142, 88, 136, 1, 216, 11, 12, 136, 113, 143, 53, 216,
              12, 13, 137, 70, 138, 65, 224, 12, 13, 144, 17, 137, 70, 138, 65, 241, 9, 0, 14, 22, 240, 10, 3, 5, 14, 216, 12,
              13, 144, 17, 145, 21, 137, 75, 136, 1, 240, 6, 0, 13, 14, 216, 12, 13, 137, 69, 240, 3, 1, 12, 19, 240, 0, 1, 5,
              19, 248, 244, 5, 0, 12, 29, 243, 0, 1, 5, 14, 216, 12, 13, 138, 1, 240, 3, 1, 5, 14, 250]),
]

/// A line table's decoder run on the input: its first four bytes pick the first line and the
/// offset looked up (negative ones too), the rest is the table; then every offset of the table.
func runLineTable(_ input: [UInt8], _ decode: ([UInt8], Int, Int) -> Int?) {
    guard input.count >= 4 else { _ = decode(input, 1, 0); return }
    let firstLine = Int(Int16(bitPattern: UInt16(input[0]) | UInt16(input[1]) << 8))
    let offset = Int(Int16(bitPattern: UInt16(input[2]) | UInt16(input[3]) << 8))
    let table = Array(input.dropFirst(4))
    _ = decode(table, firstLine, offset)
    // Offsets across the table and past its end, at most 64 of them (each decode walks the table).
    let end = table.count * 16 + 2
    for at in stride(from: -2, through: end, by: max(2, end / 64)) { _ = decode(table, firstLine, at) }
}

/// The 3.13+ layouts, whose `_Py_DebugOffsets` positions are known.
let debugOffsetsLayouts = GeneratedLayout.all.filter { $0.debugOffsetsSize != nil }

/// `_Py_DebugOffsets` as the interpreter of `layout` would publish it: its own offsets at the
/// positions its minor version puts them, every structure 64 KiB.
func debugOffsetsTable(_ layout: GeneratedLayout) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: layout.debugOffsetsSize ?? 0)
    func put(_ position: Int?, _ value: Int) {
        guard let position, position + 8 <= bytes.count else { return }
        for i in 0..<8 { bytes[position + i] = UInt8(truncatingIfNeeded: UInt64(value) >> (8 * UInt64(i))) }
    }
    for entry in DebugOffsets.entries {
        put(layout[keyPath: entry.structure], 1 << 16)
        put(layout[keyPath: entry.position], entry.target.flatMap { layout[keyPath: $0] } ?? 0)
    }
    put(layout.debugInterpGilState, 4096)
    put(layout.debugInterpGilLocked, 4096 + (layout.gilLocked ?? 0))
    put(layout.debugInterpGilHolder, 4096 + (layout.gilLastHolder ?? 0))
    return bytes
}

/// The debug-offsets reader on untrusted bytes: the first byte picks the minor version whose
/// positions are read, the rest is the table; what it accepts is applied to that layout.
func runDebugOffsets(_ input: [UInt8]) {
    guard let first = input.first, !debugOffsetsLayouts.isEmpty else { return }
    let layout = debugOffsetsLayouts[Int(first) % debugOffsetsLayouts.count]
    if case .success(let read) = DebugOffsets.read(Array(input.dropFirst()), positions: layout) {
        var applied = layout
        read.apply(to: &applied)
        _ = read.differences(from: layout)
    }
}

extension FuzzTargets {
    static let python: [FuzzTarget] = {
        @Sendable func seeds(_ versions: String...) -> @Sendable () -> [FuzzSeed] {
            { pythonLineTableSeeds.filter { versions.contains($0.name) }.map { FuzzSeed(bytes: [2, 0, 6, 0] + $0.bytes) } }
        }
        return [
            FuzzTarget("py-lnotab", seeds: seeds("3.8")) { input in runLineTable(input) { LineTable.lnotab($0, firstLine: $1, offset: $2) } },
            FuzzTarget("py-linetable", seeds: seeds("3.10")) { input in
                runLineTable(input) { LineTable.linetable310($0, firstLine: $1, offset: $2) }
            },
            FuzzTarget("py-locations", seeds: seeds("3.11", "3.13")) { input in
                runLineTable(input) { LineTable.locationTable($0, firstLine: $1, offset: $2) }
            },
            FuzzTarget("py-debug-offsets", seeds: {
                debugOffsetsLayouts.enumerated().map { index, layout in FuzzSeed(bytes: [UInt8(index)] + debugOffsetsTable(layout)) }
            }, run: runDebugOffsets),
        ]
    }()
}
