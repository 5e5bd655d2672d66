import Testing
@testable import Symbols

@Suite struct SymbolTableTests {
    private func entry(_ name: String, _ value: UInt64, _ size: UInt64,
                       binding: UInt8 = ELFConstants.STB_GLOBAL,
                       source: SymbolSource = .symtab) -> SymbolTable.Entry {
        SymbolTable.Entry(name: name, value: value, size: size, binding: binding, source: source)
    }

    @Test func sizesBoundLookups() {
        let table = SymbolTable([entry("b", 0x200, 0x10), entry("a", 0x100, 0x20), entry("zero", 0x300, 0)])
        #expect(table.lookup(0xff) == nil)
        #expect(table.lookup(0x100)?.name == "a")
        #expect(table.lookup(0x11f)?.name == "a")
        #expect(table.lookup(0x11f)?.offset == 0x1f)
        #expect(table.lookup(0x120) == nil)  // gap: never the preceding name
        #expect(table.lookup(0x1ff) == nil)
        #expect(table.lookup(0x20f)?.name == "b")
        #expect(table.lookup(0x210) == nil)
        #expect(table.lookup(0x300)?.name == "zero")
        #expect(table.lookup(0x301) == nil)
        #expect(table.lookup(UInt64.max) == nil)
        #expect(SymbolTable([]).lookup(0x100) == nil)
    }

    @Test func aliasesPreferGlobal() {
        let table = SymbolTable([
            entry("__local_alias", 0x100, 0x40, binding: ELFConstants.STB_LOCAL),
            entry("weak_name", 0x100, 0x40, binding: ELFConstants.STB_WEAK),
            entry("global_name", 0x100, 0x40),
        ])
        #expect(table.lookup(0x100)?.name == "global_name")
        #expect(table.lookup(0x13f)?.name == "global_name")
        let weakOnly = SymbolTable([
            entry("weak_name", 0x100, 0x40, binding: ELFConstants.STB_WEAK),
            entry("a_local", 0x100, 0x40, binding: ELFConstants.STB_LOCAL),
        ])
        #expect(weakOnly.lookup(0x120)?.name == "weak_name")
    }

    @Test func sizedAliasCoversWhereSizeZeroGlobalDoesNot() {
        let table = SymbolTable([
            entry("marker", 0x100, 0),
            entry("real_function", 0x100, 0x40, binding: ELFConstants.STB_LOCAL),
        ])
        #expect(table.lookup(0x100)?.name == "marker")
        #expect(table.lookup(0x104)?.name == "real_function")
    }

    @Test func nestedAndOverlappingRanges() {
        let table = SymbolTable([
            entry("outer", 0x100, 0x100),
            entry("inner", 0x140, 0x10),
            entry("after", 0x180, 0x10),
        ])
        #expect(table.lookup(0x145)?.name == "inner")
        #expect(table.lookup(0x150)?.name == "outer")  // past inner, still inside outer
        #expect(table.lookup(0x185)?.name == "after")
        #expect(table.lookup(0x1f0)?.name == "outer")
        #expect(table.lookup(0x200) == nil)
    }

    @Test func mergingDropsDuplicatesKeepingFirstSource() {
        let sym = ELFSymbol(name: "f", value: 0x10, size: 4, type: ELFConstants.STT_FUNC,
                            binding: ELFConstants.STB_GLOBAL, sectionIndex: 1)
        let table = SymbolTable(merging: [([sym], .debugFile("/d")), ([sym], .dynsym)])
        #expect(table.count == 1)
        #expect(table.lookup(0x12)?.source == .debugFile("/d"))
    }
}
