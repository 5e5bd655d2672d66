import Foundation
import Testing
@testable import Symbols

/// A program with calls the optimiser inlines two deep, and known lines.
let inlineProgram = """
    #include <stdio.h>
    static inline int square(int x) { return x * x; }
    static inline int twice_square(int x) { return 2 * square(x) + (x & 3); }
    __attribute__((noinline)) int compute(int n) {
        int s = 0;
        for (int i = 0; i < n; i++)
            s += twice_square(i + s % 7);
        return s;
    }
    int main(int argc, char **argv) {
        (void)argv;
        printf("%d\\n", compute(argc * 100));
        return 0;
    }
    """

/// One frame of `eu-addr2line -f -i` output: a function and a position.
struct Addr2LineFrame: Equatable, CustomStringConvertible {
    var function: String?
    var file: String?
    var line: Int?
    var column: Int?

    var description: String { "\(function ?? "??") \(file ?? "??"):\(line ?? 0):\(column ?? 0)" }
}

/// elfutils' `eu-addr2line -f -i` for each address, innermost first: the reference for these
/// tests. (binutils 2.40's addr2line names the wrong file of a DWARF 5 line table: one index off.)
func addr2line(_ file: String, _ addresses: [UInt64]) throws -> [[Addr2LineFrame]] {
    var result: [[Addr2LineFrame]] = []
    // A few hundred addresses per run keep the command line short.
    for start in stride(from: 0, to: addresses.count, by: 200) {
        let chunk = addresses[start..<min(addresses.count, start + 200)]
        let arguments = chunk.map { "0x" + String($0, radix: 16) }.joined(separator: " ")
        let output = try shell("eu-addr2line -f -i --pretty-print -e '\(file)' \(arguments)", in: "/")
        for line in output.split(separator: "\n") {
            var text = Substring(line)
            let inlinedBy = text.hasPrefix(" (inlined by) ")
            if inlinedBy { text = text.dropFirst(" (inlined by) ".count) }
            guard let at = text.range(of: " at ", options: .backwards) else { continue }
            let function = String(text[..<at.lowerBound])
            let parts = text[at.upperBound...].split(separator: ":", omittingEmptySubsequences: false)
            var frame = Addr2LineFrame(function: function == "??" ? nil : function)
            if parts.count >= 2, parts[0] != "??" {
                frame.file = String(parts[0])
                frame.line = Int(parts[1]).flatMap { $0 == 0 ? nil : $0 }
                frame.column = parts.count >= 3 ? Int(parts[2]).flatMap { $0 == 0 ? nil : $0 } : nil
            }
            if inlinedBy, !result.isEmpty { result[result.count - 1].append(frame) } else { result.append([frame]) }
        }
    }
    return result
}

/// llvm-symbolizer's answer (JSON output) for each address, innermost first: the reference for
/// clang's DWARF 5 (indexed strings, addresses and range lists), which libdw 0.188 cannot read.
func llvmSymbolizer(_ file: String, _ addresses: [UInt64]) throws -> [[Addr2LineFrame]] {
    let input = addresses.map { "0x" + String($0, radix: 16) }.joined(separator: "\\n")
    let output = try shell("printf '\(input)\\n' | llvm-symbolizer --obj='\(file)' --inlining --output-style=JSON", in: "/")
    return try output.split(separator: "\n").map { line in
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        let symbols = object?["Symbol"] as? [[String: Any]] ?? []
        return symbols.map { symbol in
            let lineNumber = symbol["Line"] as? Int ?? 0
            let name = symbol["FunctionName"] as? String
            return Addr2LineFrame(function: name == "" ? nil : name,
                                  file: lineNumber == 0 ? nil : symbol["FileName"] as? String,
                                  line: lineNumber == 0 ? nil : lineNumber,
                                  column: lineNumber == 0 ? nil : (symbol["Column"] as? Int).flatMap { $0 == 0 ? nil : $0 })
        }
    }
}

func baseName(_ path: String?) -> String? { path.map { String($0.split(separator: "/").last ?? Substring($0)) } }

/// Compares our answer for `address` with addr2line's frames: the inlined functions' names and
/// positions, then the position in the real function.
func expectSameAsAddr2Line(_ info: SourceInfo?, _ frames: [Addr2LineFrame], address: UInt64,
                           sourceLocation: Testing.SourceLocation = #_sourceLocation) {
    guard let info else {
        #expect(frames.allSatisfy { $0.line == nil }, "0x\(String(address, radix: 16)): none here, the reference has \(frames)",
                sourceLocation: sourceLocation)
        return
    }
    var ours: [Addr2LineFrame] = info.inlined.map {
        Addr2LineFrame(function: $0.name, file: baseName($0.location?.file), line: $0.location?.line, column: $0.location?.column)
    }
    ours.append(Addr2LineFrame(function: frames.last?.function, file: baseName(info.location?.file), line: info.location?.line,
                               column: info.location?.column))
    let expected = frames.map { Addr2LineFrame(function: $0.function, file: baseName($0.file), line: $0.line, column: $0.column) }
    #expect(ours == expected, "0x\(String(address, radix: 16))", sourceLocation: sourceLocation)
}

@Suite struct SourceLineTests {
    /// Every 2nd byte of `compute` and `main`, built each way the reader must understand; the
    /// same answers as elfutils' libdw, through eu-addr2line.
    @Test(arguments: [
        "gcc -O0 -g", "gcc -O2 -g", "gcc -O2 -gdwarf-4", "gcc -O2 -gdwarf-3", "gcc -O2 -gdwarf-2",
        "gcc -O2 -g -gdwarf64", "gcc -O2 -g -Wl,--compress-debug-sections=zlib", "gcc -O2 -g -ffunction-sections",
        "clang -O2 -g", "clang -O0 -gdwarf-4", "clang -O2 -g -gdwarf64",
    ])
    func sameAsAddr2Line(build: String) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("inline.c", inlineProgram)
        let compiler = build.hasPrefix("clang") ? "clang" : "cc"
        // clang and llvm-symbolizer come with the Swift toolchain.
        if compiler == "clang" { try shell("command -v clang && command -v llvm-symbolizer", in: "/") }
        try shell("\(compiler) \(build.dropFirst(build.hasPrefix("clang") ? 6 : 4)) -o prog inline.c", in: dir.path)
        let symbols = try ModuleSymbols(path: dir.file("prog"), locator: DebugFileLocator(roots: []))
        var addresses: [UInt64] = []
        for name in ["compute", "main"] {
            let entry = try #require(symbols.table.entries(named: name).first)
            addresses += stride(from: entry.value, to: entry.value + entry.size, by: 2)
        }
        let reference = compiler == "clang" ? try llvmSymbolizer(dir.file("prog"), addresses) : try addr2line(dir.file("prog"), addresses)
        #expect(reference.count == addresses.count)
        var withInlines = 0
        for (address, frames) in zip(addresses, reference) {
            let info = symbols.sourceInfo(virtualAddress: address)
            expectSameAsAddr2Line(info, frames, address: address)
            if info?.inlined.isEmpty == false { withInlines += 1 }
        }
        // At -O2 the small functions are inlined, and found.
        if build.contains("-O2") { #expect(withInlines > 0) }
        let located = addresses.compactMap { symbols.sourceInfo(virtualAddress: $0)?.location }
        #expect(located.contains { baseName($0.file) == "inline.c" && (4...13).contains($0.line) })
    }

    /// libc, from its separate debug file (compressed DWARF 5): 400 addresses across its code.
    @Test func libcSameAsAddr2Line() throws {
        let symbols = try #require(Symbolizer().symbols(for: libcPath))
        let debugFile = try #require(symbols.debugFilePath)
        let functions = symbols.table.entries.filter { $0.size > 16 }
        #expect(functions.count > 1000)
        var addresses: [UInt64] = []
        for i in stride(from: 0, to: functions.count, by: max(1, functions.count / 200)) {
            let entry = functions[i]
            addresses.append(entry.value + entry.size / 3)
            addresses.append(entry.value + entry.size - 2)
        }
        let reference = try addr2line(debugFile, addresses)
        #expect(reference.count == addresses.count)
        var located = 0
        for (address, frames) in zip(addresses, reference) {
            let info = symbols.sourceInfo(virtualAddress: address)
            expectSameAsAddr2Line(info, frames, address: address)
            if info?.location != nil { located += 1 }
        }
        #expect(located > addresses.count / 2)
    }

    /// libc's debug file read only as far as some addresses need (their units, in the first two
    /// fifths of `.debug_info`): those addresses get what the whole DWARF gives them, and an
    /// address past that part is looked up in the whole, read then.
    @Test func libcReadInPart() throws {
        let symbols = try #require(Symbolizer().symbols(for: libcPath))
        let debug = try ELFFile(path: try #require(symbols.debugFilePath), loadSymbols: false)
        let whole = DebugInfo(sections: try #require(DWARFSections(debug)))
        let size = whole.sections.info.count
        let ranges = DebugInfo.arangeSets(try #require(debug.sectionData(named: ".debug_aranges"))).filter { $0.end - $0.start > 32 }
        let early = ranges.filter { $0.infoOffset < UInt64(size * 2 / 5) }
        #expect(early.count > 20)
        let some = stride(from: 0, to: early.count, by: max(1, early.count / 10)).map { early[$0].start + (early[$0].end - early[$0].start) / 2 }
        let late = try #require(ranges.first { $0.infoOffset > UInt64(size * 4 / 5) })
        let later = late.start + (late.end - late.start) / 2

        let part = DebugInfo(sections: try #require(DWARFSections(debug, covering: some)))
        #expect(!part.isWhole)
        #expect(part.sections.info.count < size * 4 / 5)
        #expect(part.sections.abbrev.count < whole.sections.abbrev.count)
        for address in some {
            #expect(part.covers(address))
            #expect(part.sourceInfo(at: address) == whole.sourceInfo(at: address), "0x\(String(address, radix: 16))")
        }
        #expect(some.filter { whole.sourceInfo(at: $0)?.location != nil }.count > some.count / 2)
        #expect(!part.covers(later))

        // Through the module: read in part, then asked for an address past the part.
        let module = try #require(Symbolizer().symbols(for: libcPath))
        module.loadSourceInfo(covering: some.compactMap(module.module.fileOffset(forVirtualAddress:)))
        #expect(module.dwarf(covering: some)?.isWhole == false)
        #expect(module.sourceInfo(virtualAddress: some[0]) == whole.sourceInfo(at: some[0]))
        #expect(whole.sourceInfo(at: later)?.location != nil)
        #expect(module.sourceInfo(virtualAddress: later) == whole.sourceInfo(at: later))
        #expect(module.dwarf(covering: [later])?.isWhole == true)
    }

    /// A stripped program without a debug file has no lines: nil, never another program's.
    @Test func strippedProgramHasNoLines() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("inline.c", inlineProgram)
        try shell("cc -O2 -g -o prog inline.c && strip -o stripped prog", in: dir.path)
        let full = try ModuleSymbols(path: dir.file("prog"), locator: DebugFileLocator(roots: []))
        let stripped = try ModuleSymbols(path: dir.file("stripped"), locator: DebugFileLocator(roots: []))
        let entry = try #require(full.table.entries(named: "main").first)
        #expect(full.sourceInfo(virtualAddress: entry.value + 4)?.location != nil)
        #expect(stripped.sourceInfo(virtualAddress: entry.value + 4) == nil)
    }
}
