import Foundation
import Testing
@testable import Symbols

/// An ELF file's bytes with fields overwritten, as a hostile or corrupt file would have them.
struct PatchableELF {
    var bytes: [UInt8]

    init(path: String) throws {
        bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    var elf: ELFFile { get throws { try ELFFile(bytes: bytes) } }

    /// Writes `value` little-endian in `width` bytes at `offset`.
    mutating func write(_ value: UInt64, at offset: Int, width: Int) {
        for i in 0..<width { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
    }

    /// Overwrites a field of the section header of the section called `name`
    /// (`sh_offset` 24, `sh_size` 32, `sh_link` 40, `sh_entsize` 56, …).
    mutating func patchSection(_ name: String, field: Int, width: Int = 8, to value: UInt64) throws {
        let section = try #require(try elf.section(named: name))
        let shoff = Int(ByteView(bytes: bytes).u64(40)!)
        write(value, at: shoff + section.index * 64 + field, width: width)
    }
}

extension PatchableELF {
    /// Overwrites a field of the `index`-th program header (`p_offset` 8, `p_vaddr` 16,
    /// `p_filesz` 32, …).
    mutating func patchProgramHeader(_ index: Int, field: Int, width: Int = 8, to value: UInt64) {
        let phoff = Int(ByteView(bytes: bytes).u64(32)!)
        write(value, at: phoff + index * 56 + field, width: width)
    }

    /// Index of the first program header of type `type`.
    func programHeader(ofType type: UInt32) -> Int? {
        let view = ByteView(bytes: bytes)
        let phoff = Int(view.u64(32)!), phnum = Int(view.u16(56)!)
        return (0..<phnum).first { view.u32(phoff + $0 * 56) == type }
    }
}

@Suite struct HostileELFTests {
    /// A load segment whose file offset is near 2^64: converting an address in it to a file
    /// offset used to overflow.
    @Test func loadSegmentAtTheEndOfTheOffsetRange() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var file = try PatchableELF(path: try compileSample(in: dir))
        let index = try #require(file.programHeader(ofType: ELFConstants.PT_LOAD))
        file.patchProgramHeader(index, field: 8, to: .max - 8)
        let elf = try file.elf
        let segment = try #require(elf.loadSegments.first)
        #expect(segment.offset == UInt64.max - 8)
        #expect(elf.fileOffset(forVirtualAddress: segment.virtualAddress + 16) == nil)
        #expect(elf.fileOffset(forVirtualAddress: segment.virtualAddress + 4) == UInt64.max - 4)
    }

    /// `sh_entsize` is a 64-bit field; one above Int.max used to trap when converted.
    @Test func symbolTableWithHugeEntrySize() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var file = try PatchableELF(path: try compileSample(in: dir))
        #expect(try file.elf.symtabFunctions.contains { $0.name == "helper" })
        try file.patchSection(".symtab", field: 56, to: .max)
        try file.patchSection(".dynsym", field: 56, to: 1 << 63)
        let elf = try file.elf
        #expect(elf.symtabFunctions.isEmpty)
        #expect(elf.dynsymFunctions.isEmpty)
    }
}

/// Runs `body` on another thread; false when it has not returned after `seconds`.
func returnsWithin(_ seconds: Double, _ body: @escaping @Sendable () -> Void) -> Bool {
    let done = DispatchSemaphore(value: 0)
    Thread { body(); done.signal() }.start()
    return done.wait(timeout: .now() + seconds) == .success
}

@Suite struct HostileFilesTests {
    /// A FIFO where a debug file is looked for (next to the module, a directory its owner
    /// controls) used to block `open` forever, waiting for a writer.
    @Test func fifoInPlaceOfADebugFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        _ = try compileSample(in: dir)
        try shell("objcopy --only-keep-debug prog prog.debug && strip prog && objcopy --add-gnu-debuglink=prog.debug prog && rm prog.debug && mkfifo prog.debug", in: dir.path)
        let symbolizer = Symbolizer(debugRoots: [dir.file("no-debug-root")])
        let module = dir.file("prog")
        let returned = returnsWithin(5) { _ = symbolizer.symbols(for: module) }
        if !returned {
            // Let the blocked open go, so the thread ends.
            let fd = open(dir.file("prog.debug"), O_WRONLY | O_NONBLOCK)
            if fd >= 0 { close(fd) }
        }
        try #require(returned)
        #expect(symbolizer.debugFile(for: module) == nil)
        #expect(throws: ELFError.notRegularFile(path: dir.file("prog.debug"))) { try ELFFile(path: dir.file("prog.debug")) }
    }
}

/// Inputs built to make a parser do work out of proportion to their size.
@Suite struct BoundedWorkTests {
    /// A sparse file costs its author nothing, however large: a section claiming 1.5 GiB of it
    /// used to be read into memory whole.
    @Test func sectionLargerThanTheLimit() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var file = try PatchableELF(path: try compileSample(in: dir))
        let symtab = try #require(try file.elf.section(named: ".symtab"))
        try file.patchSection(".symtab", field: 32, to: 3 << 29)
        let path = dir.file("sparse")
        try Data(file.bytes).write(to: URL(fileURLWithPath: path))
        #expect(truncate(path, off_t(symtab.offset) + off_t(3 << 29)) == 0)
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let before = usage.ru_maxrss
        let elf = try ELFFile(path: path)
        getrusage(RUSAGE_SELF.rawValue, &usage)
        #expect(elf.symtabFunctions.isEmpty)
        #expect(usage.ru_maxrss - before < 1 << 20, "peak grew by \(usage.ru_maxrss - before) KiB")
    }

    func timed(_ body: () throws -> Void) rethrows -> Double {
        let start = Date()
        try body()
        return Date().timeIntervalSince(start)
    }

    /// 100,000 symbols whose names start at successive bytes of one string without a NUL: looking
    /// for each name's end used to scan to the end of the table, 100,000 × 100,000 bytes.
    @Test func symbolNamesWithoutTerminator() throws {
        let count = 100_000
        var symbols: [UInt8] = SyntheticELF.symbol(name: 0, info: 0, section: 0, value: 0, size: 0)
        for i in 0..<count { symbols += SyntheticELF.symbol(name: UInt32(i), value: 0x1000 + UInt64(i) * 16, size: 16) }
        var file = SyntheticELF()
        file.sections = [
            .init(name: ".symtab", type: ELFConstants.SHT_SYMTAB, data: symbols, link: 2, entrySize: 24),
            .init(name: ".strtab", type: ELFConstants.SHT_STRTAB, data: [UInt8](repeating: 0x61, count: count)),
        ]
        let bytes = file.bytes()
        var elf: ELFFile?
        let seconds = try timed { elf = try ELFFile(bytes: bytes) }
        #expect(seconds < 10, "took \(seconds) s")
        // No name has an end: none is taken.
        #expect(elf?.symtabFunctions.isEmpty == true)
    }

    /// 20,000 note sections, each claiming the whole file: every one used to be read in full
    /// while looking for a build-id.
    @Test func manyNoteSectionsCoveringTheFile() throws {
        var file = SyntheticELF()
        file.sections = [.init(name: ".padding", type: 1, data: [UInt8](repeating: 0, count: 4 << 20))]
        for i in 0..<20_000 {
            file.sections.append(.init(name: ".note.\(i)", type: ELFConstants.SHT_NOTE, headerOffset: 0, headerSize: 4 << 20))
        }
        let bytes = file.bytes()
        var elf: ELFFile?
        let seconds = try timed { elf = try ELFFile(bytes: bytes) }
        #expect(seconds < 10, "took \(seconds) s")
        #expect(elf?.buildID == nil)
    }

    /// 60,000 sections named by one 1 MiB string without a NUL: each name used to be a 1 MiB copy.
    @Test func longSectionNames() throws {
        var file = SyntheticELF()
        for i in 0..<60_000 { file.sections.append(.init(name: "", type: 1, headerOffset: 0, headerSize: UInt64(i))) }
        var bytes = file.bytes()
        // Point .shstrtab (the last section) at 1 MiB of 'a' appended to the file.
        let shoff = Int(ByteView(bytes: bytes).u64(40)!)
        let last = 60_001
        let stringsAt = UInt64(bytes.count)
        bytes += [UInt8](repeating: 0x61, count: 1 << 20)
        for (field, value) in [(24, stringsAt), (32, UInt64(1 << 20))] {
            for i in 0..<8 { bytes[shoff + last * 64 + field + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
        }
        var elf: ELFFile?
        let seconds = try timed { elf = try ELFFile(bytes: bytes) }
        #expect(seconds < 10, "took \(seconds) s")
        #expect(elf?.sections.count == 60_002)
        #expect(elf?.sections.allSatisfy { $0.name.utf8.count <= 256 } == true)
    }
}

@Suite struct DebugLinkNameTests {
    /// A debug link is a file name; one with a directory part (`../x`) would steer the search out
    /// of the debug directories, to any file of the host.
    @Test func debugLinkWithDirectoryIsIgnored() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        _ = try compileSample(in: dir)
        try shell("""
            mkdir sub && objcopy --only-keep-debug prog p.debug && strip -o sub/prog prog && \
            objcopy --add-gnu-debuglink=p.debug sub/prog
            """, in: dir.path)
        var file = try PatchableELF(path: dir.file("sub/prog"))
        let link = try #require(try file.elf.section(named: ".gnu_debuglink"))
        // "p.debug" becomes "../p.d" (NUL-padded): the same CRC, a path into the parent directory.
        let name = Array("../p.d".utf8) + [0, 0]
        file.bytes.replaceSubrange(Int(link.offset)..<Int(link.offset) + 8, with: name)
        try shell("cp p.debug p.d", in: dir.path)
        try Data(file.bytes).write(to: URL(fileURLWithPath: dir.file("sub/prog")))
        #expect(try ELFFile(path: dir.file("sub/prog")).debugLink?.fileName == "../p.d")

        let symbolizer = Symbolizer(debugRoots: [dir.file("no-debug-root")])
        #expect(symbolizer.debugFile(for: dir.file("sub/prog")) == nil)
        #expect(DebugFileLocator(roots: []).debugLinkPaths(for: "../p.d", modulePath: dir.file("sub/prog")).isEmpty)
    }
}

@Suite struct DebugLinkCRCTests {
    /// A debug link candidate over 4 GiB (a sparse file costs nothing) is not read whole for its
    /// CRC; with the module's build-id it is the module's debug file.
    @Test func sparseCandidateWithTheSameBuildID() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        _ = try compileSample(in: dir)
        try shell("objcopy --only-keep-debug prog prog.debug && strip prog && objcopy --add-gnu-debuglink=prog.debug prog && truncate -s 6G prog.debug", in: dir.path)
        let symbolizer = Symbolizer(debugRoots: [dir.file("no-debug-root")])
        let start = Date()
        #expect(symbolizer.debugFile(for: dir.file("prog")) == dir.file("prog.debug"))
        #expect(Date().timeIntervalSince(start) < 2)
    }

    /// Without build-ids only the CRC can tell, and a file over 4 GiB is not read for it.
    @Test func sparseCandidateWithoutBuildID() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        _ = try compileSample(in: dir)
        try shell("""
            objcopy --remove-section .note.gnu.build-id prog && objcopy --only-keep-debug prog prog.debug && \
            strip prog && objcopy --add-gnu-debuglink=prog.debug prog && cp prog.debug big.debug && truncate -s 6G big.debug
            """, in: dir.path)
        #expect(try ELFFile(path: dir.file("prog")).buildID == nil)
        let symbolizer = Symbolizer(debugRoots: [dir.file("no-debug-root")])
        #expect(symbolizer.debugFile(for: dir.file("prog")) == dir.file("prog.debug"))
        try shell("mv big.debug prog.debug", in: dir.path)
        let start = Date()
        #expect(Symbolizer(debugRoots: [dir.file("no-debug-root")]).debugFile(for: dir.file("prog")) == nil)
        #expect(Date().timeIntervalSince(start) < 2)
    }
}

/// The loader reads only the program headers, so a program with a corrupt section header table
/// runs; its dynamic symbols are still found, through the dynamic segment.
@Suite struct CorruptSectionHeaderTests {
    func compile(_ dir: TemporaryDirectory, hashStyle: String = "gnu") throws -> String {
        try dir.write("prog.c", sampleProgram)
        try shell("cc -O0 -g -rdynamic -Wl,--build-id -Wl,--hash-style=\(hashStyle) -o prog prog.c", in: dir.path)
        return dir.file("prog")
    }

    func names(_ table: FunctionTable) -> [String] { table.symbols.map(\.name).sorted() }

    /// On an intact file the dynamic segment's table and `.dynsym` are the same symbols.
    @Test(arguments: ["gnu", "sysv"])
    func dynamicSegmentMatchesDynsym(hashStyle: String) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let elf = try ELFFile(path: try compile(dir, hashStyle: hashStyle))
        let reader = try FileReader(path: elf.path)
        let dynamic = try #require(try dynamicTable(reader))
        #expect(hashStyle == "gnu" ? dynamic.gnuHash != nil : dynamic.hash != nil)
        let fromSegment = ELFFile.readDynamicFunctions(dynamic, segments: elf.loadSegments, reader: reader)
        #expect(names(fromSegment).contains("exported_entry"))
        #expect(names(fromSegment) == names(elf.dynsym))
    }

    @Test func libcDynamicSegmentMatchesDynsym() throws {
        let elf = try ELFFile(path: libcPath)
        let reader = try FileReader(path: libcPath)
        let dynamic = try #require(try dynamicTable(reader))
        let fromSegment = ELFFile.readDynamicFunctions(dynamic, segments: elf.loadSegments, reader: reader)
        #expect(fromSegment.records.count > 1000)
        #expect(fromSegment.records.count == elf.dynsym.records.count)
        #expect(names(fromSegment) == names(elf.dynsym))
    }

    func dynamicTable(_ reader: FileReader) throws -> DynamicTable? {
        let header = ByteView(bytes: try reader.read(offset: 0, count: 64))
        let phoff = header.u64(32)!, phnum = Int(header.u16(56)!)
        let table = ByteView(bytes: try reader.read(offset: phoff, count: UInt64(phnum * 56)))
        for i in 0..<phnum where table.u32(i * 56) == ELFConstants.PT_DYNAMIC {
            return DynamicTable(parsing: try reader.read(offset: table.u64(i * 56 + 8)!, count: table.u64(i * 56 + 32)!))
        }
        return nil
    }

    @Test func sectionTablePastTheEnd() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var file = try PatchableELF(path: try compile(dir))
        let intact = try file.elf
        file.write(UInt64(file.bytes.count) + 4096, at: 40, width: 8)
        try expectLoaderView(try file.elf, like: intact)
    }

    @Test func garbageSectionTable() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var file = try PatchableELF(path: try compile(dir))
        let intact = try file.elf
        let shoff = Int(ByteView(bytes: file.bytes).u64(40)!)
        var state: UInt32 = 12345
        for i in shoff..<file.bytes.count {
            state = state &* 1_103_515_245 &+ 12345
            file.bytes[i] = UInt8(truncatingIfNeeded: state >> 16)
        }
        let elf = try file.elf
        #expect(!elf.sections.contains { $0.type == ELFConstants.SHT_SYMTAB || $0.type == ELFConstants.SHT_DYNSYM })
        #expect(names(elf.dynsym) == names(intact.dynsym))
        #expect(elf.buildID == intact.buildID)
    }

    /// A table whose `.dynsym` is not where the loader's is belongs to another program.
    @Test func sectionTableThatDisagreesWithTheLoader() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var file = try PatchableELF(path: try compile(dir))
        let intact = try file.elf
        let dynsym = try #require(intact.section(named: ".dynsym"))
        try file.patchSection(".dynsym", field: 16, to: dynsym.address + 0x100)
        let elf = try file.elf
        #expect(elf.sectionHeaderProblem != nil)
        try expectLoaderView(elf, like: intact)
    }

    func expectLoaderView(_ elf: ELFFile, like intact: ELFFile) throws {
        #expect(elf.sectionHeaderProblem != nil)
        #expect(elf.sections.isEmpty)
        #expect(elf.symtab.records.isEmpty)
        #expect(names(elf.dynsym) == names(intact.dynsym))
        #expect(names(elf.dynsym).contains("exported_entry"))
        #expect(elf.buildID != nil && elf.buildID == intact.buildID)
        #expect(elf.loadSegments == intact.loadSegments)
        let symbol = try #require(intact.dynsymFunctions.first { $0.name == "exported_entry" })
        let table = SymbolTable(tables: [(elf.dynsym, .dynsym)])
        #expect(table.lookup(symbol.value + 2)?.name == "exported_entry")
    }
}
