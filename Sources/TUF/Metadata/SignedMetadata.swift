import Integrity

/// One metadata file as received: its bytes, the `signed` object, the canonical bytes the
/// signatures cover, and the signatures by key id.
struct SignedMetadata: Sendable {
    /// The bytes exactly as received (what is stored).
    let bytes: [UInt8]
    let signed: Fields
    let canonicalSigned: [UInt8]
    /// Signature bytes by key id; nil for a signature that is not hex.
    let signatures: [String: [UInt8]?]
    let version: Int64
    /// Expiry in seconds since the epoch.
    let expires: Int64

    /// Parses the envelope and the fields every role shares.
    /// - Parameters:
    ///   - bytes: the file.
    ///   - role: the role name, for messages.
    ///   - type: the `_type` it must have ("root", "timestamp", "snapshot", "targets").
    init(bytes: [UInt8], role: String, type: String) throws(TUFError) {
        self.bytes = bytes
        let document: CanonicalJSONValue
        do {
            document = try CanonicalJSON.parse(bytes)
        } catch {
            throw TUFError(.invalidMetadata, "\(role) metadata is not valid JSON: \(error)")
        }
        let envelope = try Fields(document, role)
        signed = try Fields(envelope.members["signed"], role + ".signed")
        do {
            canonicalSigned = try CanonicalJSON.encode(.object(signed.members))
        } catch {
            throw TUFError(.invalidMetadata, "\(role) metadata has no canonical form: \(error)")
        }
        var signatures: [String: [UInt8]?] = [:]
        for (position, entry) in try envelope.array("signatures").enumerated() {
            let signature = try Fields(entry, "\(role).signatures[\(position)]")
            let keyID = try signature.string("keyid")
            let hex = try signature.string("sig")
            guard signatures[keyID] == nil else {
                throw TUFError(.invalidMetadata, "\(role) metadata has two signatures by key \(keyID)")
            }
            signatures[keyID] = hex.isEmpty ? nil : Hex.decode(hex)
        }
        self.signatures = signatures
        let actualType = try signed.string("_type")
        guard actualType == type else {
            throw TUFError(.invalidMetadata, "\(role) metadata has _type \"\(actualType)\", expected \"\(type)\"")
        }
        let specVersion = try signed.string("spec_version")
        let parts = specVersion.split(separator: ".", omittingEmptySubsequences: false)
        guard (2...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }), parts[0] == "1" else {
            throw TUFError(.invalidMetadata, "\(role) metadata has spec_version \"\(specVersion)\"; this client supports 1.x")
        }
        version = try signed.integer("version", minimum: 1)
        let expiry = try signed.string("expires")
        guard let seconds = UTCTime.parse(expiry) else {
            throw TUFError(.invalidMetadata, "\(role) metadata has an unreadable expiry \"\(expiry)\"")
        }
        expires = seconds
    }

    /// Checks that `threshold` distinct keys of `role` signed the canonical `signed` bytes.
    /// A key listed under several ids counts once; signatures by unknown keys are ignored.
    /// - Throws: ``TUFError/Code/unsigned`` naming the role and the counts.
    func verify(role: String, keys: [String: Key], roleKeys: RoleKeys) throws(TUFError) {
        var counted = Set<String>()
        for keyID in roleKeys.keyIDs {
            guard let key = keys[keyID], let signature = signatures[keyID] ?? nil else { continue }
            guard !counted.contains(key.identity) else { continue }
            if key.isValidSignature(signature, for: canonicalSigned) {
                counted.insert(key.identity)
            }
        }
        guard counted.count >= roleKeys.threshold else {
            throw TUFError(.unsigned, "\(role) version \(version) has \(counted.count) valid signature(s) of the \(roleKeys.threshold) required")
        }
    }

    /// True when the metadata has expired at `now` (seconds since the epoch).
    func isExpired(at now: Int64) -> Bool { now >= expires }
}

/// `YYYY-MM-DDTHH:MM:SSZ` (with an optional fraction) to seconds since the epoch.
enum UTCTime {
    static func parse(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, bytes.last == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int64? {
            var value: Int64 = 0
            for index in range {
                let byte = bytes[index]
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T"),
              bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
              let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        if bytes.count > 20 {
            guard bytes[19] == UInt8(ascii: "."), bytes.count > 21, number(20..<(bytes.count - 1)) != nil else { return nil }
        }
        // Days from the civil date (Howard Hinnant's algorithm).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146097 + dayOfEra - 719468
        return days * 86400 + hour * 3600 + minute * 60 + second
    }
}
