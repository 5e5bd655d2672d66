import CSymbols

/// Why an ELF file could not be read.
public enum ELFError: Error, Equatable, Sendable {
    /// `open` or `fstat` failed.
    case cannotOpen(path: String, errno: Int32)
    /// The path names a directory, device or other non-regular file.
    case notRegularFile(path: String)
    /// The file does not start with the ELF magic.
    case notELF
    /// Only 64-bit little-endian ELF files are supported.
    case unsupportedFormat(elfClass: UInt8, dataEncoding: UInt8)
    /// A header or table points past the end of the file.
    case truncated
    /// A header field is inconsistent.
    case malformed(String)
}

/// A section header, with its name resolved through `.shstrtab`.
public struct ELFSection: Sendable, Hashable {
    /// Index in the section header table.
    public var index: Int
    /// Section name, e.g. `.symtab`; empty when unnamed.
    public var name: String
    /// `sh_type` (e.g. 2 = SHT_SYMTAB, 11 = SHT_DYNSYM, 7 = SHT_NOTE, 8 = SHT_NOBITS).
    public var type: UInt32
    /// `sh_flags`.
    public var flags: UInt64
    /// `sh_addr`, the virtual address when loaded.
    public var address: UInt64
    /// `sh_offset`, the position in the file.
    public var offset: UInt64
    /// `sh_size` in bytes.
    public var size: UInt64
    /// `sh_link` (for symbol tables: the string table's section index).
    public var link: UInt32
    /// `sh_info`.
    public var info: UInt32
    /// `sh_addralign`.
    public var addressAlignment: UInt64
    /// `sh_entsize`.
    public var entrySize: UInt64

    /// Whether the section occupies bytes in the file (not SHT_NOBITS, not SHT_NULL).
    public var hasFileData: Bool { type != ELFConstants.SHT_NOBITS && type != ELFConstants.SHT_NULL }
}

/// A `PT_LOAD` program header: a file range mapped at a virtual address.
public struct ELFLoadSegment: Sendable, Hashable {
    /// `p_vaddr`.
    public var virtualAddress: UInt64
    /// `p_offset`.
    public var offset: UInt64
    /// `p_filesz`, bytes taken from the file.
    public var fileSize: UInt64
    /// `p_memsz`, bytes in memory (larger than `fileSize` for .bss).
    public var memorySize: UInt64
    /// `p_flags` (PF_X = 1, PF_W = 2, PF_R = 4).
    public var flags: UInt32
    /// `p_align`.
    public var alignment: UInt64

    /// Whether the segment is executable (PF_X).
    public var isExecutable: Bool { flags & 1 != 0 }

    /// Whether `fileOffset` lies in the bytes this segment takes from the file.
    public func contains(fileOffset: UInt64) -> Bool {
        fileOffset >= offset && fileOffset - offset < fileSize
    }

    /// Whether `address` lies in the segment's memory image.
    public func contains(virtualAddress address: UInt64) -> Bool {
        address >= virtualAddress && address - virtualAddress < memorySize
    }
}

/// The contents of a `.gnu_debuglink` section.
public struct ELFDebugLink: Sendable, Hashable {
    /// File name of the separate debug file (no directory).
    public var fileName: String
    /// CRC-32 of the whole debug file.
    public var crc: UInt32

    public init(fileName: String, crc: UInt32) {
        self.fileName = fileName
        self.crc = crc
    }

    /// Parses the section: a NUL-terminated name, padding to 4 bytes, the CRC-32.
    init?(parsing bytes: [UInt8]) {
        guard let nul = bytes.firstIndex(of: 0), nul > 0,
              let crc = ByteView(bytes: bytes).u32((nul + 1 + 3) & ~3) else { return nil }
        self.init(fileName: String(decoding: bytes[0..<nul], as: UTF8.self), crc: crc)
    }
}

/// A function symbol from `.symtab` or `.dynsym`.
public struct ELFSymbol: Sendable, Hashable {
    /// Symbol name from the linked string table.
    public var name: String
    /// `st_value`, the symbol's virtual address.
    public var value: UInt64
    /// `st_size` in bytes (0 when unknown).
    public var size: UInt64
    /// `ELF64_ST_TYPE(st_info)`: 2 = STT_FUNC, 10 = STT_GNU_IFUNC.
    public var type: UInt8
    /// `ELF64_ST_BIND(st_info)`: 0 = LOCAL, 1 = GLOBAL, 2 = WEAK, 10 = GNU_UNIQUE.
    public var binding: UInt8
    /// `st_shndx`.
    public var sectionIndex: UInt16

    /// Whether the symbol is global (GLOBAL or GNU_UNIQUE binding).
    public var isGlobal: Bool { binding == ELFConstants.STB_GLOBAL || binding == ELFConstants.STB_GNU_UNIQUE }
    /// Whether the symbol is weak.
    public var isWeak: Bool { binding == ELFConstants.STB_WEAK }
    /// Whether the symbol is local.
    public var isLocal: Bool { binding == ELFConstants.STB_LOCAL }
}

/// Numeric constants from the ELF specification used by this module.
public enum ELFConstants {
    /// Unused section header.
    public static let SHT_NULL: UInt32 = 0
    /// Full symbol table (`.symtab`).
    public static let SHT_SYMTAB: UInt32 = 2
    /// String table.
    public static let SHT_STRTAB: UInt32 = 3
    /// Note section.
    public static let SHT_NOTE: UInt32 = 7
    /// Section without file bytes (.bss; stripped sections in debug files).
    public static let SHT_NOBITS: UInt32 = 8
    /// Dynamic symbol table (`.dynsym`).
    public static let SHT_DYNSYM: UInt32 = 11
    /// Section contents are compressed.
    public static let SHF_COMPRESSED: UInt64 = 0x800
    /// `sh_flags`: the section occupies memory while the program runs.
    public static let SHF_ALLOC: UInt64 = 0x2
    /// `ch_type` of a zlib-compressed section.
    public static let ELFCOMPRESS_ZLIB: UInt32 = 1
    /// Loadable segment.
    public static let PT_LOAD: UInt32 = 1
    /// Note segment.
    public static let PT_NOTE: UInt32 = 4
    /// Dynamic linking information.
    public static let PT_DYNAMIC: UInt32 = 2
    /// Symbol without a type (not a function).
    public static let STT_NOTYPE: UInt8 = 0
    /// Data object (not a function).
    public static let STT_OBJECT: UInt8 = 1
    /// Function.
    public static let STT_FUNC: UInt8 = 2
    /// GNU indirect function (resolver); treated as a function.
    public static let STT_GNU_IFUNC: UInt8 = 10
    /// Local binding.
    public static let STB_LOCAL: UInt8 = 0
    /// Global binding.
    public static let STB_GLOBAL: UInt8 = 1
    /// Weak binding.
    public static let STB_WEAK: UInt8 = 2
    /// GNU unique global binding.
    public static let STB_GNU_UNIQUE: UInt8 = 10
    /// Undefined section index (undefined symbol).
    public static let SHN_UNDEF: UInt16 = 0
    /// Escape value: real index stored elsewhere.
    public static let SHN_XINDEX: UInt16 = 0xffff
    /// Note type of the GNU build-id.
    public static let NT_GNU_BUILD_ID: UInt32 = 3
}

/// Bounds on the work one ELF file can cause, whatever it claims: the files come from processes
/// that may be hostile (a container's files, read by root).
enum ELFLimits {
    /// Section headers read; real executables, libraries and debug files have under 100.
    static let sections: UInt64 = 1 << 16
    /// Bytes of a section name kept; longer names are treated as unnamed.
    static let sectionName = 256
    /// Bytes of one section read into memory: a sparse file can claim any size at no cost.
    static let sectionBytes: UInt64 = 1 << 30
    /// Bytes of a symbol name; a symbol with a longer one is skipped.
    static let symbolName = 16 << 10
    /// Note sections and segments searched for the build-id, and bytes read from each.
    static let noteRegions = 16
    static let noteBytes: UInt64 = 1 << 20
}

/// A parsed 64-bit little-endian ELF file: sections, load segments, build-id,
/// debug link and function symbols.
///
/// Headers, notes and symbols are read in `init` with `pread`; the value keeps the file open for
/// reading other sections later (`sectionData`), so it reads the file it parsed even if the path
/// now names another.
public struct ELFFile: Sendable {
    /// The bytes parsed.
    let source: any ByteSource
    /// The path the file was opened with.
    public let path: String
    /// Identity (device, inode, size, mtime) of the file when it was read.
    public let identity: FileIdentity
    /// `e_type` (2 = ET_EXEC, 3 = ET_DYN).
    public let fileType: UInt16
    /// `e_machine` (62 = x86-64).
    public let machine: UInt16
    /// All section headers in table order.
    public let sections: [ELFSection]
    /// The `PT_LOAD` program headers in table order.
    public let loadSegments: [ELFLoadSegment]
    /// The GNU build-id (`NT_GNU_BUILD_ID` note), if present.
    public let buildID: [UInt8]?
    /// The `.gnu_debuglink` contents, if present.
    public let debugLink: ELFDebugLink?
    /// Why the section headers were not used (unreadable, or not this program's), if so; the
    /// symbols then come from the dynamic segment, as the loader sees them.
    public let sectionHeaderProblem: ELFError?
    /// Function symbols (STT_FUNC, STT_GNU_IFUNC; defined only) of `.symtab`, names undecoded.
    /// Empty when not loaded or when the file is stripped.
    public let symtab: FunctionTable
    /// The same for `.dynsym`.
    public let dynsym: FunctionTable

    /// `symtab` with names decoded.
    public var symtabFunctions: [ELFSymbol] { symtab.symbols }
    /// `dynsym` with names decoded.
    public var dynsymFunctions: [ELFSymbol] { dynsym.symbols }

    /// Whether a `.symtab` with contents is present.
    public var hasSymtab: Bool {
        sections.contains { $0.type == ELFConstants.SHT_SYMTAB }
    }

    /// Whether the file is stripped, i.e. has no `.symtab`.
    public var isStripped: Bool { !hasSymtab }

    /// The build-id as lowercase hex, if present.
    public var buildIDHex: String? { buildID.map(hexString) }

    /// Reads and parses the ELF file at `path`.
    ///
    /// - Parameter loadSymbols: when false, `.symtab` and `.dynsym` are not read
    ///   (cheaper when only the build-id or debug link is needed).
    public init(path: String, loadSymbols: Bool = true) throws(ELFError) {
        try self.init(path: path, root: .host, loadSymbols: loadSymbols)
    }

    /// Reads and parses the ELF file at `path` as seen from `root` (`path` becomes the root's
    /// path followed by `path`).
    public init(path: String, root: FileRoot, loadSymbols: Bool = true) throws(ELFError) {
        let reader = try FileReader(path: path, root: root)
        try self.init(reader: reader, path: reader.path, identity: reader.identity, loadSymbols: loadSymbols)
    }

    /// Parses an open file (`/proc/PID/map_files/…` opened by the caller); the descriptor is
    /// taken over. `path` is only a label.
    public init(descriptor: Int32, path: String, loadSymbols: Bool = true) throws(ELFError) {
        let reader = try FileReader(fd: descriptor, path: path)
        try self.init(reader: reader, path: path, identity: reader.identity, loadSymbols: loadSymbols)
    }

    /// Parses an ELF file held in memory; `path` is only a label.
    public init(bytes: [UInt8], path: String = "<memory>", loadSymbols: Bool = true) throws(ELFError) {
        try self.init(reader: MemoryBytes(bytes: bytes), path: path, identity: FileIdentity(), loadSymbols: loadSymbols)
    }

    init(reader: some ByteSource, path: String, identity: FileIdentity, loadSymbols: Bool) throws(ELFError) {
        self.path = path
        self.identity = identity
        self.source = reader

        guard reader.size >= 64 else { throw ELFError.notELF }
        let header = ByteView(bytes: try reader.read(offset: 0, count: 64))
        guard header.bytes[0] == 0x7f, header.bytes[1] == 0x45, header.bytes[2] == 0x4c, header.bytes[3] == 0x46 else {
            throw ELFError.notELF
        }
        guard header.bytes[4] == 2, header.bytes[5] == 1 else {
            throw ELFError.unsupportedFormat(elfClass: header.bytes[4], dataEncoding: header.bytes[5])
        }
        fileType = header.u16(16)!
        machine = header.u16(18)!
        let phoff = header.u64(32)!
        let phentsize = UInt64(header.u16(54)!)
        var phnum = UInt64(header.u16(56)!)

        // The section headers are for tools: the loader never reads them, so a program runs with
        // a corrupt table. One that cannot be read is left out, and what it would give comes from
        // the program headers instead.
        var rawSections: [ELFSection] = []
        var problem: ELFError?
        do throws(ELFError) {
            let table = try ELFFile.readSectionHeaders(header, reader: reader)
            rawSections = table.sections
            if phnum == 0xffff, let extended = table.extendedProgramHeaderCount { phnum = extended }
        } catch {
            problem = error
        }

        // Program headers: PT_LOAD, PT_NOTE for the build-id, PT_DYNAMIC for the loader's symbols.
        var segments: [ELFLoadSegment] = []
        var noteSegments: [(offset: UInt64, size: UInt64, align: UInt64)] = []
        var dynamicSegment: (offset: UInt64, size: UInt64)?
        if phoff != 0, phnum > 0 {
            guard phentsize >= 56 else { throw ELFError.malformed("e_phentsize \(phentsize)") }
            guard phnum <= reader.size / phentsize else { throw ELFError.truncated }
            let table = ByteView(bytes: try reader.read(offset: phoff, count: phnum * phentsize))
            for i in 0..<Int(phnum) {
                let b = i * Int(phentsize)
                let type = table.u32(b)!
                if type == ELFConstants.PT_LOAD {
                    segments.append(ELFLoadSegment(
                        virtualAddress: table.u64(b + 16)!, offset: table.u64(b + 8)!,
                        fileSize: table.u64(b + 32)!, memorySize: table.u64(b + 40)!,
                        flags: table.u32(b + 4)!, alignment: table.u64(b + 48)!))
                } else if type == ELFConstants.PT_NOTE {
                    noteSegments.append((table.u64(b + 8)!, table.u64(b + 32)!, table.u64(b + 48)!))
                } else if type == ELFConstants.PT_DYNAMIC, dynamicSegment == nil {
                    dynamicSegment = (table.u64(b + 8)!, table.u64(b + 32)!)
                }
            }
        }
        loadSegments = segments
        let dynamic = dynamicSegment.flatMap { segment in
            (segment.size <= ELFLimits.noteBytes ? try? reader.read(offset: segment.offset, count: segment.size) : nil)
                .map(DynamicTable.init(parsing:))
        }

        // A section table that places .dynsym elsewhere than the loader's table, or elsewhere in
        // the file than the program headers load its address from, is not this program's: none
        // of it is used. (Only the loader's own tables are checked: a separate debug file keeps
        // the program's headers but puts its notes elsewhere.)
        if let address = dynamic?.symbolTable,
           let section = rawSections.first(where: { $0.type == ELFConstants.SHT_DYNSYM }), section.address != address {
            rawSections = []
            problem = .malformed("the section headers disagree with the dynamic segment")
        }
        let dynamicTables = rawSections.first { $0.type == ELFConstants.SHT_DYNSYM }.map { symbols in
            [symbols] + (Int(symbols.link) < rawSections.count ? [rawSections[Int(symbols.link)]] : [])
        } ?? []
        if dynamicTables.contains(where: { section in
            guard section.flags & ELFConstants.SHF_ALLOC != 0, section.hasFileData, section.size > 0,
                  let segment = segments.first(where: { $0.virtualAddress <= section.address && section.address - $0.virtualAddress < $0.fileSize })
            else { return false }
            return segment.offset &+ (section.address - segment.virtualAddress) != section.offset
        }) {
            rawSections = []
            problem = .malformed("the section headers place .dynsym elsewhere than the program headers load it from")
        }
        sections = rawSections
        sectionHeaderProblem = problem

        // Build-id: the named section first, then any note section, then PT_NOTE.
        var foundBuildID: [UInt8]?
        let noteSections = rawSections.filter { $0.type == ELFConstants.SHT_NOTE && $0.flags & ELFConstants.SHF_COMPRESSED == 0 }
        let orderedNotes = noteSections.filter { $0.name == ".note.gnu.build-id" }
            + noteSections.filter { $0.name != ".note.gnu.build-id" }
        let regions = orderedNotes.map { (offset: $0.offset, size: $0.size, align: $0.addressAlignment) } + noteSegments
        for note in regions.prefix(ELFLimits.noteRegions) where foundBuildID == nil && note.size <= ELFLimits.noteBytes {
            if let bytes = try? reader.read(offset: note.offset, count: note.size) {
                foundBuildID = ELFFile.findBuildID(inNotes: bytes, alignment: note.align)
            }
        }
        buildID = foundBuildID

        var link: ELFDebugLink?
        if let section = rawSections.first(where: { $0.name == ".gnu_debuglink" && $0.hasFileData }),
           let bytes = try? ELFFile.read(section, from: reader) {
            link = ELFDebugLink(parsing: bytes)
        }
        debugLink = link

        if loadSymbols {
            symtab = ELFFile.readFunctions(type: ELFConstants.SHT_SYMTAB, sections: rawSections, reader: reader)
            let fromSection = ELFFile.readFunctions(type: ELFConstants.SHT_DYNSYM, sections: rawSections, reader: reader)
            if rawSections.contains(where: { $0.type == ELFConstants.SHT_DYNSYM && $0.hasFileData }) || dynamic == nil {
                dynsym = fromSection
            } else {
                dynsym = ELFFile.readDynamicFunctions(dynamic!, segments: segments, reader: reader)
            }
        } else {
            symtab = FunctionTable()
            dynsym = FunctionTable()
        }
    }

    /// The section header table, with extended numbering (count, string table index and program
    /// header count in section 0 when they overflow 16 bits), and section names.
    static func readSectionHeaders(_ header: ByteView, reader: some ByteSource) throws(ELFError)
        -> (sections: [ELFSection], extendedProgramHeaderCount: UInt64?) {
        let shoff = header.u64(40)!
        let shentsize = UInt64(header.u16(58)!)
        var shnum = UInt64(header.u16(60)!)
        var shstrndx = UInt64(header.u16(62)!)
        guard shoff != 0 else { return ([], nil) }
        guard shentsize >= 64 else { throw ELFError.malformed("e_shentsize \(shentsize)") }
        let first = ByteView(bytes: try reader.read(offset: shoff, count: 64))
        if shnum == 0 { shnum = first.u64(32)! }
        if shstrndx == UInt64(ELFConstants.SHN_XINDEX) { shstrndx = UInt64(first.u32(40)!) }
        let extendedPhnum = UInt64(first.u32(44)!)
        guard shnum <= reader.size / shentsize else { throw ELFError.truncated }
        guard shnum <= ELFLimits.sections else { throw ELFError.malformed("\(shnum) sections") }
        let table = ByteView(bytes: try reader.read(offset: shoff, count: shnum * shentsize))
        var sections: [ELFSection] = []
        var nameOffsets: [UInt32] = []
        sections.reserveCapacity(Int(shnum))
        for i in 0..<Int(shnum) {
            let b = i * Int(shentsize)
            sections.append(ELFSection(
                index: i, name: "", type: table.u32(b + 4)!, flags: table.u64(b + 8)!,
                address: table.u64(b + 16)!, offset: table.u64(b + 24)!, size: table.u64(b + 32)!,
                link: table.u32(b + 40)!, info: table.u32(b + 44)!,
                addressAlignment: table.u64(b + 48)!, entrySize: table.u64(b + 56)!))
            nameOffsets.append(table.u32(b)!)
        }
        if shstrndx < UInt64(sections.count), sections[Int(shstrndx)].hasFileData,
           let names = try? ELFFile.read(sections[Int(shstrndx)], from: reader) {
            let view = ByteView(bytes: names)
            for i in sections.indices {
                sections[i].name = view.cString(Int(nameOffsets[i]), maxLength: ELFLimits.sectionName) ?? ""
            }
        }
        return (sections, extendedPhnum)
    }

    /// A section's contents, inflated when it is compressed (`SHF_COMPRESSED` with zlib); at most
    /// `ELFLimits.sectionBytes` either way. Sections without file bytes (NOBITS) are empty.
    public func sectionData(_ section: ELFSection) throws(ELFError) -> [UInt8] {
        guard section.hasFileData else { return [] }
        let raw = try ELFFile.read(section, from: source)
        return section.flags & ELFConstants.SHF_COMPRESSED != 0 ? try ELFFile.inflate(raw) : raw
    }

    /// The contents of the first section called `name` with file bytes, or nil.
    public func sectionData(named name: String) -> [UInt8]? {
        guard let section = sections.first(where: { $0.name == name && $0.hasFileData }) else { return nil }
        return try? sectionData(section)
    }

    /// The first `prefix` bytes of a section, inflated when it is compressed (only as far as
    /// needed: the rest of the stream is not decoded); the whole section when it is shorter.
    public func sectionData(_ section: ELFSection, prefix: Int) throws(ELFError) -> [UInt8] {
        guard section.hasFileData else { return [] }
        guard section.flags & ELFConstants.SHF_COMPRESSED != 0 else {
            var part = section
            part.size = min(section.size, UInt64(max(0, prefix)))
            return try ELFFile.read(part, from: source)
        }
        return try ELFFile.inflate(try ELFFile.read(section, from: source), prefix: prefix)
    }

    /// Inflates a compressed section: an `Elf64_Chdr` (type, reserved, size, alignment) and a zlib
    /// stream. The size it claims must fit the limit and what deflate can do with the bytes
    /// present (at most 1,032 to 1), so a small section cannot claim a huge allocation. With
    /// `prefix`, only that many bytes (or the whole section, when it is not longer): the stream
    /// is decoded up to there, its checksum, at the end, not reached.
    static func inflate(_ raw: [UInt8], prefix: Int? = nil) throws(ELFError) -> [UInt8] {
        let header = ByteView(bytes: raw)
        guard let type = header.u32(0), let size = header.u64(8), raw.count >= 24 else { throw ELFError.truncated }
        guard type == ELFConstants.ELFCOMPRESS_ZLIB else { throw ELFError.malformed("compression type \(type)") }
        let stream = UInt64(raw.count - 24)
        guard size <= ELFLimits.sectionBytes, size <= stream * 1032 + 64 else {
            throw ELFError.malformed("compressed section claims \(size) bytes")
        }
        guard size > 0 else { return [] }
        // A prefix: a deflate stream's bytes come out in order, and the decoder stops where the next
        // literal, match (at most 258 bytes) or stored block (at most 65,535) no longer fits; with
        // that much room past the prefix, all of the prefix is out and final.
        let kept = prefix.map { min(max(0, $0), Int(size)) } ?? Int(size)
        let room = kept < Int(size) ? min(Int(size), kept + 65_536 + 1024) : Int(size)
        // Not zero-filled first: the inflater writes every byte kept, or the section is refused.
        var rc: Int32 = -1
        let out = [UInt8](unsafeUninitializedCapacity: room) { output, initialized in
            rc = raw.withUnsafeBufferPointer { input in
                fh_inflate(input.baseAddress! + 24, input.count - 24, output.baseAddress!, output.count, kept < Int(size) ? 0 : 1)
            }
            initialized = rc == 0 ? kept : 0
        }
        guard rc == 0 else { throw ELFError.malformed("corrupt compressed section") }
        return out
    }

    /// `count` bytes of the file at `offset`, or nil when they are not all there.
    public func bytes(at offset: UInt64, count: Int) -> [UInt8]? {
        guard count >= 0 else { return nil }
        return try? source.read(offset: offset, count: UInt64(count))
    }

    /// The first section called `name`, if any.
    public func section(named name: String) -> ELFSection? {
        sections.first { $0.name == name }
    }

    /// The `PT_LOAD` segment whose file bytes contain `fileOffset`.
    ///
    /// When no segment's file range contains the offset (e.g. the page-alignment
    /// slack before a segment that does not start on a page boundary), the
    /// segment whose page-aligned range does is returned instead.
    public func loadSegment(containingFileOffset fileOffset: UInt64) -> ELFLoadSegment? {
        if let exact = loadSegments.first(where: { $0.contains(fileOffset: fileOffset) }) {
            return exact
        }
        return loadSegments.first { segment in
            let page = max(segment.alignment, 4096)
            let start = segment.offset & ~(page &- 1)
            return fileOffset >= start && fileOffset < segment.offset &+ segment.fileSize
        }
    }

    /// Converts a file offset (as in `/proc/PID/maps`: address - start + offset)
    /// into the virtual address used by symbol values, via the containing `PT_LOAD`.
    public func virtualAddress(forFileOffset fileOffset: UInt64) -> UInt64? {
        guard let segment = loadSegment(containingFileOffset: fileOffset) else { return nil }
        return fileOffset &- segment.offset &+ segment.virtualAddress
    }

    /// Converts a virtual address inside a `PT_LOAD` segment's file bytes into a file offset.
    public func fileOffset(forVirtualAddress address: UInt64) -> UInt64? {
        guard let segment = loadSegments.first(where: {
            address >= $0.virtualAddress && address - $0.virtualAddress < $0.fileSize
        }) else { return nil }
        let (offset, overflow) = (address - segment.virtualAddress).addingReportingOverflow(segment.offset)
        return overflow ? nil : offset
    }

    // MARK: - Parsing helpers

    /// A section's bytes as stored in the file, if it is at most `ELFLimits.sectionBytes` long.
    static func read(_ section: ELFSection, from reader: some ByteSource) throws(ELFError) -> [UInt8] {
        guard section.size <= ELFLimits.sectionBytes else { throw ELFError.malformed("section \(section.index): \(section.size) bytes") }
        return try reader.read(offset: section.offset, count: section.size)
    }

    static func findBuildID(inNotes bytes: [UInt8], alignment: UInt64) -> [UInt8]? {
        let view = ByteView(bytes: bytes)
        let align = alignment == 8 ? 8 : 4
        func pad(_ n: Int) -> Int { (n + align - 1) & ~(align - 1) }
        var at = 0
        while at + 12 <= bytes.count {
            guard let namesz = view.u32(at), let descsz = view.u32(at + 4), let type = view.u32(at + 8) else { return nil }
            let nameStart = at + 12
            guard Int(namesz) <= bytes.count, Int(descsz) <= bytes.count else { return nil }
            let descStart = nameStart + pad(Int(namesz))
            let next = descStart + pad(Int(descsz))
            guard descStart + Int(descsz) <= bytes.count else { return nil }
            if type == ELFConstants.NT_GNU_BUILD_ID, namesz == 4,
               bytes[nameStart..<nameStart + 4].elementsEqual([0x47, 0x4e, 0x55, 0]), descsz > 0 {
                return Array(bytes[descStart..<descStart + Int(descsz)])
            }
            guard next > at else { return nil }
            at = next
        }
        return nil
    }

    static func readFunctions(type: UInt32, sections: [ELFSection], reader: some ByteSource) -> FunctionTable {
        guard let table = sections.first(where: { $0.type == type }),
              table.hasFileData, table.flags & ELFConstants.SHF_COMPRESSED == 0,
              Int(table.link) < sections.count else { return FunctionTable() }
        let strtab = sections[Int(table.link)]
        guard strtab.hasFileData, strtab.flags & ELFConstants.SHF_COMPRESSED == 0 else { return FunctionTable() }
        // An Elf64_Sym is 24 bytes; a larger stride is allowed, an absurd one is not.
        guard table.entrySize == 0 || (24...4096).contains(table.entrySize),
              let symbolBytes = try? ELFFile.read(table, from: reader),
              let stringBytes = try? ELFFile.read(strtab, from: reader) else { return FunctionTable() }
        return functions(symbols: symbolBytes, entrySize: table.entrySize == 0 ? 24 : Int(table.entrySize), strings: stringBytes)
    }

    /// The dynamic symbol table as the loader finds it: `DT_SYMTAB`, `DT_STRTAB`/`DT_STRSZ`, and
    /// the symbol count from the hash table (`DT_GNU_HASH` or `DT_HASH`), or, without one, the
    /// distance from the symbol table to the string table (where linkers put it).
    static func readDynamicFunctions(_ dynamic: DynamicTable, segments: [ELFLoadSegment], reader: some ByteSource) -> FunctionTable {
        func fileOffset(_ address: UInt64) -> UInt64? {
            guard let segment = segments.first(where: { address >= $0.virtualAddress && address - $0.virtualAddress < $0.fileSize })
            else { return nil }
            let (offset, overflow) = (address - segment.virtualAddress).addingReportingOverflow(segment.offset)
            return overflow ? nil : offset
        }
        func u32(at address: UInt64) -> UInt32? {
            guard let offset = fileOffset(address), let bytes = try? reader.read(offset: offset, count: 4) else { return nil }
            return ByteView(bytes: bytes).u32(0)
        }
        let entrySize = dynamic.symbolEntrySize ?? 24
        guard let symtab = dynamic.symbolTable, let strtab = dynamic.stringTable, let stringSize = dynamic.stringTableSize,
              (24...4096).contains(entrySize), stringSize <= ELFLimits.sectionBytes,
              let symtabOffset = fileOffset(symtab), let strtabOffset = fileOffset(strtab),
              let strings = try? reader.read(offset: strtabOffset, count: stringSize) else { return FunctionTable() }
        // Most symbols one table could hold: the rest of the file.
        let available = (reader.size - min(reader.size, symtabOffset)) / entrySize
        var count: UInt64?
        if let gnu = dynamic.gnuHash, let buckets = u32(at: gnu), let firstHashed = u32(at: gnu &+ 4),
           let bloomWords = u32(at: gnu &+ 8) {
            // The highest symbol index is in the last chain: find the largest bucket, then walk
            // its chain to the entry with the low bit set.
            let bucketsAt = gnu &+ 16 &+ UInt64(bloomWords) &* 8
            let chainsAt = bucketsAt &+ UInt64(buckets) &* 4
            var highest: UInt64 = 0
            if UInt64(buckets) <= available, let offset = fileOffset(bucketsAt),
               let bytes = try? reader.read(offset: offset, count: UInt64(buckets) * 4) {
                let view = ByteView(bytes: bytes)
                for i in 0..<Int(buckets) { highest = max(highest, UInt64(view.u32(i * 4)!)) }
            }
            if highest < UInt64(firstHashed) {
                count = UInt64(firstHashed)
            } else {
                // The chain is read 1,024 entries at a time; it cannot be longer than the file.
                var index = highest
                walk: while index - UInt64(firstHashed) < available,
                            let offset = fileOffset(chainsAt &+ (index - UInt64(firstHashed)) &* 4) {
                    let entries = min(1024, (reader.size - min(reader.size, offset)) / 4)
                    guard entries > 0, let bytes = try? reader.read(offset: offset, count: entries * 4) else { break }
                    let view = ByteView(bytes: bytes)
                    for i in 0..<Int(entries) {
                        if view.u32(i * 4)! & 1 != 0 { count = index + 1; break walk }
                        index += 1
                    }
                }
            }
        } else if let hash = dynamic.hash, let chains = u32(at: hash &+ 4) {
            count = UInt64(chains)
        } else if strtab > symtab {
            count = (strtab - symtab) / entrySize
        }
        guard let count, count > 0 else { return FunctionTable() }
        let bytes = min(count, available) * entrySize
        guard bytes <= ELFLimits.sectionBytes, let symbols = try? reader.read(offset: symtabOffset, count: bytes) else {
            return FunctionTable()
        }
        return functions(symbols: symbols, entrySize: Int(entrySize), strings: strings)
    }

    /// The defined function symbols of a symbol table's bytes.
    static func functions(symbols symbolBytes: [UInt8], entrySize: Int, strings stringBytes: [UInt8]) -> FunctionTable {
        let count = symbolBytes.count / entrySize
        var records: [FunctionTable.Record] = []
        symbolBytes.withUnsafeBytes { symbols in
            stringBytes.withUnsafeBytes { strings in
                for i in 0..<count {
                    let b = i * entrySize
                    let info = symbols[b + 4]
                    let symbolType = info & 0xf
                    guard symbolType == ELFConstants.STT_FUNC || symbolType == ELFConstants.STT_GNU_IFUNC else { continue }
                    let shndx = UInt16(littleEndian: symbols.loadUnaligned(fromByteOffset: b + 6, as: UInt16.self))
                    guard shndx != ELFConstants.SHN_UNDEF else { continue }
                    let nameOffset = Int(UInt32(littleEndian: symbols.loadUnaligned(fromByteOffset: b, as: UInt32.self)))
                    // The name must end (a NUL) within the limit: a bounded search per symbol.
                    guard let end = nulIndex(in: strings, from: nameOffset, maxLength: ELFLimits.symbolName),
                          end > nameOffset else { continue }
                    records.append(FunctionTable.Record(
                        value: UInt64(littleEndian: symbols.loadUnaligned(fromByteOffset: b + 8, as: UInt64.self)),
                        size: UInt64(littleEndian: symbols.loadUnaligned(fromByteOffset: b + 16, as: UInt64.self)),
                        nameStart: UInt32(nameOffset), nameLength: UInt32(end - nameOffset),
                        type: symbolType, binding: info >> 4, sectionIndex: shndx))
                }
            }
        }
        return FunctionTable(strings: stringBytes, records: records)
    }
}

/// Function symbols as the file has them: fixed-size records, names left in the string table
/// until they are needed (decoding every name is most of the cost of loading a table).
public struct FunctionTable: Sendable {
    public struct Record: Sendable, Hashable {
        public var value: UInt64
        public var size: UInt64
        public var nameStart: UInt32
        public var nameLength: UInt32
        public var type: UInt8
        public var binding: UInt8
        public var sectionIndex: UInt16
    }

    /// The string table the records' names point into.
    public let strings: [UInt8]
    public let records: [Record]

    public init(strings: [UInt8] = [], records: [Record] = []) {
        self.strings = strings
        self.records = records
    }

    /// A table holding these symbols, names copied into a fresh string table.
    public init(_ symbols: [ELFSymbol]) {
        var strings: [UInt8] = []
        var records: [Record] = []
        for symbol in symbols {
            let name = Array(symbol.name.utf8)
            records.append(Record(value: symbol.value, size: symbol.size, nameStart: UInt32(strings.count),
                                  nameLength: UInt32(name.count), type: symbol.type, binding: symbol.binding,
                                  sectionIndex: symbol.sectionIndex))
            strings += name
        }
        self.init(strings: strings, records: records)
    }

    public func name(_ record: Record) -> String {
        let start = Int(record.nameStart)
        return String(decoding: strings[start..<(start + Int(record.nameLength))], as: UTF8.self)
    }

    func nameBytes(_ record: Record) -> ArraySlice<UInt8> {
        let start = Int(record.nameStart)
        return strings[start..<(start + Int(record.nameLength))]
    }

    /// Every symbol, names decoded.
    public var symbols: [ELFSymbol] {
        records.map { ELFSymbol(name: name($0), value: $0.value, size: $0.size, type: $0.type, binding: $0.binding,
                                sectionIndex: $0.sectionIndex) }
    }
}

/// The entries of a `PT_DYNAMIC` segment this module uses: where the loader finds the dynamic
/// symbols (virtual addresses).
struct DynamicTable: Sendable {
    var symbolTable: UInt64?
    var stringTable: UInt64?
    var stringTableSize: UInt64?
    var symbolEntrySize: UInt64?
    var hash: UInt64?
    var gnuHash: UInt64?

    /// Parses `Elf64_Dyn` entries (tag, value) up to `DT_NULL`.
    init(parsing bytes: [UInt8]) {
        let view = ByteView(bytes: bytes)
        var at = 0
        while let tag = view.u64(at), let value = view.u64(at + 8), tag != 0 {
            switch tag {
            case 4: hash = value
            case 5: stringTable = value
            case 6: symbolTable = value
            case 10: stringTableSize = value
            case 11: symbolEntrySize = value
            case 0x6fff_fef5: gnuHash = value
            default: break
            }
            at += 16
        }
    }
}

/// Lowercase hex of `bytes`.
func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 2)
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0xf)])
    }
    return String(decoding: out, as: UTF8.self)
}
