@testable import Symbols

/// Builds ELF64 files section by section, for inputs no compiler would make.
struct SyntheticELF {
    struct Section {
        var name: String
        var type: UInt32
        var flags: UInt64 = 0
        var data: [UInt8] = []
        var link: UInt32 = 0
        var entrySize: UInt64 = 0
        /// Overrides the offset and size written in the header (the data is still appended).
        var headerOffset: UInt64?
        var headerSize: UInt64?
        var address: UInt64 = 0
    }

    var sections: [Section] = []
    var fileType: UInt16 = 3
    /// Program headers as (type, flags, offset, vaddr, filesz, memsz).
    var programHeaders: [(type: UInt32, flags: UInt32, offset: UInt64, vaddr: UInt64, filesz: UInt64, memsz: UInt64)] = []

    /// The file: header, program headers, section data, then the section header table
    /// (`.shstrtab` appended as the last section).
    func bytes() -> [UInt8] {
        var shstrtab: [UInt8] = [0]
        var nameOffsets: [UInt32] = []
        for section in sections + [Section(name: ".shstrtab", type: ELFConstants.SHT_STRTAB)] {
            nameOffsets.append(UInt32(shstrtab.count))
            shstrtab += Array(section.name.utf8) + [0]
        }
        var all = sections
        all.append(Section(name: ".shstrtab", type: ELFConstants.SHT_STRTAB, data: shstrtab))

        var out = [UInt8](repeating: 0, count: 64 + programHeaders.count * 56)
        var offsets: [UInt64] = []
        for section in all {
            while out.count % 8 != 0 { out.append(0) }
            offsets.append(UInt64(out.count))
            out += section.data
        }
        while out.count % 8 != 0 { out.append(0) }
        let shoff = UInt64(out.count)
        func put(_ value: UInt64, _ width: Int, into bytes: inout [UInt8]) {
            for i in 0..<width { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))) }
        }
        out += [UInt8](repeating: 0, count: 64)  // SHN_UNDEF
        for (i, section) in all.enumerated() {
            put(UInt64(nameOffsets[i]), 4, into: &out)
            put(UInt64(section.type), 4, into: &out)
            put(section.flags, 8, into: &out)
            put(section.address, 8, into: &out)
            put(section.headerOffset ?? offsets[i], 8, into: &out)
            put(section.headerSize ?? UInt64(section.data.count), 8, into: &out)
            put(UInt64(section.link), 4, into: &out)
            put(0, 4, into: &out)
            put(8, 8, into: &out)
            put(section.entrySize, 8, into: &out)
        }
        var header: [UInt8] = [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 8)
        put(UInt64(fileType), 2, into: &header)
        put(62, 2, into: &header)
        put(1, 4, into: &header)
        put(0, 8, into: &header)  // entry
        put(programHeaders.isEmpty ? 0 : 64, 8, into: &header)
        put(shoff, 8, into: &header)
        put(0, 4, into: &header)
        put(64, 2, into: &header)
        put(56, 2, into: &header)
        put(UInt64(programHeaders.count), 2, into: &header)
        put(64, 2, into: &header)
        let count = all.count + 1
        put(count < 0xff00 ? UInt64(count) : 0, 2, into: &header)
        put(UInt64(all.count), 2, into: &header)  // .shstrtab is the last
        out.replaceSubrange(0..<64, with: header)
        if count >= 0xff00 {
            // Extended numbering: the count in section 0's sh_size, the index in its sh_link.
            var size: [UInt8] = []
            put(UInt64(count), 8, into: &size)
            out.replaceSubrange(Int(shoff) + 32..<Int(shoff) + 40, with: size)
            var link: [UInt8] = []
            put(UInt64(all.count), 4, into: &link)
            out.replaceSubrange(Int(shoff) + 40..<Int(shoff) + 44, with: link)
            out[62] = 0xff
            out[63] = 0xff
        }
        var phdrs: [UInt8] = []
        for p in programHeaders {
            put(UInt64(p.type), 4, into: &phdrs)
            put(UInt64(p.flags), 4, into: &phdrs)
            put(p.offset, 8, into: &phdrs)
            put(p.vaddr, 8, into: &phdrs)
            put(p.vaddr, 8, into: &phdrs)
            put(p.filesz, 8, into: &phdrs)
            put(p.memsz, 8, into: &phdrs)
            put(0x1000, 8, into: &phdrs)
        }
        out.replaceSubrange(64..<(64 + phdrs.count), with: phdrs)
        return out
    }

    /// An Elf64_Sym.
    static func symbol(name: UInt32, info: UInt8 = 0x12, section: UInt16 = 1, value: UInt64, size: UInt64) -> [UInt8] {
        var bytes: [UInt8] = []
        func put(_ value: UInt64, _ width: Int) {
            for i in 0..<width { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))) }
        }
        put(UInt64(name), 4); put(UInt64(info), 1); put(0, 1); put(UInt64(section), 2); put(value, 8); put(size, 8)
        return bytes
    }
}
