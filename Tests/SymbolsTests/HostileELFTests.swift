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
