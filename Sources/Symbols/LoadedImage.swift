/// A module as loaded in a process's memory: its ELF header at the start of its first mapping,
/// its program headers, its `PT_NOTE` segments. The memory is the process's, so untrusted like
/// any file: every field is checked, every read bounded.
public enum LoadedImage {
    /// What the memory says about the module's build-id.
    public enum BuildID: Equatable, Sendable {
        /// The `NT_GNU_BUILD_ID` note's bytes.
        case found([UInt8])
        /// An ELF image whose notes were read and hold no build-id.
        case absent
        /// No ELF header there, or a header or note that could not be read.
        case unreadable
    }

    /// Program headers read at most; note segments searched, and bytes read from each.
    static let maximumProgramHeaders = 256
    static let maximumNotes = 16
    static let maximumNoteBytes = 64 << 10

    /// The build-id of the image whose first mapping (file offset 0) starts at `base`; `read`
    /// returns `count` bytes at an address, or nil.
    public static func buildID(base: UInt64, read: (_ address: UInt64, _ count: Int) -> [UInt8]?) -> BuildID {
        guard let header = read(base, 64).map({ ByteView(bytes: $0) }), header.bytes.count == 64,
              header.bytes[0] == 0x7f, header.bytes[1] == 0x45, header.bytes[2] == 0x4c, header.bytes[3] == 0x46,
              header.bytes[4] == 2, header.bytes[5] == 1,
              let phoff = header.u64(32), let entrySize = header.u16(54).map(Int.init), let count = header.u16(56).map(Int.init),
              entrySize >= 56, count > 0, count <= maximumProgramHeaders, phoff < 1 << 32
        else { return .unreadable }
        // The program headers are in the first mapping, at their file offset from its start.
        guard let table = read(base &+ phoff, entrySize * count).map({ ByteView(bytes: $0) }), table.bytes.count == entrySize * count
        else { return .unreadable }
        var loads: [(offset: UInt64, vaddr: UInt64)] = []
        var notes: [(vaddr: UInt64, size: UInt64, align: UInt64)] = []
        for i in 0..<count {
            let at = i * entrySize
            switch table.u32(at)! {
            case ELFConstants.PT_LOAD: loads.append((table.u64(at + 8)!, table.u64(at + 16)!))
            case ELFConstants.PT_NOTE: notes.append((table.u64(at + 16)!, table.u64(at + 32)!, table.u64(at + 48)!))
            default: break
            }
        }
        // The segment holding file offset 0 is mapped at `base`: that fixes the load bias.
        guard let first = loads.min(by: { $0.offset < $1.offset }), first.offset < 1 << 16 else { return .unreadable }
        let bias = base &- (first.vaddr &- first.offset)
        var unreadable = false
        for note in notes.prefix(maximumNotes) {
            guard note.size > 0, note.size <= UInt64(maximumNoteBytes),
                  let bytes = read(bias &+ note.vaddr, Int(note.size)), bytes.count == Int(note.size) else {
                unreadable = true
                continue
            }
            if let id = ELFFile.findBuildID(inNotes: bytes, alignment: note.align) { return .found(id) }
        }
        return unreadable ? .unreadable : .absent
    }
}
