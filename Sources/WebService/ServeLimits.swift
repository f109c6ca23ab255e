/// What one request and the server as a whole accept; beyond these a request gets one clear 4xx (or 503) answer.
public struct ServeLimits: Sendable, Equatable {
    /// Bytes of one request body (413 above).
    public var maxBodyBytes = 256 << 20
    /// Files in one request, counting every `.png` inside uploaded zip files (413 above).
    public var maxFiles = 500
    /// Bytes of one file, also of one entry unpacked from a zip file (that file's row gets an error above).
    public var maxFileBytes = 64 << 20
    /// Bytes unpacked from all the zip files of one request together (413 above).
    public var maxUnzippedBytes = 1 << 30
    /// Pixels on either side of an image (that file's row gets an error above).
    public var maxSide = 4096
    /// Images run through the model at once.
    public var maxBatch = 32
    /// Images waiting for inference across all requests (503 with Retry-After when a request does not fit).
    public var queueCapacity = 1000

    public init() {}
}
