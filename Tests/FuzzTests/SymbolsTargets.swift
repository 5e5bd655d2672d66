#if !FUZZ_STANDALONE
@testable import Symbols
#endif
#if canImport(Glibc)
import Glibc
#endif


/// Runs a shell command; true when it exits 0.
@discardableResult
func runShell(_ command: String) -> Bool {
    var pid: pid_t = 0
    var argv: [UnsafeMutablePointer<CChar>?] = ["/bin/sh", "-c", command].map { (s: String) in strdup(s) } + [nil]
    defer { argv.forEach { free($0) } }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    guard posix_spawn(&pid, "/bin/sh", &actions, nil, &argv, environ) == 0 else { return false }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return status == 0
}

/// The seed program built every way whose output the parsers meet: DWARF 5 and 4, 64-bit DWARF,
/// clang's and gcc's, optimised with inlined calls, debug sections compressed, stripped with a
/// debug link, and the debug file alone;
/// built once per process, in a directory removed afterwards.
let compiledSeedPrograms: [[UInt8]] = {
    let source = fuzzRepositoryRoot + "/Tests/FuzzTests/seed-program.c"
    var template = Array("/tmp/forkhazard-fuzz-seeds-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { return [] }
    let dir = String(cString: made)
    defer { runShell("rm -rf '\(dir)'") }
    let variants: [(String, String)] = [
        ("o0-dwarf5", "cc -O0 -g -o OUT SRC"),
        ("o2-dwarf5", "cc -O2 -g -rdynamic -o OUT SRC"),
        ("o2-dwarf4", "cc -O2 -gdwarf-4 -o OUT SRC"),
        ("o2-zlib", "cc -O2 -g -Wl,--compress-debug-sections=zlib -o OUT SRC"),
        ("o2-dwarf64", "cc -O2 -g -gdwarf64 -o OUT SRC"),
        // clang's DWARF 5: indexed strings, addresses and range lists (strx, addrx, rnglistx).
        ("clang-o2", "clang -O2 -g -o OUT SRC"),
        ("stripped", "cc -O2 -g -o OUT.full SRC && objcopy --only-keep-debug OUT.full OUT.debug && strip -o OUT OUT.full && objcopy --add-gnu-debuglink=OUT.debug OUT"),
    ]
    var paths: [String] = []
    for (name, command) in variants {
        let out = dir + "/" + name
        runShell(command.replacingAll("OUT", with: out).replacingAll("SRC", with: source))
        if access(out, R_OK) == 0 { paths.append(out) }
        if access(out + ".debug", R_OK) == 0 { paths.append(out + ".debug") }
    }
    return paths.compactMap(readFileBytes)
}()

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        var result = ""
        var rest = Substring(self)
        while let range = rest.range(of: target) {
            result += rest[..<range.lowerBound] + replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}

extension Substring {
    func range(of target: String) -> Range<Index>? {
        guard !target.isEmpty else { return nil }
        var index = startIndex
        while index < endIndex {
            if self[index...].hasPrefix(target) { return index..<self.index(index, offsetBy: target.count) }
            index = self.index(after: index)
        }
        return nil
    }
}

/// Real ELF files: the compiled seed programs and small libraries of this system.
func elfSeeds(maxSize: Int = 400_000) -> [FuzzSeed] {
    let system = ["/usr/lib/x86_64-linux-gnu/libpthread.so.0", "/usr/lib/x86_64-linux-gnu/libdl.so.2",
                  "/usr/lib/x86_64-linux-gnu/librt.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1"]
    return (compiledSeedPrograms + system.compactMap(readFileBytes)).filter { $0.count <= maxSize }.map { bytes in
        FuzzSeed(bytes: bytes, hot: elfHotRanges(bytes))
    }
}

/// The parts of an ELF file that steer its parsing: the header, both header tables, and the first
/// bytes of every section (note headers, compression headers, DWARF unit headers).
func elfHotRanges(_ bytes: [UInt8]) -> [Range<Int>] {
    guard let elf = try? ELFFile(bytes: bytes, loadSymbols: false) else { return [0..<64] }
    var hot: [Range<Int>] = [0..<64]
    let view = ByteView(bytes: bytes)
    if let phoff = view.u64(32), let phnum = view.u16(56), phoff < UInt64(bytes.count) {
        hot.append(Int(phoff)..<min(bytes.count, Int(phoff) + Int(phnum) * 56))
    }
    if let shoff = view.u64(40), let shnum = view.u16(60), shoff < UInt64(bytes.count) {
        hot.append(Int(shoff)..<min(bytes.count, Int(shoff) + Int(shnum) * 64))
    }
    for section in elf.sections where section.hasFileData && section.offset < UInt64(bytes.count) {
        let start = Int(section.offset)
        hot.append(start..<min(bytes.count, start + Int(min(section.size, 64))))
    }
    return hot
}

/// Note sections and segments of the seed files, as `findBuildID` sees them.
func noteSeeds() -> [FuzzSeed] {
    elfSeeds().flatMap { seed -> [FuzzSeed] in
        guard let elf = try? ELFFile(bytes: seed.bytes, loadSymbols: false) else { return [] }
        return elf.sections.filter { $0.type == ELFConstants.SHT_NOTE }.map { section in
            let start = Int(section.offset)
            return FuzzSeed(bytes: Array(seed.bytes[start..<min(seed.bytes.count, start + Int(section.size))]))
        }
    }
}

/// The DWARF sections of a seed, one after another, each behind its length (4 bytes): the input
/// format of the `dwarf` target, so mutations reach every section without an ELF file around them.
func packSections(_ sections: DWARFSections) -> FuzzSeed {
    var bytes: [UInt8] = []
    var hot: [Range<Int>] = []
    for section in [sections.info, sections.abbrev, sections.line, sections.str, sections.lineStr, sections.addr,
                    sections.strOffsets, sections.ranges, sections.rnglists, sections.aranges] {
        for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: section.count >> (8 * i))) }
        hot.append(bytes.count..<(bytes.count + min(section.count, 48)))
        bytes += section
    }
    return FuzzSeed(bytes: bytes, hot: hot)
}

func unpackSections(_ bytes: [UInt8]) -> DWARFSections {
    var parts: [[UInt8]] = []
    var at = 0
    while parts.count < 10 {
        guard at + 4 <= bytes.count else { parts.append([]); continue }
        let length = (0..<4).reduce(0) { $0 | Int(bytes[at + $1]) << (8 * $1) }
        at += 4
        let end = min(bytes.count, at + length)
        parts.append(Array(bytes[at..<end]))
        at = end
    }
    var sections = DWARFSections()
    (sections.info, sections.abbrev, sections.line, sections.str, sections.lineStr) = (parts[0], parts[1], parts[2], parts[3], parts[4])
    (sections.addr, sections.strOffsets, sections.ranges, sections.rnglists) = (parts[5], parts[6], parts[7], parts[8])
    sections.aranges = parts[9]
    return sections
}

/// The DWARF of the seed programs (every variant, compressed ones inflated).
func dwarfSeeds() -> [DWARFSections] {
    elfSeeds().compactMap { seed in (try? ELFFile(bytes: seed.bytes, loadSymbols: false)).flatMap(DWARFSections.init)?.inMemory() }
}

/// Looks up addresses all over the units, and near them.
func exerciseDWARF(_ sections: DWARFSections) {
    let info = DebugInfo(sections: sections)
    var addresses = info.sampleAddresses(limit: 16)
    addresses += addresses.map { $0 &+ 5 } + [0, 0x1000, 0x1139, .max]
    for address in addresses.prefix(64) {
        if let found = info.sourceInfo(at: address) {
            _ = found.location?.description
            _ = found.inlined.map(\.name)
        }
    }
}

/// Exercises everything a module's lookup would: headers, tables, symbols, address conversions.
func exerciseELF(_ elf: ELFFile) {
    let table = SymbolTable(tables: [(elf.symtab, .symtab), (elf.dynsym, .dynsym)])
    for segment in elf.loadSegments.prefix(8) {
        _ = elf.virtualAddress(forFileOffset: segment.offset &+ 16)
        _ = elf.fileOffset(forVirtualAddress: segment.virtualAddress &+ 16)
        if let symbol = table.lookup(segment.virtualAddress &+ 64) { _ = symbol.description }
    }
    for entry in table.entries.prefix(16) {
        _ = table.lookup(entry.value)
        _ = table.lookup(entry.value &+ entry.size &- 1)
    }
    _ = elf.buildIDHex
    _ = elf.debugLink
    _ = elf.isStripped
}

extension FuzzTargets {
    static let symbols: [FuzzTarget] = [
        FuzzTarget("elf", seeds: { elfSeeds() }) { input in
            guard let elf = try? ELFFile(bytes: input) else { return }
            exerciseELF(elf)
            guard let sections = DWARFSections(elf) else { return }
            exerciseDWARF(sections)
            // Compressed DWARF read only as far as a few addresses need.
            let addresses = DebugInfo(sections: sections).sampleAddresses(limit: 4)
            if let part = DWARFSections(elf, covering: addresses) {
                let info = DebugInfo(sections: part)
                for address in addresses where info.covers(address) { _ = info.sourceInfo(at: address) }
            }
        },
        FuzzTarget("elf-notes", seeds: noteSeeds) { input in
            let alignment: UInt64 = input.first.map { $0 & 1 == 0 ? 4 : 8 } ?? 4
            _ = ELFFile.findBuildID(inNotes: input, alignment: alignment)
        },
        FuzzTarget("compressed-section", seeds: {
            // The raw bytes (header and zlib stream) of every compressed section of the seeds.
            elfSeeds().flatMap { seed -> [FuzzSeed] in
                guard let elf = try? ELFFile(bytes: seed.bytes, loadSymbols: false) else { return [] }
                return elf.sections.filter { $0.flags & ELFConstants.SHF_COMPRESSED != 0 }.compactMap { section in
                    (try? ELFFile.read(section, from: elf.source)).map { FuzzSeed(bytes: $0, hot: [0..<32]) }
                }
            }
        }) { input in
            _ = try? ELFFile.inflate(input)
            // A prefix, of a length the last byte picks.
            if let last = input.last { _ = try? ELFFile.inflate(input, prefix: Int(last) * 257) }
        },
        FuzzTarget("dwarf-line", seeds: {
            dwarfSeeds().filter { !$0.line.isEmpty }.map { FuzzSeed(bytes: $0.line, hot: [0..<64]) }
        }) { input in
            // Without .debug_info every line program of the section is decoded.
            var sections = DWARFSections()
            sections.line = input
            exerciseDWARF(sections)
            for offset in [0, 4, 12, 40] where offset < input.count {
                if let table = try? LineTable(section: input, at: offset, strings: LineTable.Strings(), compDir: "/src") {
                    for sequence in table.sequences.prefix(8) { _ = table.location(for: sequence.start) }
                }
            }
        },
        FuzzTarget("dwarf", seeds: { dwarfSeeds().map(packSections) }) { input in
            exerciseDWARF(unpackSections(input))
        },
        FuzzTarget("loaded-image", seeds: {
            // The first 64 KiB of each seed file, as its first mapping holds them.
            elfSeeds().map { FuzzSeed(bytes: Array($0.bytes.prefix(64 << 10)), hot: $0.hot.filter { $0.lowerBound < 64 << 10 }) }
        }) { input in
            // The input is a process's memory at 0x10000, the image's first mapping.
            let base: UInt64 = 0x10000
            _ = LoadedImage.buildID(base: base) { address, count in
                guard address >= base, count >= 0, address - base <= UInt64(input.count),
                      UInt64(count) <= UInt64(input.count) - (address - base) else { return nil }
                let start = Int(address - base)
                return Array(input[start..<(start + count)])
            }
        },
        FuzzTarget("debuglink", seeds: {
            [FuzzSeed(bytes: Array("libc.so.6.debug".utf8) + [0] + [0x12, 0x34, 0x56, 0x78]),
             FuzzSeed(bytes: Array("x".utf8) + [0, 0, 0, 1, 2, 3, 4])]
        }) { input in
            _ = ELFDebugLink(parsing: input)
        },
    ]
}
