import Testing
@testable import Symbols

/// A DIE whose attributes all have fixed sizes is stepped over by the sum of those sizes, without
/// reading them: each size must be exactly what reading the value takes.
@Suite struct FormSizeTests {
    @Test(arguments: [
        DebugInfo.Format(addressSize: 8, is64: false, version2: false),
        DebugInfo.Format(addressSize: 4, is64: true, version2: false),
        DebugInfo.Format(addressSize: 4, is64: false, version2: true),
    ])
    func fixedSizesAreWhatReadingTakes(format: DebugInfo.Format) {
        let info = DebugInfo(sections: DWARFSections())
        let unit = DebugInfo.Unit(offset: 0, end: 64, version: format.version2 ? 2 : 4, is64: format.is64,
                                  addressSize: format.addressSize, abbrevOffset: 0, firstDIE: 11, unitType: 1)
        let forms = Array(0x01...0x2c) + [0x1f01, 0x1f02, 0x1f20, 0x1f21]
        var fixed = 0
        for form in forms.map(UInt64.init) {
            // Bytes of 0x01: every LEB128 number ends at its first byte, every length is 1.
            var cursor = DWARFCursor([UInt8](repeating: 1, count: 64))
            guard (try? info.readValue(&cursor, form: form, implicitConst: 7, unit: unit)) != nil else {
                #expect(DebugInfo.fixedSize(of: form, format: format) == nil, "form 0x\(String(form, radix: 16)) cannot be read")
                continue
            }
            if let size = DebugInfo.fixedSize(of: form, format: format) {
                fixed += 1
                #expect(cursor.offset == size, "form 0x\(String(form, radix: 16))")
            }
        }
        #expect(fixed >= 30)
    }
}
