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

@Suite struct HostileELFTests {
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
