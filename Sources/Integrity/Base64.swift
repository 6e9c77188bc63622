/// Standard base64 (RFC 4648, with padding), strict on decoding.
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xff, count: 256)
        for (index, character) in alphabet.enumerated() { table[Int(character)] = UInt8(index) }
        return table
    }()

    /// The base64 text of `bytes`.
    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let b0 = bytes[index], b1 = index + 1 < bytes.count ? bytes[index + 1] : 0, b2 = index + 2 < bytes.count ? bytes[index + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 3) << 4 | b1 >> 4)])
            out.append(index + 1 < bytes.count ? alphabet[Int((b1 & 15) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(index + 2 < bytes.count ? alphabet[Int(b2 & 63)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of base64 text; nil unless it is canonical base64 (length a multiple of 4,
    /// alphabet characters only, padding only at the end, unused bits zero).
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let input = Array(text.utf8)
        guard input.count % 4 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(input.count / 4 * 3)
        var index = 0
        while index < input.count {
            let isLast = index + 4 == input.count
            let c = input[index..<index + 4].map { values[Int($0)] }
            let padding = isLast ? input[index..<index + 4].reversed().prefix { $0 == UInt8(ascii: "=") }.count : 0
            guard padding <= 2, c[0] != 0xff, c[1] != 0xff,
                  padding >= 1 || c[2] != 0xff, padding >= 1 || c[3] != 0xff,
                  padding < 2 || (c[2] == 0xff), padding < 1 || c[3] == 0xff else { return nil }
            out.append(c[0] << 2 | c[1] >> 4)
            if padding < 2 { out.append(c[1] << 4 | c[2] >> 2) } else if c[1] & 15 != 0 { return nil }
            if padding < 1 { out.append(c[2] << 6 | c[3]) } else if padding == 1 && c[2] & 3 != 0 { return nil }
            index += 4
        }
        return out
    }
}
