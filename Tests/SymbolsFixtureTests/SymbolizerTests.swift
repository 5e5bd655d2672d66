import Foundation
import Testing
@testable import Symbols

@Suite struct LibcSymbolizerTests {
    let symbolizer = Symbolizer()

    @Test func buildIDAndDebugFileAreFound() throws {
        let id = try #require(symbolizer.buildID(of: libcPath))
        #expect(id.count == 40)
        let expected = "/usr/lib/debug/.build-id/\(id.prefix(2))/\(id.dropFirst(2)).debug"
        #expect(FileManager.default.fileExists(atPath: expected))
        #expect(symbolizer.debugFile(for: libcPath) == expected)
        let loaded = try #require(symbolizer.symbols(for: libcPath))
        #expect(loaded.table.count > 1000)
    }

    /// Local functions absent from .dynsym resolve through the debug file, within
    /// their sizes only.
    @Test(arguments: ["__futex_abstimed_wait_common", "__new_sem_wait_slow64"])
    func localFunctionsResolve(name: String) throws {
        let loaded = try #require(symbolizer.symbols(for: libcPath))
        let debugPath = try #require(loaded.debugFilePath)
        #expect(!loaded.module.dynsymFunctions.contains { $0.name == name })
        let entry = try #require(loaded.table.entries(named: name).first)
        #expect(entry.source == .debugFile(debugPath))
        #expect(entry.binding == ELFConstants.STB_LOCAL)
        #expect(entry.size > 8)

        let libc = loaded.module
        func fileOffset(_ vaddr: UInt64) throws -> UInt64 {
            try #require(libc.fileOffset(forVirtualAddress: vaddr))
        }
        let inside = try #require(symbolizer.symbolize(module: libcPath, moduleOffset: try fileOffset(entry.value + 4)))
        #expect(inside.name == name)
        #expect(inside.offset == 4)
        #expect(inside.size == entry.size)
        #expect(inside.source == .debugFile(debugPath))

        let last = try #require(symbolizer.symbolize(module: libcPath, moduleOffset: try fileOffset(entry.value + entry.size - 1)))
        #expect(last.name == name)
        #expect(last.offset == entry.size - 1)

        let past = symbolizer.symbolize(module: libcPath, moduleOffset: try fileOffset(entry.value + entry.size))
        #expect(past?.name != name)
    }

    @Test func addressInGapIsNil() throws {
        let loaded = try #require(symbolizer.symbols(for: libcPath))
        let entries = loaded.table.entries
        let text = try #require(loaded.module.loadSegments.first { $0.isExecutable })
        var gaps: [UInt64] = []
        for (a, b) in zip(entries, entries.dropFirst()) where a.size > 0 && a.value + a.size < b.value {
            let address = a.value + a.size
            guard text.contains(virtualAddress: address),
                  !entries.contains(where: { $0.covers(address) }) else { continue }
            gaps.append(address)
            if gaps.count == 5 { break }
        }
        #expect(!gaps.isEmpty)
        for address in gaps {
            let offset = try #require(loaded.module.fileOffset(forVirtualAddress: address))
            #expect(symbolizer.symbolize(module: libcPath, moduleOffset: offset) == nil)
        }
    }

    /// 10,000 lookups across libc's text: every answer covers its address, and a
    /// sample of the nil answers is confirmed by a linear scan.
    @Test func manyAddressesResolveConsistently() throws {
        let loaded = try #require(symbolizer.symbols(for: libcPath))
        let text = try #require(loaded.module.loadSegments.first { $0.isExecutable })
        var resolved = 0
        for i in 0..<UInt64(10_000) {
            let offset = text.offset + (text.fileSize * i) / 10_000 + (i % 7)
            let address = try #require(loaded.module.virtualAddress(forFileOffset: offset))
            if let symbol = symbolizer.symbolize(module: libcPath, moduleOffset: offset) {
                resolved += 1
                #expect(symbol.value + symbol.offset == address)
                #expect(symbol.offset < max(symbol.size, 1))
            } else if i % 20 == 0 {
                #expect(!loaded.table.entries.contains { $0.covers(address) })
            }
        }
        #expect(resolved > 9_000)
    }

    @Test func missingAndNonELFFilesGiveNil() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("notes.txt", String(repeating: "not an elf file\n", count: 100))
        #expect(symbolizer.symbolize(module: dir.file("notes.txt"), moduleOffset: 16) == nil)
        #expect(symbolizer.buildID(of: dir.file("notes.txt")) == nil)
        #expect(symbolizer.symbolize(module: dir.file("does-not-exist.so"), moduleOffset: 16) == nil)
        #expect(symbolizer.buildID(of: dir.file("does-not-exist.so")) == nil)
        #expect(symbolizer.symbolize(module: dir.path, moduleOffset: 0) == nil)
        #expect(symbolizer.symbolize(module: "/dev/null", moduleOffset: 0) == nil)
    }
}

@Suite struct CompiledProgramTests {
    /// The file offset of `name + 4` in the unstripped build, and the symbol found there.
    private func helperOffset(_ symbolizer: Symbolizer, _ prog: String, _ name: String) throws -> (UInt64, Symbol) {
        let loaded = try #require(symbolizer.symbols(for: prog))
        #expect(!loaded.module.isStripped)
        let entry = try #require(loaded.table.entries(named: name).first)
        let offset = try #require(loaded.module.fileOffset(forVirtualAddress: entry.value + 4))
        let symbol = try #require(symbolizer.symbolize(module: prog, moduleOffset: offset))
        return (offset, symbol)
    }

    @Test func strippedBinaryNeverGivesAWrongName() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let prog = try compileSample(in: dir)
        try shell("cp prog prog.stripped && strip prog.stripped", in: dir.path)
        let stripped = dir.file("prog.stripped")
        let symbolizer = Symbolizer(debugRoots: [dir.file("no-debug-root")])

        let (helperAt, helper) = try helperOffset(symbolizer, prog, "helper")
        #expect(helper.name == "helper")
        #expect(helper.source == .symtab)
        let (exportedAt, exported) = try helperOffset(symbolizer, prog, "exported_entry")
        #expect(exported.name == "exported_entry")

        let strippedELF = try ELFFile(path: stripped)
        #expect(strippedELF.isStripped)
        #expect(symbolizer.debugFile(for: stripped) == nil)
        let afterStrip = symbolizer.symbolize(module: stripped, moduleOffset: helperAt)
        // Only .dynsym remains. Whatever is returned must be the right name from
        // .dynsym, never a neighbour such as exported_entry or main...
        if let afterStrip {
            #expect(afterStrip.name == helper.name)
            #expect(afterStrip.source == .dynsym)
        }
        // ...and since helper is static it is not exported at all.
        #expect(!strippedELF.dynsymFunctions.contains { $0.name == helper.name })
        #expect(afterStrip == nil)
        let exportedAfter = try #require(symbolizer.symbolize(module: stripped, moduleOffset: exportedAt))
        #expect(exportedAfter.name == "exported_entry")
        #expect(exportedAfter.source == .dynsym)
    }

    @Test func debugFileFoundByDebugLinkWithCRCCheck() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let prog = try compileSample(in: dir)
        try shell("""
            objcopy --only-keep-debug prog prog.debug && \
            cp prog linked && strip linked && objcopy --add-gnu-debuglink=prog.debug linked && \
            mkdir sub sub/.debug bad && cp linked sub/linked && mv prog.debug sub/.debug/prog.debug && \
            cp linked bad/linked && cp sub/.debug/prog.debug bad/prog.debug && printf x >> bad/prog.debug
            """, in: dir.path)
        let noRoot = dir.file("no-debug-root")
        let reference = Symbolizer(debugRoots: [noRoot])
        let (offset, helper) = try helperOffset(reference, prog, "helper")

        // Next to the module is missing, so .debug/ is used.
        let symbolizer = Symbolizer(debugRoots: [noRoot])
        let viaSubdir = try #require(symbolizer.symbolize(module: dir.file("sub/linked"), moduleOffset: offset))
        #expect(viaSubdir.name == helper.name)
        #expect(viaSubdir.source == .debugFile(dir.file("sub/.debug/prog.debug")))

        // A debug file with the right name but the wrong CRC is ignored.
        #expect(symbolizer.debugFile(for: dir.file("bad/linked")) == nil)
        #expect(symbolizer.symbolize(module: dir.file("bad/linked"), moduleOffset: offset) == nil)

        // <root>/<module dir>/<name> for a global debug root.
        let root = dir.file("root")
        let moduleDir = directoryName(of: dir.file("linked"))
        try FileManager.default.createDirectory(atPath: root + moduleDir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: dir.file("sub/.debug/prog.debug"), toPath: root + moduleDir + "/prog.debug")
        let rooted = Symbolizer(debugRoots: [root])
        #expect(rooted.debugFile(for: dir.file("linked")) == root + moduleDir + "/prog.debug")
        #expect(rooted.symbolize(module: dir.file("linked"), moduleOffset: offset)?.name == helper.name)
    }

    @Test func debugFileFoundByBuildID() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let prog = try compileSample(in: dir)
        try shell("objcopy --only-keep-debug prog prog.debug && cp prog bare && strip bare", in: dir.path)
        let reference = Symbolizer(debugRoots: [dir.file("no-debug-root")])
        let (offset, helper) = try helperOffset(reference, prog, "helper")

        let id = try #require(reference.buildID(of: dir.file("bare")))
        #expect(id == reference.buildID(of: prog))
        let root = dir.file("root")
        let target = "\(root)/.build-id/\(id.prefix(2))/\(id.dropFirst(2)).debug"
        try FileManager.default.createDirectory(atPath: directoryName(of: target), withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: dir.file("prog.debug"), toPath: target)

        let symbolizer = Symbolizer(debugRoots: [dir.file("elsewhere"), root])
        #expect(symbolizer.debugFile(for: dir.file("bare")) == target)
        let symbol = try #require(symbolizer.symbolize(module: dir.file("bare"), moduleOffset: offset))
        #expect(symbol.name == helper.name)
        #expect(symbol.source == .debugFile(target))
    }

    @Test func cacheNoticesReplacedFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let prog = try compileSample(in: dir)
        let symbolizer = Symbolizer(debugRoots: [dir.file("no-debug-root")])
        let (offset, helper) = try helperOffset(symbolizer, prog, "helper")
        #expect(helper.name == "helper")
        // Replace the file (new inode) with a stripped copy: the cache must reload.
        try shell("cp prog prog.tmp && strip prog.tmp && mv prog.tmp prog", in: dir.path)
        #expect(symbolizer.symbolize(module: prog, moduleOffset: offset) == nil)
        try shell("rm prog", in: dir.path)
        #expect(symbolizer.symbolize(module: prog, moduleOffset: offset) == nil)
    }
}
