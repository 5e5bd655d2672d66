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

    /// A prefix of an inflated section is the section's first bytes, whatever the stream's
    /// blocks: Huffman-coded (libc's DWARF), or stored (up to 65,535 bytes each, which the decoder
    /// writes whole or not at all).
    @Test func inflatedPrefixIsTheStart() throws {
        let libc = try ELFFile(path: libcPath, loadSymbols: false)
        let debug = try ELFFile(path: try #require(DebugFileLocator().locate(for: libc)), loadSymbols: false)
        let info = try #require(debug.section(named: ".debug_info"))
        let whole = try debug.sectionData(info)
        for prefix in [1, 4096, whole.count / 3, whole.count - 1, whole.count, whole.count + 100] {
            #expect(try debug.sectionData(info, prefix: prefix) == Array(whole.prefix(prefix)), "\(prefix)")
        }

        var data: [UInt8] = []
        var state: UInt32 = 1
        for _ in 0..<200_000 {
            state = state &* 1_103_515_245 &+ 12_345
            data.append(UInt8(truncatingIfNeeded: state >> 16))
        }
        var stream: [UInt8] = [0x78, 0x01]
        var offset = 0
        while offset < data.count {
            let count = min(65_535, data.count - offset)
            stream.append(offset + count == data.count ? 1 : 0)  // BFINAL, BTYPE 00: stored
            stream += [UInt8(count & 0xff), UInt8(count >> 8), UInt8(~count & 0xff), UInt8((~count >> 8) & 0xff)]
            stream += data[offset..<offset + count]
            offset += count
        }
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in data {
            a = (a + UInt32(byte)) % 65_521
            b = (b + a) % 65_521
        }
        let adler = b << 16 | a
        stream += [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: adler >> UInt32($0)) }
        let section = chdr(size: UInt64(data.count)) + stream
        #expect(try ELFFile.inflate(section) == data)
        for prefix in [10, 65_000, 65_535, 65_536, 100_000, 199_999] {
            #expect(try ELFFile.inflate(section, prefix: prefix) == Array(data.prefix(prefix)), "\(prefix)")
        }
    }

    /// A header claiming more than deflate can make of the bytes present is refused before any
    /// allocation; a corrupt stream or one of another length is refused too.
    @Test func hostileHeaders() throws {
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

/// An `Elf64_Chdr` of compression `type` (1: zlib) for a section of `size` bytes.
private func chdr(type: UInt32 = 1, size: UInt64) -> [UInt8] {
    var bytes: [UInt8] = []
    for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: type >> (8 * UInt32(i)))) }
    bytes += [0, 0, 0, 0]
    for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: size >> (8 * UInt64(i)))) }
    return bytes + [UInt8](repeating: 0, count: 8)
}
