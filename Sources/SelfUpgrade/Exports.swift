// The types of the layers below are part of this library's API (Home, Journal, StateStore,
// SHA256Digest, SystemError): one `import SelfUpgrade` brings them.
@_exported import Integrity
@_exported import Platform
@_exported import Storage
