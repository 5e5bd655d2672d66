import Foundation
import Testing
@testable import Symbols

@Suite struct CompressedSectionTests {
    /// The same program linked with and without compressed debug sections: the inflated sections
    /// are the plain ones, byte for byte.
    @Test func inflatedSectionsEqualThePlainOnes() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try dir.write("prog.c", sampleProgram)
        try shell("cc -O2 -g -c -o prog.o prog.c && cc -o plain prog.o && cc -Wl,--compress-debug-sections=zlib -o packed prog.o",
                  in: dir.path)
        let plain = try ELFFile(path: dir.file("plain"))
        let packed = try ELFFile(path: dir.file("packed"))
        let line = try #require(packed.section(named: ".debug_line"))
        #expect(line.flags & ELFConstants.SHF_COMPRESSED != 0)
        for name in [".debug_info", ".debug_line", ".debug_abbrev", ".debug_str"] {
            let expected = try #require(plain.sectionData(named: name))
            #expect(!expected.isEmpty)
            #expect(packed.sectionData(named: name) == expected, "\(name)")
        }
    }

    /// libc's debug file (libc6-dbg) ships its DWARF compressed.
    @Test func libcDebugFile() throws {
        let libc = try ELFFile(path: libcPath, loadSymbols: false)
        let debug = try ELFFile(path: try #require(DebugFileLocator().locate(for: libc)), loadSymbols: false)
        let info = try #require(debug.section(named: ".debug_info"))
        #expect(info.flags & ELFConstants.SHF_COMPRESSED != 0)
        let bytes = try debug.sectionData(info)
        #expect(UInt64(bytes.count) == ByteView(bytes: try ELFFile.read(info, from: debug.source)).u64(8))
        #expect(bytes.count > Int(info.size) * 2)
    }

    /// A header claiming more than deflate can make of the bytes present is refused before any
    /// allocation; a corrupt stream or one of another length is refused too.
    @Test func hostileHeaders() throws {
        func chdr(type: UInt32 = 1, size: UInt64) -> [UInt8] {
            var bytes: [UInt8] = []
            for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: type >> (8 * UInt32(i)))) }
            bytes += [0, 0, 0, 0]
            for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: size >> (8 * UInt64(i)))) }
            return bytes + [UInt8](repeating: 0, count: 8)
        }
        let stream: [UInt8] = [0x78, 0x9c, 0x4b, 0x4c, 0x4a, 0x06, 0x00, 0x02, 0x4d, 0x01, 0x27]  // "abc"
        #expect(try ELFFile.inflate(chdr(size: 3) + stream) == Array("abc".utf8))
        #expect(throws: ELFError.self) { try ELFFile.inflate(chdr(size: 1 << 30) + stream) }
        #expect(throws: ELFError.self) { try ELFFile.inflate(chdr(size: .max) + stream) }
        #expect(throws: ELFError.self) { try ELFFile.inflate(chdr(size: 4) + stream) }
        #expect(throws: ELFError.self) { try ELFFile.inflate(chdr(size: 2) + stream) }
        #expect(throws: ELFError.self) { try ELFFile.inflate(chdr(type: 2, size: 3) + stream) }
        #expect(throws: ELFError.self) { try ELFFile.inflate(chdr(size: 3) + [0x78, 0x9c, 0xff, 0xff]) }
        #expect(throws: ELFError.self) { try ELFFile.inflate(Array(chdr(size: 3).prefix(20))) }
    }
}
