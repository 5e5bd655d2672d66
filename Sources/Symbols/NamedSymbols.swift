extension ELFFile {
    /// The defined symbols of any type (data objects included) whose names are in `names`, from
    /// the file's `.dynsym` and `.symtab`; `.dynsym` wins when both define a name. Values are
    /// link-time virtual addresses. Only the string tables are scanned, so looking up a few names
    /// in a large library is cheap; nothing is kept.
    public static func symbols(named names: Set<String>, inFileAt path: String) throws(ELFError) -> [String: ELFSymbol] {
        let file = try ELFFile(path: path, loadSymbols: false)
        let reader = try FileReader(path: path)
        var found: [String: ELFSymbol] = [:]
        let wanted = Set(names.map { Array($0.utf8) })
        for type in [ELFConstants.SHT_DYNSYM, ELFConstants.SHT_SYMTAB] {
            guard let table = file.sections.first(where: { $0.type == type }), table.hasFileData,
                  table.flags & ELFConstants.SHF_COMPRESSED == 0, Int(table.link) < file.sections.count else { continue }
            let strtab = file.sections[Int(table.link)]
            guard strtab.hasFileData, strtab.flags & ELFConstants.SHF_COMPRESSED == 0 else { continue }
            let entrySize = table.entrySize == 0 ? 24 : Int(table.entrySize)
            guard entrySize >= 24,
                  let symbols = try? reader.read(offset: table.offset, count: table.size),
                  let strings = try? reader.read(offset: strtab.offset, count: strtab.size) else { continue }
            let view = ByteView(bytes: symbols)
            for i in 0..<(symbols.count / entrySize) {
                let b = i * entrySize
                guard let nameOffset = view.u32(b).map(Int.init), nameOffset < strings.count,
                      let shndx = view.u16(b + 6), shndx != ELFConstants.SHN_UNDEF else { continue }
                var end = nameOffset
                while end < strings.count, strings[end] != 0 { end += 1 }
                let name = Array(strings[nameOffset..<end])
                guard wanted.contains(name) else { continue }
                let text = String(decoding: name, as: UTF8.self)
                guard found[text] == nil else { continue }
                found[text] = ELFSymbol(name: text, value: view.u64(b + 8) ?? 0, size: view.u64(b + 16) ?? 0,
                                        type: symbols[b + 4] & 0xf, binding: symbols[b + 4] >> 4, sectionIndex: shndx)
            }
        }
        return found
    }
}
