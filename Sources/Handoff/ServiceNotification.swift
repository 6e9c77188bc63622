import Platform

/// The sd_notify protocol from the program's side: `KEY=value` lines in one datagram to the
/// socket `NOTIFY_SOCKET` names (`@name` abstract, or a path), sent by systemd, `autodev
/// supervise`, or anything that speaks it.
///
/// A supervisor believes only messages from the pid it started, so they must come from the main
/// process (not a helper it forks).
public enum ServiceNotification {
    /// Whether `NOTIFY_SOCKET` is set: someone waits for these messages.
    public static var isExpected: Bool { ProcessControl.environment("NOTIFY_SOCKET") != nil }

    /// Sends `fields` (e.g. `READY=1`, `STATUS=…`) when `NOTIFY_SOCKET` is set; does nothing otherwise.
    /// - Throws: ``HandoffError`` when the socket named cannot be reached.
    public static func send(_ fields: String...) throws(HandoffError) {
        guard let address = ProcessControl.environment("NOTIFY_SOCKET") else { return }
        do { try NotifySocket.send(fields.joined(separator: "\n"), to: address) } catch { throw HandoffError("sd_notify: \(error)") }
    }

    /// `READY=1`: this process serves.
    public static func ready(status: String? = nil) throws(HandoffError) {
        if let status { try send("READY=1", "STATUS=" + status) } else { try send("READY=1") }
    }

    /// `STOPPING=1`: this process is draining and will exit.
    public static func stopping() throws(HandoffError) { try send("STOPPING=1") }
}
