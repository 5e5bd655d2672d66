extension ELFFile {
    /// The defined symbols of any type (data objects included) whose names are in `names`, from
    /// the file's `.dynsym` and `.symtab`; `.dynsym` wins when both define a name. Values are
    /// link-time virtual addresses. Only the string tables are scanned, so looking up a few names
    /// in a large library is cheap; nothing is kept.
    /// `dynamicOnly`: only `.dynsym`, what the loader sees (small next to a full `.symtab`), which
    /// is searched first: `.symtab` only for names it does not have.
    public func symbols(named names: Set<String>, dynamicOnly: Bool = false) -> [String: ELFSymbol] {
        let reader = source
        var found: [String: ELFSymbol] = [:]
        let wanted = names.map { Array($0.utf8) }
        let longest = wanted.map(\.count).max() ?? 0
        for type in dynamicOnly ? [ELFConstants.SHT_DYNSYM] : [ELFConstants.SHT_DYNSYM, ELFConstants.SHT_SYMTAB] {
            guard found.count < names.count else { break }
            guard let table = sections.first(where: { $0.type == type }), table.hasFileData,
                  table.flags & ELFConstants.SHF_COMPRESSED == 0, Int(table.link) < sections.count else { continue }
            let strtab = sections[Int(table.link)]
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
                // A name longer than any wanted one is none of them: no scan to its end.
                var end = nameOffset
                let limit = min(strings.count, nameOffset + longest + 1)
                while end < limit, strings[end] != 0 { end += 1 }
                guard end < strings.count, strings[end] == 0 else { continue }
                let name = strings[nameOffset..<end]
                guard wanted.contains(where: { $0.count == name.count && $0.elementsEqual(name) }) else { continue }
                let text = String(decoding: name, as: UTF8.self)
                guard found[text] == nil else { continue }
                found[text] = ELFSymbol(name: text, value: view.u64(b + 8) ?? 0, size: view.u64(b + 16) ?? 0,
                                        type: symbols[b + 4] & 0xf, binding: symbols[b + 4] >> 4, sectionIndex: shndx)
            }
        }
        return found
    }
}
