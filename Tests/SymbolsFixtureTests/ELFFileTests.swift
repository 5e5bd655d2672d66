import Foundation
import Testing
@testable import Symbols

@Suite struct ELFFileTests {
    @Test func libcHeadersSegmentsAndNotes() throws {
        let libc = try ELFFile(path: libcPath)
        #expect(libc.machine == 62)
        #expect(libc.fileType == 3)
        #expect(libc.section(named: ".dynsym")?.type == ELFConstants.SHT_DYNSYM)
        #expect(libc.section(named: ".text") != nil)
        #expect(libc.isStripped)
        #expect(libc.symtabFunctions.isEmpty)
        #expect(!libc.dynsymFunctions.isEmpty)
        #expect(libc.dynsymFunctions.allSatisfy {
            $0.type == ELFConstants.STT_FUNC || $0.type == ELFConstants.STT_GNU_IFUNC
        })
        #expect(libc.dynsymFunctions.contains { $0.name == "malloc" })
        // Data objects are not functions.
        #expect(!libc.dynsymFunctions.contains { $0.name == "environ" || $0.name == "stdout" })
        // IFUNC resolvers such as memcpy are kept.
        #expect(libc.dynsymFunctions.contains { $0.name == "memcpy" && $0.type == ELFConstants.STT_GNU_IFUNC })

        #expect(libc.loadSegments.count >= 2)
        let text = try #require(libc.loadSegments.first { $0.isExecutable })
        #expect(text.fileSize > 0)
        #expect(libc.virtualAddress(forFileOffset: text.offset + 16) == text.virtualAddress + 16)
        #expect(libc.fileOffset(forVirtualAddress: text.virtualAddress + 16) == text.offset + 16)

        let id = try #require(libc.buildIDHex)
        #expect(id.count == 40)
        #expect(id.allSatisfy { "0123456789abcdef".contains($0) })
        #expect(libc.debugLink != nil)
    }

    @Test func libcDebugLinkCRCMatchesDebugFile() throws {
        let libc = try ELFFile(path: libcPath, loadSymbols: false)
        let debugPath = try #require(DebugFileLocator().locate(for: libc))
        let link = try #require(libc.debugLink)
        #expect(CRC32.checksum(fileAt: debugPath) == link.crc)
    }

    @Test func crc32KnownValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([]) == 0)
    }

    @Test func debugFileHasSymtabWithSameLoadAddresses() throws {
        let libc = try ELFFile(path: libcPath)
        let debugPath = try #require(DebugFileLocator().locate(for: libc))
        let debug = try ELFFile(path: debugPath)
        #expect(debug.hasSymtab)
        #expect(debug.buildID == libc.buildID)
        #expect(debug.loadSegments.map(\.virtualAddress) == libc.loadSegments.map(\.virtualAddress))
        // In the debug file .dynsym is NOBITS, so no dynamic symbols are read from it.
        #expect(debug.dynsymFunctions.isEmpty)
    }

    @Test func unsupportedFilesThrow() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("text", "hello, this is not an ELF file at all, but long enough to have a header.\n")
        #expect(throws: ELFError.notELF) { try ELFFile(path: dir.file("text")) }
        try dir.write("empty", "")
        #expect(throws: ELFError.notELF) { try ELFFile(path: dir.file("empty")) }
        #expect(throws: ELFError.notRegularFile(path: dir.path)) { try ELFFile(path: dir.path) }
        #expect(throws: (any Error).self) { try ELFFile(path: dir.file("missing")) }
    }

    @Test func truncatedELFDoesNotCrash() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: libcPath))
        for length in [64, 100, 4096, 100_000, bytes.count - 1] {
            let path = dir.file("libc-\(length)")
            try bytes.prefix(length).write(to: URL(fileURLWithPath: path))
            _ = try? ELFFile(path: path)
            let symbolizer = Symbolizer(debugRoots: [dir.path])
            _ = symbolizer.symbolize(module: path, moduleOffset: 0x30000)
        }
        // A 32-bit class byte is rejected.
        var elf32 = [UInt8](bytes.prefix(64))
        elf32[4] = 1
        try Data(elf32).write(to: URL(fileURLWithPath: dir.file("elf32")))
        #expect(throws: ELFError.unsupportedFormat(elfClass: 1, dataEncoding: 1)) {
            try ELFFile(path: dir.file("elf32"))
        }
    }
}
